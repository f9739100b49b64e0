// Object scores -> frame scores on a live stream, with the offline functions of eval/frame_scores.h applied one
// frame at a time (so the scores equal `ssmtl score`'s frame scores on the same objects), followed by a causal
// smoother (eval/postprocess.h: CausalSmoother, a half-Gaussian over the past frames only).
//
// Look-ahead: in "map" mode the anomaly map's centred temporal mean filter (filter_t frames) needs the maps of
// frames t+1 .. t+filter_t/2, so frame t's score comes out filter_t/2 frames after its objects were scored
// (1 frame with the default filter 3); "max" mode needs none. Frame positions are those of the frames the
// pipeline kept (a frame skipped by the drop policy is not part of the stream the filters see).
#pragma once
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "eval/frame_scores.h"
#include "eval/postprocess.h"
#include "regions/region_file.h"

namespace ssmtl::online {

struct FrameScoreOptions {
  std::string frame_mode = "map";   // "map" or "max", as `ssmtl score --frame-mode`
  eval::AnomalyMapOptions map;
  double smooth_sigma = 3;          // half-Gaussian sigma in frames (truncate 3); 0 = no smoothing
};

struct ScoredFrame {
  int64_t position = 0;   // 0-based among the frames given to add()
  double raw = 0;         // frame score before smoothing (= ssmtl score's frame_scores/<video>.txt)
  double smoothed = 0;    // after the causal smoother
};

class OnlineFrameScores {
 public:
  // Throws std::invalid_argument for an unknown mode or invalid map options (eval::map_grid).
  OnlineFrameScores(const FrameScoreOptions& o, int frame_width, int frame_height);
  // The scored objects of the next frame (positions 0, 1, 2, ...). Returns the frames whose score is now
  // final, in order (none yet, or several).
  std::vector<ScoredFrame> add(const std::vector<Region>& objects);
  // End of the stream: the remaining frames ('nearest' edge: the last map repeats).
  std::vector<ScoredFrame> finish();
  int lookahead() const { return radius_; }

 private:
  ScoredFrame emit(int64_t p, int64_t last);
  FrameScoreOptions o_;
  int w_, h_;
  eval::MapGrid grid_;
  int radius_ = 0;
  std::deque<std::vector<double>> maps_;   // raw maps (map mode) or {max score} (max mode), positions base_..
  int64_t base_ = 0, added_ = 0, next_ = 0;
  eval::CausalSmoother smoother_;
};

}  // namespace ssmtl::online
