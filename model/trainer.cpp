#include "model/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "data/samples/ood.h"
#include "kernels/precision.h"
#include "model/checkpoint.h"
#include "model/train_curves.h"
#include "model/train_state.h"
#include "model/weight_average.h"
#include "tensor/device.h"
#include "util/atomic_file.h"
#include "util/progress.h"

namespace ssmtl {

TrainOptions TrainOptions::from_config(util::Config& c) {
  TrainOptions o;
  o.epochs = c.get_int("train.epochs", o.epochs);
  o.batch_size = c.get_int("train.batch_size", o.batch_size);
  o.lr = c.get_double("train.lr", o.lr);
  o.adam_eps = c.get_double("train.adam_eps", o.adam_eps);
  o.val_fraction = c.get_double("train.val_fraction", o.val_fraction);
  o.lr_schedule = c.get_string("train.lr_schedule", o.lr_schedule);
  if (o.lr_schedule != "constant" && o.lr_schedule != "cosine")
    throw std::invalid_argument("train.lr_schedule must be constant or cosine, got " + o.lr_schedule);
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
  o.max_seconds = c.get_double("train.max_seconds", o.max_seconds);
  if (!(o.max_seconds >= 0)) throw std::invalid_argument("train.max_seconds must be >= 0 (0 = no time box)");
  o.sync_bn = c.get_bool("train.sync_bn", o.sync_bn);
  o.keep_epoch_checkpoints = c.get_bool("train.keep_epoch_checkpoints", o.keep_epoch_checkpoints);
  o.swa_epochs = c.get_int("train.swa_epochs", o.swa_epochs);
  o.precise_bn = c.get_int("train.precise_bn", o.precise_bn);
  if (o.precise_bn < 0) throw std::invalid_argument("train.precise_bn must be >= 0 (0 = running statistics)");
  o.precision = c.get_string("train.precision", o.precision);
  if (o.precision != "fp32" && o.precision != "bf16")
    throw std::invalid_argument("train.precision must be fp32 or bf16, got " + o.precision);
  if (o.epochs < 1 || o.batch_size < 2) throw std::invalid_argument("train.epochs >= 1 and train.batch_size >= 2");
  if (!(o.lr > 0)) throw std::invalid_argument("train.lr must be > 0 (the T5 ascent sign comes from train.pseudo_lr_scale)");
  if (!(o.val_fraction >= 0 && o.val_fraction < 1)) throw std::invalid_argument("train.val_fraction must be in [0, 1)");
  return o;
}

int num_validation_videos(int nv, double val_fraction) {
  return nv >= 2 ? std::max(1, static_cast<int>(std::lround(val_fraction * nv))) : 0;
}

std::vector<size_t> training_ids(const ObjectPool& pool, const TrainOptions& opt) {
  const int trained_videos = pool.num_videos() - num_validation_videos(pool.num_videos(), opt.val_fraction);
  std::vector<size_t> ids;
  for (size_t i = 0; i < pool.objects().size(); ++i)
    if (pool.objects()[i].video < trained_videos) ids.push_back(i);
  return ids;
}

std::vector<size_t> validation_ids(const ObjectPool& pool, const TrainOptions& opt) {
  const int nv = pool.num_videos(), n_val = num_validation_videos(nv, opt.val_fraction);
  std::vector<size_t> ids;
  for (size_t i = 0; i < pool.objects().size(); ++i)
    if (pool.objects()[i].video >= nv - n_val) ids.push_back(i);
  if (static_cast<int>(ids.size()) > opt.max_val_objects) {
    Rng r(opt.seed ^ 0x5eed);
    for (size_t i = 0; i < ids.size(); ++i) std::swap(ids[i], ids[i + r.randint(0, ids.size() - i)]);
    ids.resize(opt.max_val_objects);
  }
  return ids;
}

namespace {

volatile std::sig_atomic_t g_interrupted = 0;
void on_sigint(int) { g_interrupted = 1; }

// Fault injection for the tests of a failing rank: SSMTL_FAIL_RANK=<rank>:<steps> makes that rank throw
// at step index <steps> (0-based) of every epoch. -1 = never.
int injected_failure_step(int rank) {
  const char* v = std::getenv("SSMTL_FAIL_RANK");
  int r = -1, k = -1;
  if (!v || std::sscanf(v, "%d:%d", &r, &k) != 2 || r != rank) return -1;
  return k;
}

// FNV-1a over the bytes of every weight and buffer: the data-parallel replicas must agree bit for bit.
uint64_t weights_hash(SSMTLModel& m) {
  uint64_t h = 1469598103934665603ULL;
  for (auto& nt : m.named_tensors()) {
    const std::vector<float> v = nt.tensor->to_vector();
    const auto* b = reinterpret_cast<const unsigned char*>(v.data());
    for (size_t i = 0; i < v.size() * sizeof(float); ++i) h = (h ^ b[i]) * 1099511628211ULL;
  }
  return h;
}

// The log key of the ascent loss (T5) in train_log.jsonl.
constexpr const char* kAscentLog = "pseudo";

// A run in progress: the objects and their split, the sampler, the optimisers and the state a checkpoint
// holds. It owns saving, resuming and stopping (Ctrl-C, train.stop_after_steps); run() is the epoch loop.
class TrainRun {
 public:
  TrainRun(SSMTLModel& model, const TrainOptions& opt, const std::string& config_text);
  ~TrainRun() { std::signal(SIGINT, prev_handler_); }
  TrainResult run();

