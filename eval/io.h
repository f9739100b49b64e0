// Text formats of the evaluation (see shared/README.md, "Conventions of data/"):
//   frame scores  <video>.txt  one anomaly score per line, line i = frame i (higher = more abnormal)
//   frame labels  gt_frame/<video>.txt  one label per line, 1 = abnormal, 0 = normal
// Region and track files are read by regions/region_file.h. Every reader accepts a missing final newline,
// CRLF line ends, spaces around fields and blank lines at the end of the file. Any other defect (an empty line
// in the middle, a non-number, NaN or infinity, a label other than 0/1) throws std::runtime_error
// "<file>:<line>: <what>".
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ssmtl::eval {

std::vector<double> load_scores(const std::string& path);
std::vector<int> load_labels(const std::string& path);

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
