// The SSMTL / SSMTL++ model: one shared backbone and one head per proxy task (paper sections 3-3.3,
// DESIGN.md section 4). Configurations by name:
//   ssmtl      detector objects; 3D CNN;                 T1 arrow + T2 irregularity + T3 middle box + T4 distillation
//   ssmtl++v1  hybrid objects;   3D CNN + 3D CvT (3x12); T1 + T2 + T3 + T5 pseudo-anomalies
//   ssmtl++v2  hybrid objects;   3D CNN + 3D CvT (3x12); T1 + T2 + T3 + T6 inpainting
// and "<name>-cpu": the same tasks with a narrower backbone and smaller crops for 2-core machines.
// Optional tasks on top of any configuration (model.tasks.*): T7 segmentation and T9 pose estimation
// (teacher maps, data/teacher_maps.h) and T8 jigsaw.
#pragma once
#include <string>

#include "model/backbone.h"
#include "model/heads.h"
#include "util/config.h"

namespace ssmtl {

struct TaskSet {
  bool arrow = true;          // T1
  bool irregularity = true;   // T2
  bool middle = true;         // T3
  bool distill = false;       // T4 (needs detector class probabilities)
  bool pseudo = false;        // T5 (training only; OOD images)
  bool inpaint = false;       // T6
  bool segmentation = false;  // T7 (needs teacher segmentation maps)
  bool jigsaw = false;        // T8
  bool pose = false;          // T9 (needs teacher pose heat maps)
  int count_scored() const;   // tasks that give an anomaly score at inference (all but T5)
  std::string names() const;  // "T1+T2+T3+T5"
};

struct ModelConfig {
  std::string name = "ssmtl++v1";
  BackboneConfig backbone;
  TaskSet tasks;
  int crop = 64;              // crop side in pixels (64 in the paper)
  int frames = 7;             // temporal window t-3..t+3
  int head_hidden = 32;
  int decoder_hidden = 32;
  int distill_classes = 81;   // detector classes + 1 for motion objects
  int jigsaw_classes = 100;
  int pose_joints = 16;       // T9 heat maps per object (16 = MPII joints, UniPose's)

  // Named preset; throws std::invalid_argument listing the known names.
  static ModelConfig preset(const std::string& name);
  // Reads "model.*" keys (the preset's values are the defaults) and records them in `c`.
  static ModelConfig from_config(util::Config& c);
};

class SSMTLModel : public Module {
 public:
  SSMTLModel(const ModelConfig& cfg, uint64_t seed);
  // x (N, 3, T, S, S) -> features (N, C, S/8, S/8)
  Tensor features(const Tensor& x, bool training) { return backbone.forward(x, training); }
  void visit(const std::string& prefix, std::vector<NamedTensor>& out) override;
  // Trainable tensors of the backbone only (the T5 ascent group) and of everything else.
  std::vector<Tensor> backbone_parameters();
  std::vector<Tensor> head_parameters(bool include_pseudo);
  std::vector<Tensor> pseudo_parameters();

  ModelConfig cfg;
  Backbone backbone;
  ClassHead arrow, irregularity, distill, jigsaw;
  Decoder middle, pseudo, inpaint;
  Decoder segmentation, pose;   // T7: 1 channel, T9: pose_joints channels
};

}  // namespace ssmtl