 private:
  // Runs the steps of epoch e from st_.step on; false when the run stopped (last.ckpt written).
  bool run_epoch(int e, EpochLog& log);
  // Validation, best.ckpt, the log line and last.ckpt after epoch e's steps.
  void end_epoch(int e, EpochLog& log);
  void save(const std::string& name);
  void write_curves();
  // train.swa_epochs: epoch e (0-based) is one of the last swa_epochs, whose checkpoints the average reads.
  bool swa_keeps(int e) const { return opt_.swa_epochs > 0 && e + 1 > opt_.epochs - opt_.swa_epochs; }
  // After the last epoch: swa.ckpt and swa.json (write_swa_checkpoint); the epoch checkpoints kept only for
  // it are removed (train.keep_epoch_checkpoints = false).
  void write_swa();
  // A resume that will train more epochs: an earlier swa.ckpt / swa.json no longer describe the run (removed);
  // the epochs the average needs that are already done are copied from the resumed checkpoint's folder when
  // the run continues in another one, and must exist (else std::runtime_error naming the file, at once).
  void prepare_swa_resume();
  void check_swa_epochs(int first, int done);   // (its copy and check of epochs first..done)
  double swa_val_ = 0;
  int swa_averaged_ = 0;
  bool curves_warned_ = false;
  // Ctrl-C or the step limit: last.ckpt holds the state after the step just run (st_ already advanced).
  void stop();
  std::vector<size_t> epoch_order(int e) const;
  TrainResult result() const;

  // Data parallel: the batch positions [from, to) of a global batch of n that this rank takes.
  std::pair<size_t, size_t> my_share(size_t n) const {
    const size_t N = static_cast<size_t>(comm_.size()), r = static_cast<size_t>(comm_.rank());
    return {n * r / N, n * (r + 1) / N};
  }
  // Per-rank BatchNorm statistics leave the ranks' running buffers apart: rank 0's are copied to all (as
  // PyTorch DDP's broadcast_buffers), so the replicas stay identical.
  void broadcast_buffers();
  // Throws when this rank's weights differ from rank 0's (a bug, never expected).
  void check_replicas(int e);

