// CUDA twins of kernels/loss.h (same signatures and formulas, device pointers).
// Cross-entropy: one warp per row (log-sum-exp in double over a fixed lane order); the mean over rows is
// taken by a single block, rows assigned to warps round-robin and the warp totals added in warp order.
// Distances: per-row means by the two-stage reductions of kernels/cuda/reduce.cuh (double partials of fixed
// segments of the row, then added in a fixed order). Every sum has a fixed order: deterministic.
#include "kernels/cuda/reduce.cuh"
#include "kernels/loss.h"

namespace ssmtl::kernels {

namespace {
constexpr int kWarps = cuda::kThreads / 32;

// Row maximum m and log_sum = log sum_k exp(x[k] - m) (rounded to float, as the CPU's row_logsumexp).
__device__ inline void row_lse(const float* x, long long K, int lane, float& m, float& log_sum) {
  m = x[0];
  for (long long k = lane; k < K; k += 32) m = x[k] > m ? x[k] : m;
  m = cuda::warp_max(m);
  double s = 0.0;
  for (long long k = lane; k < K; k += 32) s += expf(x[k] - m);
  log_sum = static_cast<float>(log(cuda::warp_sum(s)));
}

// One block of kThreads: warp w handles rows w, w + kWarps, ...; row_term(row, lane) returns the row's
// value (the same on every lane). loss[0] = mean over rows.
template <class RowTerm>
__device__ void mean_over_rows(float* loss, long long N, RowTerm row_term) {
  __shared__ double warp_total[kWarps];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  double acc = 0.0;
  for (long long n = warp; n < N; n += kWarps) acc += row_term(n, lane);
  if (lane == 0) warp_total[warp] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
    double s = 0.0;
    for (int w = 0; w < kWarps; ++w) s += warp_total[w];
    loss[0] = static_cast<float>(s / static_cast<double>(N));
  }
}

struct HardTerm {
  const float* logits;
  const float* targets;
  long long K;
  __device__ double operator()(long long n, int lane) const {
    const float* x = logits + n * K;
    float m, log_sum;
    row_lse(x, K, lane, m, log_sum);
    return static_cast<double>(m - x[static_cast<long long>(targets[n])]) + log_sum;
  }
};

struct SoftTerm {
  const float* logits;
  const float* probs;
  long long K;
  __device__ double operator()(long long n, int lane) const {
    const float* x = logits + n * K;
    const float* p = probs + n * K;
    float m, log_sum;
    row_lse(x, K, lane, m, log_sum);
    double s = 0.0;
    for (long long k = lane; k < K; k += 32)
      s += static_cast<double>(p[k]) * (static_cast<double>(m - x[k]) + log_sum);
    return cuda::warp_sum(s);
  }
};

template <class RowTerm>
__global__ void mean_rows_k(float* loss, long long N, RowTerm term) {
  mean_over_rows(loss, N, term);
}

#define SSMTL_ROW_LOOP(r, rows)                                                                  \
  for (long long r = (long long)blockIdx.x * kWarps + (threadIdx.x >> 5); r < (long long)(rows); \
       r += (long long)gridDim.x * kWarps)

__global__ void ce_bw_k(float* dlogits, const float* dloss, const float* logits, const float* targets, long long N,
                        long long K) {
  const int lane = threadIdx.x & 31;
  const float g = dloss[0] / static_cast<float>(N);
  SSMTL_ROW_LOOP(n, N) {
    const float* x = logits + n * K;
    float* d = dlogits + n * K;
    float m, log_sum;
    row_lse(x, K, lane, m, log_sum);
    const long long t = static_cast<long long>(targets[n]);
    for (long long k = lane; k < K; k += 32) {
      float v = d[k] + g * expf((x[k] - m) - log_sum);
      if (k == t) v -= g;   // the CPU adds the softmax term first, then subtracts g at the target
      d[k] = v;
    }
  }
}

__global__ void ce_soft_bw_k(float* dlogits, float* dprobs, const float* dloss, const float* logits,
                             const float* probs, long long N, long long K) {
  const int lane = threadIdx.x & 31;
  const float g = dloss[0] / static_cast<float>(N);
  SSMTL_ROW_LOOP(n, N) {
    const float* x = logits + n * K;
    const float* p = probs + n * K;
    float m, log_sum;
    row_lse(x, K, lane, m, log_sum);
    if (dlogits) {
      double ps = 0.0;
      for (long long k = lane; k < K; k += 32) ps += p[k];
      const float psf = static_cast<float>(cuda::warp_sum(ps));
      float* d = dlogits + n * K;
      for (long long k = lane; k < K; k += 32) d[k] += g * (expf((x[k] - m) - log_sum) * psf - p[k]);
    }
    if (dprobs) {
      float* d = dprobs + n * K;
      for (long long k = lane; k < K; k += 32) d[k] += g * ((m - x[k]) + log_sum);
    }
  }
}

#undef SSMTL_ROW_LOOP

// The term of row r's mean: |a - b| (l1) or (a - b)^2 (mse) at flat offset idx, in double.
template <bool kSquare>
struct DistanceTerm {
  const float* a;
  const float* b;
  __device__ cuda::Sum2 operator()(long long, long long idx) const {
    if (kSquare) {
      const double d = static_cast<double>(a[idx]) - b[idx];
      return cuda::Sum2{d * d, 0.0};
    }
    return cuda::Sum2{static_cast<double>(fabsf(a[idx] - b[idx])), 0.0};
  }
};

// dst[i] += (dout[r] * scale) * term(i) for i in row r; term = sign(a - b) (l1) or a - b (mse). Run by
// cuda::channel_map with the rows as channels.
template <bool kSquare>
struct RowApplyOp {
  float* dst;
  const float* dout;
  float scale;
  const float* a;
  const float* b;
  __device__ void operator()(long long i, long long r) const {
    const float g = dout[r] * scale;
    const float t = kSquare ? a[i] - b[i] : static_cast<float>(a[i] > b[i]) - static_cast<float>(a[i] < b[i]);
    dst[i] += g * t;
  }
};

template <bool kSquare>
void distance_forward(float* out, const float* a, const float* b, int64_t rows, int64_t cols) {
  if (rows == 0) return;
  // Rows are the "channels" of the two-stage reduction (N = 1, inner = cols): a long row (the whole batch
  // when rows == 1) is split over many blocks.
  const int S = cuda::channel_segments(cols, rows);
  cuda::Scratch<cuda::Sum2> part(static_cast<size_t>(rows * S));
  cuda::channel_partials(part.get(), 1, rows, cols, DistanceTerm<kSquare>{a, b});
  cuda::channel_means(out, part.get(), rows, S, static_cast<double>(cols));
}

template <bool kSquare>
void distance_backward(float* da, float* db, const float* dout, const float* a, const float* b, int64_t rows,
                       int64_t cols, float inv) {
  if (da) cuda::channel_map(1, rows, cols, RowApplyOp<kSquare>{da, dout, inv, a, b});
  if (db) cuda::channel_map(1, rows, cols, RowApplyOp<kSquare>{db, dout, -inv, a, b});
}
}  // namespace

