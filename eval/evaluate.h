// Whole-test-set evaluation behind `ssmtl evaluate`: loads score / label / region / track folders, applies the
// chosen post-processing and computes micro AUC, macro AUC, RBDC and TBDC (DESIGN.md section 8), reporting
// all four together with the conventions used.
#pragma once
#include <string>
#include <vector>

#include "eval/auc.h"
#include "eval/rbdc.h"

namespace ssmtl::eval {

// Version of the JSON written by evaluation_json (bump when a field changes meaning or disappears).
constexpr int kEvaluationFormatVersion = 1;

struct EvaluateOptions {
  std::string scores_dir;    // <video>.txt frame scores
  std::string labels_dir;    // gt_frame/<video>.txt; its files define the video set
  std::string regions_dir;   // optional: <video>.txt predicted regions (needs tracks_dir too)
  std::string tracks_dir;    // optional: gt_tracks*/<video>.txt
  double smooth_sigma = 0;   // Gaussian sigma in frames (truncate 3.0, 'nearest'); 0 = no smoothing
  bool normalize_video = false;   // per-video min-max normalisation (after smoothing)
  MacroMode macro = MacroMode::Skip;
  std::string smooth_kind = "gaussian";   // "gaussian" (centred) or "half-gaussian" (causal, as `ssmtl watch`)
};

struct EvaluationResult {
  EvaluateOptions options;
  std::vector<VideoScores> videos;   // evaluated (smoothed / normalised) scores with labels, sorted by name
  int64_t frames = 0;
  double micro_auc = 0;
  MacroAuc macro;
  bool has_regions = false;
  RegionMetrics regions;             // valid when has_regions
};

// Loads the labels of every <video>.txt in labels_dir and the score file of the same name in scores_dir.
// Throws std::runtime_error naming the video: missing score file, scores and labels of different lengths
// (both lengths named), and every defect load_scores / load_labels report (file and line).
std::vector<VideoScores> load_video_scores(const std::string& scores_dir, const std::string& labels_dir);

// Smoothing then per-video normalisation, as the options ask (the input is left unchanged).
std::vector<VideoScores> postprocess_scores(const std::vector<VideoScores>& videos, const EvaluateOptions& options);

// Runs the whole evaluation. Throws std::runtime_error / std::invalid_argument on any input error (naming the
// video), e.g. a region file missing for a labelled video or a region frame beyond the video's length.
EvaluationResult evaluate(const EvaluateOptions& options);

// JSON report: format_version, micro_auc, macro_auc, rbdc, tbdc (null without regions), frames, videos,
// skipped_videos, per_video (name, frames, abnormal frames, auc or null), region counts and the options used.
// Metric values are fractions in [0, 1].
std::string evaluation_json(const EvaluationResult& result);
// A short human-readable table of the four metrics and the conventions used.
std::string evaluation_table(const EvaluationResult& result);

// Writes the evaluated scores as <dir>/<video>.txt (atomically, one score per line).
void write_evaluated_scores(const std::string& dir, const EvaluationResult& result);

}  // namespace ssmtl::eval