  SSMTLModel& model_;
  const TrainOptions& opt_;
  dist::Communicator& comm_;
  dist::Communicator& grad_comm_;
  const bool lead_;   // rank 0: the only one that writes files and prints
  const std::string& config_text_;
  const Device dev_;
  kernels::MatmulPrecisionScope precision_;   // train.precision while this run lives (validation included)
  ObjectPool pool_;
  std::vector<size_t> train_ids_, val_ids_;
  std::unique_ptr<OodImages> ood_;
  std::unique_ptr<SampleBuilder> builder_;
  std::unique_ptr<Optimisers> optim_;
  TrainerState st_;
  std::vector<std::string> log_lines_;   // earlier epochs' lines survive a resume
  std::vector<EpochLog> epochs_;
  int bad_in_row_ = 0;
  std::vector<float> base_lr_main_, base_lr_ascent_;   // the groups' lr before any schedule
  void apply_lr_schedule(int epoch, int step, int steps_per_epoch);
  int steps_run_ = 0;   // in this invocation (train.stop_after_steps)
  bool stopped_ = false;
  bool time_limit_ = false;   // stopped at an epoch's end by train.max_seconds
  void (*prev_handler_)(int) = SIG_DFL;
};

// The options are checked before any data is read: output folder, device, step limit.
Device checked_device(const TrainOptions& opt) {
  if (opt.out_dir.empty()) throw std::invalid_argument("train: no output folder");
  return parse_device(opt.device);
}

// epoch_NNN.ckpt (train.keep_epoch_checkpoints, train.swa_epochs)
bool is_epoch_checkpoint(const std::string& n) {
  return n.size() > 11 && n.rfind("epoch_", 0) == 0 && n.substr(n.size() - 5) == ".ckpt" &&
         n.find_first_not_of("0123456789", 6) == n.size() - 5;
}

// A new run (no --resume) in a folder that holds an earlier one: the earlier run's files go first (said
// loudly), so that the folder never mixes two runs (e.g. epoch_007.ckpt of a longer earlier run).
void remove_earlier_run(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<fs::path> old;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (is_epoch_checkpoint(n) || n == "last.ckpt" || n == "best.ckpt" || n == "train_log.jsonl" || n == "train_curves.png" ||
        n == "swa.ckpt" || n == "swa.json")
      old.push_back(e.path());
  }
  if (old.empty()) return;
  std::sort(old.begin(), old.end());
  std::string names;
  for (const auto& p : old) names += " " + p.filename().string();
  std::fprintf(stderr, "warning: %s holds an earlier run; this new run (no --resume) replaces it, removing:%s\n",
               dir.c_str(), names.c_str());
  for (const auto& p : old) fs::remove(p, ec);
}

// Checks the resume's configuration, makes the output folder (rank 0) and loads the objects of the training videos.
ObjectPool load_pool(const SSMTLModel& model, const TrainOptions& opt, const std::string& config_text, bool lead) {
  if (opt.stop_after_steps < 0) throw std::invalid_argument("train.stop_after_steps must be >= 0");
  if (!opt.resume.empty()) {
    const std::string note = check_resume_config(read_checkpoint_meta(opt.resume).config_text, config_text, opt.resume);
    if (lead && !note.empty()) std::fprintf(stderr, "note: %s\n", note.c_str());
  }
  if (lead) util::make_dirs(opt.out_dir);   // (config.txt once the data has loaded: TrainRun's constructor)
  return ObjectPool::load(opt.data_root, opt.split, opt.detections, opt.min_detection_score, true, opt.videos,
                          TeacherSpec::for_model(model.cfg, opt.detections, opt.teachers));
}

TrainRun::TrainRun(SSMTLModel& model, const TrainOptions& opt, const std::string& config_text)
    : model_(model), opt_(opt),
      comm_(opt.comm ? *opt.comm : dist::world()),
      grad_comm_(opt.grad_comm ? *opt.grad_comm : comm_),
      lead_(comm_.rank() == 0), config_text_(config_text),
      dev_(checked_device(opt)),
      precision_(kernels::checked_matmul_precision(opt.precision, dev_ != Device::CPU, "train.precision")),
      pool_(load_pool(model, opt, config_text, comm_.rank() == 0)) {
  // The last val_fraction of the videos are held out.
  const int nv = pool_.num_videos();
  const int n_val = num_validation_videos(nv, opt.val_fraction);
  train_ids_ = training_ids(pool_, opt);
  val_ids_ = validation_ids(pool_, opt);   // (all of them, or a fixed sample: the same every epoch)
  const size_t n_val_objects = pool_.objects().size() - train_ids_.size();
  if (train_ids_.empty()) throw std::runtime_error(opt.detections + ": no training objects (detections empty?)");
  if (comm_.size() > 1) {   // BatchNorm in training needs 2 samples a rank (per-rank statistics, and T5's pass)
    size_t n = train_ids_.size();
    if (opt.max_objects_per_epoch > 0) n = std::min(n, static_cast<size_t>(opt.max_objects_per_epoch));
    const size_t bs = static_cast<size_t>(opt.batch_size), last = n % bs == 0 ? bs : n % bs;
    const size_t smallest = std::min(n, std::min(bs, last)) / static_cast<size_t>(comm_.size());
    if (smallest < 2)
      throw std::invalid_argument("train: " + std::to_string(comm_.size()) + " ranks need at least 2 samples each of " +
                                  "every batch: global batch " + std::to_string(bs) + ", the last batch of an epoch " +
                                  std::to_string(std::min(n, last)) + " of " + std::to_string(n) +
                                  " objects (change train.batch_size or train.max_objects_per_epoch, or use fewer ranks)");
    if (opt.sync_bn && dev_ != Device::CPU)
      throw std::invalid_argument("train.sync_bn: synchronised BatchNorm is implemented on the CPU only (use per-rank "
                                  "statistics, the default, with --device cuda)");
  }
  if (lead_) std::fprintf(stderr, "train: %d videos (%d held out for validation), %zu training objects, %zu validation objects\n",
               nv, n_val, train_ids_.size(), n_val_objects);
  model.to(dev_);   // before the optimisers take their parameter handles
  if (model.cfg.tasks.any(Source::kOodImages)) ood_ = std::make_unique<OodImages>(opt.ood_root);
  builder_ = std::make_unique<SampleBuilder>(pool_, model.cfg, ood_.get());
  optim_ = std::make_unique<Optimisers>(model, opt, static_cast<float>(opt.adam_eps));
  for (auto& g : optim_->main.groups()) base_lr_main_.push_back(g.lr);   // before a resume restores scaled ones
  if (optim_->ascent)
    for (auto& g : optim_->ascent->groups()) base_lr_ascent_.push_back(g.lr);
  if (!opt.resume.empty()) {
    CheckpointMeta meta = load_checkpoint(opt.resume, model);
    st_ = TrainerState::parse(meta.trainer_state, opt.resume);
    load_adam(optim_->main, st_.adam_main, opt.resume);
    if (optim_->ascent) load_adam(*optim_->ascent, st_.adam_pseudo, opt.resume);
    if (lead_)
      std::fprintf(stderr, "train: resumed from %s at epoch %d step %d\n", opt.resume.c_str(), st_.epoch, st_.step);
    if (lead_ && st_.epoch < opt.epochs) prepare_swa_resume();
  }
  if (lead_) {   // once the data and options have loaded: a run that fails before leaves the folder as it was
    if (opt.resume.empty()) remove_earlier_run(opt.out_dir);
    util::write_text_atomic(opt.out_dir + "/config.txt", config_text);
  }
  if (!opt.resume.empty() && std::filesystem::exists(opt.out_dir + "/train_log.jsonl")) {
    std::istringstream in(util::read_file(opt.out_dir + "/train_log.jsonl"));
    for (std::string l; std::getline(in, l);)
      if (!l.empty()) log_lines_.push_back(l);
  }
  prev_handler_ = std::signal(SIGINT, on_sigint);
  // Under mpirun, Ctrl-C reaches the ranks as SIGTERM (OpenMPI forwards SIGINT to its job that way).
  if (comm_.size() > 1) std::signal(SIGTERM, on_sigint);
  g_interrupted = 0;
  if ((comm_.size() > 1 || &grad_comm_ != &comm_) && lead_)
    std::fprintf(stderr, "train: data parallel over %d ranks (%s gradients), batch %d split %d-%d a rank, BatchNorm %s\n",
                 comm_.size(), grad_comm_.backend(), opt.batch_size, opt.batch_size / comm_.size(),
                 (opt.batch_size + comm_.size() - 1) / comm_.size(), opt.sync_bn ? "synchronised" : "per rank");
}

void TrainRun::broadcast_buffers() {
  for (auto& nt : model_.named_tensors()) {
    if (!nt.is_buffer) continue;
    std::vector<float> v = nt.tensor->to_vector();
    comm_.broadcast(v.data(), static_cast<int64_t>(v.size() * sizeof(float)), 0);
    nt.tensor->copy_from(Tensor::from_vector(nt.tensor->shape(), v));
  }
}

void TrainRun::check_replicas(int e) {
  uint64_t h = weights_hash(model_), h0 = h;
  comm_.broadcast(&h0, sizeof h0, 0);
  if (h != h0)
    throw std::runtime_error("data parallel: the weights of rank " + std::to_string(comm_.rank()) +
                             " differ from rank 0's after epoch " + std::to_string(e + 1));
}

void TrainRun::stop() {
  save("last.ckpt");
  stopped_ = true;
  if (!lead_) return;
  if (g_interrupted)
    std::fprintf(stderr, "train: interrupted; state saved to %s/last.ckpt (resume with --resume)\n",
                 opt_.out_dir.c_str());
  else
    std::fprintf(stderr, "train: stopped after %d steps (train.stop_after_steps); state saved to %s/last.ckpt\n",
                 steps_run_, opt_.out_dir.c_str());
}

void TrainRun::save(const std::string& name) {
  if (!lead_) return;
  st_.adam_main = adam_blob(optim_->main);
  st_.adam_pseudo = optim_->ascent ? adam_blob(*optim_->ascent) : std::string();
  save_checkpoint(opt_.out_dir + "/" + name, model_, {config_text_, st_.serialize()});
}

// Epoch e's objects: a shuffle drawn from (seed, e), cut to max_objects_per_epoch.
std::vector<size_t> TrainRun::epoch_order(int e) const {
  std::vector<size_t> order = train_ids_;
  Rng order_rng(opt_.seed * 1000003ULL + static_cast<uint64_t>(e) + 1);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[order_rng.randint(0, i)]);
  if (opt_.max_objects_per_epoch > 0 && static_cast<int>(order.size()) > opt_.max_objects_per_epoch)
    order.resize(opt_.max_objects_per_epoch);
  return order;
}

