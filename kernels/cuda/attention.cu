// CUDA twins of kernels/attention.h (same signatures, device pointers).
//
// Forward, general path: scores = scale q k^T by one cuBLAS strided-batched GEMM written straight into
// probs, a numerically stable softmax per row (row maximum subtracted; one warp per row), then
// out = probs v by a second strided-batched GEMM.
// Forward, fused path for narrow heads (E, Ev <= 32; the SSMTL++ CvT heads have 8): one block per
// (problem, 64 queries) holds that problem's k and v in shared memory; one warp per query row computes its
// scores (lanes over keys), the softmax and out = p v (per-lane partial sums, then a warp sum per column).
// It reads q, k, v once and writes probs once, with no scores round trip through memory.
// Backward: dv += P^T dout, dP = dout v^T, dS = P * (dP - rowsum(P * dP)), dq += scale dS k,
// dk += scale dS^T q: four strided-batched GEMMs and one softmax-backward kernel.
// All sums run in a fixed order (cuBLAS is deterministic without atomics mode): results repeat bit for bit.
#include <cmath>

#include "kernels/attention.h"
#include "kernels/cuda/common.cuh"

namespace ssmtl::kernels {

namespace {

constexpr int kWarps = cuda::kThreads / 32;
constexpr int kFusedMaxDim = 32;
constexpr int kFusedRows = 64;                  // query rows per block of the fused kernel
constexpr size_t kFusedMaxShared = 48 * 1024;   // default dynamic shared memory limit per block

#define SSMTL_ROW_LOOP(r, rows)                                                                  \
  for (long long r = (long long)blockIdx.x * kWarps + (threadIdx.x >> 5); r < (long long)(rows); \
       r += (long long)gridDim.x * kWarps)

// In-place softmax of each row of s (rows, n): exp(s - max) / sum, the sum in float as the CPU kernel.
__global__ void softmax_rows_k(float* s, long long rows, long long n) {
  const int lane = threadIdx.x & 31;
  SSMTL_ROW_LOOP(r, rows) {
    float* p = s + r * n;
    float m = p[0];
    for (long long j = lane; j < n; j += 32) m = p[j] > m ? p[j] : m;
    m = cuda::warp_max(m);
    float total = 0.f;
    for (long long j = lane; j < n; j += 32) {
      const float e = expf(p[j] - m);
      p[j] = e;
      total += e;
    }
    const float inv = 1.f / cuda::warp_sum(total);
    for (long long j = lane; j < n; j += 32) p[j] *= inv;
  }
}

// In place: dp holds dL/dP on entry and dL/dS = P (dP - sum_j P_j dP_j) on exit, per row.
__global__ void softmax_rows_backward_k(float* dp, const float* p, long long rows, long long n) {
  const int lane = threadIdx.x & 31;
  SSMTL_ROW_LOOP(r, rows) {
    float* d = dp + r * n;
    const float* pr = p + r * n;
    float dot = 0.f;
    for (long long j = lane; j < n; j += 32) dot += pr[j] * d[j];
    dot = cuda::warp_sum(dot);
    for (long long j = lane; j < n; j += 32) d[j] = pr[j] * (d[j] - dot);
  }
}
#undef SSMTL_ROW_LOOP

size_t fused_shared_bytes(long long Lk, long long E, long long Ev) {
  return static_cast<size_t>(Lk * ((E + 1) + (Ev + 1))) * sizeof(float);
}

bool fused_fits(long long Lk, long long E, long long Ev) {
  return E <= kFusedMaxDim && Ev <= kFusedMaxDim && fused_shared_bytes(Lk, E, Ev) <= kFusedMaxShared;
}

// Score of key j for the query held in qr: scale * q . k_j (k rows padded to E + 1 floats in shared
// memory so that the lanes, reading consecutive keys, hit different banks).
__device__ inline float score(const float (&qr)[kFusedMaxDim], const float* ks, long long j, int E, float scale) {
  const float* kr = ks + j * (E + 1);
  float s = 0.f;
#pragma unroll
  for (int e = 0; e < kFusedMaxDim; ++e)
    if (e < E) s += qr[e] * kr[e];
  return s * scale;
}

__global__ void attention_fused_k(float* out, float* probs, const float* q, const float* k, const float* v,
                                  long long BH, long long Lq, long long Lk, int E, int Ev, float scale) {
  extern __shared__ float smem[];
  float* ks = smem;                    // (Lk, E + 1)
  float* vs = smem + Lk * (E + 1);     // (Lk, Ev + 1)
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (long long bh = blockIdx.y; bh < BH; bh += gridDim.y) {
    __syncthreads();   // the previous problem's k and v are no longer read
    const float* kp = k + bh * Lk * E;
    const float* vp = v + bh * Lk * Ev;
    for (long long i = threadIdx.x; i < Lk * E; i += blockDim.x) ks[(i / E) * (E + 1) + i % E] = kp[i];
    for (long long i = threadIdx.x; i < Lk * Ev; i += blockDim.x) vs[(i / Ev) * (Ev + 1) + i % Ev] = vp[i];
    __syncthreads();
    const long long r0 = blockIdx.x * (long long)kFusedRows;
    for (long long r = r0 + warp; r < r0 + kFusedRows && r < Lq; r += kWarps) {
      const long long row = bh * Lq + r;
      float qr[kFusedMaxDim];
#pragma unroll
      for (int e = 0; e < kFusedMaxDim; ++e) qr[e] = e < E ? q[row * E + e] : 0.f;
      float m = -INFINITY;
      for (long long j = lane; j < Lk; j += 32) {
        const float s = score(qr, ks, j, E, scale);
        m = s > m ? s : m;
      }
      m = cuda::warp_max(m);
      float total = 0.f;
      for (long long j = lane; j < Lk; j += 32) total += expf(score(qr, ks, j, E, scale) - m);
      const float inv = 1.f / cuda::warp_sum(total);
      float acc[kFusedMaxDim];
#pragma unroll
      for (int e = 0; e < kFusedMaxDim; ++e) acc[e] = 0.f;
      float* prow = probs + row * Lk;
      for (long long j = lane; j < Lk; j += 32) {
        const float p = expf(score(qr, ks, j, E, scale) - m) * inv;
        prow[j] = p;
        const float* vr = vs + j * (Ev + 1);
#pragma unroll
        for (int e = 0; e < kFusedMaxDim; ++e)
          if (e < Ev) acc[e] += p * vr[e];
      }
      float* orow = out + row * Ev;
#pragma unroll
      for (int e = 0; e < kFusedMaxDim; ++e) {
        if (e < Ev) {
          const float t = cuda::warp_sum(acc[e]);
          if (lane == e) orow[e] = t;
        }
      }
    }
  }
}

float scale_of(int64_t E) { return 1.f / std::sqrt(static_cast<float>(E)); }

}  // namespace

void attention_forward_cublas_cuda(float* out, float* probs, const float* q, const float* k, const float* v,
                                   int64_t BH, int64_t Lq, int64_t Lk, int64_t E, int64_t Ev) {
  if (BH * Lq == 0) return;
  if (Lk == 0) {   // no keys: an empty softmax, out = 0
    CUDA_CHECK(cudaMemset(out, 0, static_cast<size_t>(BH * Lq * Ev) * sizeof(float)));
    return;
  }
  // probs (Lq, Lk) = scale q (Lq, E) k^T, per problem
  cuda::gemm_rm_batched(false, true, Lq, Lk, E, scale_of(E), q, E, Lq * E, k, E, Lk * E, 0.f, probs, Lk, Lq * Lk, BH);
  softmax_rows_k<<<cuda::blocks_for(BH * Lq, kWarps), cuda::kThreads>>>(probs, BH * Lq, Lk);
  CUDA_CHECK_LAST();
  // out (Lq, Ev) = probs (Lq, Lk) v (Lk, Ev)
  cuda::gemm_rm_batched(false, false, Lq, Ev, Lk, 1.f, probs, Lk, Lq * Lk, v, Ev, Lk * Ev, 0.f, out, Ev, Lq * Ev, BH);
}

void attention_forward_cuda(float* out, float* probs, const float* q, const float* k, const float* v, int64_t BH,
                            int64_t Lq, int64_t Lk, int64_t E, int64_t Ev) {
  if (BH * Lq == 0) return;
  if (!fused_fits(Lk, E, Ev) || Lk == 0) {
    attention_forward_cublas_cuda(out, probs, q, k, v, BH, Lq, Lk, E, Ev);
    return;
  }
  const dim3 grid(static_cast<unsigned>((Lq + kFusedRows - 1) / kFusedRows),
                  static_cast<unsigned>(BH < 65535 ? BH : 65535));
  attention_fused_k<<<grid, cuda::kThreads, fused_shared_bytes(Lk, E, Ev)>>>(
      out, probs, q, k, v, BH, Lq, Lk, static_cast<int>(E), static_cast<int>(Ev), scale_of(E));
  CUDA_CHECK_LAST();
}

void attention_backward_cuda(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                             const float* v, const float* probs, int64_t BH, int64_t Lq, int64_t Lk, int64_t E,
                             int64_t Ev) {
  if (BH * Lq * Lk == 0) return;
  // dv (Lk, Ev) += P^T (Lk, Lq) dout (Lq, Ev)
  if (dv) cuda::gemm_rm_batched(true, false, Lk, Ev, Lq, 1.f, probs, Lk, Lq * Lk, dout, Ev, Lq * Ev, 1.f, dv, Ev,
                                Lk * Ev, BH);
  if (!dq && !dk) return;
  cuda::Scratch<float> ds(static_cast<size_t>(BH * Lq * Lk));
  // dP (Lq, Lk) = dout (Lq, Ev) v^T
  cuda::gemm_rm_batched(false, true, Lq, Lk, Ev, 1.f, dout, Ev, Lq * Ev, v, Ev, Lk * Ev, 0.f, ds.get(), Lk, Lq * Lk,
                        BH);
  softmax_rows_backward_k<<<cuda::blocks_for(BH * Lq, kWarps), cuda::kThreads>>>(ds.get(), probs, BH * Lq, Lk);
  CUDA_CHECK_LAST();
  const float scale = scale_of(E);
  // dq (Lq, E) += scale dS (Lq, Lk) k (Lk, E) ; dk (Lk, E) += scale dS^T q (Lq, E)
  if (dq) cuda::gemm_rm_batched(false, false, Lq, E, Lk, scale, ds.get(), Lk, Lq * Lk, k, E, Lk * E, 1.f, dq, E,
                                Lq * E, BH);
  if (dk) cuda::gemm_rm_batched(true, false, Lk, E, Lq, scale, ds.get(), Lk, Lq * Lk, q, E, Lq * E, 1.f, dk, E,
                                Lk * E, BH);
}

}  // namespace ssmtl::kernels
