// Shared pieces of the CUDA kernels: grid-stride loops, deterministic warp/block reductions, scratch
// buffers from the caching allocator, and row-major GEMM wrappers over cuBLAS.
//
// Determinism: every reduction here sums in a fixed order (fixed tree over lanes and warps, partial sums
// over fixed segments added in index order); nothing uses atomicAdd on floats, so a run repeats bit for
// bit on the same GPU.
// Streams: everything runs on the legacy default stream, so a scratch block released to the caching
// allocator and handed out again is only touched by later kernels after the earlier ones finished.
#pragma once
#include <cstdint>

#include "kernels/cuda/check.cuh"
#include "tensor/device.h"

#define SSMTL_GRID_LOOP(i, n)                                                         \
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (long long)(n); \
       i += (long long)gridDim.x * blockDim.x)

// One thread per element for an elementwise kernel written with SSMTL_GRID_LOOP (nothing launched for n = 0), then
// the launch's error check. Used inside namespace ssmtl::kernels.
#define SSMTL_LAUNCH(kernel, n, ...)                                           \
  do {                                                                        \
    if ((n) > 0) kernel<<<cuda::grid_for(n), cuda::kThreads>>>(__VA_ARGS__);  \
    CUDA_CHECK_LAST();                                                        \
  } while (0)

namespace ssmtl::cuda {

constexpr int kThreads = 256;

// Device scratch of n elements of T (float or double) from the caching allocator, released at scope exit.
template <class T>
class Scratch {
 public:
  static_assert(sizeof(T) % sizeof(float) == 0, "Scratch holds whole floats");
  explicit Scratch(size_t n) : floats_(n * (sizeof(T) / sizeof(float))), p_(alloc(floats_)) {}
  ~Scratch() { free(p_, floats_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* get() const { return reinterpret_cast<T*>(p_); }
 private:
  size_t floats_;
  float* p_;
};

// Sum over the 32 lanes of a warp, the same value returned to every lane (butterfly: fixed order).
template <class T>
__device__ inline T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Maximum over the lanes of a warp (`u > v ? u : v`, as the CPU row maxima); every lane gets the result.
__device__ inline float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) {
    const float u = __shfl_xor_sync(0xffffffffu, v, o);
    v = u > v ? u : v;
  }
  return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024), returned to every thread.
// Every thread of the block must call it; `shared` holds 32 values.
template <class T>
__device__ inline T block_sum(T v, T* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();   // `shared` may still be read by a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  T s = lane < warps ? shared[lane] : T(0);
  return warp_sum(s);
}

// Grid size for `rows` work items handled `per_block` at a time, capped (kernels loop over the rest).
inline unsigned blocks_for(long long rows, int per_block) {
  long long g = (rows + per_block - 1) / per_block;
  if (g > 65535LL * 16) g = 65535LL * 16;
  return static_cast<unsigned>(g < 1 ? 1 : g);
}

// ---- elementwise maps over a (outer, C, inner) tensor that need each element's channel ----
// channel_map(outer, C, inner, op) runs op(i, c) once for every flat offset i, c = (i / inner) % C, without a
// division per element: blockIdx.y / threadIdx.y enumerate the planes p = n C + c (grid-stride: gridDim.y
// is at most 65535), c advanced with the plane (one division per thread), and blockIdx.x / threadIdx.x run
// over the plane's contiguous inner extent. Blocks are 256 threads, (tx, 256 / tx) with tx the power of two
// >= inner (32 to 256) so short planes (e.g. 112 values) still fill most lanes. Below 32 values per plane
// (e.g. (N, C) inputs) a flat grid-stride loop computes c per element instead. op is a functor with a
// __device__ operator()(long long i, long long c) (device lambdas would need --extended-lambda).
template <class Op>
__global__ void channel_map_planes_k(long long planes, long long C, long long inner, Op op) {
  const long long step = static_cast<long long>(gridDim.y) * blockDim.y, dc = step % C;
  long long p = static_cast<long long>(blockIdx.y) * blockDim.y + threadIdx.y, c = p % C;
  for (; p < planes; p += step) {
    const long long base = p * inner;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < inner;
         i += static_cast<long long>(gridDim.x) * blockDim.x)
      op(base + i, c);
    c += dc;
    if (c >= C) c -= C;
  }
}

