// CUDA twins of kernels/elementwise.h (same signatures, device pointers). Grid-stride loops;
// reductions in a fixed order (one block tree + one final pass) so results are deterministic.
#include "kernels/cuda/check.cuh"
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
// Single-block tree reduction: deterministic, adequate for loss-sized tensors.
__global__ void sum_k(float* out, const float* a, long long n) {
  __shared__ double buf[256];
  double s = 0;
  for (long long i = threadIdx.x; i < n; i += blockDim.x) s += a[i];
  buf[threadIdx.x] = s;
  __syncthreads();
  for (int w = 128; w > 0; w >>= 1) {
    if (threadIdx.x < w) buf[threadIdx.x] += buf[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = static_cast<float>(buf[0]);
}
__global__ void bias_k(float* out, const float* a, const float* bias, long long C, long long inner, long long n) {
  GRID_LOOP(i, n) out[i] = a[i] + bias[(i / inner) % C];
}
// One block per channel, fixed-order reduction.
__global__ void channel_sum_k(float* dbias, const float* dout, long long outer, long long C, long long inner) {
  __shared__ double buf[256];
  long long c = blockIdx.x;
  double s = 0;
  for (long long o = 0; o < outer; ++o)
    for (long long i = threadIdx.x; i < inner; i += blockDim.x) s += dout[(o * C + c) * inner + i];
  buf[threadIdx.x] = s;
  __syncthreads();
  for (int w = 128; w > 0; w >>= 1) {
    if (threadIdx.x < w) buf[threadIdx.x] += buf[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) dbias[c] += static_cast<float>(buf[0]);
}
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
  sum_k<<<1, 256>>>(out, a, n);
  CUDA_CHECK_LAST();
}
void sum_backward_cuda(float* da, const float* dout, float s, int64_t n) {
  sum_bw_k<<<cuda::grid_for(n), 256>>>(da, dout, s, n);
  CUDA_CHECK_LAST();
}
void add_channel_bias_cuda(float* out, const float* a, const float* bias, int64_t outer, int64_t C, int64_t inner) {
  long long n = outer * C * inner;
  bias_k<<<cuda::grid_for(n), 256>>>(out, a, bias, C, inner, n);
  CUDA_CHECK_LAST();
}
void channel_sum_backward_cuda(float* dbias, const float* dout, int64_t outer, int64_t C, int64_t inner) {
  if (C == 0) return;
  channel_sum_k<<<static_cast<unsigned>(C), 256>>>(dbias, dout, outer, C, inner);
  CUDA_CHECK_LAST();
}

}  // namespace ssmtl::kernels
