// CUDA twins of kernels/activation.h (same signatures and formulas, device pointers). Elementwise ops use
// grid-stride loops; softmax / log_softmax give one warp per row, its sums in double over a fixed lane
// order (deterministic). expf / erff / tanhf are CUDA's (within 2 ulp); the CPU uses its own vectorised
// approximations, so the two agree to a few ulp, not bit for bit.
#include "kernels/activation.h"
#include "kernels/cuda/common.cuh"

namespace ssmtl::kernels {

namespace {
constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

__global__ void relu_fw_k(float* y, const float* x, long long n) {
  SSMTL_GRID_LOOP(i, n) y[i] = x[i] > 0.f ? x[i] : 0.f;
}
__global__ void relu_bw_k(float* dx, const float* dy, const float* y, long long n) {
  SSMTL_GRID_LOOP(i, n) dx[i] += y[i] > 0.f ? dy[i] : 0.f;
}
__global__ void leaky_fw_k(float* y, const float* x, float slope, long long n) {
  SSMTL_GRID_LOOP(i, n) y[i] = x[i] > 0.f ? x[i] : slope * x[i];
}
__global__ void leaky_bw_k(float* dx, const float* dy, const float* x, float slope, long long n) {
  SSMTL_GRID_LOOP(i, n) dx[i] += x[i] > 0.f ? dy[i] : slope * dy[i];
}
__global__ void gelu_fw_k(float* y, const float* x, long long n) {
  SSMTL_GRID_LOOP(i, n) y[i] = 0.5f * x[i] * (1.f + erff(x[i] * kInvSqrt2));
}
__global__ void gelu_bw_k(float* dx, const float* dy, const float* x, bool add, long long n) {
  SSMTL_GRID_LOOP(i, n) {
    const float cdf = 0.5f * (1.f + erff(x[i] * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * expf(-0.5f * x[i] * x[i]);
    const float v = dy[i] * (cdf + x[i] * pdf);
    dx[i] = add ? dx[i] + v : v;   // (a new gradient: written)
  }
}
__global__ void sigmoid_fw_k(float* y, const float* x, long long n) {
  SSMTL_GRID_LOOP(i, n) {
    const float e = expf(-fabsf(x[i]));   // exp of a non-positive number: no overflow
    const float r = 1.f / (1.f + e);
    y[i] = x[i] >= 0.f ? r : e * r;
  }
}
__global__ void sigmoid_bw_k(float* dx, const float* dy, const float* y, long long n) {
  SSMTL_GRID_LOOP(i, n) dx[i] += dy[i] * y[i] * (1.f - y[i]);
}
__global__ void tanh_fw_k(float* y, const float* x, long long n) { SSMTL_GRID_LOOP(i, n) y[i] = tanhf(x[i]); }
__global__ void tanh_bw_k(float* dx, const float* dy, const float* y, long long n) {
  SSMTL_GRID_LOOP(i, n) dx[i] += dy[i] * (1.f - y[i] * y[i]);
}

constexpr int kWarps = cuda::kThreads / 32;

// Warp-per-row loop: each warp takes rows warp_id, warp_id + total_warps, ...
#define SSMTL_ROW_LOOP(r, rows)                                                                  \
  for (long long r = (long long)blockIdx.x * kWarps + (threadIdx.x >> 5); r < (long long)(rows); \
       r += (long long)gridDim.x * kWarps)

// Row maximum and the sum of exp(x - m) in double.
__device__ inline void row_max_sum(const float* p, long long K, int lane, float& m, double& s) {
  m = p[0];
  for (long long k = lane; k < K; k += 32) m = p[k] > m ? p[k] : m;
  m = cuda::warp_max(m);
  double acc = 0.0;
  for (long long k = lane; k < K; k += 32) acc += expf(p[k] - m);
  s = cuda::warp_sum(acc);
}

__global__ void softmax_fw_k(float* y, const float* x, long long rows, long long K) {
  const int lane = threadIdx.x & 31;
  SSMTL_ROW_LOOP(r, rows) {
    const float* p = x + r * K;
    float* o = y + r * K;
    float m;
    double s;
    row_max_sum(p, K, lane, m, s);
    const float inv = static_cast<float>(1.0 / s);
    for (long long k = lane; k < K; k += 32) o[k] = expf(p[k] - m) * inv;
  }
}

__global__ void softmax_bw_k(float* dx, const float* dy, const float* y, long long rows, long long K) {
  const int lane = threadIdx.x & 31;
  SSMTL_ROW_LOOP(r, rows) {
    const float* g = dy + r * K;
    const float* p = y + r * K;
    double acc = 0.0;
    for (long long k = lane; k < K; k += 32) acc += static_cast<double>(g[k]) * p[k];
    const float sf = static_cast<float>(cuda::warp_sum(acc));
    float* o = dx + r * K;
    for (long long k = lane; k < K; k += 32) o[k] += p[k] * (g[k] - sf);
  }
}

__global__ void log_softmax_fw_k(float* y, const float* x, long long rows, long long K) {
  const int lane = threadIdx.x & 31;
  SSMTL_ROW_LOOP(r, rows) {
    const float* p = x + r * K;
    float* o = y + r * K;
    float m;
    double s;
    row_max_sum(p, K, lane, m, s);
    const float log_sum = static_cast<float>(log(s));
    for (long long k = lane; k < K; k += 32) o[k] = (p[k] - m) - log_sum;   // (x - m) first, as the CPU
  }
}

__global__ void log_softmax_bw_k(float* dx, const float* dy, const float* y, long long rows, long long K) {
  const int lane = threadIdx.x & 31;
  SSMTL_ROW_LOOP(r, rows) {
    const float* g = dy + r * K;
    const float* p = y + r * K;
    double acc = 0.0;
    for (long long k = lane; k < K; k += 32) acc += g[k];
    const float sf = static_cast<float>(cuda::warp_sum(acc));
    float* o = dx + r * K;
    for (long long k = lane; k < K; k += 32) o[k] += g[k] - expf(p[k]) * sf;
  }
}

#undef SSMTL_ROW_LOOP

unsigned row_grid(int64_t rows) { return cuda::blocks_for(rows, kWarps); }
}  // namespace

void relu_forward_cuda(float* y, const float* x, int64_t n) { SSMTL_LAUNCH(relu_fw_k, n, y, x, n); }
void relu_backward_cuda(float* dx, const float* dy, const float* y, int64_t n) {
  SSMTL_LAUNCH(relu_bw_k, n, dx, dy, y, n);
}
void leaky_relu_forward_cuda(float* y, const float* x, float slope, int64_t n) {
  SSMTL_LAUNCH(leaky_fw_k, n, y, x, slope, n);
}
void leaky_relu_backward_cuda(float* dx, const float* dy, const float* x, float slope, int64_t n) {
  SSMTL_LAUNCH(leaky_bw_k, n, dx, dy, x, slope, n);
}
void gelu_forward_cuda(float* y, const float* x, int64_t n) { SSMTL_LAUNCH(gelu_fw_k, n, y, x, n); }
void gelu_backward_cuda(float* dx, const float* dy, const float* x, bool add_dx, int64_t n) {
  SSMTL_LAUNCH(gelu_bw_k, n, dx, dy, x, add_dx, n);
}
void sigmoid_forward_cuda(float* y, const float* x, int64_t n) { SSMTL_LAUNCH(sigmoid_fw_k, n, y, x, n); }
void sigmoid_backward_cuda(float* dx, const float* dy, const float* y, int64_t n) {
  SSMTL_LAUNCH(sigmoid_bw_k, n, dx, dy, y, n);
}
void tanh_forward_cuda(float* y, const float* x, int64_t n) { SSMTL_LAUNCH(tanh_fw_k, n, y, x, n); }
void tanh_backward_cuda(float* dx, const float* dy, const float* y, int64_t n) {
  SSMTL_LAUNCH(tanh_bw_k, n, dx, dy, y, n);
}

#define SSMTL_ROW_LAUNCH(kernel, rows, K, ...)                                            \
  do {                                                                                   \
    if ((rows) > 0 && (K) > 0) kernel<<<row_grid(rows), cuda::kThreads>>>(__VA_ARGS__); \
    CUDA_CHECK_LAST();                                                                   \
  } while (0)

void softmax_forward_cuda(float* y, const float* x, int64_t rows, int64_t K) {
  SSMTL_ROW_LAUNCH(softmax_fw_k, rows, K, y, x, rows, K);
}
void softmax_backward_cuda(float* dx, const float* dy, const float* y, int64_t rows, int64_t K) {
  SSMTL_ROW_LAUNCH(softmax_bw_k, rows, K, dx, dy, y, rows, K);
}
void log_softmax_forward_cuda(float* y, const float* x, int64_t rows, int64_t K) {
  SSMTL_ROW_LAUNCH(log_softmax_fw_k, rows, K, y, x, rows, K);
}
void log_softmax_backward_cuda(float* dx, const float* dy, const float* y, int64_t rows, int64_t K) {
  SSMTL_ROW_LAUNCH(log_softmax_bw_k, rows, K, dx, dy, y, rows, K);
}

#undef SSMTL_ROW_LAUNCH

}  // namespace ssmtl::kernels
