// Matrix products on raw float pointers: general GEMM (BLAS sgemm semantics, row-major), and the kernels of
// the differentiable ops linear (PyTorch nn.functional.linear: y = x W^T + b) and matmul (batched a @ b).
// Formulas: y = x W^T + b; dx = dy W, dW = dy^T x, db = sum over rows of dy; for c = a b: da = dc b^T,
// db = a^T dc (summed over the batch when b is shared).
//
// Threading policy of the CPU backend: the engine parallelises with OpenMP only. OpenBLAS is switched to one
// thread at the first product (its own pthread pool next to OpenMP's would oversubscribe the cores, and the
// spinning of one pool steals the cores of the other). gemm_cpu and the op kernels split their output across
// the OpenMP threads; gemm_serial_cpu runs on the calling thread, for kernels that are already inside an
// OpenMP region (per-sample convolution). Results are deterministic for a fixed thread count: each output
// element is computed by one thread in a fixed order.
//
// Backward kernels ADD into the gradient buffers they are given (never assign); a null gradient pointer means
// "not needed" and is skipped.
#pragma once
#include <cstdint>

#include "kernels/dispatch.h"

namespace ssmtl::kernels {

// C = alpha * op(A) op(B) + beta * C, row-major. op(A): (M, K), op(B): (K, N), C: (M, N) with row stride ldc.
// A is stored (M, K) with row stride lda, or (K, M) when trans_a; B is stored (K, N) with row stride ldb, or
// (N, K) when trans_b. beta = 0 ignores the old content of C (it may be uninitialised).
// CPU only, single-threaded (no CUDA twin: CUDA kernels call cuBLAS themselves).
void gemm_serial_cpu(float* c, const float* a, const float* b, int64_t M, int64_t N, int64_t K, bool trans_a,
                     bool trans_b, float alpha, float beta, int64_t lda, int64_t ldb, int64_t ldc);
// The same product, C split across the OpenMP threads (serial when small or already inside a parallel region).
void gemm_cpu(float* c, const float* a, const float* b, int64_t M, int64_t N, int64_t K, bool trans_a,
              bool trans_b, float alpha, float beta, int64_t lda, int64_t ldb, int64_t ldc);

// linear: x (M, in), w (out, in), bias (out) or nullptr; y (M, out) = x w^T + bias
void linear_forward_cpu(float* y, const float* x, const float* w, const float* bias, int64_t M, int64_t in,
                        int64_t out);
// The CvT's MLP input layer, linear then GELU (erf form, as gelu_forward_cpu), in one pass: z (M, out) = x w^T
// + bias, y (M, out) = gelu(z), bitwise linear_forward_cpu then gelu_forward_cpu. Each block of output rows is
// turned into y while it is still in cache (the AVX-512 panel path; elsewhere the two kernels run in turn).
// z may be nullptr (no backward: y is the only output); y and z must not overlap.
void linear_gelu_forward_cpu(float* y, float* z, const float* x, const float* w, const float* bias, int64_t M,
                             int64_t in, int64_t out);
// The MLP half of a CvT block at inference (model/cvt.cpp CvtBlock::forward, no gradients):
//   y = x + gelu(layer_norm(x) w1^T + b1) w2^T + b2
// bitwise layer_norm_forward_cpu, linear_gelu_forward_cpu, linear_forward_cpu and add_forward_cpu in turn, in
// either precision (kernels/precision.h). Rows run in chunks of kMlpChunkRows through all four kernels, each
// thread on its own chunks, so the LayerNorm output and the hidden layer of a chunk stay in its L2
// (docs/RESULTS.md section 37). Called inside a parallel region it runs the four kernels in turn, whose products
// are then OpenBLAS's fp32 ones in either precision (as linear_forward_cpu there).
// y, x: (M, D) row-major, not overlapping; ln_gamma, ln_beta: (D) or nullptr (1, 0); eps: LayerNorm's epsilon;
// w1: (H, D), b1: (H); w2: (D, H), b2: (D); b1, b2 may be nullptr. M or D of 0: nothing to do. Throws
// std::bad_alloc from the packing of the weights (a failed allocation inside the parallel region terminates).
constexpr int64_t kMlpChunkRows = 128;
void mlp_residual_forward_cpu(float* y, const float* x, const float* ln_gamma, const float* ln_beta, float eps,
                              const float* w1, const float* b1, const float* w2, const float* b2, int64_t M,
                              int64_t D, int64_t H);
// dx (M, in) += dy w ; dw (out, in) += dy^T x ; dbias (out) += column sums of dy (M, out).
// add_dx false: dx = dy w (dx need not be initialised: a new gradient, autograd/engine.h grad_out).
// Each of dx, dw, dbias may be nullptr.
void linear_backward_cpu(float* dx, float* dw, float* dbias, const float* dy, const float* x, const float* w,
                         bool add_dx, int64_t M, int64_t in, int64_t out);

// matmul: a (batch, M, K), b (batch, K, N) or, when b_shared, one b (K, N) for every batch item;
// c (batch, M, N) = a @ b
void matmul_forward_cpu(float* c, const float* a, const float* b, int64_t batch, int64_t M, int64_t K, int64_t N,
                        bool b_shared);
// da (batch, M, K) += dc b^T ; db (batch, K, N) += a^T dc (b_shared: db (K, N) += sum over the batch).
// da or db may be nullptr.
void matmul_backward_cpu(float* da, float* db, const float* dc, const float* a, const float* b, int64_t batch,
                         int64_t M, int64_t K, int64_t N, bool b_shared);

#ifdef SSMTL_WITH_CUDA
void gemm_cuda(float* c, const float* a, const float* b, int64_t M, int64_t N, int64_t K, bool trans_a,
               bool trans_b, float alpha, float beta, int64_t lda, int64_t ldb, int64_t ldc);
void linear_forward_cuda(float* y, const float* x, const float* w, const float* bias, int64_t M, int64_t in,
                         int64_t out);
void linear_gelu_forward_cuda(float* y, float* z, const float* x, const float* w, const float* bias, int64_t M,
                              int64_t in, int64_t out);
void mlp_residual_forward_cuda(float* y, const float* x, const float* ln_gamma, const float* ln_beta, float eps,
                               const float* w1, const float* b1, const float* w2, const float* b2, int64_t M,
                               int64_t D, int64_t H);
void linear_backward_cuda(float* dx, float* dw, float* dbias, const float* dy, const float* x, const float* w,
                          bool add_dx, int64_t M, int64_t in, int64_t out);
void matmul_forward_cuda(float* c, const float* a, const float* b, int64_t batch, int64_t M, int64_t K, int64_t N,
                         bool b_shared);
void matmul_backward_cuda(float* da, float* db, const float* dc, const float* a, const float* b, int64_t batch,
                          int64_t M, int64_t K, int64_t N, bool b_shared);
#endif

}  // namespace ssmtl::kernels
