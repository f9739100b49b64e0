// libFuzzer target: a configuration file (util/config.h) read as `ssmtl train --config` reads it, through
// the model and trainer keys and the unknown-key check.
#include "fuzz/fuzz_util.h"
#include "model/ssmtl.h"
#include "model/trainer.h"
#include "util/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ssmtl::fuzz::expect_clean([&] {
    ssmtl::util::Config c =
        ssmtl::util::Config::from_string(std::string(reinterpret_cast<const char*>(data), size), "fuzz.txt");
    c.check_all();
    ssmtl::ModelConfig::from_config(c);
    ssmtl::TrainOptions::from_config(c);
    c.check_used();
  });
  return 0;
}