template <class Op>
__global__ void channel_map_flat_k(long long n, long long C, long long inner, Op op) {
  SSMTL_GRID_LOOP(i, n) op(i, (i / inner) % C);
}

template <class Op>
void channel_map(long long outer, long long C, long long inner, Op op) {
  const long long planes = outer * C;
  if (planes == 0 || inner == 0) return;
  if (inner < 32) {
    channel_map_flat_k<<<grid_for(planes * inner, kThreads), kThreads>>>(planes * inner, C, inner, op);
  } else {
    unsigned tx = 32;
    while (tx < static_cast<unsigned>(kThreads) && tx < inner) tx *= 2;
    const unsigned ty = kThreads / tx;
    const long long gx = (inner + tx - 1) / tx, gy = (planes + ty - 1) / ty;
    const dim3 grid(static_cast<unsigned>(gx < 65535 ? gx : 65535), static_cast<unsigned>(gy < 65535 ? gy : 65535));
    channel_map_planes_k<<<grid, dim3(tx, ty)>>>(planes, C, inner, op);
  }
  CUDA_CHECK_LAST();
}

// ---- row-major GEMM over cuBLAS (column-major): C = A B  <=>  C^T = B^T A^T, so the operands swap. ----
// C (M, N) = alpha op(A) op(B) + beta C. op(A): (M, K), stored (M, K) with row stride lda, or (K, M) when
// ta; op(B): (K, N), stored (K, N) with row stride ldb, or (N, K) when tb; C row stride ldc.
// Plain FP32 (the handle keeps cuBLAS's default math mode: no TF32).
// cuBLAS takes int sizes: a size or leading dimension above INT_MAX would wrap silently, so it throws.
inline void check_gemm_ints(int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb, int64_t ldc) {
  for (int64_t v : {M, N, K, lda, ldb, ldc})
    if (v > 2147483647LL)
      throw std::runtime_error("cuBLAS GEMM: size " + std::to_string(v) + " exceeds int (M " + std::to_string(M) +
                               ", N " + std::to_string(N) + ", K " + std::to_string(K) + ")");
}

inline void gemm_rm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                    const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  check_gemm_ints(M, N, K, lda, ldb, ldc);
  if (K == 0) {   // empty inner dimension: C = beta C; only beta 0 and 1 occur here
    if (beta == 0.f)
      CUDA_CHECK(cudaMemset2D(C, ldc * sizeof(float), 0, N * sizeof(float), static_cast<size_t>(M)));
    return;
  }
  CUDA_CHECK(cublasSgemm(cublas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                         static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &alpha, B,
                         static_cast<int>(ldb), A, static_cast<int>(lda), &beta, C, static_cast<int>(ldc)));
}

// The same for `batch` independent products; operand i starts at A + i * sa, B + i * sb, C + i * sc
// (a stride of 0 shares that operand).
inline void gemm_rm_batched(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                            int64_t lda, int64_t sa, const float* B, int64_t ldb, int64_t sb, float beta, float* C,
                            int64_t ldc, int64_t sc, int64_t batch) {
  if (M == 0 || N == 0 || batch == 0) return;
  check_gemm_ints(M, N, K, lda, ldb, ldc);
  if (K == 0) {
    for (int64_t i = 0; i < batch; ++i) gemm_rm(ta, tb, M, N, 0, alpha, A, lda, B, ldb, beta, C + i * sc, ldc);
    return;
  }
  constexpr int64_t kMaxBatch = 32768;   // keeps every call within cuBLAS's grid limits
  for (int64_t b0 = 0; b0 < batch; b0 += kMaxBatch) {
    const int64_t nb = batch - b0 < kMaxBatch ? batch - b0 : kMaxBatch;
    CUDA_CHECK(cublasSgemmStridedBatched(cublas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                         static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &alpha,
                                         B + b0 * sb, static_cast<int>(ldb), sb, A + b0 * sa, static_cast<int>(lda),
                                         sa, &beta, C + b0 * sc, static_cast<int>(ldc), sc, static_cast<int>(nb)));
  }
}

}  // namespace ssmtl::cuda
