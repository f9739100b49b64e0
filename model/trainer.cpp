#include "model/trainer.h"

#include <csignal>
#include <cmath>
#include <cstdio>
#include <future>
#include <filesystem>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "autograd/elementwise.h"
#include "autograd/engine.h"
#include "data/frames.h"
#include "data/ood.h"
#include "data/resize.h"
#include "data/tasks.h"
#include "tensor/device.h"
#include "eval/io.h"
#include "model/checkpoint.h"
#include "model/sampler.h"
#include "model/tasks_loss.h"
#include "optim/adam.h"
#include "util/atomic_file.h"
#include "util/progress.h"

namespace ssmtl {

TrainOptions TrainOptions::from_config(util::Config& c) {
  TrainOptions o;
  o.epochs = c.get_int("train.epochs", o.epochs);
  o.batch_size = c.get_int("train.batch_size", o.batch_size);
  o.lr = c.get_double("train.lr", o.lr);
  o.val_fraction = c.get_double("train.val_fraction", o.val_fraction);
  o.seed = static_cast<uint64_t>(c.get_int("train.seed", static_cast<int>(o.seed)));
  o.max_objects_per_epoch = c.get_int("train.max_objects_per_epoch", o.max_objects_per_epoch);
  o.max_val_objects = c.get_int("train.max_val_objects", o.max_val_objects);
  o.min_detection_score = c.get_double("train.min_detection_score", o.min_detection_score);
  o.pseudo_start_epoch = c.get_int("train.pseudo_start_epoch", o.pseudo_start_epoch);
  o.pseudo_lr_scale = c.get_double("train.pseudo_lr_scale", o.pseudo_lr_scale);
  o.pseudo_loss_cap = c.get_double("train.pseudo_loss_cap", o.pseudo_loss_cap);
  o.max_bad_steps = c.get_int("train.max_bad_steps", o.max_bad_steps);
  o.device = c.get_string("train.device", o.device);
  o.stop_after_steps = c.get_int("train.stop_after_steps", o.stop_after_steps);
  if (o.epochs < 1 || o.batch_size < 2) throw std::invalid_argument("train.epochs >= 1 and train.batch_size >= 2");
  if (!(o.lr > 0)) throw std::invalid_argument("train.lr must be > 0 (the T5 ascent sign comes from train.pseudo_lr_scale)");
  if (!(o.val_fraction >= 0 && o.val_fraction < 1)) throw std::invalid_argument("train.val_fraction must be in [0, 1)");
  return o;
}

namespace {

volatile std::sig_atomic_t g_interrupted = 0;
void on_sigint(int) { g_interrupted = 1; }

struct TrainerState {   // what a checkpoint needs to continue exactly
  int epoch = 0, step = 0;   // next step to run
  double best_val = 1e300;
  int best_epoch = -1, skipped = 0;
  std::string adam_main, adam_pseudo;
  // The current epoch's running loss sums, so that an epoch resumed mid-way logs the mean over all its steps.
  std::map<std::string, double> sums;
  int counted = 0, epoch_skipped = 0;
  std::string serialize() const {
    std::ostringstream o;
    o.precision(17);
    o << "trainer_state 2\n" << epoch << ' ' << step << ' ' << best_val << ' ' << best_epoch << ' ' << skipped << '\n'
      << adam_main.size() << '\n' << adam_main << adam_pseudo.size() << '\n' << adam_pseudo << '\n'
      << counted << ' ' << epoch_skipped << ' ' << sums.size() << '\n';
    for (auto& [k, v] : sums) o << k << ' ' << v << '\n';
    return o.str();
  }
  static TrainerState parse(const std::string& s, const std::string& path) {
    std::istringstream in(s);
    std::string tag;
    int version = 0;
    TrainerState t;
    in >> tag >> version >> t.epoch >> t.step >> t.best_val >> t.best_epoch >> t.skipped;
    if (tag != "trainer_state" || (version != 1 && version != 2) || !in)
      throw std::runtime_error(path + ": no trainer state to resume from");
    auto blob = [&](std::string& dst) {
      size_t n = 0;
      in >> n;
      in.get();
      if (!in || n > s.size())   // checked before the allocation: a blob lies inside the state text
        throw std::runtime_error(path + ": corrupt trainer state (a blob of " + std::to_string(n) + " bytes)");
      dst.resize(n);
      in.read(dst.data(), static_cast<std::streamsize>(n));
      if (!in) throw std::runtime_error(path + ": truncated trainer state");
    };
    blob(t.adam_main);
    blob(t.adam_pseudo);
    if (version >= 2) {   // version 1 (older checkpoints) has no partial-epoch sums
      size_t n = 0;
      in >> t.counted >> t.epoch_skipped >> n;
      for (size_t i = 0; i < n && in; ++i) {
        std::string k;
        in >> k >> t.sums[k];
      }
      if (!in) throw std::runtime_error(path + ": truncated trainer state (epoch loss sums)");
    }
    return t;
  }
};

std::string adam_blob(const Adam& a) {
  std::ostringstream o(std::ios::binary);
  a.save_state(o);
  return o.str();
}

void load_adam(Adam& a, const std::string& blob, const std::string& path) {
  std::istringstream in(blob, std::ios::binary);
  a.load_state(in, path);
}

// Backbone BatchNorm running statistics, to be restored after an out-of-distribution batch.
std::vector<Tensor> snapshot_buffers(SSMTLModel& m) {
  std::vector<Tensor> s;
  for (auto& nt : m.backbone.named_tensors())
    if (nt.is_buffer) s.push_back(nt.tensor->clone());
  return s;
}
void restore_buffers(SSMTLModel& m, const std::vector<Tensor>& s) {
  size_t i = 0;
  for (auto& nt : m.backbone.named_tensors())
    if (nt.is_buffer) nt.tensor->copy_from(s[i++]);
}

std::string json_map(const std::map<std::string, double>& m) {
  std::string s = "{";
  for (auto& [k, v] : m) {
    char b[64];
    std::snprintf(b, sizeof b, "%.6g", v);
    s += (s.size() > 1 ? ", \"" : "\"") + k + "\": " + b;
  }
  return s + "}";
}

std::string epoch_json(const EpochLog& e) {
  char b[256];
  std::snprintf(b, sizeof b, "\"val_total\": %.6g, \"seconds\": %.2f, \"samples_per_s\": %.2f, \"skipped_steps\": %d",
                e.val_total, e.seconds, e.samples_per_s, e.skipped_steps);
  return "{\"epoch\": " + std::to_string(e.epoch) + ", \"train\": " + json_map(e.train) + ", \"val\": " +
         json_map(e.val) + ", " + b + "}";
}

// A resumed run must continue the run it resumes: the model and every training key that decides which
// samples are drawn or how they are learnt must be the same (the device, the step limit and the epoch
// count may change). Throws std::runtime_error naming the first key that differs.
void check_resume_config(const std::string& saved, const std::string& now, const std::string& path) {
  auto keys = [](const std::string& text) {
    std::map<std::string, std::string> m;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      const size_t eq = line.find('=');
      if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
      auto trim = [](std::string x) {
        const size_t a = x.find_first_not_of(" \t"), b = x.find_last_not_of(" \t\r");
        return a == std::string::npos ? std::string() : x.substr(a, b - a + 1);
      };
      const std::string k = trim(line.substr(0, eq));
      if (k == "train.device" || k == "train.stop_after_steps" || k == "train.epochs") continue;
      m[k] = trim(line.substr(eq + 1));
    }
    return m;
  };
  const auto a = keys(saved), b = keys(now);
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    const std::string w = it == b.end() ? "(unset)" : it->second;
    if (w != v)
      throw std::runtime_error(path + ": the run was trained with " + k + " = " + v + ", the resumed one has " + w +
                               " (resume with the same configuration; only train.device, train.epochs and "
                               "train.stop_after_steps may change)");
  }
  for (const auto& [k, v] : b)
    if (!a.count(k))
      throw std::runtime_error(path + ": the resumed run sets " + k + " = " + v + ", which the checkpoint's run did not");
}

}  // namespace