void cross_entropy_forward_cuda(float* loss, const float* logits, const float* targets, int64_t N, int64_t K) {
  mean_rows_k<<<1, cuda::kThreads>>>(loss, N, HardTerm{logits, targets, K});
  CUDA_CHECK_LAST();
}

void cross_entropy_backward_cuda(float* dlogits, const float* dloss, const float* logits, const float* targets,
                                 int64_t N, int64_t K) {
  ce_bw_k<<<cuda::blocks_for(N, kWarps), cuda::kThreads>>>(dlogits, dloss, logits, targets, N, K);
  CUDA_CHECK_LAST();
}

void cross_entropy_soft_forward_cuda(float* loss, const float* logits, const float* probs, int64_t N, int64_t K) {
  mean_rows_k<<<1, cuda::kThreads>>>(loss, N, SoftTerm{logits, probs, K});
  CUDA_CHECK_LAST();
}

void cross_entropy_soft_backward_cuda(float* dlogits, float* dprobs, const float* dloss, const float* logits,
                                      const float* probs, int64_t N, int64_t K) {
  if (!dlogits && !dprobs) return;
  ce_soft_bw_k<<<cuda::blocks_for(N, kWarps), cuda::kThreads>>>(dlogits, dprobs, dloss, logits, probs, N, K);
  CUDA_CHECK_LAST();
}

void l1_forward_cuda(float* out, const float* a, const float* b, int64_t rows, int64_t cols) {
  distance_forward<false>(out, a, b, rows, cols);
}
void mse_forward_cuda(float* out, const float* a, const float* b, int64_t rows, int64_t cols) {
  distance_forward<true>(out, a, b, rows, cols);
}
void l1_backward_cuda(float* da, float* db, const float* dout, const float* a, const float* b, int64_t rows,
                      int64_t cols) {
  distance_backward<false>(da, db, dout, a, b, rows, cols, 1.f / static_cast<float>(cols));
}
void mse_backward_cuda(float* da, float* db, const float* dout, const float* a, const float* b, int64_t rows,
                       int64_t cols) {
  distance_backward<true>(da, db, dout, a, b, rows, cols, 2.f / static_cast<float>(cols));
}

}  // namespace ssmtl::kernels
