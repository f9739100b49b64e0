// CUDA twins of kernels/matmul.h (same signatures, device pointers): cuBLAS SGEMM (plain FP32, no TF32)
// through the row-major wrappers of kernels/cuda/common.cuh. Backward products accumulate with beta = 1.
// Bias gradients use the deterministic column sums of kernels/cuda/reduce.cuh.
#include "kernels/cuda/reduce.cuh"
#include "kernels/activation.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "kernels/norm.h"

namespace ssmtl::kernels {

void gemm_cuda(float* c, const float* a, const float* b, int64_t M, int64_t N, int64_t K, bool trans_a,
               bool trans_b, float alpha, float beta, int64_t lda, int64_t ldb, int64_t ldc) {
  cuda::gemm_rm(trans_a, trans_b, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}

void linear_forward_cuda(float* y, const float* x, const float* w, const float* bias, int64_t M, int64_t in,
                         int64_t out) {
  cuda::gemm_rm(false, true, M, out, in, 1.f, x, in, w, in, 0.f, y, out);   // y = x w^T
  if (bias && M * out > 0) add_channel_bias_cuda(y, y, bias, M, out, 1);
}

// The GELU runs as its own kernel over the product (cuBLAS has no epilogue here; cuBLASLt's GELU epilogue is
// the tanh approximation, not the erf form): the same values as linear_forward_cuda then gelu_forward_cuda.
void linear_gelu_forward_cuda(float* y, float* z, const float* x, const float* w, const float* bias, int64_t M,
                              int64_t in, int64_t out) {
  float* pre = z ? z : y;
  linear_forward_cuda(pre, x, w, bias, M, in, out);
  if (M * out > 0) gelu_forward_cuda(y, pre, M * out);
}

void mlp_residual_forward_cuda(float* y, const float* x, const float* ln_gamma, const float* ln_beta, float eps,
                               const float* w1, const float* b1, const float* w2, const float* b2, int64_t M,
                               int64_t D, int64_t H) {
  // The composition on scratch buffers: on the GPU the hidden layer is a small share of memory traffic, and the
  // same kernels as the unfused path keep the two paths' bits together.
  if (M <= 0) return;
  cuda::Scratch<float> a(static_cast<size_t>(M * D)), h(static_cast<size_t>(M * H)), m(static_cast<size_t>(M * D));
  cuda::Scratch<float> stats(static_cast<size_t>(2 * M));
  layer_norm_forward_cuda(a.get(), stats.get(), stats.get() + M, x, ln_gamma, ln_beta, eps, M, D);
  linear_gelu_forward_cuda(h.get(), nullptr, a.get(), w1, b1, M, D, H);
  linear_forward_cuda(m.get(), h.get(), w2, b2, M, H, D);
  add_forward_cuda(y, x, m.get(), 1.f, M * D);
}

void linear_backward_cuda(float* dx, float* dw, float* dbias, const float* dy, const float* x, const float* w,
                          bool add_dx, int64_t M, int64_t in, int64_t out) {
  if (dx) cuda::gemm_rm(false, false, M, in, out, 1.f, dy, out, w, in, add_dx ? 1.f : 0.f, dx, in);   // dx (+)= dy w
  if (dw) cuda::gemm_rm(true, false, out, in, M, 1.f, dy, out, x, in, 1.f, dw, in);    // dw += dy^T x
  if (dbias) cuda::column_sums_add(dbias, dy, M, out);
}

void matmul_forward_cuda(float* c, const float* a, const float* b, int64_t batch, int64_t M, int64_t K, int64_t N,
                         bool b_shared) {
  if (b_shared)   // one product with the batch folded into the rows of a
    cuda::gemm_rm(false, false, batch * M, N, K, 1.f, a, K, b, N, 0.f, c, N);
  else
    cuda::gemm_rm_batched(false, false, M, N, K, 1.f, a, K, M * K, b, N, K * N, 0.f, c, N, M * N, batch);
}

void matmul_backward_cuda(float* da, float* db, const float* dc, const float* a, const float* b, int64_t batch,
                          int64_t M, int64_t K, int64_t N, bool b_shared) {
  if (b_shared) {
    if (da) cuda::gemm_rm(false, true, batch * M, K, N, 1.f, dc, N, b, N, 1.f, da, K);   // da += dc b^T
    if (db) cuda::gemm_rm(true, false, K, N, batch * M, 1.f, a, K, dc, N, 1.f, db, N);   // db += sum a^T dc
    return;
  }
  if (da) cuda::gemm_rm_batched(false, true, M, K, N, 1.f, dc, N, M * N, b, N, K * N, 1.f, da, K, M * K, batch);
  if (db) cuda::gemm_rm_batched(true, false, K, N, M, 1.f, a, K, M * K, dc, N, M * N, 1.f, db, N, K * N, batch);
}

}  // namespace ssmtl::kernels
