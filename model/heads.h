// Task heads on the backbone's 2D features (N, C, 8, 8), following SSMTL (Georgescu et al. 2021):
//   ClassHead: conv 3x3 + ReLU -> max-pool 2x2 -> linear to the classes (logits). Used by T1 arrow of
//     time (2), T2 motion irregularity (2), T4 distillation (detector classes + 1 motion class) and
//     T8 jigsaw (100 permutations).
//   Decoder: 3 rounds of nearest 2x up-sampling + conv 3x3 + BatchNorm + ReLU (8 -> 16 -> 32 -> 64; each
//     up-sampling and conv computed as one op on the low-resolution map, upsample_conv_bn_relu in
//     model/layers.h), then conv 3x3 to C channels and a sigmoid (targets in [0,1]). Used with C = 3 (RGB) by T3 middle
//     box, T5 pseudo-anomaly reconstruction and T6 inpainting; C = 1 by T7 segmentation (teacher mask)
//     and C = joints by T9 pose (teacher heat maps). Paper section 3.3: the new tasks' heads are
//     identical to the original ones.
#pragma once
#include "model/layers.h"

namespace ssmtl {

// A task head: backbone features (N, C, s, s) -> the task's output.
class Head : public Module {
 public:
  virtual Tensor forward(const Tensor& f, bool training) = 0;
};

class ClassHead : public Head {
 public:
  ClassHead() = default;
  ClassHead(int in_channels, int hidden, int feature_size, int classes, Rng& rng);
  Tensor forward(const Tensor& f, bool training) override;   // (N, C, S, S) -> (N, classes) logits
  void visit(const std::string& prefix, std::vector<NamedTensor>& out) override;
  Conv2dLayer conv;
  LinearLayer fc;
};

class Decoder : public Head {
 public:
  Decoder() = default;
  Decoder(int in_channels, int hidden, Rng& rng, int out_channels = 3);
  // (N, in_channels, s, s) -> (N, out_channels, 8s, 8s) in [0,1] (s = 8 for 64x64 crops)
  Tensor forward(const Tensor& f, bool training) override;
  void visit(const std::string& prefix, std::vector<NamedTensor>& out) override;
  std::vector<Conv2dLayer> convs;
  std::vector<BatchNormLayer> bns;
  Conv2dLayer out;
};

}  // namespace ssmtl
