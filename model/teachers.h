// Teacher signals of the knowledge-distillation tasks, per object of a region file (DESIGN.md section 4):
//   T4 distillation  detector class probabilities, <detections>/class_probs/<video>.txt (data/detect/class_probs.h)
//   T7 segmentation  Mask R-CNN masks,   <teachers>/<video>.seg  (data/teacher_maps.h)
//   T9 pose          UniPose heat maps,  <teachers>/<video>.pose (data/teacher_maps.h)
// Every teacher file lists the objects of the region file <detections>/<video>.txt line by line (all
// lines, before any score filter or clipping); the loader checks frame and box of each line so that a
// teacher file of another detection run is caught instead of silently training on wrong targets.
// Teacher maps are held in memory: lines x C x S x S floats per video (16 KB per object for a 64x64
// mask, 16x that for 16 joints).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/teacher_maps.h"
#include "regions/region_file.h"
#include "model/ssmtl.h"

namespace ssmtl {

// Which teacher files ObjectPool::load reads. The default reads none.
struct TeacherSpec {
  std::string class_probs_dir;   // T4: <dir>/<video>.txt; empty = not read
  int distill_classes = 0;       // K + 1 the model expects (ModelConfig::distill_classes)
  std::string maps_dir;          // T7 / T9 teacher maps
  bool segmentation = false;     // read <maps_dir>/<video>.seg with 1 channel
  int pose_joints = 0;           // > 0: read <maps_dir>/<video>.pose with this many channels
  int crop = 0;                  // map side the model expects (ModelConfig::crop)
  bool any() const { return !class_probs_dir.empty() || segmentation || pose_joints > 0; }

  // What the tasks of `cfg` need: T4 -> <detections>/class_probs; T7 / T9 -> maps in `teachers_dir`.
  // Throws std::invalid_argument when T7 or T9 is on and teachers_dir is empty (naming the task).
  static TeacherSpec for_model(const ModelConfig& cfg, const std::string& detections, const std::string& teachers_dir);
};

// The teacher signals of one video, one entry per region-file line.
struct VideoTeachers {
  int lines = 0;
  int distill_classes = 0;               // K + 1 when class probabilities were read, else 0
  std::vector<float> class_probs;        // lines * (K + 1)
  std::shared_ptr<const TeacherMaps> segmentation, pose;   // null when not read
  const float* probs(int line) const { return class_probs.data() + static_cast<size_t>(line) * distill_classes; }
};

// Reads the teacher files of `video` that `spec` asks for and checks them against `regions` (the lines of
// `region_file`). Throws std::runtime_error naming the teacher file and line / object for a missing or
// malformed file, a different object count, an object whose frame or box (to 0.01 px) differs from its
// region line, or K + 1 != spec.distill_classes (naming both numbers); the map loader's errors as in
// data/teacher_maps.h.
VideoTeachers load_video_teachers(const TeacherSpec& spec, const std::string& video, const std::string& region_file,
                                  const std::vector<Region>& regions);

}  // namespace ssmtl