TrainResult TrainRun::result() const {
  TrainResult r;
  r.best_val = st_.best_val;
  r.best_epoch = st_.best_epoch;
  r.skipped_steps = st_.skipped;
  r.epochs = epochs_;
  r.time_limit = time_limit_;
  r.swa_val = swa_val_;
  r.swa_epochs_averaged = swa_averaged_;
  if (stopped_) {
    r.interrupted = g_interrupted != 0;
    r.step_limit = !r.interrupted;
  }
  return r;
}

bool TrainRun::run_epoch(int e, EpochLog& log) {
  const std::vector<size_t> order = epoch_order(e);
  const int steps = static_cast<int>((order.size() + opt_.batch_size - 1) / opt_.batch_size);
  const bool ascent = model_.has_ascent_task() && e >= opt_.pseudo_start_epoch;
  std::map<std::string, double> sums;
  int counted = 0;
  if (st_.step > 0) {   // resumed mid-epoch: the steps before the interruption count in this epoch's means
    sums = st_.sums;
    counted = st_.counted;
    log.skipped_steps = st_.epoch_skipped;
  }
  util::Progress progress("epoch " + std::to_string(e + 1) + "/" + std::to_string(opt_.epochs),
                          static_cast<int64_t>(order.size()), "samples");
  const size_t samples_before = std::min<size_t>(order.size(), static_cast<size_t>(st_.step) * opt_.batch_size);
  progress.resume_from(static_cast<int64_t>(samples_before));
  // Step k's batch depends only on (seed, epoch, k), so it can be cut out of the frames ahead of time: on
  // a GPU the next batch is built on the CPU while the current step runs (on the CPU both would compete
  // for the same cores, so there it is built in turn).
  // Data parallel: this rank's share of the global batch, its samples drawn at their global positions.
  auto build_batch = [&, e, ascent](int step) {
    size_t a = static_cast<size_t>(step) * opt_.batch_size, b = std::min(order.size(), a + opt_.batch_size);
    const auto [from, to] = my_share(b - a);
    std::vector<size_t> ids(order.begin() + a + from, order.begin() + a + to);
    uint64_t batch_seed = opt_.seed * 0x9e3779b97f4a7c15ULL ^ (static_cast<uint64_t>(e) << 32) ^ a;
    return builder_->build(ids, batch_seed, ascent, static_cast<int64_t>(from));
  };
  std::future<TaskBatch> next;
  double grad_wait = 0;   // data parallel: seconds in the loss and gradient sums (waiting for the slowest rank included)
  const int fail_at = injected_failure_step(comm_.rank());
  for (; st_.step < steps; ++st_.step) {
    if (fail_at >= 0 && st_.step >= fail_at)
      throw std::runtime_error("injected failure (SSMTL_FAIL_RANK) before step " + std::to_string(st_.step + 1) +
                               " of epoch " + std::to_string(e + 1));
    size_t a = static_cast<size_t>(st_.step) * opt_.batch_size, b = std::min(order.size(), a + opt_.batch_size);
    TaskBatch batch = (next.valid() ? next.get() : build_batch(st_.step)).to(dev_);
    if (dev_ != Device::CPU && st_.step + 1 < steps) next = std::async(std::launch::async, build_batch, st_.step + 1);
    apply_lr_schedule(e, st_.step, steps);
    std::optional<DataParallel> dp;   // (NCCL runs even on one rank: scripts/gpu_check.sh tests that path)
    if (comm_.size() > 1 || &grad_comm_ != &comm_) {
      const auto [from, to] = my_share(b - a);
      dp.emplace(DataParallel{comm_, grad_comm_, static_cast<double>(to - from) / static_cast<double>(b - a),
                              opt_.sync_bn, &grad_wait});
    }
    const StepResult r = train_step(model_, *optim_, batch, ascent, opt_.pseudo_loss_cap, nullptr, dp ? &*dp : nullptr);
    if (dp && !opt_.sync_bn) broadcast_buffers();
    if (r.skipped) {
      ++st_.skipped;
      ++log.skipped_steps;
      if (++bad_in_row_ >= opt_.max_bad_steps)
        throw std::runtime_error("training stopped: non-finite loss for " + std::to_string(bad_in_row_) +
                                 " steps in a row, at epoch " + std::to_string(e + 1) + " step " +
                                 std::to_string(st_.step + 1));
      if (lead_) std::fprintf(stderr, "\nwarning: non-finite loss at epoch %d step %d: step skipped\n", e + 1, st_.step + 1);
      continue;
    }
    bad_in_row_ = 0;
    for (auto& [k, v] : r.losses) sums[k] += v;
    if (r.ascent_ran && r.ascent_finite) sums[kAscentLog] += r.ascent_loss;
    if (r.ascent_ran && !r.ascent_finite) {
      ++st_.skipped;
      ++log.skipped_steps;
    }
    ++counted;
    char suffix[64];
    std::snprintf(suffix, sizeof suffix, "loss %.4f", r.loss);
    progress.set_suffix(suffix);
    progress.add(static_cast<int64_t>(b - a));
    if (comm_.size() > 1) {   // a Ctrl-C seen by any rank stops them all after this step
      double flag = g_interrupted ? 1 : 0;
      comm_.sum(&flag, 1);
      if (flag > 0) g_interrupted = 1;
    }
    if (g_interrupted || (opt_.stop_after_steps > 0 && ++steps_run_ >= opt_.stop_after_steps)) {
      ++st_.step;
      st_.sums = sums;
      st_.counted = counted;
      st_.epoch_skipped = log.skipped_steps;
      progress.finish();
      stop();
      return false;
    }
  }
  progress.finish();
  if (comm_.size() > 1 && lead_)
    std::fprintf(stderr, "epoch %d: %.1f s of %.1f s in the loss and gradient sums on rank 0 (waiting for the slowest rank included)\n",
                 e + 1, grad_wait, progress.elapsed_s());
  const double samples_now = static_cast<double>(order.size() - samples_before);
  for (auto& [k, v] : sums) log.train[k] = v / std::max(counted, 1);
  log.seconds = progress.elapsed_s();   // of this invocation: a resumed epoch counts only its remaining steps
  log.samples_per_s = log.seconds > 0 && samples_now > 0 ? samples_now / log.seconds : 0;
  end_epoch(e, log);
  return true;
}

