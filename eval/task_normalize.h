// Putting the proxy tasks' anomaly scores on one scale before they are averaged into the object score
// (DESIGN.md section 4: object score = mean of the task scores). The raw scores live on different scales
// (p(backward) ~1e-5 for a typical object, a middle-box L1 error ~0.06, T4 ~0.002), so their plain mean follows
// the widest task. Each task's score is standardised with statistics of NORMAL objects (the held-out validation
// videos of the training split, never test data or labels):
//   "none"        object = mean_t s_t                                    (the paper's plain mean)
//   "zscore"      object = mean_t (s_t - mean_t) / std_t
//   "log-zscore"  object = mean_t (log(max(s_t, floor)) - mean_t') / std_t'   with mean_t', std_t' of the logs
// log-zscore suits scores that are probabilities or errors spanning decades (the classifiers' p(class) of
// normal objects are log-normal-like, not Gaussian). A standardised object score is 0 for a typical normal object
// and can be negative; the anomaly map keeps the max per cell, with 0 for empty cells.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ssmtl::eval {

struct TaskScoreStats {
  double mean = 0, std = 1;   // of the (possibly log-transformed) normal scores; std > 0
  int64_t count = 0;          // normal objects they come from
};

class TaskNormalizer {
 public:
  static constexpr double kLogFloor = 1e-12;   // scores below it count as 1e-12 before the log (fixed a priori)

  // mode: "none", "zscore" or "log-zscore"; std::invalid_argument otherwise.
  explicit TaskNormalizer(std::string mode = "none");
  const std::string& mode() const { return mode_; }

  // Fits the statistics from normal objects' task scores (task name -> one score per object; the key "object"
  // is ignored). Throws std::invalid_argument naming the task when it has fewer than 2 objects, a non-finite
  // score, or zero spread. Mode "none" fits nothing.
  void fit(const std::map<std::string, std::vector<float>>& normal_task_scores);

  // The object scores: per object, the mean over tasks (every key but "object") of the normalised scores.
  // All vectors must have the same length; a task without statistics (mode != none) is std::invalid_argument.
  std::vector<float> combine(const std::map<std::string, std::vector<float>>& task_scores) const;

  const std::map<std::string, TaskScoreStats>& stats() const { return stats_; }
  // Statistics read back (read_normalization_file); std::invalid_argument for std <= 0 or a non-finite value.
  void set_stats(const std::string& task, TaskScoreStats s);
  // "mode = log-zscore\n<task> mean M std S count N\n..." (written next to the scores so a run says what it
  // used). M and S with 17 significant digits: read back, they are the same doubles (bitwise the same scores).
  std::string to_text() const;

 private:
  double transform(double s) const;
  std::string mode_;
  std::map<std::string, TaskScoreStats> stats_;
};

// The file `ssmtl score --normalize` writes next to the scores (OUT/normalization.txt, or normalization_<i>.txt
// for the i-th of several checkpoints) and `ssmtl watch --normalization` reads:
//   # <comment>
//   format = 2
//   checkpoint = <the checkpoint whose task scores were standardised>
//   window_ends = shift                (how the normal objects' windows were completed at their videos' ends:
//                                       shift or clamp, ssmtl score --window-ends; format 2 on)
//   mode = log-zscore
//   <task> mean M std S count N        (one line per task)
// Format 1 files (no window_ends line) were written before the option existed: clamped windows. Files written
// before the format line existed (no "format", no "checkpoint" line; the checkpoint is the end of the first
// comment, "... of <path>", and M, S have 9 significant digits) read as format 1.
inline constexpr int kNormalizationFormat = 2;
struct NormalizationFile {
  TaskNormalizer normalizer;
  std::string window_ends = "clamp";   // as written; "clamp" for format 1 and older files
  std::string checkpoint;   // as written by score (a path); empty when the file does not say
  int format = kNormalizationFormat;
  bool legacy = false;      // no format line (statistics rounded to 9 digits)
};
std::string normalization_file_text(const TaskNormalizer& n, const std::string& checkpoint, const std::string& comment,
                                    const std::string& window_ends);
// Throws std::runtime_error naming the file and line: unreadable file, a format other than 1 or 2, a window_ends
// other than shift / clamp or in a format 1 file, no mode line, an unknown mode, a malformed task line, a mode
// other than none without task lines.
NormalizationFile read_normalization_file(const std::string& path);

}  // namespace ssmtl::eval
