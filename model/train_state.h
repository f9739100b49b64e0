// What a training checkpoint holds beyond the weights (model/trainer.h): the position in the run, the
// best validation loss, both optimisers' state and the current epoch's running loss sums, so that a
// resumed run continues exactly. Also the resume configuration check and the train_log.jsonl line.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "model/trainer.h"
#include "optim/adam.h"

namespace ssmtl {

struct TrainerState {
  int epoch = 0, step = 0;   // next step to run
  double best_val = 1e300;
  int best_epoch = -1, skipped = 0;
  std::string adam_main, adam_pseudo;   // Adam::save_state bytes
  // The current epoch's running loss sums, so that an epoch resumed mid-way logs the mean over all its steps.
  std::map<std::string, double> sums;
  int counted = 0, epoch_skipped = 0;

  // Text "trainer_state 2" (version 1, without the sums, is still read). parse throws std::runtime_error
  // naming `path` for another blob or a truncated one.
  std::string serialize() const;
  static TrainerState parse(const std::string& s, const std::string& path);
};

std::string adam_blob(const Adam& a);
// Throws std::runtime_error naming `path` when the blob does not fit `a` (Adam::load_state).
void load_adam(Adam& a, const std::string& blob, const std::string& path);

// What identifies a training run in a resolved configuration text (the one `ssmtl train` writes into
// config.txt and every checkpoint): key -> value of each "key = value" line, both trimmed (util::trim), except
// the keys a resume may change (train.device, train.epochs, train.stop_after_steps, train.max_seconds,
// train.swa_epochs). Comment lines (the "# data", "# detections", "# videos" header: '#' first after any
// spaces), blank lines, lines without '=' and an empty key are left out; a key given twice keeps its last
// value. Throws nothing. Shared by check_resume_config and averaging_signature (model/weight_average.h).
std::map<std::string, std::string> run_settings(const std::string& config_text);

// "a,b,c": a video list as the "# videos" line and the messages spell it ("" for none). Throws nothing.
std::string join_videos(const std::vector<std::string>& videos);

// The "# videos = a,b,c" line (with its newline) that `ssmtl train --videos` puts before a run's resolved
// configuration and recorded_videos reads back; "" for no list. Throws nothing.
std::string videos_line(const std::vector<std::string>& videos);

// The training videos a run's configuration text records: the "# videos = a,b,c" line that `ssmtl train
// --videos` writes (apps/train.cpp), in its order (the order decides which videos are held out). Empty when
// there is no such line (the run trained on every video of the split). Throws nothing.
std::vector<std::string> recorded_videos(const std::string& config_text);

// Whether a configuration text comes from a build that records the training videos: `ssmtl train` writes the
// "# videos" line since the build that also introduced train.swa_epochs (session 21), whose key every resolved
// configuration since holds. Then no line means every video of the split; before, the list is unknown.
// Throws nothing.
bool records_videos(const std::string& config_text);

// A resumed run must continue the run it resumes: the model and every training key that decides which
// samples are drawn or how they are learnt must be the same (the device, the step limit and the epoch
// count may change), and so must the training videos (recorded_videos: the same list in the same order, or
// no "# videos" line in either: a run on every video). A checkpoint written before video lists were recorded
// (records_videos false) is resumed on the list given now, unchecked: the returned note says so (empty
// otherwise). A key added after older checkpoints were written (train.adam_eps, train.sync_bn) may be missing
// from `saved` when `now` has its default. Throws std::runtime_error naming `path` and the first key that
// differs, or both video lists ("all videos of the split" for none).
std::string check_resume_config(const std::string& saved, const std::string& now, const std::string& path);

// One train_log.jsonl line: {"epoch": e, "train": {...}, "val": {...}, "val_total": ..., ...} (%.6g).
std::string epoch_json(const EpochLog& e);
// Reads back a line that epoch_json wrote (a resumed run draws its earlier epochs too). Throws
// std::runtime_error naming `where` (file:line) and the field when epoch, train, val or val_total is missing or
// not a number; seconds, samples_per_s and skipped_steps default to 0.
EpochLog parse_epoch_json(const std::string& line, const std::string& where);

}  // namespace ssmtl