TrainResult train_model(SSMTLModel& model, const TrainOptions& opt, const std::string& config_text) {
  namespace fs = std::filesystem;
  if (opt.out_dir.empty()) throw std::invalid_argument("train: no output folder");
  const Device dev = parse_device(opt.device);   // a bad device fails before any data is read
  if (opt.stop_after_steps < 0) throw std::invalid_argument("train.stop_after_steps must be >= 0");
  if (!opt.resume.empty()) check_resume_config(read_checkpoint_meta(opt.resume).config_text, config_text, opt.resume);
  util::make_dirs(opt.out_dir);
  util::write_text_atomic(opt.out_dir + "/config.txt", config_text);

  // ---- objects of the training videos; the last val_fraction of the videos are held out ----
  ObjectPool pool = ObjectPool::load(opt.data_root, opt.split, opt.detections, opt.min_detection_score, true, opt.videos,
                                     TeacherSpec::for_model(model.cfg, opt.detections, opt.teachers));
  const int nv = pool.num_videos();
  int n_val = nv >= 2 ? std::max(1, static_cast<int>(std::lround(opt.val_fraction * nv))) : 0;
  std::vector<size_t> train_ids, val_ids;
  for (size_t i = 0; i < pool.objects().size(); ++i)
    (pool.objects()[i].video >= nv - n_val ? val_ids : train_ids).push_back(i);
  if (train_ids.empty()) throw std::runtime_error(opt.detections + ": no training objects (detections empty?)");
  std::fprintf(stderr, "train: %d videos (%d held out for validation), %zu training objects, %zu validation objects\n",
               nv, n_val, train_ids.size(), val_ids.size());

  const TaskSet& tasks = model.cfg.tasks;
  model.to(dev);   // before the optimisers take their parameter handles
  std::unique_ptr<OodImages> ood;
  if (tasks.pseudo) ood = std::make_unique<OodImages>(opt.ood_root);
  SampleBuilder builder(pool, model.cfg, ood.get());

  // ---- optimisers: main (everything but the T5 decoder), pseudo (backbone ascent + T5 decoder) ----
  std::vector<Tensor> main_params = model.backbone_parameters();
  for (auto& p : model.head_parameters(false)) main_params.push_back(p);
  Adam adam_main({ParamGroup{main_params, static_cast<float>(opt.lr)}});
  std::unique_ptr<Adam> adam_pseudo;
  if (tasks.pseudo)
    adam_pseudo = std::make_unique<Adam>(std::vector<ParamGroup>{
        ParamGroup{model.backbone_parameters(), static_cast<float>(opt.lr * opt.pseudo_lr_scale)},
        ParamGroup{model.pseudo_parameters(), static_cast<float>(opt.lr)}});

  TrainerState st;
  if (!opt.resume.empty()) {
    CheckpointMeta meta = load_checkpoint(opt.resume, model);
    st = TrainerState::parse(meta.trainer_state, opt.resume);
    load_adam(adam_main, st.adam_main, opt.resume);
    if (adam_pseudo) load_adam(*adam_pseudo, st.adam_pseudo, opt.resume);
    std::fprintf(stderr, "train: resumed from %s at epoch %d step %d\n", opt.resume.c_str(), st.epoch, st.step);
  }
  auto save = [&](const std::string& name) {
    st.adam_main = adam_blob(adam_main);
    st.adam_pseudo = adam_pseudo ? adam_blob(*adam_pseudo) : std::string();
    save_checkpoint(opt.out_dir + "/" + name, model, {config_text, st.serialize()});
  };

  // ---- fixed validation batch(es): same samples every epoch ----
  std::vector<size_t> val_sel = val_ids;
  if (static_cast<int>(val_sel.size()) > opt.max_val_objects) {
    Rng r(opt.seed ^ 0x5eed);
    for (size_t i = 0; i < val_sel.size(); ++i) std::swap(val_sel[i], val_sel[i + r.randint(0, val_sel.size() - i)]);
    val_sel.resize(opt.max_val_objects);
  }

  TrainResult result;
  // Earlier epochs' log lines survive a resume.
  std::vector<std::string> log_lines;
  if (!opt.resume.empty() && fs::exists(opt.out_dir + "/train_log.jsonl")) {
    std::istringstream in(util::read_file(opt.out_dir + "/train_log.jsonl"));
    for (std::string l; std::getline(in, l);)
      if (!l.empty()) log_lines.push_back(l);
  }
  auto prev_handler = std::signal(SIGINT, on_sigint);
  g_interrupted = 0;
  int bad_in_row = 0;
  int steps_run = 0;   // in this invocation (train.stop_after_steps)

  for (; st.epoch < opt.epochs; ++st.epoch, st.step = 0) {
    const int e = st.epoch;
    std::vector<size_t> order = train_ids;
    Rng order_rng(opt.seed * 1000003ULL + static_cast<uint64_t>(e) + 1);
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[order_rng.randint(0, i)]);
    if (opt.max_objects_per_epoch > 0 && static_cast<int>(order.size()) > opt.max_objects_per_epoch)
      order.resize(opt.max_objects_per_epoch);
    const int steps = static_cast<int>((order.size() + opt.batch_size - 1) / opt.batch_size);
    const bool pseudo_on = tasks.pseudo && e >= opt.pseudo_start_epoch;
    EpochLog log;
    log.epoch = e;
    std::map<std::string, double> sums;
    int counted = 0;
    if (st.step > 0) {   // resumed mid-epoch: the steps before the interruption count in this epoch's means
      sums = st.sums;
      counted = st.counted;
      log.skipped_steps = st.epoch_skipped;
    }
    util::Progress progress("epoch " + std::to_string(e + 1) + "/" + std::to_string(opt.epochs),
                            static_cast<int64_t>(order.size()), "samples");
    const size_t samples_before = std::min<size_t>(order.size(), static_cast<size_t>(st.step) * opt.batch_size);
    progress.add(static_cast<int64_t>(samples_before));
    // Step k's batch depends only on (seed, epoch, k), so it can be cut out of the frames ahead of time: on
    // a GPU the next batch is built on the CPU while the current step runs (on the CPU both would compete
    // for the same cores, so there it is built in turn).
    auto build_batch = [&, e, pseudo_on](int step) {
      size_t a = static_cast<size_t>(step) * opt.batch_size, b = std::min(order.size(), a + opt.batch_size);
      std::vector<size_t> ids(order.begin() + a, order.begin() + b);
      uint64_t batch_seed = opt.seed * 0x9e3779b97f4a7c15ULL ^ (static_cast<uint64_t>(e) << 32) ^ a;
      return builder.build(ids, batch_seed, pseudo_on);
    };
    std::future<TaskBatch> next;
    for (; st.step < steps; ++st.step) {
      size_t a = static_cast<size_t>(st.step) * opt.batch_size, b = std::min(order.size(), a + opt.batch_size);
      TaskBatch batch = (next.valid() ? next.get() : build_batch(st.step)).to(dev);
      if (dev != Device::CPU && st.step + 1 < steps) next = std::async(std::launch::async, build_batch, st.step + 1);
      adam_main.zero_grad();
      TaskLosses L = compute_task_losses(model, batch, true);
      float total = L.normal.item();
      if (!std::isfinite(total)) {
        ++st.skipped;
        ++log.skipped_steps;
        if (++bad_in_row >= opt.max_bad_steps)
          throw std::runtime_error("training stopped: non-finite loss for " + std::to_string(bad_in_row) +
                                   " steps in a row, at epoch " + std::to_string(e + 1) + " step " +
                                   std::to_string(st.step + 1));
        std::fprintf(stderr, "\nwarning: non-finite loss at epoch %d step %d: step skipped\n", e + 1, st.step + 1);
        continue;
      }
      bad_in_row = 0;
      L.normal.backward();
      adam_main.step();
      for (auto& [k, v] : L.values) sums[k] += v;
      if (pseudo_on && batch.pseudo_x.defined()) {
        std::vector<Tensor> keep = snapshot_buffers(model);
        adam_pseudo->zero_grad();
        Tensor l5 = compute_pseudo_loss(model, batch.pseudo_x, true);
        float v5 = l5.item();
        restore_buffers(model, keep);
        if (std::isfinite(v5)) {
          l5.backward();
          if (v5 > opt.pseudo_loss_cap)   // bounded ascent: the backbone stops pushing once T5 is bad enough
            for (auto& p : model.backbone_parameters()) p.zero_grad();
          adam_pseudo->step();
          sums["pseudo"] += v5;
        } else {
          ++st.skipped;
          ++log.skipped_steps;
        }
      }
      ++counted;
      char suffix[64];
      std::snprintf(suffix, sizeof suffix, "loss %.4f", total);
      progress.set_suffix(suffix);
      progress.add(static_cast<int64_t>(b - a));
      if (g_interrupted || (opt.stop_after_steps > 0 && ++steps_run >= opt.stop_after_steps)) {
        ++st.step;
        st.sums = sums;
        st.counted = counted;
        st.epoch_skipped = log.skipped_steps;
        save("last.ckpt");
        progress.finish();
        if (g_interrupted)
          std::fprintf(stderr, "train: interrupted; state saved to %s/last.ckpt (resume with --resume)\n",
                       opt.out_dir.c_str());
        else
          std::fprintf(stderr, "train: stopped after %d steps (train.stop_after_steps); state saved to %s/last.ckpt\n",
                       steps_run, opt.out_dir.c_str());
        std::signal(SIGINT, prev_handler);
        result.interrupted = g_interrupted != 0;
        result.step_limit = !result.interrupted;
        result.best_val = st.best_val;
        result.best_epoch = st.best_epoch;
        result.skipped_steps = st.skipped;
        return result;
      }
    }
    progress.finish();
    const double samples_now = static_cast<double>(order.size() - samples_before);
    for (auto& [k, v] : sums) log.train[k] = v / std::max(counted, 1);
    log.seconds = progress.elapsed_s();   // of this invocation: a resumed epoch counts only its remaining steps
    log.samples_per_s = log.seconds > 0 && samples_now > 0 ? samples_now / log.seconds : 0;

    // ---- validation loss (eval mode, fixed samples), descent tasks only ----
    if (!val_sel.empty()) {
      autograd::NoGradGuard ng;
      std::map<std::string, double> vs;
      int nb = 0;
      for (size_t a = 0; a < val_sel.size(); a += opt.batch_size) {
        std::vector<size_t> ids(val_sel.begin() + a, val_sel.begin() + std::min(val_sel.size(), a + opt.batch_size));
        TaskBatch vb = builder.build(ids, opt.seed ^ 0xa11da7e ^ a, false).to(dev);
        TaskLosses L = compute_task_losses(model, vb, false);
        for (auto& [k, v] : L.values) vs[k] += v;
        ++nb;
      }
      for (auto& [k, v] : vs) {
        log.val[k] = v / nb;
        log.val_total += v / nb;
      }
    } else {
      for (auto& [k, v] : log.train)
        if (k != "pseudo") log.val_total += v;
    }
    std::fprintf(stderr, "epoch %d: validation loss %.5f%s\n", e + 1, log.val_total,
                 log.val_total < st.best_val ? " (best so far)" : "");
    st.step = steps;
    st.sums.clear();   // a finished epoch leaves no partial sums in the checkpoints
    st.counted = st.epoch_skipped = 0;
    if (log.val_total < st.best_val) {
      st.best_val = log.val_total;
      st.best_epoch = e;
      st.epoch = e + 1;
      st.step = 0;
      save("best.ckpt");
      st.epoch = e;
      st.step = steps;
    }
    result.epochs.push_back(log);
    log_lines.push_back(epoch_json(log));
    std::string all;
    for (auto& l : log_lines) all += l + "\n";
    util::write_text_atomic(opt.out_dir + "/train_log.jsonl", all);
    st.epoch = e + 1;
    st.step = 0;
    save("last.ckpt");
    st.epoch = e;   // the for-loop increments it
  }
  std::signal(SIGINT, prev_handler);
  result.best_val = st.best_val;
  result.best_epoch = st.best_epoch;
  result.skipped_steps = st.skipped;
  if (fs::exists(opt.out_dir + "/best.ckpt")) load_checkpoint(opt.out_dir + "/best.ckpt", model);
  return result;
}

}  // namespace ssmtl
