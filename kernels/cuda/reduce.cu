// Host entry points of the two-stage column reductions (see kernels/cuda/reduce.cuh).
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

void channel_sums_add(float* out, const float* x, long long N, long long C, long long inner) {
  if (C == 0) return;
  const int S = channel_segments(N * inner);
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
