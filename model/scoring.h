// Inference: per-object anomaly scores of a trained model on a data set's test videos, and their
// conversion to frame scores and region scores (DESIGN.md section 7). Eval mode throughout (BatchNorm
// running statistics, no updates), so scoring twice gives bitwise-equal results.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "data/samples/sequences.h"
#include "eval/frame_scores.h"
#include "eval/task_normalize.h"
#include "model/sampler.h"
#include "model/ssmtl.h"
#include "regions/region_file.h"

namespace ssmtl {

struct ScoreOptions {
  int batch_size = 128;
  std::string frame_mode = "map";      // "map" (anomaly map + 3D mean filter) or "max" (max object score)
  eval::AnomalyMapOptions map;
  uint64_t seed = 0;                   // inpainting patches / jigsaw permutations at test time
  double min_detection_score = 0.0;
  // The window of an object near a video's first or last 3 frames (data/samples/sequences.h): shifted inside
  // the video by default, so no scored window repeats a frame in a video of 7 frames or more (docs/RESULTS.md
  // section 35).
  WindowEnds window_ends = WindowEnds::kShift;
  // When set, the object score is normaliser->combine(task scores) (eval/task_normalize.h) instead of the
  // plain mean of the task scores; not owned.
  const eval::TaskNormalizer* normalizer = nullptr;
};

struct VideoScores {
  std::string video;
  int num_frames = 0;
  std::vector<double> frame_scores;                      // one per frame, before temporal smoothing
  std::vector<Region> regions;                     // every object with its anomaly score
  std::map<std::string, std::vector<float>> task_scores; // per task, one per object (same order as regions)
};

// Scores every object of `pool` video `v` (objects in pool order). Progress is added to `done`. A model
// with T4 / T7 / T9 needs a pool loaded with their teacher signals (TeacherSpec::for_model; else
// std::invalid_argument).
VideoScores score_video(SSMTLModel& model, const ObjectPool& pool, int v, const ScoreOptions& opt,
                        const std::function<void(int64_t)>& progress = nullptr);

// A checkpoint ensemble: the mean of several models' scores of the same objects of `video` (runs in the same
// object order, e.g. score_video of one pool with each model). Every score column present in all runs ("object"
// included) is averaged per object; the regions' scores and the frame scores are recomputed from the mean
// object score with opt's frame mode. Throws std::invalid_argument when runs is empty or the runs differ in
// video, frame count or objects.
VideoScores average_video_scores(const std::vector<VideoScores>& runs, const Video& video, const ScoreOptions& opt);

// The median height in pixels (inclusive boxes, as scored: clipped to the frame) of the pool's objects, the upper
// median for an even count: the unit of an anomaly map cell given relative to the objects' size
// (`ssmtl score --cell-rel`, `ssmtl select`), so the cell scales with the camera. Throws std::invalid_argument
// when the pool has no object.
double median_object_height(const ObjectPool& pool);

// One score column of a checkpoint ensemble: per object, the mean of the runs' scores (summed in double in run
// order, then rounded to float; what average_video_scores does per column, and ssmtl watch per frame). Throws
// std::invalid_argument when `runs` is empty or the columns differ in length.
std::vector<float> mean_over_runs(const std::vector<const std::vector<float>*>& runs);

// The random-stream key of object `index` (0-based within its video, in scoring order) found in frame `frame`
// of video `v`: tasks that draw at test time (inpainting patches, jigsaw permutations) draw from
// Rng(seed, key), so `ssmtl score` and `ssmtl watch` (video 0) give an object the same draws.
inline uint64_t object_score_key(int v, int64_t frame, uint64_t index) {
  return (static_cast<uint64_t>(v) << 40) ^ (static_cast<uint64_t>(frame) << 16) ^ index;
}

// Writes <out>/frame_scores/<video>.txt, <out>/regions/<video>.txt ("frame,x_min,y_min,x_max,y_max,score")
// and <out>/object_scores/<video>.txt (frame, box, then one column per task, with a header), atomically.
void write_video_scores(const std::string& out, const VideoScores& s);

}  // namespace ssmtl
