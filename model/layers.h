// The layers SSMTL++ is built from, as small modules over the engine's differentiable ops:
// 3D/2D convolution, batch norm (2D and 3D), linear, layer norm. Shapes follow PyTorch (NCDHW).
#pragma once
#include <array>
#include <map>

#include "autograd/conv.h"
#include "model/module.h"

namespace ssmtl {

// Conv3d: x (N, Cin, D, H, W) -> (N, Cout, D', H', W'); weight (Cout, Cin/groups, kD, kH, kW), bias (Cout).
class Conv3dLayer : public Module {
 public:
  Conv3dLayer() = default;
  Conv3dLayer(int cin, int cout, std::array<int, 3> kernel, Conv3dOptions opt, bool bias, Rng& rng);
  Tensor forward(const Tensor& x) const;
  void visit(const std::string& prefix, std::vector<NamedTensor>& out) override;
  Tensor weight, bias;
  Conv3dOptions opt;
};

// Conv2d: x (N, Cin, H, W); 'same' padding for odd kernels when pad = -1.
class Conv2dLayer : public Module {
 public:
  Conv2dLayer() = default;
  Conv2dLayer(int cin, int cout, int kernel, int stride, int pad, int groups, bool bias, Rng& rng);
  Tensor forward(const Tensor& x) const;
  void visit(const std::string& prefix, std::vector<NamedTensor>& out) override;
  Tensor weight, bias;
  Conv2dOptions opt;
};

// BatchNorm over channel dim 1 of (N, C, ...): batch statistics in training, running ones in eval
// (Ioffe & Szegedy 2015; PyTorch momentum 0.1, eps 1e-5).
class BatchNormLayer : public Module {
 public:
  BatchNormLayer() = default;
  explicit BatchNormLayer(int channels);
  Tensor forward(const Tensor& x, bool training);
  // relu(forward(x, training)) as one fused op (batch_norm_relu; bitwise equal on the CPU).
  Tensor forward_relu(const Tensor& x, bool training);
  // max_pool3d(forward_relu(x, training), (1,2,2)) as one fused op (batch_norm_relu_pool; x: (N, C, D, H, W)).
  Tensor forward_relu_pool(const Tensor& x, bool training);
  void visit(const std::string& prefix, std::vector<NamedTensor>& out) override;
  Tensor gamma, beta, running_mean, running_var;

  // Statistics per input window (model/bn_window.h), filled by estimate_window_bn or a checkpoint; used in
  // eval under their window when defined. Visited as optional buffers "<prefix>window<W>.mean" / ".var".
  struct WindowStats {
    Tensor mean, var;   // (C), on the running buffers' device; undefined until estimated or loaded
    int batches = 0;    // batch statistics averaged so far by the current estimate (0 when loaded)
    unsigned generation = 0;   // the bn_window::Estimate that gathered them (0: loaded or never)
  };
  std::map<int, WindowStats> window_stats;
  // The running buffers a call uses and the momentum of their update: a window's estimated statistics in
  // eval under its Scope, that window's cumulative mean (momentum 1 / (batches + 1)) while estimating, else
  // running_mean / running_var with momentum 0.1.
  struct Use {
    Tensor* mean;
    Tensor* var;
    float momentum;
  };
  Use statistics(bool training);
};

// relu(bn(conv(x))): the backbone's and the decoders' block. In eval mode with gradient recording off (scoring,
// validation: autograd::NoGradGuard) one op that applies the batch norm + ReLU as the convolution writes
// (conv3d_bn_relu_eval: the same bits, one pass over the activations less); otherwise the two ops.
// Whether the fused inference ops (autograd/conv.h *_eval) may stand in for bn: not training, no gradient being
// recorded (autograd::NoGradGuard), running statistics present.
bool fuse_eval(const BatchNormLayer& bn, bool training);
// bn's affine and the statistics eval mode uses (its input window's, when set: model/bn_window.h), for those ops.
EvalBatchNorm eval_bn(BatchNormLayer& bn);
Tensor conv_bn_relu(const Conv3dLayer& conv, BatchNormLayer& bn, const Tensor& x, bool training);
Tensor conv_bn_relu(const Conv2dLayer& conv, BatchNormLayer& bn, const Tensor& x, bool training);
// conv_bn_relu(conv, bn, upsample_nearest2d(x, 2), training) for a 3x3 conv with stride 1 and padding 1 (the
// decoders' rounds), on x itself with the kernel folded per output phase (autograd/upsample_conv.h: ~2x fewer
// products, no up-sampled copy of x). Throws std::invalid_argument naming "upsample_conv_bn_relu" when conv is not
// such a convolution (groups 1 included).
Tensor upsample_conv_bn_relu(const Conv2dLayer& conv, BatchNormLayer& bn, const Tensor& x, bool training);
// max_pool3d(conv_bn_relu(conv, bn, x, training), window (1,2,2), stride (1,2,2)): the end of a backbone stage.
// Training (or eval with gradients): the convolution, then batch norm + ReLU + pooling as one op
// (batch_norm_relu_pool: no full-size ReLU output or gradient); scoring: conv3d_bn_relu_pool_eval (one sample per
// thread at a time, its full-size activation in cache).
Tensor conv_bn_relu_pool(const Conv3dLayer& conv, BatchNormLayer& bn, const Tensor& x, bool training);

// Linear: x (..., in) -> (..., out).
class LinearLayer : public Module {
 public:
  LinearLayer() = default;
  LinearLayer(int in, int out, bool bias, Rng& rng);
  Tensor forward(const Tensor& x) const;
  // gelu(forward(x)) in one op (autograd/linear.h linear_gelu): the same values, one pass less over memory.
  Tensor forward_gelu(const Tensor& x) const;
  void visit(const std::string& prefix, std::vector<NamedTensor>& out) override;
  Tensor weight, bias;
};

// LayerNorm over the last dimension (Ba et al. 2016), gamma 1 / beta 0 at init.
class LayerNormLayer : public Module {
 public:
  LayerNormLayer() = default;
  explicit LayerNormLayer(int dim);
  Tensor forward(const Tensor& x) const;
  void visit(const std::string& prefix, std::vector<NamedTensor>& out) override;
  Tensor gamma, beta;
  float eps = 1e-5f;   // PyTorch's default
};

}  // namespace ssmtl
