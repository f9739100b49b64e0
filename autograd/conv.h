// Differentiable 3-D and 2-D convolutions (the 3D CNN backbone, the CvT depthwise q/k/v projections, and the
// Yolo-Fastest detector). PyTorch torch.nn.functional.conv3d / conv2d semantics: cross-correlation (no kernel
// flip), symmetric zero padding, grouped channels, no dilation. Kernels: kernels/conv3d.h.
#pragma once
#include "tensor/tensor.h"

namespace ssmtl {

struct Conv3dOptions {
  int stride[3] = {1, 1, 1};    // (D, H, W), each >= 1
  int padding[3] = {0, 0, 0};   // zeros added on both sides of (D, H, W), each >= 0
  int groups = 1;               // divides Cin and Cout; groups == Cin == Cout is depthwise
};

struct Conv2dOptions {
  int stride[2] = {1, 1};       // (H, W)
  int padding[2] = {0, 0};
  int groups = 1;
};

// x: (N, Cin, D, H, W); w: (Cout, Cin / groups, kD, kH, kW); bias: (Cout), or an undefined Tensor() for none.
// Returns (N, Cout, Do, Ho, Wo) with Do = (D + 2 padding[0] - kD) / stride[0] + 1 (floor), likewise H, W.
// Gradients for x, w and bias. Depthwise (groups == Cin == Cout) and general convolutions have their own
// kernels (kernels/conv3d.h). Throws std::invalid_argument naming "conv3d" and the shapes when a tensor has the wrong rank,
// the channels do not match w and groups, bias is not (Cout), a stride < 1 or padding < 0, the kernel is larger
// than the padded input, or the tensors are on different devices.
Tensor conv3d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv3dOptions& o = {});

// x: (N, Cin, H, W); w: (Cout, Cin / groups, kH, kW); bias: (Cout) or undefined. Returns (N, Cout, Ho, Wo).
// The D = 1 case of conv3d on the same memory (no copy); same gradients and errors (naming "conv2d").
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dOptions& o = {});

// A batch norm in eval mode: its parameters and running statistics, each (C). gamma / beta may be undefined
// (1 / 0); running_mean / running_var must be defined. eps as in batch_norm (autograd/norm.h).
struct EvalBatchNorm {
  Tensor gamma, beta, running_mean, running_var;
  float eps = 1e-5f;
};

// Inference only (scoring, validation): relu(batch_norm(conv3d(x, w, bias, o), bn..., training = false)) as one
// op, the batch norm + ReLU applied as the convolution writes its output (kernels/conv3d.h
// conv3d_bn_relu_forward); bitwise equal to that composition (batch_norm_relu) on the CPU. x, w, bias and the
// output as conv3d; bn's tensors (Cout). Records no gradient: throws std::invalid_argument naming
// "conv3d_bn_relu_eval" when gradients are being recorded for x, w, bias, gamma or beta (use it under
// autograd::NoGradGuard), when a bn tensor is not (Cout) or a running statistic is undefined, and for conv3d's
// errors.
Tensor conv3d_bn_relu_eval(const Tensor& x, const Tensor& w, const Tensor& bias, const EvalBatchNorm& bn,
                           const Conv3dOptions& o = {});
// The same for conv2d (x (N, Cin, H, W)); errors name "conv2d_bn_relu_eval".
Tensor conv2d_bn_relu_eval(const Tensor& x, const Tensor& w, const Tensor& bias, const EvalBatchNorm& bn,
                           const Conv2dOptions& o = {});

// max_pool3d(conv3d_bn_relu_eval(x, w, bias, bn, o), window (1, 2, 2), stride (1, 2, 2)) as one op: the end of a
// backbone stage at inference, one sample per thread at a time so its full-resolution activation stays in cache
// (kernels/conv3d.h conv3d_bn_relu_pool_forward_cpu, where conv3d_bn_relu_pool_per_sample_pays; else the two ops
// in turn); bitwise equal to the two ops on the CPU. x (N, Cin, D, H, W)
// -> (N, Cout, Do, Ho / 2, Wo / 2). Errors as conv3d_bn_relu_eval, named "conv3d_bn_relu_pool_eval".
Tensor conv3d_bn_relu_pool_eval(const Tensor& x, const Tensor& w, const Tensor& bias, const EvalBatchNorm& bn,
                                const Conv3dOptions& o = {});

// The checks of the eval ops' batch norm: gamma, beta (C) or undefined; running_mean, running_var (C) and defined;
// all on x's device. Throws std::invalid_argument naming `op`, the tensor and its shape.
void check_eval_batch_norm(const EvalBatchNorm& bn, int64_t C, const Tensor& x, const char* op);

// Depthwise 3-D convolution of token rows, the CvT's q/k/v projection without a layout change:
//   x: (N, T*H*W, C), rows in (t, h, w) order, channels last (what LayerNorm gives); w: (C, 1, kD, kH, kW);
//   bias: (C) or undefined; o.groups must be C. Returns (N, Do*Ho*Wo, C), channels last, with Do, Ho, Wo as
//   for conv3d. Equal to volume_to_tokens(conv3d(tokens_to_volume(x), w, bias, o)) (PyTorch:
//   conv3d(x.reshape(N, T, H, W, C).permute(0, 4, 1, 2, 3), w, groups=C).flatten(2).transpose(1, 2)) up to
//   summation order. Gradients for x, w and bias. Throws std::invalid_argument naming
//   "conv3d_depthwise_tokens" and the shapes when x is not (N, T*H*W, C), w is not (C, 1, kD, kH, kW), groups
//   != C, bias is not (C), strides < 1, padding < 0, the kernel is larger than the padded volume, or the
//   tensors are on different devices.
Tensor conv3d_depthwise_tokens(const Tensor& x, const Tensor& w, const Tensor& bias, int T, int H, int W,
                               const Conv3dOptions& o);

// Inference only (scoring, validation): the CvT projection's depthwise conv of token rows followed by eval-mode
// batch norm over the channels of each row (ConvProjection in model/cvt.cpp), as one op: batch norm is applied to
// each output row as it is written (kernels/conv3d.h conv3d_depthwise_cl_bn_forward_cpu), bitwise equal to
// batch_norm(conv3d_depthwise_tokens(x, w, bias, T, H, W, o) viewed as (rows, C), bn..., training = false) on the
// CPU. Shapes and errors as conv3d_depthwise_tokens (named "conv3d_depthwise_tokens_bn_eval"); bn as
// check_eval_batch_norm with C channels. Records no gradient: throws std::invalid_argument when gradients are
// being recorded for x, w, bias, gamma or beta (use it under autograd::NoGradGuard).
Tensor conv3d_depthwise_tokens_bn_eval(const Tensor& x, const Tensor& w, const Tensor& bias, int T, int H, int W,
                                       const Conv3dOptions& o, const EvalBatchNorm& bn);

}  // namespace ssmtl
