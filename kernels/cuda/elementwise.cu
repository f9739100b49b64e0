// CUDA twins of kernels/elementwise.h (same signatures, device pointers). Grid-stride loops; the sums use
// the two-stage reductions of kernels/cuda/reduce.cuh (double partials of fixed segments, added in a fixed
// order), so results are deterministic.
#include "kernels/cuda/reduce.cuh"
#include "kernels/elementwise.h"

namespace ssmtl::kernels {

#define GRID_LOOP(i, n) \
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

namespace {
__global__ void add_k(float* out, const float* a, const float* b, float alpha, long long n) {
  GRID_LOOP(i, n) out[i] = a[i] + alpha * b[i];
}
__global__ void mul_k(float* out, const float* a, const float* b, long long n) { GRID_LOOP(i, n) out[i] = a[i] * b[i]; }
__global__ void affine_k(float* out, const float* a, float s, float c, long long n) {
  GRID_LOOP(i, n) out[i] = s * a[i] + c;
}
__global__ void axpy_k(float* dst, const float* src, float s, long long n) { GRID_LOOP(i, n) dst[i] += s * src[i]; }
__global__ void mul_bw_k(float* da, const float* dout, const float* b, long long n) {
  GRID_LOOP(i, n) da[i] += dout[i] * b[i];
}
__global__ void sum_bw_k(float* da, const float* dout, float s, long long n) {
  float g = s * dout[0];
  GRID_LOOP(i, n) da[i] += g;
}
struct BiasOp {
  float* out;
  const float* a;
  const float* bias;
  __device__ void operator()(long long i, long long c) const { out[i] = a[i] + bias[c]; }
};
}  // namespace

void add_forward_cuda(float* out, const float* a, const float* b, float alpha, int64_t n) {
  add_k<<<cuda::grid_for(n), 256>>>(out, a, b, alpha, n);
  CUDA_CHECK_LAST();
}
void mul_forward_cuda(float* out, const float* a, const float* b, int64_t n) {
  mul_k<<<cuda::grid_for(n), 256>>>(out, a, b, n);
  CUDA_CHECK_LAST();
}
void affine_forward_cuda(float* out, const float* a, float s, float c, int64_t n) {
  affine_k<<<cuda::grid_for(n), 256>>>(out, a, s, c, n);
  CUDA_CHECK_LAST();
}
void axpy_cuda(float* dst, const float* src, float s, int64_t n) {
  axpy_k<<<cuda::grid_for(n), 256>>>(dst, src, s, n);
  CUDA_CHECK_LAST();
}
void mul_backward_cuda(float* da, const float* dout, const float* b, int64_t n) {
  mul_bw_k<<<cuda::grid_for(n), 256>>>(da, dout, b, n);
  CUDA_CHECK_LAST();
}
void sum_forward_cuda(float* out, const float* a, int64_t n) {
  cuda::sum_all(out, a, n);
}
void sum_backward_cuda(float* da, const float* dout, float s, int64_t n) {
  sum_bw_k<<<cuda::grid_for(n), 256>>>(da, dout, s, n);
  CUDA_CHECK_LAST();
}
void add_channel_bias_cuda(float* out, const float* a, const float* bias, int64_t outer, int64_t C, int64_t inner) {
  cuda::channel_map(outer, C, inner, BiasOp{out, a, bias});
}
void channel_sum_backward_cuda(float* dbias, const float* dout, int64_t outer, int64_t C, int64_t inner) {
  cuda::channel_sums_add(dbias, dout, outer, C, inner);
}

}  // namespace ssmtl::kernels
