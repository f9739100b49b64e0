// Per-object teacher maps of the knowledge-distillation tasks T7 segmentation and T9 pose estimation
// (paper section 3.3: the teachers are Mask R-CNN and UniPose, run outside this program; DESIGN.md
// section 4). One binary file per video and task, next to nothing else: TEACHERS/<video>.seg and
// TEACHERS/<video>.pose (the folder given to `ssmtl train/score --teachers`).
//
// Format "SSMTLTCH" version 1, little-endian (util/atomic_file.h header):
//   char[8] "SSMTLTCH", u32 version = 1
//   u32 kind        1 = segmentation (T7), 2 = pose (T9)
//   u32 channels C  1 for segmentation masks, the number of joints for pose heat maps
//   u32 size S      map side = the model's crop side (model.crop)
//   u64 count N     objects
//   N records, in the order of the lines of the region file <detections>/<video>.txt (every line, before
//   any score filter or clipping):
//     i64 frame, f64 x_min, y_min, x_max, y_max   the object's frame and inclusive pixel box (checked
//                                                 against the region file)
//     f32 map[C][S][S]                            channel-major, row-major, values in [0, 1]: the teacher's
//                                                 output on the object's middle crop (the box of `frame`
//                                                 resized to S x S as data/samples/sequences.h cuts it)
// Segmentation: mask probability per pixel. Pose: one heat map per joint (e.g. 16 MPII joints), peaks
// scaled to at most 1. The student decoder ends in a sigmoid, hence the [0, 1] range.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ssmtl {

enum class TeacherKind : uint32_t { kSegmentation = 1, kPose = 2 };
const char* teacher_kind_name(TeacherKind k);        // "segmentation", "pose"
const char* teacher_file_extension(TeacherKind k);   // ".seg", ".pose"

struct TeacherObject {
  int64_t frame = 0;
  double x_min = 0, y_min = 0, x_max = 0, y_max = 0;
};

struct TeacherMaps {
  TeacherKind kind = TeacherKind::kSegmentation;
  int channels = 1, size = 0;
  std::vector<TeacherObject> objects;
  std::vector<float> values;   // objects.size() * channels * size * size
  int64_t map_numel() const { return static_cast<int64_t>(channels) * size * size; }
  const float* map(size_t i) const { return values.data() + i * map_numel(); }
};

// Writes the file atomically. Throws std::invalid_argument when values.size() does not match, channels
// or size < 1, or a value is outside [0, 1] or not finite (naming the object); std::runtime_error
// naming the path on I/O failure.
void save_teacher_maps(const std::string& path, const TeacherMaps& maps);

// Reads a file and checks it against what the model expects: kind, channels and size (the numbers of
// both in the message). Throws std::runtime_error naming the file for a missing file, another magic or
// version, a bad kind, a mismatch, a truncated record (naming the object index) or trailing bytes, and
// naming the object for a value outside [0, 1] or not finite, a negative frame or an empty box.
TeacherMaps load_teacher_maps(const std::string& path, TeacherKind kind, int channels, int size);

}  // namespace ssmtl
