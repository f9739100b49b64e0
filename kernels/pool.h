// Pooling and up-sampling kernels on raw float pointers (outputs first, then inputs, then sizes).
// Semantics follow PyTorch's CPU kernels (aten/src/ATen/native/cpu: max_pool3d, avg_pool3d,
// upsample_nearest2d): windows are scanned depth, then row, then column; padded positions never win a
// max (as if padded with -inf); a NaN wins a max (`v > m || isnan(v)`, as torch); among equal maxima
// the first in scan order wins. Average pooling divides by the full window volume (torch's
// count_include_pad=True). Every kernel parallelises over the (N*C) planes with OpenMP, each plane
// handled serially by one thread, so results do not depend on the thread count.
// Backward kernels ADD into the gradient buffers they are given, except where an add_dx flag is false (then
// dx is written: a new gradient).
#pragma once
#include <cstdint>

#include "kernels/dispatch.h"

namespace ssmtl::kernels {

// Geometry of a 3D pooling window sweep over `planes` independent (D, H, W) planes (planes = N*C).
// pad_* is the padding before the first element (front/top/left); the output sizes are given
// explicitly so that both PyTorch's symmetric padding and darknet's bottom/right padding fit.
struct PoolGeometry {
  int64_t planes;
  int64_t D, H, W;      // input plane
  int64_t oD, oH, oW;   // output plane
  int kd, kh, kw;       // window
  int sd, sh, sw;       // stride
  int pd, ph, pw;       // padding before
};

// The backbone's pooling window (1, 2, 2), stride (1, 2, 2), no padding, over `planes` planes of D x H x W
// (output H / 2, W / 2, floors).
PoolGeometry pool_1x2x2_geometry(int64_t planes, int64_t D, int64_t H, int64_t W);

// Max pooling. x: (planes, D, H, W); out: (planes, oD, oH, oW).
// argmax: (planes, oD, oH, oW) int32 offsets into the input plane (d*H*W + h*W + w) of each output's
// winner, or nullptr when no backward will run (inference skips writing them).
void max_pool3d_forward_cpu(float* out, int32_t* argmax, const float* x, const PoolGeometry& g);
// dx[p, argmax[p, o]] += dout[p, o].  dx: (planes, D, H, W); dout, argmax: (planes, oD, oH, oW).
// add_dx false: dx is a new gradient (need not be initialised, autograd/engine.h grad_out): each plane is zeroed
// just before its outputs are scattered into it, while it is in cache (no separate zero-fill pass).
void max_pool3d_backward_cpu(float* dx, const float* dout, const int32_t* argmax, bool add_dx, const PoolGeometry& g);

// Average pooling, divisor kd*kh*kw (padded positions count as zeros).
// x: (planes, D, H, W); out: (planes, oD, oH, oW).
void avg_pool3d_forward_cpu(float* out, const float* x, const PoolGeometry& g);
// dx[window of o] += dout[o] / (kd*kh*kw).  dx: (planes, D, H, W); dout: (planes, oD, oH, oW).
void avg_pool3d_backward_cpu(float* dx, const float* dout, const PoolGeometry& g);

// Max over the middle axis: out[p, i] = max_t x[p, t, i], argmax[p, i] = winning t (first on ties,
// NaN wins, as max_pool3d with a (T,1,1) window). x: (planes, T, inner); out, argmax: (planes, inner);
// argmax may be nullptr.
void temporal_max_pool_forward_cpu(float* out, int32_t* argmax, const float* x, int64_t planes, int64_t T,
                                   int64_t inner);
// dx[p, argmax[p, i], i] += dout[p, i].  dx: (planes, T, inner); dout, argmax: (planes, inner).
// add_dx false: dx is written (dout at the winners, 0 elsewhere; it need not be initialised).
void temporal_max_pool_backward_cpu(float* dx, const float* dout, const int32_t* argmax, bool add_dx, int64_t planes,
                                    int64_t T, int64_t inner);
// Mean over the middle axis: out[p, i] = (1/T) sum_t x[p, t, i]. x: (planes, T, inner); out: (planes, inner).
void temporal_avg_pool_forward_cpu(float* out, const float* x, int64_t planes, int64_t T, int64_t inner);
// dx[p, t, i] += dout[p, i] / T.
void temporal_avg_pool_backward_cpu(float* dx, const float* dout, int64_t planes, int64_t T, int64_t inner);
// Mean of each plane: out[p] = (1/inner) sum_i x[p, i] (accumulated in double). x: (planes, inner).
void global_avg_pool_forward_cpu(float* out, const float* x, int64_t planes, int64_t inner);
// dx[p, i] += dout[p] / inner.
void global_avg_pool_backward_cpu(float* dx, const float* dout, int64_t planes, int64_t inner);

// Nearest up-sampling by an integer factor s: out[p, i, j] = x[p, i / s, j / s].
// x: (planes, H, W); out: (planes, s*H, s*W).
void upsample_nearest2d_forward_cpu(float* out, const float* x, int64_t planes, int64_t H, int64_t W, int s);
// dx[p, i, j] += sum of dout over the s x s block it was copied to (= where add_dx is false: dx need not be
// initialised). dout: (planes, s*H, s*W).
void upsample_nearest2d_backward_cpu(float* dx, const float* dout, bool add_dx, int64_t planes, int64_t H, int64_t W,
                                     int s);

#ifdef SSMTL_WITH_CUDA
void max_pool3d_forward_cuda(float* out, int32_t* argmax, const float* x, const PoolGeometry& g);
void max_pool3d_backward_cuda(float* dx, const float* dout, const int32_t* argmax, bool add_dx, const PoolGeometry& g);
void avg_pool3d_forward_cuda(float* out, const float* x, const PoolGeometry& g);
void avg_pool3d_backward_cuda(float* dx, const float* dout, const PoolGeometry& g);
void temporal_max_pool_forward_cuda(float* out, int32_t* argmax, const float* x, int64_t planes, int64_t T,
                                    int64_t inner);
void temporal_max_pool_backward_cuda(float* dx, const float* dout, const int32_t* argmax, bool add_dx,
                                     int64_t planes, int64_t T, int64_t inner);
void temporal_avg_pool_forward_cuda(float* out, const float* x, int64_t planes, int64_t T, int64_t inner);
void temporal_avg_pool_backward_cuda(float* dx, const float* dout, int64_t planes, int64_t T, int64_t inner);
void global_avg_pool_forward_cuda(float* out, const float* x, int64_t planes, int64_t inner);
void global_avg_pool_backward_cuda(float* dx, const float* dout, int64_t planes, int64_t inner);
void upsample_nearest2d_forward_cuda(float* out, const float* x, int64_t planes, int64_t H, int64_t W, int s);
void upsample_nearest2d_backward_cuda(float* dx, const float* dout, bool add_dx, int64_t planes, int64_t H, int64_t W,
                                      int s);
#endif

}  // namespace ssmtl::kernels
