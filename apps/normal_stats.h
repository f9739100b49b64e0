// The task-score statistics of normal objects that `ssmtl score --normalize` fits and `ssmtl watch --normalize`
// fits the same way (eval/task_normalize.h): the model scores the objects of normal videos of the training split
// (detected in `normal_det`), and a TaskNormalizer of `mode` is fitted to their task scores.
#pragma once
#include <string>
#include <vector>

#include "eval/task_normalize.h"
#include "model/scoring.h"
#include "util/config.h"

namespace ssmtl::app {

struct NormalStats {
  eval::TaskNormalizer normalizer;
  std::vector<std::string> videos;   // the normal videos used
};

// `nv` itself when not empty, else the videos training held out for validation (the last train.val_fraction of
// the training split of `root`, read from the checkpoint's configuration `cfg`; normal, never trained on).
// Throws std::runtime_error naming `root` when there is none.
std::vector<std::string> normal_video_names(util::Config& cfg, const std::string& root, std::vector<std::string> nv);

// The objects of the normal videos `nv` of the training split (detections in `normal_det`, kept above
// so.min_detection_score), with the teacher inputs model `mc` needs. Throws what ObjectPool::load throws.
ObjectPool load_normal_pool(const ModelConfig& mc, const std::string& root, const std::string& normal_det,
                            const std::vector<std::string>& nv, const ScoreOptions& so, const std::string& teachers);

// normal_videos empty: the videos training held out for validation (the last train.val_fraction of the training
// split, read from the checkpoint's configuration `cfg`, non-const because Config records the keys read; never
// trained on). Throws std::runtime_error when there is none, and what ObjectPool::load / TaskNormalizer::fit
// throw (a missing detection file, too few objects). The statistics are written nowhere (score writes them).
NormalStats fit_normal_stats(SSMTLModel& model, util::Config& cfg, const std::string& root,
                             const std::string& normal_det, std::vector<std::string> normal_videos,
                             const std::string& mode, const ScoreOptions& so, const std::string& teachers = "");

// The same, on objects already loaded (load_normal_pool of the videos `nv`, which the result records).
NormalStats fit_normal_stats(SSMTLModel& model, const ObjectPool& npool, const std::vector<std::string>& nv,
                             const std::string& mode, const ScoreOptions& so);

// The comment line score writes above the statistics: "ssmtl score: task score statistics of normal objects
// (training videos 15 16) of CKPT".
std::string normal_stats_comment(const NormalStats& s, const std::string& ckpt);

}  // namespace ssmtl::app
