// Recall of ground-truth regions by the objects a detector found: the share of ground-truth regions (track
// file lines) for which an object of the same frame has IoU >= beta (0.1, the RBDC match of DESIGN.md
// section 8). It measures the detection stage alone, before any anomaly score (`ssmtl detect --recall-gt`,
// `ssmtl bgsub --gt`).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "regions/box.h"

namespace ssmtl {

struct GtRecall {
  int64_t found = 0;     // ground-truth regions matched by an object
  int64_t regions = 0;   // ground-truth regions
  double rate() const { return regions ? static_cast<double>(found) / regions : 0.0; }
};

// Adds the ground-truth regions of one video's track file to `recall`; objects[t] are the objects of frame t
// (objects.size() = the video's frames). The IoU is taken in float, the precision objects are found in.
// Throws std::runtime_error naming the file when it is missing or malformed (regions/region_file.h) or
// when a ground-truth frame lies outside the video: a video is never skipped silently.
void add_gt_recall(GtRecall& recall, const std::string& track_file, const std::vector<std::vector<Box>>& objects,
                   float beta = 0.1f);

}  // namespace ssmtl
