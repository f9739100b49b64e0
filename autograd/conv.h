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

}  // namespace ssmtl
