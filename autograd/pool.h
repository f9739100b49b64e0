// Differentiable pooling and up-sampling (CPU or CUDA), PyTorch semantics unless stated.
//
// Used by the SSMTL++ backbone (DESIGN.md section 5: spatial max-pool (1,2,2) between 3D stages,
// global temporal max pooling over T, decoders with nearest 2x up-sampling) and by the Yolo-Fastest
// detector (darknet maxpool, up-sample 2x).
//
// Layout: NCDHW / NCHW, contiguous. Output sizes (no ceil mode): out = floor((in + 2*pad - k) / stride) + 1.
// Max pooling treats padding as -inf (it never wins), propagates NaN, and on ties picks the first
// element in depth-row-column scan order; the gradient flows only to that element (torch's rule).
// Average pooling divides by the full window volume kd*kh*kw, padded zeros included
// (torch's count_include_pad=True default).
// All functions throw std::invalid_argument naming the op and the input shape on a wrong rank,
// non-positive kernel/stride/scale, padding outside [0, kernel/2] (torch's limit) or an empty output.
#pragma once
#include "tensor/tensor.h"

namespace ssmtl {

// Window, stride and padding per axis, in (depth, height, width) order.
struct Pool3dOptions {
  int kernel[3];
  int stride[3];
  int padding[3] = {0, 0, 0};
};

// x: (N, C, D, H, W) -> (N, C, oD, oH, oW). As torch.nn.functional.max_pool3d (dilation 1, no ceil mode).
Tensor max_pool3d(const Tensor& x, const Pool3dOptions& opt);
// x: (N, C, D, H, W) -> (N, C, oD, oH, oW). As torch.nn.functional.avg_pool3d (count_include_pad=True).
Tensor avg_pool3d(const Tensor& x, const Pool3dOptions& opt);

// x: (N, C, H, W) -> (N, C, oH, oW); square window. As torch.nn.functional.max_pool2d.
Tensor max_pool2d(const Tensor& x, int kernel, int stride, int padding = 0);

// Darknet's [maxpool] layer (darknet src/maxpool_layer.c, default padding = size - 1):
// x: (N, C, H, W) -> (N, C, oH, oW) with oH = (H + size - 1 - size) / stride + 1 (same for W).
// The window of output i starts at i*stride - (size-1)/2, so the padding falls mostly at the
// bottom/right; size 2 stride 1 keeps H x W, size 2 stride 2 gives ceil(H/2) x ceil(W/2).
// Padded positions never win (as darknet, which skips them).
Tensor max_pool2d_same(const Tensor& x, int size, int stride);

// Global temporal pooling (DESIGN.md section 5): x: (N, C, T, H, W) -> (N, C, H, W).
// Max over T (ties: first t; NaN wins; as max_pool3d with window (T,1,1)), or mean over T.
Tensor temporal_max_pool(const Tensor& x);
Tensor temporal_avg_pool(const Tensor& x);

// x: (N, C, d1, ..., dk) with k >= 1 and non-empty spatial part -> (N, C): mean over all spatial
// positions (torch adaptive_avg_pool to size 1, flattened). Accumulated in double.
Tensor global_avg_pool(const Tensor& x);

// x: (N, C, H, W) -> (N, C, scale*H, scale*W), out[.., i, j] = x[.., i / scale, j / scale]
// (torch.nn.functional.interpolate(mode="nearest", scale_factor=scale), darknet [upsample]).
Tensor upsample_nearest2d(const Tensor& x, int scale);

}  // namespace ssmtl