// The schedule depends only on (epoch, step), so a resumed run follows it exactly.
void TrainRun::apply_lr_schedule(int e, int step, int steps_per_epoch) {
  if (opt_.lr_schedule == "constant") return;
  const double total = static_cast<double>(opt_.epochs) * steps_per_epoch;
  const double k = static_cast<double>(e) * steps_per_epoch + step;
  const float f = static_cast<float>(0.5 * (1.0 + std::cos(3.14159265358979323846 * k / total)));
  for (size_t i = 0; i < base_lr_main_.size(); ++i) optim_->main.groups()[i].lr = base_lr_main_[i] * f;
  for (size_t i = 0; i < base_lr_ascent_.size(); ++i) optim_->ascent->groups()[i].lr = base_lr_ascent_[i] * f;
}

void TrainRun::end_epoch(int e, EpochLog& log) {
  // Per-window BatchNorm statistics for this epoch's weights (train.precise_bn), so that validation, best.ckpt
  // and every checkpoint below carry and use them. Every rank estimates the same objects (identical results).
  if (opt_.precise_bn > 0) {
    const std::vector<size_t> ids = precise_bn_ids(pool_, opt_, static_cast<size_t>(opt_.precise_bn));
    util::Progress progress("epoch " + std::to_string(e + 1) + "/" + std::to_string(opt_.epochs) +
                                " BatchNorm statistics per window",
                            static_cast<int64_t>(ids.size()), "samples");
    estimate_window_bn(model_, *builder_, ids, opt_.batch_size, precise_bn_seed(opt_), &progress);
    progress.finish();
  }
  // Validation loss (eval mode, fixed samples), descent tasks only; without validation videos, the
  // training losses stand in.
  if (!val_ids_.empty()) {
    log.val = validation_losses(model_, *builder_, val_ids_, opt_.batch_size, validation_seed(opt_), &comm_);
    for (auto& [k, v] : log.val) log.val_total += v;
  } else {
    for (auto& [k, v] : log.train)
      if (k != kAscentLog) log.val_total += v;
  }
  if (comm_.size() > 1) check_replicas(e);
  if (lead_)
    std::fprintf(stderr, "epoch %d: validation loss %.5f%s\n", e + 1, log.val_total,
                 log.val_total < st_.best_val ? " (best so far)" : "");
  st_.sums.clear();   // a finished epoch leaves no partial sums in the checkpoints
  st_.counted = st_.epoch_skipped = 0;
  if (log.val_total < st_.best_val) {
    st_.best_val = log.val_total;
    st_.best_epoch = e;
    st_.epoch = e + 1;   // best.ckpt resumes at the next epoch
    st_.step = 0;
    save("best.ckpt");
  }
  epochs_.push_back(log);
  log_lines_.push_back(epoch_json(log));
  std::string all;
  for (auto& l : log_lines_) all += l + "\n";
  if (lead_) {
    util::write_text_atomic(opt_.out_dir + "/train_log.jsonl", all);
    write_curves();
  }
  st_.epoch = e + 1;
  st_.step = 0;
  save("last.ckpt");
  if (opt_.keep_epoch_checkpoints || swa_keeps(e)) {
    char name[32];
    std::snprintf(name, sizeof name, "epoch_%03d.ckpt", e + 1);
    save(name);
  }
}

