// Deterministic two-stage reductions shared by the CUDA kernels: per-channel sums over a (N, C, inner)
// tensor and per-column sums over a (rows, cols) matrix. Stage one writes partial sums (in double) of fixed
// segments whose boundaries depend only on the shape; stage two adds a channel's / column's partials in
// segment order. No atomics, so the result repeats bit for bit.
//
// The terms come from a functor (device lambdas would need nvcc's --extended-lambda): it returns two values
// so that kernels needing two sums over the same data (e.g. sum dy and sum dy * xhat) read it once.
#pragma once
#include "kernels/cuda/common.cuh"

namespace ssmtl::cuda {

struct Sum2 {
  double a = 0.0, b = 0.0;
};

// ---- per channel: x viewed as (N, C, inner), M = N * inner values per channel ----

// Number of segments per channel for M values: fixed by the shape. Each segment holds at least 4096 values;
// at most 128 segments per channel, or up to 1024 / C when there are fewer than 8 channels, so that a
// whole-tensor sum (C = 1) still spreads over enough blocks to fill the GPU.
inline int channel_segments(long long M, long long C) {
  const long long cap = C >= 8 ? 128 : 1024 / (C < 1 ? 1 : C);
  long long s = M / 4096;
  return static_cast<int>(s < 1 ? 1 : (s > cap ? cap : s));
}

// part[c * S + s] = sum of term(c, idx) over segment s of channel c, idx = (n * C + c) * inner + i the flat
// offset of value m = n * inner + i. Launch with grid (S, min(C, 65535)) and kThreads threads.
// (n, i) is found by one division per thread and then advanced by blockDim.x, dividing again only when the
// step crosses into another sample (every step when inner < blockDim.x, rarely when inner is large).
template <class Term>
__global__ void channel_partials_k(Sum2* part, long long N, long long C, long long inner, int S, Term term) {
  __shared__ double shared[32];
  const long long M = N * inner, seg = (M + S - 1) / S;
  const long long m0 = blockIdx.x * seg, m1 = m0 + seg < M ? m0 + seg : M;
  for (long long c = blockIdx.y; c < C; c += gridDim.y) {
    Sum2 acc;
    long long m = m0 + threadIdx.x, n = 0, i = 0;
    if (m < m1) {   // then inner > 0
      n = m / inner;
      i = m - n * inner;
    }
    for (; m < m1; m += blockDim.x) {
      const Sum2 v = term(c, (n * C + c) * inner + i);
      acc.a += v.a;
      acc.b += v.b;
      i += blockDim.x;
      if (i >= inner) {
        const long long q = i / inner;
        n += q;
        i -= q * inner;
      }
    }
    acc.a = block_sum(acc.a, shared);
    acc.b = block_sum(acc.b, shared);
    if (threadIdx.x == 0) part[c * S + blockIdx.x] = acc;
  }
}

// Runs stage one for `term` into `part` (C * S values, S = channel_segments(N * inner, C)).
template <class Term>
void channel_partials(Sum2* part, long long N, long long C, long long inner, Term term) {
  const int S = channel_segments(N * inner, C);
  const dim3 grid(static_cast<unsigned>(S), static_cast<unsigned>(C < 65535 ? C : 65535));
  channel_partials_k<<<grid, kThreads>>>(part, N, C, inner, S, term);
  CUDA_CHECK_LAST();
}

// Stage two on the device: the total of channel c's S partials, in segment order.
__device__ inline Sum2 channel_total(const Sum2* part, long long c, int S) {
  Sum2 t;
  for (int s = 0; s < S; ++s) {
    t.a += part[c * S + s].a;
    t.b += part[c * S + s].b;
  }
  return t;
}

// Stage two as a kernel, one warp per channel: out[c] = (total a of channel c) / divisor, ASSIGNED.
// Lane l adds partials l, l + 32, ... in order, then the lanes are added by warp_sum's fixed tree (faster
// than one thread walking all S partials when S is large, as for a whole-tensor sum). Used for sums and
// means (kernels/cuda/reduce.cu).
void channel_means(float* out, const Sum2* part, long long C, int S, double divisor);

// Whole-tensor sum: out[0] = sum of x[0..n), ASSIGNED (n = 0 gives 0). Two stages, deterministic.
void sum_all(float* out, const float* x, long long n);

// ---- per column of a (rows, cols) matrix ----

// Rows per partial: 64 (as the CPU's layer-norm column sums), more when there would be over 65535 parts.
inline long long column_part_rows(long long rows) {
  long long r = 64;
  while ((rows + r - 1) / r > 65535) r *= 2;
  return r;
}
inline long long column_parts(long long rows) {
  const long long r = column_part_rows(rows);
  return rows == 0 ? 1 : (rows + r - 1) / r;
}

// part[p * cols + c] = sum over rows [p * R, (p + 1) * R) of term(r, c). Grid (ceil(cols / 128), parts).
template <class Term>
__global__ void column_partials_k(Sum2* part, long long rows, long long cols, long long R, Term term) {
  const long long c = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  if (c >= cols) return;
  const long long r0 = blockIdx.y * R, r1 = r0 + R < rows ? r0 + R : rows;
  Sum2 acc;
  for (long long r = r0; r < r1; ++r) {
    const Sum2 v = term(r, c);
    acc.a += v.a;
    acc.b += v.b;
  }
  part[blockIdx.y * cols + c] = acc;
}

template <class Term>
void column_partials(Sum2* part, long long rows, long long cols, Term term) {
  const dim3 grid(static_cast<unsigned>((cols + 127) / 128), static_cast<unsigned>(column_parts(rows)));
  column_partials_k<<<grid, 128>>>(part, rows, cols, column_part_rows(rows), term);
  CUDA_CHECK_LAST();
}

__device__ inline Sum2 column_total(const Sum2* part, long long c, long long cols, long long parts) {
  Sum2 t;
  for (long long p = 0; p < parts; ++p) {
    t.a += part[p * cols + c].a;
    t.b += part[p * cols + c].b;
  }
  return t;
}

// Stage two for columns (kernels/cuda/reduce.cu): out_a[c] += total a, out_b[c] += total b of each column
// (either pointer may be null). part holds column_parts(rows) * cols partials.
void column_finish(float* out_a, float* out_b, const Sum2* part, long long rows, long long cols);

// Adds the per-channel sums of x viewed as (N, C, inner) into out (C): out[c] += sum_{n, i} x[n, c, i].
void channel_sums_add(float* out, const float* x, long long N, long long C, long long inner);

// Adds the column sums of a plain (rows, cols) matrix into out (cols): out[c] += sum_r m[r, c].
void column_sums_add(float* out, const float* m, long long rows, long long cols);

}  // namespace ssmtl::cuda
