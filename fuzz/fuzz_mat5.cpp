// libFuzzer target: MATLAB level-5 MAT-files (data/datasets/mat5.h read_mat_file), as `ssmtl prepare`
// reads CUHK Avenue's ground_truth_demo/testing_label_mask/<n>_label.mat; every variable found is walked
// through the accessors the Avenue reader uses (value, text, field).
#include "data/datasets/mat5.h"
#include "fuzz/fuzz_util.h"

namespace {
using ssmtl::datasets::MatArray;
using ssmtl::datasets::MatClass;

void walk(const MatArray& a, int depth) {
  if (depth > 64) return;
  if (a.cls == MatClass::kCell) {
    for (const MatArray& c : a.cells) walk(c, depth + 1);
  } else if (a.cls == MatClass::kStruct) {
    for (const MatArray& f : a.fields) {
      walk(f, depth + 1);
      a.field(f.name);
    }
  } else if (a.cls == MatClass::kChar) {
    a.text();
  } else {
    const int64_t n = a.numel();
    // value() must either answer or throw std::out_of_range when n disagrees with the stored data.
    for (int64_t i = 0; i < n && i < 4096; ++i) {
      try {
        a.value(i);
      } catch (const std::out_of_range&) {
        break;
      }
    }
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ssmtl::fuzz::as_file(data, size, ".mat");
  ssmtl::fuzz::expect_clean([&] {
    for (const MatArray& a : ssmtl::datasets::read_mat_file(path)) walk(a, 0);
  });
  return 0;
}
