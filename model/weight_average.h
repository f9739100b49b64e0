// Weight averaging over the checkpoints of one run (stochastic weight averaging, SWA: Izmailov, Podoprikhin,
// Garipov, Vetrov & Wilson, "Averaging Weights Leads to Wider Optima and Better Generalization", UAI 2018).
//
// Why: with Adam at a constant learning rate (the paper's schedule) the weights keep moving around a basin
// after the first epochs, and the held-out loss jumps from epoch to epoch (SSMTL seed 1: 0.056-0.159 over
// epochs 9-20, docs/RESULTS.md 39), so which epoch the validation rule picks is partly luck. The mean of the
// weights of the last epochs sits nearer the basin's centre; one model, scored at the cost of one.
// BatchNorm: the running statistics of the checkpoints belong to their own weights, not to the mean, so SWA
// re-estimates them for the averaged weights (its "bn_update"): here estimate_window_bn (model/trainer.h),
// the per-window estimate of train.precise_bn.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "model/checkpoint.h"
#include "model/module.h"
#include "model/trainer.h"

namespace ssmtl {

// Loads each checkpoint of `paths` into `model` (built from the first one's configuration) in the order
// given and leaves `model` holding the equal-weight mean of every parameter and every buffer that is always
// present (BatchNorm's running mean and variance: a placeholder until re-estimated), summed in double; the
// optional buffers (per-window statistics) are left undefined: they describe other weights. Returns the first
// checkpoint's metadata with an empty trainer state (an average cannot be resumed).
// Throws std::invalid_argument for an empty list or a checkpoint given twice; std::runtime_error naming the
// checkpoint that does not load
// (load_checkpoint's errors) or that is not of the first one's run (averaging_signature: a setting both hold
// differs; or the training videos its configuration records, recorded_videos, differ), checked before any
// weights are read: weights average only along one training run.
CheckpointMeta average_checkpoints(const std::vector<std::string>& paths, Module& model);

// The checkpoints <run>/epoch_NNN.ckpt for epochs first..last (written by train.keep_epoch_checkpoints).
// Throws std::invalid_argument when first < 1 or last < first, std::runtime_error naming `run` when it is not
// a folder, else the first file that does not exist.
std::vector<std::string> epoch_checkpoints(const std::string& run, int first, int last);

// What makes two checkpoints points of one training run, from a resolved configuration text (the one a
// checkpoint holds): every "key = value" setting except those a resume may change (train.device, train.epochs,
// train.stop_after_steps, train.max_seconds, train.swa_epochs); key -> value. The "# data" / "# detections"
// comment lines are left out, as a resume leaves them (the same folder may be spelled another way). Two
// checkpoints of one run agree on every key both hold (a later build may write keys an earlier one did not know).
// = run_settings (model/train_state.h), the settings a resume compares. Throws nothing.
std::map<std::string, std::string> averaging_signature(const std::string& config_text);

// What the trainer's SWA step measured (train.swa_epochs).
struct SwaResult {
  int first_epoch = 0, last_epoch = 0;       // 1-based, inclusive
  std::map<std::string, double> val;         // per descent task, as train_log.jsonl's "val"; empty without
  double val_total = 0;                      // validation videos (then val_total is 0 and swa.json says null)
  size_t bn_objects = 0;
};

// The trainer's last step with train.swa_epochs = K > 0 (model/trainer.h), run by the lead rank once epoch
// opt.epochs has ended: averages opt.out_dir/epoch_NNN.ckpt of the last K epochs (all when K >= epochs) into a
// model of `cfg` on `device`, estimates its BatchNorm statistics per window (estimate_window_bn over
// precise_bn_ids: opt.precise_bn objects, 2048 when that is 0), computes its validation losses on `val_ids`
// (as the epochs' own; none without validation videos), writes swa.ckpt (config_text, no trainer state) and
// swa.json (format version 1; val_total null without validation videos), both atomically. The SSMTL paper's rule (best.ckpt) is not changed: both files stay.
// Throws what average_checkpoints, estimate_window_bn and validation_losses throw.
SwaResult write_swa_checkpoint(const ModelConfig& cfg, Device device, const TrainOptions& opt, const ObjectPool& pool,
                               const SampleBuilder& builder, const std::vector<size_t>& val_ids,
                               const std::string& config_text);

// The BatchNorm estimate's object count when train.precise_bn is 0.
inline constexpr int kSwaBnObjects = 2048;

}  // namespace ssmtl
