// libFuzzer target: a checkpoint (model/checkpoint.h) as `ssmtl score` reads it: the stored configuration
// checked like a file, then the tensors loaded into a fixed tiny model.
#include "fuzz/fuzz_util.h"
#include "model/checkpoint.h"
#include "model/ssmtl.h"
#include "util/config.h"

namespace {
// The model of the seed checkpoint (fuzz/make_seeds.cpp writes it with the same configuration).
ssmtl::SSMTLModel& tiny_model() {
  static ssmtl::SSMTLModel* m = [] {
    ssmtl::util::Config c = ssmtl::util::Config::from_string(
        "model.name = ssmtl-cpu\nmodel.backbone.channels = 2, 2, 2\nmodel.crop = 16\nmodel.head_hidden = 2\n"
        "model.decoder_hidden = 2\nmodel.distill_classes = 2\n");
    return new ssmtl::SSMTLModel(ssmtl::ModelConfig::from_config(c), 1);
  }();
  return *m;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ssmtl::SSMTLModel& m = tiny_model();
  const std::string path = ssmtl::fuzz::as_file(data, size, ".ckpt");
  ssmtl::fuzz::expect_clean([&] {
    ssmtl::CheckpointMeta meta = ssmtl::read_checkpoint_meta(path);
    ssmtl::util::Config c = ssmtl::util::Config::from_string(meta.config_text, path);
    c.check_all();
    ssmtl::load_checkpoint(path, m);
  });
  return 0;
}
