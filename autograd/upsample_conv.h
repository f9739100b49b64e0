// The decoders' layer (model/heads.h): nearest 2x up-sampling, then a 3x3 convolution with padding 1, computed on
// the low-resolution input with about half the products (kernels/upsample_conv.h: the 3x3 kernel folds into one 2x2
// kernel per output phase; one 2x2 convolution of x with 4 Cout channels; the phases interleaved).
#pragma once
#include "autograd/conv.h"
#include "tensor/tensor.h"

namespace ssmtl {

// conv2d(upsample_nearest2d(x, 2), w, bias, padding 1) (torch: F.conv2d(F.interpolate(x, scale_factor=2),
// w, bias, padding=1)). x: (N, Cin, H, W); w: (Cout, Cin, 3, 3); bias: (Cout) or undefined. Returns
// (N, Cout, 2 H, 2 W). Gradients for x, w and bias. Equal to the composition up to rounding: the taps that fold
// together are summed before they multiply, and the products run in another order. Throws std::invalid_argument
// naming "upsample2x_conv2d" and the shapes when x is not 4-D, w is not (Cout, Cin, 3, 3) for x's Cin, bias is not
// (Cout), x has no rows or columns (H or W = 0, as the composition), or the tensors are on different devices. An
// empty batch (N = 0) gives an empty result.
Tensor upsample2x_conv2d(const Tensor& x, const Tensor& w, const Tensor& bias);

// Inference only: relu(batch_norm(upsample2x_conv2d(x, w, bias), bn, training = false)), the batch norm + ReLU
// applied as the phases' convolution writes (conv2d_bn_relu_eval on the 4 Cout phase channels, bn repeated per
// phase), then interleaved. Shapes as upsample2x_conv2d; bn's tensors (Cout), gamma and beta may be undefined (1, 0).
// Throws std::invalid_argument named "upsample2x_conv2d_bn_relu_eval" for upsample2x_conv2d's errors, a bn tensor
// that is not (Cout) or on another device, an undefined running statistic, and when gradients are being recorded
// for x, w, bias, gamma or beta (run it under autograd::NoGradGuard).
Tensor upsample2x_conv2d_bn_relu_eval(const Tensor& x, const Tensor& w, const Tensor& bias, const EvalBatchNorm& bn);

}  // namespace ssmtl
