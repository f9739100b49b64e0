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
#include <string>
#include <vector>

#include "model/ssmtl.h"
#include "util/config.h"

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
  double val_fraction = 0.15;      // last videos held out
  uint64_t seed = 0;
  int max_objects_per_epoch = 0;   // 0 = every training object each epoch
  int max_val_objects = 1024;
  double min_detection_score = 0.0;
  int pseudo_start_epoch = 5;
  double pseudo_lr_scale = -0.2;
  double pseudo_loss_cap = 0.5;    // above this T5 loss the backbone's ascent step is skipped
  int max_bad_steps = 20;          // consecutive non-finite losses before training stops
  int stop_after_steps = 0;        // > 0: stop as Ctrl-C does (last.ckpt written, resumable) after this many
                                   // steps of this invocation, e.g. for time-boxed jobs; 0 = never
  std::string device = "cpu";      // "cpu" or "cuda": where the model and its batches live (samples are
                                   // always cut out of the frames on the CPU)

  static TrainOptions from_config(util::Config& c);   // "train.*" keys
};

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
  std::vector<EpochLog> epochs;
};

// Trains `model` in place (it ends with the best validation weights loaded, on opt.device). Writes into out_dir:
// config.txt (the resolved configuration `config_text`, with the seed), best.ckpt, last.ckpt,
// train_log.jsonl (one JSON object per epoch). Throws std::runtime_error naming the video/file on bad
// input, and naming the epoch and step when losses stay non-finite.
TrainResult train_model(SSMTLModel& model, const TrainOptions& opt, const std::string& config_text);

}  // namespace ssmtl
