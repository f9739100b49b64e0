// Batch norm + ReLU + (1,2,2) max pooling as one op: the end of each stage of the backbone's 3D CNN
// (conv -> BN -> ReLU -> max_pool3d window (1,2,2), stride (1,2,2), no padding), for training.
// Outputs first, then inputs, then sizes. x is the convolution's output (pre-normalisation), NCDHW.
//
// Why: unfused, the ReLU's full-resolution output y is written, read back by the pooling, and in backward its
// gradient is written at full resolution (zeros except one position per window) and read twice by batch norm's
// backward. Here the forward writes the pooled outputs only, and the backward's per-channel sums run over the
// pooled windows (the other three positions of a window have a zero gradient), so about half the bytes move.
//
// Semantics: out = max_pool3d(relu(batch_norm(x)), (1,2,2)) with torch's rules (PyTorch max_pool3d: floor
// output size, so an odd last row / column is never pooled and gets no gradient from the pooling; ties keep the
// first candidate in the order (h, w), (h, w+1), (h+1, w), (h+1, w+1); relu'(0) = 0). The forward's outputs are
// bitwise those of the unfused ops (kernels/norm.h batch_norm_relu_forward_cpu then kernels/pool.h
// max_pool3d_forward_cpu); the backward's values are theirs up to the order of its per-channel double sums. One
// difference on the CPU: a NaN in x that does not win its window does not enter the sums here (unfused, and in the
// CUDA twin, which sums over every element, 0 * NaN makes the channel's sums NaN); with batch statistics its NaN
// mean makes everything NaN everywhere.
#pragma once
#include <cstdint>

#include "kernels/dispatch.h"

namespace ssmtl::kernels {

// y = max(0, fma(x - mean[c], invstd[c] gamma[c], beta[c])) (kernels/norm.h), then per window of 2 x 2 of y:
//   out = its maximum, idx = the winner's position in the window (0..3: 2 * row + column), xmax = x at the
//   winner (the backward recomputes the ReLU mask and x - mean from it).
// x: (N, C, D, H, W) ; out, xmax: (N, C, D, H/2, W/2) float ; idx: (N, C, D, H/2, W/2) bytes ;
// mean, invstd, gamma, beta: (C) (gamma / beta nullptr = 1 / 0). H, W >= 2.
void batch_norm_relu_pool_forward_cpu(float* out, uint8_t* idx, float* xmax, const float* x, const float* mean,
                                      const float* invstd, const float* gamma, const float* beta, int64_t N,
                                      int64_t C, int64_t D, int64_t H, int64_t W);
// The backward of the forward above: dy (the gradient of y) is dout at each window's winner where y > 0 and 0
// elsewhere, then batch norm's backward (kernels/norm.h batch_norm_backward_cpu): with xhat = (x - mean) invstd
//   dgamma[c] += sum dy xhat ; dbeta[c] += sum dy  (sums over the windows' winners, in double)
//   batch statistics: dx += g invstd / M (M dy - sum dy - xhat sum dy xhat), M = N D H W ; fixed: dx += g invstd dy
// add_dx false: dx = ... (dx need not be initialised). A nullptr gradient buffer is skipped.
// dx, x: (N, C, D, H, W) ; dout, xmax, idx: (N, C, D, H/2, W/2) as the forward wrote them ; dgamma, dbeta, mean,
// invstd, gamma, beta: (C).
void batch_norm_relu_pool_backward_cpu(float* dx, float* dgamma, float* dbeta, const float* dout, const uint8_t* idx,
                                       const float* xmax, const float* x, const float* mean, const float* invstd,
                                       const float* gamma, const float* beta, bool batch_stats, bool add_dx, int64_t N,
                                       int64_t C, int64_t D, int64_t H, int64_t W);

#ifdef SSMTL_WITH_CUDA
void batch_norm_relu_pool_forward_cuda(float* out, uint8_t* idx, float* xmax, const float* x, const float* mean,
                                       const float* invstd, const float* gamma, const float* beta, int64_t N,
                                       int64_t C, int64_t D, int64_t H, int64_t W);
void batch_norm_relu_pool_backward_cuda(float* dx, float* dgamma, float* dbeta, const float* dout,
                                        const uint8_t* idx, const float* xmax, const float* x, const float* mean,
                                        const float* invstd, const float* gamma, const float* beta, bool batch_stats,
                                        bool add_dx, int64_t N, int64_t C, int64_t D, int64_t H, int64_t W);
#endif

}  // namespace ssmtl::kernels
