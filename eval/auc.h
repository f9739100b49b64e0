// Frame-level ROC AUC (DESIGN.md section 8; PITFALLS.md items 1-4, 6, 7).
// Scores are anomaly scores (higher = more abnormal); labels are 1 = abnormal, 0 = normal. Nothing here ever
// inverts scores or labels: regularity scores (PSNR, p(normal)) must be negated by the caller.
#pragma once
#include <string>
#include <vector>

namespace ssmtl::eval {

// ROC AUC = P(score of a random abnormal frame > score of a random normal frame) + 1/2 P(equal), i.e. the
// trapezoidal area under the ROC curve with tied scores entering together (same value as
// sklearn.metrics.roc_auc_score). Exact: the pair count is accumulated in integers, one division at the end.
// O(n log n). Throws std::invalid_argument when the lengths differ, the input is empty, a score is not finite
// (naming its index), a label is not 0/1, or only one class is present (the AUC is undefined there; it is never
// reported as 1.0 or 0.5).
double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels);

// One point of the ROC curve: false-positive rate and true-positive rate, both in [0, 1].
struct RocPoint {
  double fpr = 0, tpr = 0;
};
// The ROC curve from (0,0) to (1,1): one point per distinct score, high to low (ties enter together). This is
// sklearn.metrics.roc_curve(..., drop_intermediate=False) with a leading (0,0). Same errors as roc_auc.
std::vector<RocPoint> roc_curve(const std::vector<double>& scores, const std::vector<int>& labels);

// Scores and labels of one test video (same length: one entry per frame).
struct VideoScores {
  std::string name;
  std::vector<double> scores;
  std::vector<int> labels;
};

// Micro AUC: one ROC AUC over the concatenation of all frames of all videos.
// Throws std::invalid_argument (naming the video) when a video's scores and labels differ in length.
double micro_auc(const std::vector<VideoScores>& videos);

// Macro AUC conventions.
//   Skip: mean of the per-video AUCs; videos whose labels are all one class have no AUC and are skipped
//         (and listed). Default.
//   Pad:  the authors' published scripts: each video gets a (label 0, score 0) frame first and a
//         (label 1, score 1) frame last before its AUC is taken, so every video counts. This changes the AUC of
//         two-class videos too (scores [2,3], labels [0,1]: plain 1.0, padded 0.75), and assumes scores in [0,1].
enum class MacroMode { Skip, Pad };
const char* macro_mode_name(MacroMode m);              // "skip" / "pad"
MacroMode parse_macro_mode(const std::string& name);   // throws std::invalid_argument on other names

struct MacroAuc {
  double auc = 0;                      // mean over the videos used
  std::vector<double> per_video;       // AUC per video in input order (NaN for a skipped video)
  std::vector<std::string> skipped;    // names of single-class videos (Skip mode only)
};
// Throws std::invalid_argument when no video has two classes (Skip) or on a length mismatch.
MacroAuc macro_auc(const std::vector<VideoScores>& videos, MacroMode mode);

}  // namespace ssmtl::eval
