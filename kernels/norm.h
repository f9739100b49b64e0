// Normalisation kernels: batch normalisation (Ioffe & Szegedy 2015; PyTorch BatchNorm1d/2d/3d semantics)
// and layer normalisation over the last dimension (Ba et al. 2016; PyTorch LayerNorm semantics).
// Outputs first, then inputs, then sizes. Batch norm's statistics are accumulated in double (mean, then centred
// squares), each channel in a fixed order; layer norm's per-row sums (D terms, centred first) in float over 16
// fixed lanes (kernels/cpu/layer_norm.cpp): results do not depend on the thread count.
// Backward kernels ADD into the gradient buffers they are given, except dx where an add_dx flag is false (then
// dx is written: a new gradient); a nullptr gradient buffer means "not needed" and is skipped. gamma / beta may be nullptr (no affine transform: gamma 1, beta 0).
#pragma once
#include <cstdint>

#include "kernels/dispatch.h"

namespace ssmtl::kernels {

// ---- batch norm. x viewed as (N, C, inner): inner = product of the spatial sizes (1 for (N, C)). ----

// Per-channel batch mean and biased variance over (N, inner).
// mean, var: (C) ; x: (N, C, inner)
void batch_norm_stats_cpu(float* mean, float* var, const float* x, int64_t N, int64_t C, int64_t inner);
// PyTorch running-statistics rule: r_mean = (1 - m) r_mean + m mean ; r_var = (1 - m) r_var + m var * M / (M - 1)
// (unbiased variance, M = N * inner values per channel, M > 1). All buffers (C).
void batch_norm_update_running_cpu(float* running_mean, float* running_var, const float* mean, const float* var,
                                   float momentum, int64_t M, int64_t C);
// invstd[c] = 1 / sqrt(var[c] + eps) (computed in double). invstd, var: (C)
void batch_norm_invstd_cpu(float* invstd, const float* var, float eps, int64_t C);
// y = (x - mean[c]) * invstd[c] * gamma[c] + beta[c]
// y, x: (N, C, inner) ; mean, invstd, gamma, beta: (C)
void batch_norm_forward_cpu(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                            const float* beta, int64_t N, int64_t C, int64_t inner);
// With xhat = (x - mean) * invstd and g = gamma (1 if nullptr):
//   dgamma[c] += sum dy * xhat ; dbeta[c] += sum dy  (sums over N and inner)
//   batch statistics (batch_stats true, training): dx += g invstd / M * (M dy - sum dy - xhat sum dy xhat)
//   fixed statistics (running stats, eval):        dx += g invstd dy
// add_dx false: dx = ... instead of dx += ... (dx need not be initialised: a new gradient, autograd/engine.h
// grad_out); dgamma / dbeta are always added into.
// dx, dy, x: (N, C, inner) ; dgamma, dbeta, mean, invstd, gamma: (C)
void batch_norm_backward_cpu(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                             const float* mean, const float* invstd, const float* gamma, bool batch_stats,
                             bool add_dx, int64_t N, int64_t C, int64_t inner);

// Batch norm fused with the ReLU that follows it in the model's conv -> BN -> ReLU blocks: the ReLU's own passes
// over memory (and the intermediate tensor and its gradient) are gone; the forward applies max(0, .) as it writes,
// the backward masks dy as it reads it, recomputing the sign of the pre-activation from x (the same fused
// multiply-add as the forward), so it reads no more than plain batch norm's backward. Same float expressions and
// summation order as batch_norm_forward_cpu / relu_forward_cpu and relu_backward_cpu / batch_norm_backward_cpu,
// so the results are bitwise those of the unfused composition (any thread count).
// y = max(0, fma(x - mean[c], invstd[c] * gamma[c], beta[c]))   (NaN -> 0, as relu_forward_cpu)
// y, x: (N, C, inner) ; mean, invstd, gamma, beta: (C)
void batch_norm_relu_forward_cpu(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                                 const float* beta, int64_t N, int64_t C, int64_t inner);
// batch_norm_backward_cpu with dy replaced by dy_relu = (y > 0 ? dy : 0) (relu'(0) = 0, PyTorch), y being
// the fused forward's output for the same x, mean, invstd, gamma, beta (recomputed, not read): ADDS into dx
// (writes it when add_dx is false), dgamma, dbeta; a nullptr gradient buffer is skipped; gamma / beta nullptr =
// 1 / 0, as in the forward.
// dx, dy, x: (N, C, inner) ; dgamma, dbeta, mean, invstd, gamma, beta: (C)
void batch_norm_relu_backward_cpu(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                                  const float* mean, const float* invstd, const float* gamma, const float* beta,
                                  bool batch_stats, bool add_dx, int64_t N, int64_t C, int64_t inner);

// The input gradient of batch norm with statistics and sums taken over more samples than x holds (synchronised
// batch norm across processes): dx += g invstd / M * (M dy - sum_dy - xhat sum_dy_xhat), xhat = (x - mean) invstd,
// with sum_dy, sum_dy_xhat (C) and M (values per channel) of all processes. CPU only.
// dx, dy, x: (N, C, inner) ; mean, invstd, gamma: (C) (gamma may be nullptr) ; sum_dy, sum_dy_xhat: (C)
void batch_norm_backward_input_cpu(float* dx, const float* dy, const float* x, const float* mean, const float* invstd,
                                   const float* gamma, const double* sum_dy, const double* sum_dy_xhat, int64_t M,
                                   int64_t N, int64_t C, int64_t inner);

// ---- layer norm over the last dimension. x viewed as (rows, D). ----

// mean[r], invstd[r] = 1 / sqrt(biased var + eps) of row r; y = (x - mean) * invstd * gamma[d] + beta[d]
// y, x: (rows, D) ; mean, invstd: (rows) ; gamma, beta: (D)
void layer_norm_forward_cpu(float* y, float* mean, float* invstd, const float* x, const float* gamma,
                            const float* beta, float eps, int64_t rows, int64_t D);
// With xhat = (x - mean) invstd and g = dy * gamma:
//   dx += invstd / D * (D g - sum_d g - xhat sum_d g xhat) ; dgamma[d] += sum_r dy xhat ; dbeta[d] += sum_r dy
// add_dx false: dx = ... instead of dx += ... (dx need not be initialised: a new gradient).
// dx, dy, x: (rows, D) ; mean, invstd: (rows) ; dgamma, dbeta, gamma: (D)
void layer_norm_backward_cpu(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                             const float* mean, const float* invstd, const float* gamma, bool add_dx, int64_t rows,
                             int64_t D);

#ifdef SSMTL_WITH_CUDA
void batch_norm_stats_cuda(float* mean, float* var, const float* x, int64_t N, int64_t C, int64_t inner);
void batch_norm_update_running_cuda(float* running_mean, float* running_var, const float* mean, const float* var,
                                    float momentum, int64_t M, int64_t C);
void batch_norm_invstd_cuda(float* invstd, const float* var, float eps, int64_t C);
void batch_norm_forward_cuda(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                             const float* beta, int64_t N, int64_t C, int64_t inner);
void batch_norm_backward_cuda(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                              const float* mean, const float* invstd, const float* gamma, bool batch_stats,
                              bool add_dx, int64_t N, int64_t C, int64_t inner);
void batch_norm_relu_forward_cuda(float* y, const float* x, const float* mean, const float* invstd,
                                  const float* gamma, const float* beta, int64_t N, int64_t C, int64_t inner);
void batch_norm_relu_backward_cuda(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                                   const float* mean, const float* invstd, const float* gamma, const float* beta,
                                   bool batch_stats, bool add_dx, int64_t N, int64_t C, int64_t inner);
void layer_norm_forward_cuda(float* y, float* mean, float* invstd, const float* x, const float* gamma,
                             const float* beta, float eps, int64_t rows, int64_t D);
void layer_norm_backward_cuda(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                              const float* mean, const float* invstd, const float* gamma, bool add_dx, int64_t rows,
                              int64_t D);
#endif

}  // namespace ssmtl::kernels
