// Figures of an evaluation (`ssmtl evaluate --plots DIR`): per video the frame scores over time with the
// abnormal intervals shaded, and the micro ROC curve.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "eval/evaluate.h"
#include "util/plot.h"

namespace ssmtl::eval {

// Runs of abnormal frames as inclusive 0-based [first, last] frame intervals.
std::vector<std::pair<int64_t, int64_t>> abnormal_intervals(const std::vector<int>& labels);

// The chart of one video's scores: x = frame index, y = score, abnormal intervals shaded (each frame covers
// [f - 0.5, f + 0.5]); the title names the video and its AUC (or "single class").
plot::Chart score_chart(const VideoScores& video, double auc);
// The micro ROC curve of all frames (with the chance diagonal); the title gives micro and macro AUC.
plot::Chart roc_chart(const EvaluationResult& result);

// Writes <dir>/<video>_scores.png for every video and <dir>/roc.png (atomically, folder created).
void write_evaluation_plots(const std::string& dir, const EvaluationResult& result);

}  // namespace ssmtl::eval
