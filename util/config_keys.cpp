// The one table of configuration keys: every key a command reads has a type and a range here, so that a
// value from a file, from --set or from a checkpoint's stored configuration is checked the same way before
// it reaches the code that sizes tensors with it. Ranges are what the model and trainer can run with, not
// what is sensible to train: e.g. crop is capped at 512 and channels at 1024 so that a typo ("65536") is an
// error naming the key instead of a bad_alloc deep in a layer.
#include <climits>
#include <deque>
#include <stdexcept>
#include <string>

#include "util/config.h"

namespace ssmtl::util {

namespace {
constexpr double kIntMax = INT_MAX;
}

const std::vector<KeySpec>& key_specs() {
  static const std::vector<KeySpec> specs = {
      // model.* (model/ssmtl.h ModelConfig, model/backbone.h BackboneConfig)
      {"model.name", 's', 0, 0},   // checked by ModelConfig::preset (lists the known names)
      {"model.backbone.channels", 'l', 1, 1024, "", 3, 3},   // 3 stages: crop / 8 feature maps
      {"model.backbone.convs_per_stage", 'i', 1, 8},
      {"model.backbone.transformer", 's', 0, 0, "none|3d|2d"},
      {"model.cvt.dim", 'i', 1, 1024},   // also a multiple of model.cvt.heads (ModelConfig::from_config)
      {"model.cvt.blocks", 'i', 0, 32},
      {"model.cvt.heads", 'i', 1, 64},
      {"model.cvt.mlp_ratio", 'i', 1, 16},
      // model.tasks.<key> (bool) of each proxy task: added by the task registry (model/tasks/task.h)
      {"model.crop", 'i', 16, 512},   // also a multiple of 8
      {"model.head_hidden", 'i', 1, 4096},
      {"model.decoder_hidden", 'i', 1, 4096},
      {"model.distill_classes", 'i', 2, 1000},
      {"model.pose_joints", 'i', 1, 64},
      // train.* (model/trainer.h TrainOptions)
      {"train.epochs", 'i', 1, 100000},
      {"train.batch_size", 'i', 2, 65536},
      {"train.lr", 'd', 1e-9, 10},   // > 0: the T5 ascent sign comes from train.pseudo_lr_scale
      {"train.adam_eps", 'd', 1e-12, 1},
      {"train.lr_schedule", 's', 0, 0},   // constant or cosine (TrainOptions::from_config)
      {"train.val_fraction", 'd', 0, 0.9},
      {"train.seed", 'i', 0, kIntMax},
      {"train.max_objects_per_epoch", 'i', 0, kIntMax},   // 0 = every training object
      {"train.max_val_objects", 'i', 1, kIntMax},
      {"train.min_detection_score", 'd', 0, 1},
      {"train.pseudo_start_epoch", 'i', 0, 100000},
      {"train.pseudo_lr_scale", 'd', -10, 10},
      {"train.pseudo_loss_cap", 'd', 0, 1e6},
      {"train.max_bad_steps", 'i', 1, 1000000},
      {"train.device", 's', 0, 0},   // checked by parse_device (cpu, cuda)
      {"train.stop_after_steps", 'i', 0, kIntMax},   // 0 = never
      {"train.max_seconds", 'd', 0, 1e9},            // 0 = no time box
      {"train.sync_bn", 'b', 0, 0},   // data-parallel: BatchNorm statistics over all ranks
      {"train.keep_epoch_checkpoints", 'b', 0, 0},   // also epoch_NNN.ckpt after every epoch
      {"train.swa_epochs", 'i', 0, kIntMax},   // swa.ckpt: the weights of the last N epochs averaged; 0 = off
      {"train.precise_bn", 'i', 0, kIntMax},   // per-window BatchNorm statistics from N objects each epoch; 0 = off
      {"train.precision", 's', 0, 0},   // fp32 or bf16 (TrainOptions::from_config; kernels/precision.h)
  };
  return specs;
}

namespace {
// Keys added at run time; std::deque keeps the specs and their names where they are as it grows.
struct AddedKeys {
  std::deque<std::string> names;
  std::deque<KeySpec> specs;
};
AddedKeys& added_keys() {
  static AddedKeys a;
  return a;
}
}  // namespace

void add_key_spec(const std::string& key, const KeySpec& spec) {
  if (find_key_spec(key)) throw std::logic_error("configuration key `" + key + "` is defined twice");
  AddedKeys& a = added_keys();
  a.names.push_back(key);
  a.specs.push_back(spec);
  a.specs.back().key = a.names.back().c_str();
}

const KeySpec* find_key_spec(const std::string& key) {
  for (const KeySpec& k : key_specs())
    if (key == k.key) return &k;
  for (const KeySpec& k : added_keys().specs)
    if (key == k.key) return &k;
  return nullptr;
}

}  // namespace ssmtl::util
