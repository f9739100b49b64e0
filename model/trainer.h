// Training of SSMTL / SSMTL++ on object-centric sequences (paper section 4.2, DESIGN.md section 6):
// Adam (lr 1e-3), equal task weights, mini-batches, the last 15% of the training videos held out for
// validation, the checkpoint with the lowest validation loss kept (best.ckpt). T5 pseudo-anomalies: a
// second Adam whose backbone group has the learning rate -0.2 x lr (gradient ascent) and whose decoder
// group has +lr, enabled from `pseudo_start_epoch` (0-based), with BatchNorm running statistics of the
// backbone left untouched by out-of-distribution batches.
//
// Reproducible: epoch e's object order comes from Rng(seed, e) and every sample's random choices from
// Rng(seed, e, position), so results do not depend on the thread count, and training resumed from a
// checkpoint (also one written on Ctrl-C mid-epoch) continues exactly as an uninterrupted run.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "model/sampler.h"
#include "model/ssmtl.h"
#include "model/tasks_loss.h"
#include "optim/adam.h"
#include "util/config.h"
#include "util/progress.h"

namespace ssmtl {

struct TrainOptions {
  std::string data_root = "../shared/data/ped2";
  std::string split = "training";
  std::string detections;          // folder of <video>.txt region files (ssmtl detect); T4 also reads
                                   // its class_probs/<video>.txt (data/detect/class_probs.h)
  std::string teachers;            // T7 / T9 teacher maps <video>.seg / <video>.pose (data/teacher_maps.h)
  std::string ood_root = "../shared/data/ood";
  std::string out_dir;             // run folder: checkpoints, log, resolved configuration
  std::string resume;              // checkpoint to resume from (usually <out_dir>/last.ckpt)
  std::vector<std::string> videos; // training videos to use (empty = all of the split)
  int epochs = 20;
  int batch_size = 64;
  double lr = 1e-3;
  double adam_eps = 1e-8;          // Adam's epsilon (torch default); larger values damp the steps of
                                   // parameters whose gradient is (near) zero, e.g. attention key biases
  std::string lr_schedule = "constant";   // "constant" (the paper) or "cosine": every optimiser group's lr times
                                          // 0.5 (1 + cos(pi k / K)) at step k of K over all epochs (to 0 at the end)
  double val_fraction = 0.15;      // last videos held out
  uint64_t seed = 0;
  int max_objects_per_epoch = 0;   // 0 = every training object each epoch
  int max_val_objects = 1024;
  double min_detection_score = 0.0;
  int pseudo_start_epoch = 5;
  double pseudo_lr_scale = -0.2;
  double pseudo_loss_cap = 0.5;    // above this T5 loss the backbone's ascent step is skipped
  int max_bad_steps = 20;          // consecutive non-finite losses before training stops
  bool keep_epoch_checkpoints = false;   // also write epoch_NNN.ckpt (1-based; the state after that epoch, as
                                        // last.ckpt then) so that an epoch can be chosen later by another rule
                                        // than the lowest validation loss (docs/RESULTS.md section 16)
  int stop_after_steps = 0;        // > 0: stop as Ctrl-C does (last.ckpt written, resumable) after this many
                                   // steps of this invocation, e.g. for time-boxed jobs; 0 = never
  double max_seconds = 0;          // > 0: a time box (Lightning's max_time): after an epoch, stop when one more
                                   // epoch at this invocation's mean epoch time would end past it; the run then
                                   // ends as a finished one (best.ckpt loaded) and resumes with --resume; 0 = never
  std::string device = "cpu";      // "cpu" or "cuda": where the model and its batches live (samples are
                                   // always cut out of the frames on the CPU)
  std::string precision = "fp32";  // "fp32" or "bf16": the products of linear layers and 3x3x3 convolutions
                                   // with bfloat16 factors and float32 sums (kernels/precision.h; CPU with
                                   // AVX512_BF16 only); weights, gradients and Adam stay float32
  int precise_bn = 0;              // > 0: after every epoch's steps, BatchNorm statistics per input window
                                   // estimated from this many training objects (estimate_window_bn), used by
                                   // that epoch's validation (so best.ckpt is chosen with them), stored in its
                                   // checkpoints and used by scoring; weights and running statistics are as
                                   // without it. 0 = the running statistics (the paper)
  int swa_epochs = 0;              // > 0: when the run finishes, swa.ckpt: the mean of the weights of its last
                                   // this many epochs (stochastic weight averaging, model/weight_average.h), its
                                   // BatchNorm statistics estimated per window (train.precise_bn objects, 2048
                                   // when that is 0), validated and logged in swa.json; those epochs' checkpoints
                                   // are kept until then (a resume into another folder copies them over). Training
                                   // is unchanged; the step (~20 s for SSMTL on the CPU) is not part of
                                   // train.max_seconds' estimate. A finished run resumed without swa.ckpt writes
                                   // it; a resume that trains more epochs removes an earlier one. 0 = off
  bool sync_bn = false;            // data-parallel: BatchNorm statistics over the whole global batch (all
                                   // ranks) instead of each rank's share (PyTorch DDP's default); CPU only
  // Data-parallel job (mpirun -np N ssmtl train): null or a single-process communicator = this process
  // alone. `comm` carries losses, flags and BatchNorm statistics (host memory), `grad_comm` the gradients
  // (NCCL with --device cuda; null = comm). Not configuration keys: the launcher decides them.
  dist::Communicator* comm = nullptr;
  dist::Communicator* grad_comm = nullptr;

