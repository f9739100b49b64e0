// Host entry points of the two-stage reductions (see kernels/cuda/reduce.cuh).
#include "kernels/cuda/reduce.cuh"

namespace ssmtl::cuda {

namespace {
__global__ void column_finish_k(float* out_a, float* out_b, const Sum2* part, long long cols, long long parts) {
  SSMTL_GRID_LOOP(c, cols) {
    const Sum2 t = column_total(part, c, cols, parts);
    if (out_a) out_a[c] += static_cast<float>(t.a);
    if (out_b) out_b[c] += static_cast<float>(t.b);
  }
}

__global__ void channel_finish_k(float* out, const Sum2* part, int S, long long C) {
  SSMTL_GRID_LOOP(c, C) out[c] += static_cast<float>(channel_total(part, c, S).a);
}

// One warp per channel (grid-stride over channels): lanes take partials round-robin, then a fixed tree.
__global__ void channel_means_k(float* out, const Sum2* part, long long C, int S, double divisor) {
  const int lane = threadIdx.x & 31;
  const long long warps = (long long)gridDim.x * (blockDim.x >> 5);
  for (long long c = blockIdx.x * (long long)(blockDim.x >> 5) + (threadIdx.x >> 5); c < C; c += warps) {
    double t = 0.0;
    for (int s = lane; s < S; s += 32) t += part[c * S + s].a;
    t = warp_sum(t);
    if (lane == 0) out[c] = static_cast<float>(t / divisor);
  }
}

struct ChannelValue {
  const float* x;
  __device__ Sum2 operator()(long long, long long idx) const { return Sum2{x[idx], 0.0}; }
};

struct PlainTerm {
  const float* m;
  long long cols;
  __device__ Sum2 operator()(long long r, long long c) const { return Sum2{m[r * cols + c], 0.0}; }
};
}  // namespace

void column_finish(float* out_a, float* out_b, const Sum2* part, long long rows, long long cols) {
  if (cols == 0) return;
  column_finish_k<<<grid_for(cols), kThreads>>>(out_a, out_b, part, cols, column_parts(rows));
  CUDA_CHECK_LAST();
}

void channel_means(float* out, const Sum2* part, long long C, int S, double divisor) {
  if (C == 0) return;
  channel_means_k<<<blocks_for(C, kThreads / 32), kThreads>>>(out, part, C, S, divisor);
  CUDA_CHECK_LAST();
}

void sum_all(float* out, const float* x, long long n) {
  const int S = channel_segments(n, 1);
  Scratch<Sum2> part(static_cast<size_t>(S));
  channel_partials(part.get(), 1, 1, n, ChannelValue{x});
  channel_means(out, part.get(), 1, S, 1.0);
}

void channel_sums_add(float* out, const float* x, long long N, long long C, long long inner) {
  if (C == 0) return;
  const int S = channel_segments(N * inner, C);
  Scratch<Sum2> part(static_cast<size_t>(C * S));
  channel_partials(part.get(), N, C, inner, ChannelValue{x});
  channel_finish_k<<<grid_for(C), kThreads>>>(out, part.get(), S, C);
  CUDA_CHECK_LAST();
}

void column_sums_add(float* out, const float* m, long long rows, long long cols) {
  if (cols == 0) return;
  Scratch<Sum2> part(static_cast<size_t>(column_parts(rows) * cols));
  column_partials(part.get(), rows, cols, PlainTerm{m, cols});
  column_finish(out, nullptr, part.get(), rows, cols);
}

}  // namespace ssmtl::cuda
