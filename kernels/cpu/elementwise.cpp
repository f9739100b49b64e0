#include "kernels/elementwise.h"

namespace ssmtl::kernels {

void add_forward_cpu(float* out, const float* a, const float* b, float alpha, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + alpha * b[i];
}

void mul_forward_cpu(float* out, const float* a, const float* b, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}

void affine_forward_cpu(float* out, const float* a, float s, float c, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) out[i] = s * a[i] + c;
}

void axpy_cpu(float* dst, const float* src, float s, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) dst[i] += s * src[i];
}

void mul_backward_cpu(float* da, const float* dout, const float* b, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) da[i] += dout[i] * b[i];
}

void sum_forward_cpu(float* out, const float* a, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += a[i];
  out[0] = static_cast<float>(s);
}

void sum_backward_cpu(float* da, const float* dout, float s, int64_t n) {
  const float g = s * dout[0];
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) da[i] += g;
}

void add_channel_bias_cpu(float* out, const float* a, const float* bias, int64_t outer, int64_t C, int64_t inner) {
#pragma omp parallel for collapse(2) schedule(static) if (outer * C * inner > 65536)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < C; ++c) {
      const float* src = a + (o * C + c) * inner;
      float* dst = out + (o * C + c) * inner;
      for (int64_t i = 0; i < inner; ++i) dst[i] = src[i] + bias[c];
    }
}

void channel_sum_backward_cpu(float* dbias, const float* dout, int64_t outer, int64_t C, int64_t inner) {
#pragma omp parallel for schedule(static) if (outer * C * inner > 65536)
  for (int64_t c = 0; c < C; ++c) {
    double s = 0.0;
    for (int64_t o = 0; o < outer; ++o) {
      const float* src = dout + (o * C + c) * inner;
      for (int64_t i = 0; i < inner; ++i) s += src[i];
    }
    dbias[c] += static_cast<float>(s);
  }
}

}  // namespace ssmtl::kernels