  static TrainOptions from_config(util::Config& c);   // "train.*" keys
};

// Number of videos held out for validation out of `num_videos` (the last ones in natural order):
// round(val_fraction * num_videos), at least 1 when there are 2 or more videos, 0 for a single video.
int num_validation_videos(int num_videos, double val_fraction);

// The objects of `pool` (indices into pool.objects()) that a run with `opt` validates on, in the trainer's
// order: those of the last num_validation_videos() videos, then, when there are more than
// opt.max_val_objects, a fixed shuffle from opt.seed cut to that many (the same objects every epoch and
// for `ssmtl validate`). Empty when no video is held out.
std::vector<size_t> validation_ids(const ObjectPool& pool, const TrainOptions& opt);
// The objects of `pool` a run with `opt` trains on: those of the videos not held out, in pool order.
std::vector<size_t> training_ids(const ObjectPool& pool, const TrainOptions& opt);
// The seed of the validation samples' random choices (validation_losses' `seed`) in a run with `opt`.
inline uint64_t validation_seed(const TrainOptions& opt) { return opt.seed ^ 0xa11da7e; }
// The seed of the samples the trainer's per-window BatchNorm estimate draws (train.precise_bn).
inline uint64_t precise_bn_seed(const TrainOptions& opt) { return opt.seed ^ 0xb0a7c4e; }

struct EpochLog {
  int epoch = 0;
  std::map<std::string, double> train, val;   // mean per-task losses
  double val_total = 0, seconds = 0, samples_per_s = 0;
  int skipped_steps = 0;
};

struct TrainResult {
  double best_val = 0;
  int best_epoch = -1;
  int skipped_steps = 0;
  bool interrupted = false;        // Ctrl-C: last.ckpt holds the state to resume from
  bool step_limit = false;         // stopped by train.stop_after_steps (also resumable from last.ckpt)
  bool time_limit = false;         // stopped at an epoch's end by train.max_seconds (resumable from last.ckpt)
  std::vector<EpochLog> epochs;
  double swa_val = 0;              // train.swa_epochs: swa.ckpt's validation loss (when swa_epochs_averaged > 0)
  int swa_epochs_averaged = 0;     // 0 = no swa.ckpt written by this call
};

// Trains `model` in place, on opt.device. Writes into out_dir: config.txt (the resolved configuration
// `config_text`, with the seed), best.ckpt (lowest validation loss), last.ckpt (after every epoch, and where
// a run stops early), train_log.jsonl (one JSON object per epoch), train_curves.png (the losses over the epochs,
// model/train_curves.h); with train.swa_epochs, swa.ckpt and swa.json when the last epoch ends. A run that finishes ends with best.ckpt's weights loaded back into `model`; a run
// stopped early (Ctrl-C, train.stop_after_steps) keeps the weights of its last step. Throws std::runtime_error naming the video/file on bad input, naming the epoch and step
// when losses stay non-finite for train.max_bad_steps steps, naming the key when a resume's
// configuration differs from its checkpoint's, and naming the missing epoch_NNN.ckpt when train.swa_epochs
// needs an epoch trained before a resume that was not kept; std::invalid_argument for a bad option or device.
// Data parallel (opt.comm with several ranks, e.g. `mpirun -np N ssmtl train`): every rank calls this with the
// same options; each takes its share of every global batch (DataParallel), rank 0 alone writes the files and
// prints, and only rank 0's model ends with best.ckpt's weights. Throws std::invalid_argument when a batch
// would give a rank fewer than 2 samples, std::runtime_error when the replicas' weights ever differ.
TrainResult train_model(SSMTLModel& model, const TrainOptions& opt, const std::string& config_text);

// ---- the parts of a run: the trainer's step and validation pass, for tests and benchmarks too ----

// The trainer's two Adam optimisers (torch defaults: betas 0.9, 0.999, eps 1e-8; the trainer never changes
// eps, tests comparing two devices raise it). `model` must already be on its device (Module::to: the
// optimisers keep parameter handles).
struct Optimisers {
  Optimisers(SSMTLModel& model, const TrainOptions& opt, float eps = 1e-8f);
  Adam main;                      // backbone + descent heads, lr
  std::unique_ptr<Adam> ascent;   // backbone at lr x pseudo_lr_scale (< 0: ascent) + the ascent heads (T5)
                                  // at lr; null when the model has no ascent task
};

// One rank's part in a data-parallel step: each rank holds `share` = its samples / the global batch's, its
// loss is scaled by share before backward, the gradients are summed over the ranks (in rank order:
// dist/communicator.h) before each Adam step, and every decision (skip a non-finite loss, the T5 cap) is
// taken on the global values, so all ranks take the same one. With sync_bn, BatchNorm uses the statistics of
// the whole global batch (autograd/norm.h BatchNormSync), and the step equals the single-process step on the
// global batch up to rounding.
struct DataParallel {
  dist::Communicator& host;    // losses, flags, BatchNorm statistics
  dist::Communicator& grads;   // gradients (device buffers when grads.device_buffers())
  double share = 1;
  bool sync_bn = false;
  double* wait_seconds = nullptr;   // when set, the time spent in the loss and gradient sums is added here
};

struct StepResult {
  bool skipped = false;                  // the descent loss was not finite: nothing was updated
  float loss = 0;                        // sum of the descent tasks' losses
  std::map<std::string, float> losses;   // per descent task (TaskInfo::name)
  bool ascent_ran = false;               // an ascent loss was computed (with_ascent and the batch has T5 samples)
  bool ascent_finite = false;            // ... and was finite, so the ascent update ran
  float ascent_loss = 0;
};

// One training step on `batch` (on the model's device), in this order: descent losses of every task
// (compute_task_losses, training mode); if their sum is not finite, return with skipped set; else
// backward, `after_backward` (tests read the gradients there), the main Adam step. Then, with
// `with_ascent`, the T5 step: ascent losses (compute_pseudo_loss) with the backbone's BatchNorm running
// statistics restored afterwards (out-of-distribution batches must not move them); if finite, backward,
// the backbone's gradients dropped when the loss is above `pseudo_loss_cap` (bounded ascent), the ascent
// Adam step. Throws what the losses throw (std::invalid_argument for a batch lacking a task's samples).
// With `dp` (data-parallel, see DataParallel) the losses in the result are those of the global batch (the
// share-weighted sums over the ranks) and `after_backward` sees the summed gradients.
StepResult train_step(SSMTLModel& model, Optimisers& optim, const TaskBatch& batch, bool with_ascent,
                      double pseudo_loss_cap, const std::function<void()>& after_backward = nullptr,
                      const DataParallel* dp = nullptr);

// The validation pass: mean per-task descent losses over the objects `ids` in eval mode (no gradients, no
// BatchNorm updates), in batches of `batch_size` whose samples are drawn from (seed, batch offset), so
// every epoch sees the same samples. Empty map for no ids. With `comm` (several ranks) the batches are
// dealt out round-robin and the per-batch losses gathered, then added in batch order: the same bits as
// one process.
std::map<std::string, double> validation_losses(SSMTLModel& model, const SampleBuilder& builder,
                                                const std::vector<size_t>& ids, int batch_size, uint64_t seed,
                                                dist::Communicator* comm = nullptr);

// Per-window BatchNorm statistics ("precise BN" per input window, model/bn_window.h): training-mode forwards
// of the descent tasks over the objects `ids` (normal training objects; batches of `batch_size`, samples
// drawn from (seed, batch offset)), no gradients, no weight change; every BatchNorm layer averages its batch
// statistics per window into BatchNormLayer::window_stats (earlier estimates replaced), which eval-mode calls
// under that window then use. running_mean / running_var are left as they are. A last batch of one object is
// skipped (no batch statistics). `progress`, when given, advances by each batch's objects. Throws what
// SampleBuilder::build and compute_task_losses throw.
void estimate_window_bn(SSMTLModel& model, const SampleBuilder& builder, const std::vector<size_t>& ids,
                        int batch_size, uint64_t seed, util::Progress* progress = nullptr);
// `n` objects of `pool` spread evenly over it (every k-th), for estimate_window_bn; all when n >= its size.
std::vector<size_t> spread_ids(size_t pool_size, size_t n);
// The objects train.precise_bn = n estimates from in a run with `opt` over `pool` (its training split): n
// spread over training_ids(pool, opt). `ssmtl validate / score --precise-bn n`
// take the same ones, so that they reproduce the trainer's estimate.
std::vector<size_t> precise_bn_ids(const ObjectPool& pool, const TrainOptions& opt, size_t n);

}  // namespace ssmtl
