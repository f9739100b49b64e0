// Text formats of the evaluation (see shared/README.md, "Conventions of data/"):
//   frame scores  <video>.txt  one anomaly score per line, line i = frame i (higher = more abnormal)
//   frame labels  gt_frame/<video>.txt  one label per line, 1 = abnormal, 0 = normal
//   regions       <video>.txt  lines "frame,x_min,y_min,x_max,y_max,score" (predicted anomalous regions)
//   tracks        gt_tracks*/<video>.txt  lines "track_id,frame,x_min,y_min,x_max,y_max" (ground truth)
// Frames are 0-based; boxes are inclusive pixel boxes. Every reader accepts a missing final newline,
// CRLF line ends, spaces around fields and blank lines at the end of the file. Any other defect (an empty line
// in the middle, a non-number, NaN or infinity, a wrong field count, a negative or fractional frame index,
// x_max < x_min or y_max < y_min, a label other than 0/1) throws std::runtime_error "<file>:<line>: <what>".
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ssmtl::eval {

// Inclusive pixel box: [x_min, x_max] x [y_min, y_max]; a one-pixel box has x_min == x_max.
// Coordinates are kept as doubles so that detector outputs with fractional corners load unchanged.
struct Box {
  double x_min = 0, y_min = 0, x_max = 0, y_max = 0;
};

// One predicted region (also used for detected objects with their anomaly score).
struct Region {
  int64_t frame = 0;
  Box box;
  double score = 0;
};

// One ground-truth region: the box of track `track_id` in `frame`.
struct TrackBox {
  int64_t track_id = 0;
  int64_t frame = 0;
  Box box;
};

std::vector<double> load_scores(const std::string& path);
std::vector<int> load_labels(const std::string& path);
std::vector<Region> load_regions(const std::string& path);
// Lines may come in any order and track ids need not be contiguous; nothing is merged, sorted or dropped.
std::vector<TrackBox> load_tracks(const std::string& path);

// Frame labels from abnormal intervals given the way the original UCSD / Avenue ground truth gives them:
// 1-based, inclusive [first, last]. [3,4] on 6 frames -> [0,0,1,1,0,0]. Throws std::invalid_argument when an
// interval is empty (last < first) or reaches outside 1..num_frames.
std::vector<int> labels_from_intervals(const std::vector<std::pair<int64_t, int64_t>>& one_based, int64_t num_frames);

// Writes scores one per line ("%.9g", enough to round-trip a float), atomically with util/atomic_file.h.
// Score files stay plain text (no version header) because other tools read them as columns of numbers.
void save_scores(const std::string& path, const std::vector<double>& scores);

// The "<video>.txt" files of a folder as video name (file stem) -> path, sorted by name.
// Throws std::runtime_error naming the folder when it does not exist or holds no .txt file.
std::map<std::string, std::string> list_video_files(const std::string& dir);

}  // namespace ssmtl::eval
