// libFuzzer target: teacher map files (data/teacher_maps.h) of T7 (1 channel) and T9 (2 joints), 4x4 maps,
// and T4 class-probability files (data/class_probs.h).
#include "data/detect/class_probs.h"
#include "data/teacher_maps.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ssmtl::fuzz::as_file(data, size, ".maps");
  ssmtl::fuzz::expect_clean([&] { ssmtl::load_teacher_maps(path, ssmtl::TeacherKind::kSegmentation, 1, 4); });
  ssmtl::fuzz::expect_clean([&] { ssmtl::load_teacher_maps(path, ssmtl::TeacherKind::kPose, 2, 4); });
  ssmtl::fuzz::expect_clean([&] { ssmtl::load_class_probs(path); });
  return 0;
}