void TrainRun::write_swa() {
  const SwaResult r = write_swa_checkpoint(model_.cfg, dev_, opt_, pool_, *builder_, val_ids_, config_text_);
  swa_val_ = r.val_total;
  swa_averaged_ = r.last_epoch - r.first_epoch + 1;
  char val[64] = "no validation videos";
  if (!r.val.empty()) std::snprintf(val, sizeof val, "validation loss %.5f", r.val_total);
  std::fprintf(stderr, "swa: epochs %d-%d averaged: %s (best.ckpt, epoch %d: %.5f); %s/swa.ckpt\n", r.first_epoch,
               r.last_epoch, val, st_.best_epoch + 1, st_.best_val, opt_.out_dir.c_str());
  if (opt_.keep_epoch_checkpoints) return;
  // (keep_epoch_checkpoints cannot change on a resume: every epoch file here was kept for the average)
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(opt_.out_dir, ec))
    if (is_epoch_checkpoint(e.path().filename().string())) std::filesystem::remove(e.path(), ec);
}

void TrainRun::prepare_swa_resume() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const int first = std::max(1, opt_.epochs - opt_.swa_epochs + 1), done = st_.epoch;
  if (opt_.swa_epochs > 0 && done >= first) check_swa_epochs(first, done);
  for (const char* name : {"swa.ckpt", "swa.json"})
    if (fs::remove(opt_.out_dir + "/" + name, ec))
      std::fprintf(stderr, "train: removed %s/%s (of the run before this resume)\n", opt_.out_dir.c_str(), name);
}

