#include "model/tasks/task.h"

#include <algorithm>
#include <stdexcept>

#include "autograd/elementwise.h"
#include "autograd/shape.h"
#include "model/bn_window.h"
#include "model/ssmtl.h"
#include "util/config.h"

namespace ssmtl {

void register_builtin_tasks();   // model/tasks/builtin.cpp

namespace {

struct Registry {
  std::vector<std::unique_ptr<ProxyTask>> tasks;
  bool builtins = false;
};

Registry& registry() {
  static Registry r;
  if (!r.builtins) {   // the paper's tasks come first, whoever registers first
    r.builtins = true;
    register_builtin_tasks();
  }
  return r;
}

Tensor moved(const Tensor& t, Device d) { return t.defined() ? t.to(d) : t; }

}  // namespace

bool register_task(std::unique_ptr<ProxyTask> task) {
  Registry& r = registry();
  const TaskInfo& n = task->info();
  for (const auto& t : r.tasks) {
    const TaskInfo& o = t->info();
    if (o.name == n.name || o.module == n.module || o.config_key == n.config_key || o.id == n.id)
      throw std::invalid_argument("register_task: " + n.label + " clashes with " + o.label +
                                  " (id, name, module and configuration key must be unique)");
  }
  util::add_key_spec("model.tasks." + n.config_key, util::KeySpec{"", 'b', 0, 0});   // its on/off switch
  r.tasks.push_back(std::move(task));
  return true;
}

std::vector<const ProxyTask*> registered_tasks() {
  std::vector<const ProxyTask*> out;
  for (const auto& t : registry().tasks) out.push_back(t.get());
  return out;
}

const ProxyTask& find_task(const std::string& name) {
  std::string known;
  for (const ProxyTask* t : registered_tasks()) {
    if (t->info().name == name) return *t;
    known += (known.empty() ? "" : ", ") + t->info().name;
  }
  throw std::invalid_argument("unknown proxy task '" + name + "' (known: " + known + ")");
}

void ProxyTask::check_sources(const ModelConfig&, const ObjectPool&, const OodImages*) const {}

std::vector<float> ProxyTask::score(Head&, ScoreContext&) const {
  throw std::logic_error(info_.label + " gives no anomaly score");
}

// ---- TaskSet ----

TaskSet::TaskSet() {
  for (const ProxyTask* t : registered_tasks())
    if (t->info().default_on) on_.insert(t->info().name);
}

void TaskSet::set(const std::string& name, bool on) {
  find_task(name);   // throws for an unknown name
  if (on)
    on_.insert(name);
  else
    on_.erase(name);
}

std::vector<const ProxyTask*> TaskSet::enabled() const {
  std::vector<const ProxyTask*> out;
  for (const ProxyTask* t : registered_tasks())
    if (on(t->info().name)) out.push_back(t);
  return out;
}

bool TaskSet::any(Source s) const {
  for (const ProxyTask* t : enabled())
    if (t->info().source == s) return true;
  return false;
}

int TaskSet::count_scored() const {
  int n = 0;
  for (const ProxyTask* t : enabled()) n += t->info().role == Role::kDescent;
  return n;
}

std::string TaskSet::names() const {
  std::vector<const ProxyTask*> ts = enabled();
  auto number = [](const ProxyTask* t) { return std::stoi(t->info().id.substr(1)); };   // "T10" after "T9"
  std::stable_sort(ts.begin(), ts.end(), [&](auto a, auto b) { return number(a) < number(b); });
  std::string s;
  for (const ProxyTask* t : ts) s += (s.empty() ? "" : "+") + t->info().id;
  return s;
}

// ---- batches ----

const Tensor& TaskBatch::input(const std::string& key) const {
  auto it = inputs.find(key);
  if (it == inputs.end() || !it->second.defined())
    throw std::invalid_argument("task batch: no input '" + key + "'");
  return it->second;
}

const TaskSamples& TaskBatch::samples(const std::string& name) const {
  auto it = tasks.find(name);
  if (it == tasks.end()) throw std::invalid_argument("task batch: no samples of task '" + name + "'");
  return it->second;
}

TaskBatch TaskBatch::to(Device d) const {
  TaskBatch o = *this;
  for (auto& [k, x] : o.inputs) x = moved(x, d);
  for (auto& [k, s] : o.tasks) s.target = moved(s.target, d);
  return o;
}

ObjectTeachers ObjectTeachers::to(Device d) const {
  return {moved(class_probs, d), moved(segmentation, d), moved(pose, d)};
}

// ---- scoring ----

ScoreContext::ScoreContext(SSMTLModel& m, const Tensor& s, const ObjectTeachers& t, uint64_t sd,
                           const std::vector<uint64_t>& k)
    : model(m), seq(s), teachers(t), seed(sd), keys(k), n(s.size(0)),
      middle_(squeeze_time(slice(s, 2, 3, 4))) {}

const Tensor& ScoreContext::features(Window w) {
  auto it = cache_.find(static_cast<int>(w));
  if (it != cache_.end()) return it->second;
  Tensor x;
  if (w == Window::kSequence) {
    x = seq;
  } else if (w == Window::kSixFrames) {
    x = concat({slice(seq, 2, 0, 3), slice(seq, 2, 4, 7)}, 2);
  } else {
    const int64_t S = middle_.size(-1);
    x = reshape(middle_, {n, 3, 1, S, S});
  }
  bn_window::Scope window(static_cast<int>(w));
  return cache_[static_cast<int>(w)] = model.features(x, false);
}

// (Single frames: the inputs of the single-frame tasks, e.g. inpainting's masked middle frame.)
Tensor ScoreContext::features_of(const Tensor& x) {
  bn_window::Scope window(static_cast<int>(Window::kSingleFrame));
  return model.features(x, false);
}

// ---- helpers ----

void put_row(Tensor& dst, int64_t i, const Tensor& src) {
  const int64_t n = src.numel();
  std::copy(src.data(), src.data() + n, dst.data() + i * n);
}

Tensor squeeze_time(const Tensor& x) { return reshape(x, {x.size(0), x.size(1), x.size(3), x.size(4)}); }

std::vector<float> probs_column(const Tensor& probs, int k) {
  std::vector<float> v = probs.to_vector(), c(static_cast<size_t>(probs.size(0)));
  for (size_t i = 0; i < c.size(); ++i) c[i] = v[i * probs.size(1) + k];
  return c;
}

const Tensor& teacher_of(const Tensor& t, const Shape& want, const std::string& label) {
  if (!t.defined()) throw std::invalid_argument("score_objects: " + label + " needs its teacher signal");
  if (t.shape() != want)
    throw std::invalid_argument("score_objects: " + label + " teacher " + shape_str(t.shape()) + ", expected " +
                                shape_str(want));
  return t;
}

}  // namespace ssmtl
