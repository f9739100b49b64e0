#include "data/datasets/mask_tracks.h"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <tuple>

#include "data/detect/components.h"

namespace ssmtl::datasets {

void MaskTracker::add(const uint8_t* mask, int width, int height) {
  if (frame_ == 0) {
    width_ = width;
    height_ = height;
  } else if (width != width_ || height != height_) {
    throw std::invalid_argument("mask of frame " + std::to_string(frame_) + " is " + std::to_string(width) + "x" +
                                std::to_string(height) + ", the first was " + std::to_string(width_) + "x" +
                                std::to_string(height_));
  }
  std::vector<int32_t> labels;
  const auto comps = connected_components(mask, width, height, min_area_, &labels);
  // The label image numbers all components; only those of at least min_area are kept.
  int max_label = 0;
  for (int32_t l : labels) max_label = std::max(max_label, static_cast<int>(l));
  std::vector<bool> keep(max_label + 1, false);
  for (const auto& c : comps) keep[c.label] = true;
  std::vector<int> track(max_label + 1, -1);
  if (!prev_labels_.empty() && !comps.empty()) {
    std::map<std::pair<int, int>, int64_t> overlap;   // (current label, previous label) -> shared pixels
    for (size_t i = 0; i < labels.size(); ++i)
      if (labels[i] > 0 && prev_labels_[i] > 0 && keep[labels[i]] && prev_keep_[prev_labels_[i]]) ++overlap[{labels[i], prev_labels_[i]}];
    // Regions in label (raster) order each take the free previous track they share the most pixels with.
    std::vector<bool> prev_used(prev_track_.size(), false);
    for (const auto& c : comps) {
      int best = 0;
      int64_t best_n = 0;
      for (auto it = overlap.lower_bound({c.label, 0}); it != overlap.end() && it->first.first == c.label; ++it)
        if (!prev_used[it->first.second] && it->second > best_n) {
          best = it->first.second;
          best_n = it->second;
        }
      if (best > 0) {
        track[c.label] = prev_track_[best];
        prev_used[best] = true;
      }
    }
  }
  for (const auto& c : comps) {
    if (track[c.label] < 0) track[c.label] = next_id_++;
    boxes_.push_back({track[c.label], frame_, c.x0, c.y0, c.x1, c.y1});
  }
  prev_labels_ = std::move(labels);
  prev_track_ = std::move(track);
  prev_keep_ = std::move(keep);
  ++frame_;
}

std::vector<TrackBoxI> MaskTracker::boxes() const {
  auto b = boxes_;
  std::stable_sort(b.begin(), b.end(), [](const TrackBoxI& x, const TrackBoxI& y) {
    return std::tie(x.track_id, x.frame) < std::tie(y.track_id, y.frame);
  });
  return b;
}

std::string format_tracks(const std::vector<TrackBoxI>& boxes) {
  std::string s;
  for (const auto& b : boxes)
    s += std::to_string(b.track_id) + "," + std::to_string(b.frame) + "," + std::to_string(b.x_min) + "," +
         std::to_string(b.y_min) + "," + std::to_string(b.x_max) + "," + std::to_string(b.y_max) + "\n";
  return s;
}

}  // namespace ssmtl::datasets
