// Region and track files (see shared/README.md, "Conventions of data/"):
//   regions  <video>.txt  lines "frame,x_min,y_min,x_max,y_max,score" (objects found by `ssmtl detect` or
//            `ssmtl bgsub` with their confidence; predicted anomalous regions of `ssmtl score` with their
//            anomaly score)
//   tracks   gt_tracks*/<video>.txt  lines "track_id,frame,x_min,y_min,x_max,y_max" (ground truth)
// Frames are 0-based; boxes are inclusive pixel boxes (regions/box.h). Readers accept what util/text_lines.h
// accepts; any other defect (a non-number, NaN or infinity, a wrong field count, a negative or fractional
// frame index, x_max < x_min or y_max < y_min) throws std::runtime_error "<file>:<line>: <what>".
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "regions/box.h"

namespace ssmtl {

// One region: an object of a frame with its score (detector confidence or anomaly score).
struct Region {
  int64_t frame = 0;
  RegionBox box;
  double score = 0;
};

// One ground-truth region: the box of track `track_id` in `frame`.
struct TrackBox {
  int64_t track_id = 0;
  int64_t frame = 0;
  RegionBox box;
};

std::vector<Region> load_regions(const std::string& path);
// Lines may come in any order and track ids need not be contiguous; nothing is merged, sorted or dropped
// (PITFALLS 9).
std::vector<TrackBox> load_tracks(const std::string& path);

// Writes "frame,x_min,y_min,x_max,y_max" (no newline) as an std::ostream prints numbers: %g with the stream's
// precision (6 by default: detections are float pixels, and 6 digits is what every reader was given so far).
// Region files, object score files and the T4 teacher files all start their lines with it.
void write_region_box(std::ostream& o, int64_t frame, const RegionBox& box);

// The text of a region file: one line per region, numbers printed with `digits` significant digits
// (6 for detections, 9 for anomaly scores so that they round-trip a float).
std::string region_file_text(const std::vector<Region>& regions, int digits = 6);
// Writes region_file_text atomically (util/atomic_file.h). Region files stay plain text (no version header)
// because other tools read them as columns of numbers.
void save_regions(const std::string& path, const std::vector<Region>& regions, int digits = 6);

// The regions of one video from objects per frame (frame t = index t), in frame order, with each object's
// score: the order in which `ssmtl detect` writes them (teacher files follow it line by line).
std::vector<Region> regions_of(const std::vector<std::vector<Box>>& objects_per_frame);

}  // namespace ssmtl