void TrainRun::check_swa_epochs(int first, int done) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path from = fs::path(opt_.resume).parent_path().empty() ? fs::path(".") : fs::path(opt_.resume).parent_path();
  for (int e = first; e <= done; ++e) {   // (resumed into another folder: its kept epochs come along)
    char name[32];
    std::snprintf(name, sizeof name, "epoch_%03d.ckpt", e);
    const fs::path src = from / name, dst = fs::path(opt_.out_dir) / name;
    if (!fs::exists(dst, ec) && fs::exists(src, ec) && !fs::equivalent(from, opt_.out_dir, ec)) {
      const std::string bytes = util::read_file(src.string());
      util::write_atomic(dst.string(), [&](std::ostream& o) { o << bytes; }, true);
    }
  }
  try {
    epoch_checkpoints(opt_.out_dir, first, done);
  } catch (const std::runtime_error& ex) {
    throw std::runtime_error("train.swa_epochs = " + std::to_string(opt_.swa_epochs) + " averages epochs " +
                             std::to_string(first) + "-" + std::to_string(opt_.epochs) +
                             ", some trained before this resume and not kept (or removed after an earlier "
                             "swa.ckpt): " + ex.what() + "; resume with a train.swa_epochs that starts after epoch " +
                             std::to_string(done) + ", or 0");
  }
}

