// libFuzzer target: a darknet .cfg (data/darknet_cfg.h) parsed and built into a network (layer shapes,
// references, known keys), as `ssmtl detect --model` does before reading weights.
#include "data/detect/darknet.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ssmtl::fuzz::expect_clean([&] {
    ssmtl::darknet::Cfg cfg =
        ssmtl::darknet::parse_cfg_text(std::string(reinterpret_cast<const char*>(data), size), "fuzz.cfg");
    ssmtl::darknet::Network net(cfg);
    (void)net.num_parameters();
  });
  return 0;
}
