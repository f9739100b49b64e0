#include "online/frame_scorer.h"

#include <algorithm>
#include <stdexcept>

namespace ssmtl::online {

OnlineFrameScores::OnlineFrameScores(const FrameScoreOptions& o, int frame_width, int frame_height)
    : o_(o), w_(frame_width), h_(frame_height), smoother_(o.smooth_sigma, 3.0) {
  if (o.frame_mode == "map") {
    grid_ = eval::map_grid(frame_width, frame_height, o.map);
    radius_ = o.map.filter_t / 2;
  } else if (o.frame_mode != "max") {
    throw std::invalid_argument("frame mode must be map or max, got " + o.frame_mode);
  }
}

ScoredFrame OnlineFrameScores::emit(int64_t p, int64_t last) {
  ScoredFrame f;
  f.position = p;
  if (o_.frame_mode == "max") {
    f.raw = maps_[static_cast<size_t>(p - base_)][0];
  } else {
    std::vector<const std::vector<double>*> window;
    for (int64_t k = -radius_; k <= radius_; ++k)
      window.push_back(&maps_[static_cast<size_t>(std::clamp<int64_t>(p + k, 0, last) - base_)]);
    f.raw = eval::filtered_frame_score(window, grid_, o_.map);
  }
  f.smoothed = smoother_.push(f.raw);
  return f;
}

std::vector<ScoredFrame> OnlineFrameScores::add(const std::vector<Region>& objects) {
  if (o_.frame_mode == "max") {
    // eval::frame_scores_max for one frame: the max object score, 0 without objects.
    std::vector<Region> one = objects;
    for (Region& r : one) r.frame = 0;
    maps_.push_back({eval::frame_scores_max(one, 1)[0]});
  } else {
    maps_.push_back(eval::raw_anomaly_map(objects, w_, h_, o_.map));
  }
  ++added_;
  std::vector<ScoredFrame> out;
  while (next_ + radius_ < added_) out.push_back(emit(next_++, added_ - 1));
  while (base_ < next_ - radius_) {   // keep the maps the next frames' windows still need
    maps_.pop_front();
    ++base_;
  }
  return out;
}

std::vector<ScoredFrame> OnlineFrameScores::finish() {
  std::vector<ScoredFrame> out;
  while (next_ < added_) out.push_back(emit(next_++, added_ - 1));
  return out;
}

}  // namespace ssmtl::online