// RUN/train_curves.png from every line of the log (a resumed run's earlier epochs too). A figure is not worth a
// stopped run: a line it cannot read is a warning, once.
void TrainRun::write_curves() {
  std::vector<EpochLog> all;
  try {
    for (size_t i = 0; i < log_lines_.size(); ++i)
      all.push_back(parse_epoch_json(log_lines_[i], opt_.out_dir + "/train_log.jsonl:" + std::to_string(i + 1)));
    write_training_curves(opt_.out_dir + "/train_curves.png", all);
  } catch (const std::exception& ex) {
    if (!curves_warned_) std::fprintf(stderr, "warning: no train_curves.png: %s\n", ex.what());
    curves_warned_ = true;
  }
}

TrainResult TrainRun::run() {
  const auto t0 = std::chrono::steady_clock::now();
  int done_here = 0;
  if (st_.epoch >= opt_.epochs && st_.step == 0 && lead_)
    std::fprintf(stderr, "train: %s already finished its %d epoch%s: nothing to train (to continue it, resume with "
                 "a larger train.epochs, e.g. --set train.epochs=%d)\n", opt_.resume.c_str(), st_.epoch,
                 st_.epoch == 1 ? "" : "s", st_.epoch + 10);
  for (; st_.epoch < opt_.epochs;) {
    const int e = st_.epoch;
    EpochLog log;
    log.epoch = e;
    if (!run_epoch(e, log)) return result();
    ++done_here;
    if (opt_.max_seconds > 0 && st_.epoch < opt_.epochs) {
      // Rank 0's clock decides for every rank, so that all stop after the same epoch.
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      double flag = lead_ && elapsed + elapsed / done_here > opt_.max_seconds ? 1 : 0;
      if (comm_.size() > 1) comm_.sum(&flag, 1);
      if (flag > 0) {
        time_limit_ = true;
        if (lead_)
          std::fprintf(stderr, "train: stopped after epoch %d of %d: one more would end past train.max_seconds = %g "
                       "(%.0f s so far); resume with --resume %s/last.ckpt\n", e + 1, opt_.epochs, opt_.max_seconds,
                       elapsed, opt_.out_dir.c_str());
        break;
      }
    }
  }
  // (a finished run resumed with nothing to train writes a swa.ckpt that is missing, e.g. after a failed step)
  if (opt_.swa_epochs > 0 && lead_ && st_.epoch >= opt_.epochs && !time_limit_ &&
      (done_here > 0 || !std::filesystem::exists(opt_.out_dir + "/swa.ckpt"))) {
    try {
      write_swa();
    } catch (const std::runtime_error& ex) {
      if (done_here > 0) throw;
      std::fprintf(stderr, "train: no swa.ckpt: %s\n", ex.what());
    }
  }
  // (Rank 0 only: the other ranks' out_dir need not be the same file system, and they return no model.)
  if (lead_ && std::filesystem::exists(opt_.out_dir + "/best.ckpt")) load_checkpoint(opt_.out_dir + "/best.ckpt", model_);
  return result();
}

}  // namespace

TrainResult train_model(SSMTLModel& model, const TrainOptions& opt, const std::string& config_text) {
  TrainRun run(model, opt, config_text);
  return run.run();
}

}  // namespace ssmtl
