// libFuzzer target: region files (detections, predicted regions) and ground-truth track files
// (eval/io.h load_regions, load_tracks).
#include "regions/region_file.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ssmtl::fuzz::as_file(data, size, ".txt");
  ssmtl::fuzz::expect_clean([&] { ssmtl::load_regions(path); });
  ssmtl::fuzz::expect_clean([&] { ssmtl::load_tracks(path); });
  return 0;
}
