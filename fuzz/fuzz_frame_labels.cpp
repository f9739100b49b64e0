// libFuzzer target: frame label and frame score files (eval/io.h load_labels, load_scores), as
// `ssmtl evaluate` reads gt_frame/<video>.txt and <scores>/<video>.txt.
#include "eval/io.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ssmtl::fuzz::as_file(data, size, ".txt");
  ssmtl::fuzz::expect_clean([&] { ssmtl::eval::load_labels(path); });
  ssmtl::fuzz::expect_clean([&] { ssmtl::eval::load_scores(path); });
  return 0;
}
