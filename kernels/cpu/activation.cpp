#include <algorithm>
#include <cmath>

#include "kernels/activation.h"
#include "kernels/cpu/gelu_vec.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/vmath.h"

namespace ssmtl::kernels {

namespace {
constexpr int64_t kParallelMin = 65536;
}  // namespace

void relu_forward_cpu(float* y, const float* x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
}

void relu_backward_cpu(float* dx, const float* dy, const float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] += y[i] > 0.f ? dy[i] : 0.f;
}

void leaky_relu_forward_cpu(float* y, const float* x, float slope, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : slope * x[i];
}

void leaky_relu_backward_cpu(float* dx, const float* dy, const float* x, float slope, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] += x[i] > 0.f ? dy[i] : slope * dy[i];
}

namespace detail {
void gelu_rows(float* y, const float* x, int64_t n) {
  using simd::VL;
  int64_t i = 0;
  for (; i + VL <= n; i += VL) simd::storeu(y + i, gelu_vec::gelu(simd::loadu(x + i)));
  if (i < n) {   // the tail through masked lanes: the same formula, so an element's bits depend on its value only
    const simd::mask_t m = simd::first_lanes(static_cast<int>(n - i));
    simd::store_masked(y + i, gelu_vec::gelu(simd::load_masked(x + i, m)), m);
  }
}
}  // namespace detail

namespace {
constexpr int64_t kGeluChunk = 4096;   // elements a task: a multiple of every vector width
}  // namespace

void gelu_forward_cpu(float* y, const float* x, int64_t n) {
  const int64_t chunks = (n + kGeluChunk - 1) / kGeluChunk;
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t c = 0; c < chunks; ++c)
    detail::gelu_rows(y + c * kGeluChunk, x + c * kGeluChunk, std::min(kGeluChunk, n - c * kGeluChunk));
}

void gelu_backward_cpu(float* dx, const float* dy, const float* x, bool add_dx, int64_t n) {
  using simd::VL;
  const int64_t chunks = (n + kGeluChunk - 1) / kGeluChunk;
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t a = c * kGeluChunk, b = std::min(n, a + kGeluChunk);
    int64_t i = a;
    for (; i + VL <= b; i += VL) {
      const simd::vec v = simd::loadu(dy + i) * gelu_vec::gelu_derivative(simd::loadu(x + i));
      simd::storeu(dx + i, add_dx ? simd::loadu(dx + i) + v : v);
    }
    if (i < b) {
      const simd::mask_t m = simd::first_lanes(static_cast<int>(b - i));
      const simd::vec v = simd::load_masked(dy + i, m) * gelu_vec::gelu_derivative(simd::load_masked(x + i, m));
      simd::store_masked(dx + i, add_dx ? simd::load_masked(dx + i, m) + v : v, m);
    }
  }
}

void sigmoid_forward_cpu(float* y, const float* x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    // exp of a non-positive number only: never overflows.
    const float e = exp_approx(-std::fabs(x[i]));
    const float r = 1.f / (1.f + e);
    y[i] = x[i] >= 0.f ? r : e * r;
  }
}

void sigmoid_backward_cpu(float* dx, const float* dy, const float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] += dy[i] * y[i] * (1.f - y[i]);
}

void tanh_forward_cpu(float* y, const float* x, int64_t n) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}

void tanh_backward_cpu(float* dx, const float* dy, const float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] += dy[i] * (1.f - y[i] * y[i]);
}

void softmax_forward_cpu(float* y, const float* x, int64_t rows, int64_t K) {
#pragma omp parallel for schedule(static) if (rows * K > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = x + r * K;
    float* o = y + r * K;
    const float m = row_max(p, K);
    // exp(x - m) / sum, not exp(x - (m + log sum)): m + log sum would round away the digits of a large m.
#pragma omp simd
    for (int64_t k = 0; k < K; ++k) o[k] = exp_approx(p[k] - m);
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t k = 0; k < K; ++k) s += o[k];
    const float inv = static_cast<float>(1.0 / s);
#pragma omp simd
    for (int64_t k = 0; k < K; ++k) o[k] *= inv;
  }
}

void softmax_backward_cpu(float* dx, const float* dy, const float* y, int64_t rows, int64_t K) {
#pragma omp parallel for schedule(static) if (rows * K > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = dy + r * K;
    const float* p = y + r * K;
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t k = 0; k < K; ++k) s += static_cast<double>(g[k]) * p[k];
    const float sf = static_cast<float>(s);
    float* o = dx + r * K;
#pragma omp simd
    for (int64_t k = 0; k < K; ++k) o[k] += p[k] * (g[k] - sf);
  }
}

void log_softmax_forward_cpu(float* y, const float* x, int64_t rows, int64_t K) {
#pragma omp parallel for schedule(static) if (rows * K > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = x + r * K;
    float* o = y + r * K;
    float m, log_sum;
    row_logsumexp(p, K, m, log_sum);
    // (x - m) first: exact for the maximum, so a dominant logit gets log-probability exactly 0.
#pragma omp simd
    for (int64_t k = 0; k < K; ++k) o[k] = (p[k] - m) - log_sum;
  }
}

void log_softmax_backward_cpu(float* dx, const float* dy, const float* y, int64_t rows, int64_t K) {
#pragma omp parallel for schedule(static) if (rows * K > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = dy + r * K;
    const float* p = y + r * K;
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t k = 0; k < K; ++k) s += g[k];
    const float sf = static_cast<float>(s);
    float* o = dx + r * K;
#pragma omp simd
    for (int64_t k = 0; k < K; ++k) o[k] += g[k] - exp_approx(p[k]) * sf;
  }
}

}  // namespace ssmtl::kernels
