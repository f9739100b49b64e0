// libFuzzer target: the UCSD frame-level ground truth script Test/UCSDped<n>.m (data/datasets/ucsd_m.h
// read_ucsd_m), then labels_from_intervals for a 200-frame clip, as `ssmtl prepare` reads UCSD Ped1/Ped2.
#include "data/datasets/ucsd_m.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ssmtl::fuzz::as_file(data, size, ".m");
  ssmtl::fuzz::expect_clean([&] {
    for (const auto& iv : ssmtl::datasets::read_ucsd_m(path))
      ssmtl::fuzz::expect_clean([&] { ssmtl::datasets::labels_from_intervals(iv, 200, "fuzz.m: clip"); });
  });
  return 0;
}
