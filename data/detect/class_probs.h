// Teacher class probabilities of the distillation task T4 (SSMTL, paper section 3; DESIGN.md section 4),
// written by `ssmtl detect` next to the region files as DIR/class_probs/<video>.txt:
//
//   # ssmtl class_probs v1 classes=K
//   frame,x_min,y_min,x_max,y_max,p_0,...,p_{K-1},p_motion
//   ...
//
// One line per object, in the order of the lines of the region file DIR/<video>.txt (same frame and box;
// inclusive pixel boxes). K is the detector's number of classes (80 for COCO), so a line has 5 + K + 1
// fields and the teacher vector has K + 1 entries (ModelConfig::distill_classes must equal K + 1):
//   detector objects (cls >= 0)  p_k = the detector's class probability k normalised to sum 1 over the
//                                K classes (YOLO's independent sigmoids do not sum to 1), p_motion = 0;
//   motion objects (cls < 0)     p_k = 0, p_motion = 1 (one extra class for every flow / background-
//                                subtraction object; paper section 4.3, DESIGN.md section 4).
// Readers accept CRLF line ends, a missing final newline and blank lines at the end of the file.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/detect/yolo_decode.h"

namespace ssmtl {

// One line of a class_probs file.
struct ClassProbsObject {
  int64_t frame = 0;
  double x_min = 0, y_min = 0, x_max = 0, y_max = 0;
  std::vector<float> probs;   // K + 1 entries summing to 1
};

struct ClassProbsFile {
  int classes = 0;   // K (the motion class comes on top)
  std::vector<ClassProbsObject> objects;
};

// The K + 1 teacher probabilities of one detection (rules above). A detector object must carry K class
// probabilities (Detector with DetectorOptions::class_probs); throws std::invalid_argument otherwise or
// when K < 1. A detector object whose probabilities are all 0 gets p = 1 for its own class.
std::vector<float> teacher_class_probs(const Detection& d, int num_classes);

// The K + 1 teacher probabilities of a motion object (flow / background subtraction, cls < 0): p_motion = 1,
// every class 0. Throws std::invalid_argument when K < 1.
std::vector<float> motion_teacher_class_probs(int num_classes);

// The file text for the objects of one video, frame by frame and in list order within a frame (the
// order in which `ssmtl detect` writes the region file). Boxes are printed as the region file prints
// them (ostream default precision), probabilities with 7 significant digits.
std::string class_probs_text(const std::vector<std::vector<Detection>>& per_frame, int num_classes);
// Writes class_probs_text atomically (util/atomic_file.h), creating the folder.
void write_class_probs(const std::string& path, const std::vector<std::vector<Detection>>& per_frame,
                       int num_classes);

// Reads and validates a class_probs file. Throws std::runtime_error "<path>: cannot open ..." when it is
// missing, and "<path>:<line>: <what>" for a bad header (not "# ssmtl class_probs v1 classes=K", K >= 1),
// a wrong field count, a non-number, a negative or fractional frame, x_max < x_min or y_max < y_min, a
// probability outside [0, 1] or not finite, or probabilities whose sum differs from 1 by more than 1e-3.
ClassProbsFile load_class_probs(const std::string& path);

}  // namespace ssmtl
