#include "regions/recall.h"

#include <stdexcept>

#include "regions/region_file.h"

namespace ssmtl {

void add_gt_recall(GtRecall& recall, const std::string& track_file, const std::vector<std::vector<Box>>& objects,
                   float beta) {
  for (const TrackBox& g : load_tracks(track_file)) {
    if (g.frame >= static_cast<int64_t>(objects.size()))
      throw std::runtime_error(track_file + ": frame " + std::to_string(g.frame) + " outside the video (" +
                               std::to_string(objects.size()) + " frames)");
    const Box gb = object_box(g.box);
    ++recall.regions;
    for (const Box& b : objects[static_cast<size_t>(g.frame)])
      if (iou(gb, b) >= beta) {
        ++recall.found;
        break;
      }
  }
}

}  // namespace ssmtl
