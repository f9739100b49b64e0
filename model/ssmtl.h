// The SSMTL / SSMTL++ model: one shared backbone and one head per proxy task (paper sections 3-3.3,
// DESIGN.md section 4). Configurations by name:
//   ssmtl      detector objects; 3D CNN;                 T1 arrow + T2 irregularity + T3 middle box + T4 distillation
//   ssmtl++v1  hybrid objects;   3D CNN + 3D CvT (3x12); T1 + T2 + T3 + T5 pseudo-anomalies
//   ssmtl++v2  hybrid objects;   3D CNN + 3D CvT (3x12); T1 + T2 + T3 + T6 inpainting
// and "<name>-cpu": the same tasks with a narrower backbone and smaller crops for 2-core machines.
// Any registered task can be turned on or off on top of a preset with model.tasks.<config key> = true/false
// (model/tasks/task.h; e.g. T7 segmentation and T9 pose with teacher maps, T8 jigsaw).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "model/backbone.h"
#include "model/heads.h"
#include "model/tasks/task.h"
#include "util/config.h"

namespace ssmtl {

struct ModelConfig {
  std::string name = "ssmtl++v1";
  BackboneConfig backbone;
  TaskSet tasks;              // the enabled proxy tasks
  int crop = 64;              // crop side in pixels (64 in the paper)
  int frames = 7;             // temporal window t-3..t+3
  int head_hidden = 32;
  int decoder_hidden = 32;
  int distill_classes = 81;   // detector classes + 1 for motion objects
  int jigsaw_classes = 100;
  int pose_joints = 16;       // T9 heat maps per object (16 = MPII joints, UniPose's)

  // Named preset; throws std::invalid_argument listing the known names.
  static ModelConfig preset(const std::string& name);
  // Reads "model.*" keys (the preset's values are the defaults; model.tasks.<config key> for every
  // registered task) and records them in `c`. Throws std::invalid_argument for an unknown preset, a bad
  // value or no task that gives a score.
  static ModelConfig from_config(util::Config& c);
};

class SSMTLModel : public Module {
 public:
  // Backbone, then one head per enabled task in registry order, all drawn from Rng(seed).
  SSMTLModel(const ModelConfig& cfg, uint64_t seed);
  // x (N, 3, T, S, S) -> features (N, C, S/8, S/8)
  Tensor features(const Tensor& x, bool training) { return backbone.forward(x, training); }
  // Tensor names: "backbone.*", then "<TaskInfo::module>.*" per task (checkpoints rely on them).
  void visit(const std::string& prefix, std::vector<NamedTensor>& out) override;
  // Trainable tensors of the backbone only (the ascent group of T5), of the heads (with or without the
  // ascent tasks' heads) and of the ascent tasks' heads.
  std::vector<Tensor> backbone_parameters();
  std::vector<Tensor> head_parameters(bool include_ascent);
  std::vector<Tensor> ascent_parameters();
  bool has_ascent_task() const;
  // The head of enabled task `name` (std::invalid_argument naming it when the model does not have it).
  Head& head(const std::string& name);

  struct TaskHead {
    const ProxyTask* task;
    std::unique_ptr<Head> head;
  };
  ModelConfig cfg;
  Backbone backbone;
  std::vector<TaskHead> tasks;   // the enabled tasks, registry order
};

}  // namespace ssmtl
