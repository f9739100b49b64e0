// libFuzzer target: a darknet .weights file (data/darknet.h Network::load_weights) for a fixed small
// network: one batch-normalised convolution, one plain convolution, a [yolo] head.
#include "data/detect/darknet.h"
#include "fuzz/fuzz_util.h"

namespace {
const char* kCfg =
    "[net]\nwidth=8\nheight=8\nchannels=3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[convolutional]\nfilters=18\nsize=1\nstride=1\npad=1\nactivation=linear\n"
    "[yolo]\nmask=0,1,2\nanchors=1,1,2,2,3,3\nclasses=1\nnum=3\n";
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ssmtl::darknet::Network net(ssmtl::darknet::parse_cfg_text(kCfg, "fuzz.cfg"));
  const std::string path = ssmtl::fuzz::as_file(data, size, ".weights");
  ssmtl::fuzz::expect_clean([&] { net.load_weights(path); });
  return 0;
}
