#include "model/tasks_loss.h"

#include "model/bn_window.h"

#include <algorithm>
#include <stdexcept>

#include "autograd/elementwise.h"
#include "autograd/engine.h"
#include "autograd/shape.h"

namespace ssmtl {

namespace {

// One backbone pass for several inputs of the same temporal length; returns one feature map per input.
std::vector<Tensor> shared_features(SSMTLModel& m, const std::vector<Tensor>& xs, bool training) {
  if (xs.empty()) return {};
  Tensor f = m.features(xs.size() == 1 ? xs[0] : concat(xs, 0), training);
  if (xs.size() == 1) return {f};
  std::vector<Tensor> out;
  int64_t start = 0;
  for (const Tensor& x : xs) {
    out.push_back(slice(f, 0, start, start + x.size(0)));
    start += x.size(0);
  }
  return out;
}

const char* window_name(Window w) {
  return w == Window::kSequence ? "7-frame" : w == Window::kSixFrames ? "6-frame" : "single-frame";
}

}  // namespace

TaskLosses compute_task_losses(SSMTLModel& m, const TaskBatch& b, bool training) {
  // Windows in order of first use, each with its inputs in order of first use.
  struct Group {
    Window window;
    std::vector<std::string> inputs;
  };
  std::vector<Group> groups;
  for (const auto& th : m.tasks) {
    const TaskInfo& i = th.task->info();
    if (i.role != Role::kDescent) continue;
    auto g = std::find_if(groups.begin(), groups.end(), [&](const Group& x) { return x.window == i.window; });
    if (g == groups.end()) g = groups.insert(groups.end(), Group{i.window, {}});
    if (std::find(g->inputs.begin(), g->inputs.end(), i.input) == g->inputs.end()) g->inputs.push_back(i.input);
  }
  TaskLosses out;
  std::vector<Tensor> terms;
  for (const Group& g : groups) {
    std::vector<Tensor> xs;
    for (const std::string& key : g.inputs) {
      auto it = b.inputs.find(key);
      if (it == b.inputs.end() || !it->second.defined())
        throw std::invalid_argument(std::string("compute_task_losses: a ") + window_name(g.window) +
                                    " task input is missing ('" + key + "')");
      xs.push_back(it->second);
    }
    bn_window::Scope window(static_cast<int>(g.window));   // (BatchNorm statistics per window, if estimated)
    std::vector<Tensor> f = shared_features(m, xs, training);
    for (const auto& th : m.tasks) {
      const TaskInfo& i = th.task->info();
      if (i.role != Role::kDescent || i.window != g.window) continue;
      const size_t k = std::find(g.inputs.begin(), g.inputs.end(), i.input) - g.inputs.begin();
      Tensor loss = th.task->loss(*th.head, f[k], b.samples(i.name), training);
      out.values[i.name] = loss.item();
      terms.push_back(loss);
    }
  }
  if (terms.empty()) throw std::invalid_argument("compute_task_losses: the model has no descent task");
  out.normal = terms[0];
  for (size_t k = 1; k < terms.size(); ++k) out.normal = add(out.normal, terms[k]);
  return out;
}

Tensor compute_pseudo_loss(SSMTLModel& m, const TaskBatch& b, bool training) {
  Tensor total;
  for (const auto& th : m.tasks) {
    const TaskInfo& i = th.task->info();
    if (i.role != Role::kAscent || !b.tasks.count(i.name)) continue;
    Tensor l = th.task->loss(*th.head, m.features(b.input(i.input), training), b.samples(i.name), training);
    total = total.defined() ? add(total, l) : l;
  }
  return total;
}

std::map<std::string, std::vector<float>> score_objects(SSMTLModel& m, const Tensor& seq, const Tensor& teacher,
                                                        uint64_t seed, const std::vector<uint64_t>& keys) {
  ObjectTeachers t;
  t.class_probs = teacher;
  return score_objects(m, seq, t, seed, keys);
}

std::map<std::string, std::vector<float>> score_objects(SSMTLModel& m, const Tensor& seq_in,
                                                        const ObjectTeachers& teach_in, uint64_t seed,
                                                        const std::vector<uint64_t>& keys) {
  if (static_cast<int64_t>(keys.size()) != seq_in.size(0))
    throw std::invalid_argument("score_objects: one key per object needed");
  autograd::NoGradGuard no_grad;
  const Device dev = m.device();
  const Tensor seq = seq_in.to(dev);
  const ObjectTeachers teach = teach_in.to(dev);
  ScoreContext ctx(m, seq, teach, seed, keys);
  std::map<std::string, std::vector<float>> s;
  for (const auto& th : m.tasks)
    if (th.task->info().role == Role::kDescent) s[th.task->info().name] = th.task->score(*th.head, ctx);
  const int64_t N = ctx.n;
  std::vector<float> obj(static_cast<size_t>(N), 0.f);
  int tasks = 0;
  for (auto& [name, v] : s) {
    ++tasks;
    for (int64_t i = 0; i < N; ++i) obj[i] += v[i];
  }
  for (auto& x : obj) x /= static_cast<float>(std::max(tasks, 1));
  s["object"] = obj;
  return s;
}

}  // namespace ssmtl
