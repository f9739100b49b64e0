// libFuzzer target: NumPy .npy files (data/datasets/npy.h), as `ssmtl prepare` reads ShanghaiTech's
// test_frame_mask/<video>.npy (read_npy) and test_pixel_mask/<video>.npy (a header, then one nonzero slice
// of the first axis at a time).
#include "data/datasets/npy.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ssmtl::fuzz::as_file(data, size, ".npy");
  ssmtl::fuzz::expect_clean([&] { ssmtl::datasets::read_npy(path); });
  ssmtl::fuzz::expect_clean([&] {
    const ssmtl::datasets::NpyHeader h = ssmtl::datasets::read_npy_header(path);
    const int64_t slices = h.shape.empty() ? 0 : h.shape[0];   // a scalar has no slices (std::out_of_range)
    for (int64_t i = 0; i < slices && i < 64; ++i) ssmtl::datasets::read_npy_nonzero_slice(h, i);
  });
  return 0;
}
