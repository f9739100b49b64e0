// The shared backbone of SSMTL / SSMTL++ (paper section 3.2; SSMTL, Georgescu et al. CVPR 2021):
//   3D CNN: stages of [conv3d 3x3x3 'same' + BatchNorm + ReLU] x convs_per_stage, each stage followed by
//   a spatial max-pool (1,2,2); no temporal down-sampling. 64x64 crops -> 8x8 after 3 stages.
//   Optional CvT: "3d" = transformer blocks on the (T, 8, 8) tokens, then global temporal max pooling;
//   "2d" = temporal average pooling first, blocks on 8x8 tokens; "none" = temporal max pooling only.
// Input (N, 3, T, S, S) RGB in [0,1] (T = 7 for sequences, 6 for middle-box, 1 for single frames);
// output (N, out_channels(), S/8, S/8): 2D features for the task heads.
#pragma once
#include <string>
#include <vector>

#include "model/cvt.h"

namespace ssmtl {

struct BackboneConfig {
  std::vector<int> channels{16, 32, 32};  // shallow/narrow; wide = 32,64,64
  int convs_per_stage = 1;                // 2 = "deep"
  std::string transformer = "3d";         // none | 3d | 2d
  int cvt_dim = 96;                       // token dimension, a multiple of cvt_heads
  int cvt_blocks = 3;
  int cvt_heads = 12;
  int cvt_mlp_ratio = 4;
};

class Backbone : public Module {
 public:
  Backbone() = default;
  Backbone(const BackboneConfig& cfg, Rng& rng);
  Tensor forward(const Tensor& x, bool training);
  int out_channels() const;
  void visit(const std::string& prefix, std::vector<NamedTensor>& out) override;

  BackboneConfig cfg;
  std::vector<Conv3dLayer> convs;
  std::vector<BatchNormLayer> bns;
  Conv3dLayer embed;          // convolutional token embedding (CvT): channels.back() -> cvt_dim
  LayerNormLayer embed_ln;
  std::vector<CvtBlock> blocks;
};

}  // namespace ssmtl
