// Convolutional vision transformer blocks (CvT, Wu et al., ICCV 2021) as used by SSMTL++ (paper
// section 3.2): tokens are the cells of a (T, H, W) grid; q/k/v come from a depthwise 3D convolution
// (3x3x3, or 1x3x3 for the 2D CvT) + BatchNorm + linear projection, with k and v sub-sampled by a
// spatial stride of 2; pre-LayerNorm blocks x += Attn(LN(x)); x += MLP(LN(x)); MLP ratio 4 with GELU.
// No positional embedding (the convolutions carry position).
#pragma once
#include "model/layers.h"

namespace ssmtl {

// Depthwise conv + BN + linear on token rows: (N, T*H*W, D) -> (N, T*H'*W', D).
class ConvProjection : public Module {
 public:
  ConvProjection() = default;
  ConvProjection(int dim, bool temporal_kernel, int spatial_stride, Rng& rng);
  // tokens (N, T*H*W, D) -> (N, Do*Ho*Wo, D): depthwise conv3d (channels last) + BN over the token rows + linear
  Tensor forward(const Tensor& tokens, int T, int H, int W, bool training, int64_t* out_tokens = nullptr);
  void visit(const std::string& prefix, std::vector<NamedTensor>& out) override;
  Conv3dLayer depthwise;
  BatchNormLayer bn;
  LinearLayer proj;
};

class CvtBlock : public Module {
 public:
  CvtBlock() = default;
  CvtBlock(int dim, int heads, int mlp_ratio, bool temporal_kernel, Rng& rng);
  // tokens (N, L, D) with L = T*H*W in (t, y, x) order -> (N, L, D)
  Tensor forward(const Tensor& tokens, int T, int H, int W, bool training);
  void visit(const std::string& prefix, std::vector<NamedTensor>& out) override;
  int dim = 0, heads = 0;
  LayerNormLayer ln1, ln2;
  ConvProjection q, k, v;
  LinearLayer out_proj, fc1, fc2;
};

// tokens (N, L, D) <-> feature volume (N, D, T, H, W)
Tensor tokens_to_volume(const Tensor& tokens, int T, int H, int W);
Tensor volume_to_tokens(const Tensor& x5);

}  // namespace ssmtl
