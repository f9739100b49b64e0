// Loss kernels with PyTorch semantics (torch.nn.functional.cross_entropy, l1_loss, mse_loss; mean reduction).
// Outputs first, then inputs, then sizes. Sums are accumulated in double in a fixed order (deterministic for
// any thread count). Backward kernels ADD into the gradient buffers they are given (never assign); a nullptr
// gradient buffer is skipped.
#pragma once
#include <cstdint>

#include "kernels/dispatch.h"

namespace ssmtl::kernels {

// ---- cross-entropy of logits (N, K), log-sum-exp with the row maximum m subtracted (no overflow) ----
// Row loss_n = (m_n - logits[n, t_n]) + log sum_k exp(logits[n, k] - m_n): the difference first, so logits
// [1000, -1000] with target 1 give exactly 2000. Backward recomputes m and the sum from the logits rather
// than saving lse = m + log sum, whose rounding at large m would shift every probability.
// loss: (1) mean over rows ; logits: (N, K) ;
// targets: (N) class indices stored as floats (exact below 2^24, so they live on any device), already validated.
void cross_entropy_forward_cpu(float* loss, const float* logits, const float* targets, int64_t N, int64_t K);
// dlogits[n, k] += dloss[0] / N * (softmax(logits)[n, k] - [k == t_n])
// dlogits, logits: (N, K) ; dloss: (1) ; targets: (N)
void cross_entropy_backward_cpu(float* dlogits, const float* dloss, const float* logits, const float* targets,
                                int64_t N, int64_t K);
// Soft targets (probabilities; PyTorch >= 1.10 semantics): loss = mean_n sum_k -probs[n, k] log_softmax(logits)[n, k]
// loss: (1) ; logits, probs: (N, K)
void cross_entropy_soft_forward_cpu(float* loss, const float* logits, const float* probs, int64_t N, int64_t K);
// dlogits[n, k] += dloss / N * (softmax[n, k] sum_j probs[n, j] - probs[n, k]) ;
// dprobs[n, k]  += dloss / N * -log_softmax(logits)[n, k]
void cross_entropy_soft_backward_cpu(float* dlogits, float* dprobs, const float* dloss, const float* logits,
                                     const float* probs, int64_t N, int64_t K);

// ---- distances between a and b viewed as (rows, cols): one mean per row ----
// rows = 1 gives the mean loss over all elements; rows = N the per-sample losses.
// out[r] = mean_c |a - b|            out: (rows) ; a, b: (rows, cols)
void l1_forward_cpu(float* out, const float* a, const float* b, int64_t rows, int64_t cols);
// da += dout[r] / cols * sign(a - b) ; db -= the same ; sign(0) = 0 (PyTorch's subgradient at equality)
void l1_backward_cpu(float* da, float* db, const float* dout, const float* a, const float* b, int64_t rows,
                     int64_t cols);
// out[r] = mean_c (a - b)^2
void mse_forward_cpu(float* out, const float* a, const float* b, int64_t rows, int64_t cols);
// da += dout[r] * 2 (a - b) / cols ; db -= the same
void mse_backward_cpu(float* da, float* db, const float* dout, const float* a, const float* b, int64_t rows,
                      int64_t cols);

#ifdef SSMTL_WITH_CUDA
void cross_entropy_forward_cuda(float* loss, const float* logits, const float* targets, int64_t N, int64_t K);
void cross_entropy_backward_cuda(float* dlogits, const float* dloss, const float* logits, const float* targets,
                                 int64_t N, int64_t K);
void cross_entropy_soft_forward_cuda(float* loss, const float* logits, const float* probs, int64_t N, int64_t K);
void cross_entropy_soft_backward_cuda(float* dlogits, float* dprobs, const float* dloss, const float* logits,
                                      const float* probs, int64_t N, int64_t K);
void l1_forward_cuda(float* out, const float* a, const float* b, int64_t rows, int64_t cols);
void l1_backward_cuda(float* da, float* db, const float* dout, const float* a, const float* b, int64_t rows,
                      int64_t cols);
void mse_forward_cuda(float* out, const float* a, const float* b, int64_t rows, int64_t cols);
void mse_backward_cuda(float* da, float* db, const float* dout, const float* a, const float* b, int64_t rows,
                       int64_t cols);
#endif

}  // namespace ssmtl::kernels
