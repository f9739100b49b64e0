// Branch-free float exp and erf that GCC vectorises inside `#pragma omp simd` loops (glibc's expf / erff
// are scalar calls unless -ffast-math). Used by the activation and loss kernels.
//   exp_approx: Cody-Waite range reduction x = n ln2 + r, |r| <= ln2 / 2, degree-6 polynomial (Cephes expf
//     coefficients), scaled by 2^n through the exponent bits. Within 2 ulp of exp for normal results
//     (subnormal ones down to x = -103.9, then 0; +inf above 88.8); exp_approx(0) = 1 exactly.
//   erf_approx: Maclaurin series for |x| < 0.5, else Abramowitz & Stegun 7.1.26 (the formula PyTorch's
//     vectorised CPU erf uses); |error| < 3.5e-7 absolute, odd, exactly +-1 for |x| > 4.
#pragma once
#include <cmath>
#include <cstdint>

namespace ssmtl::kernels {

inline float pow2i(int32_t n) {   // 2^n for n in [-126, 127]
  // __builtin_bit_cast (GCC >= 11, Clang >= 9) keeps this in registers; memcpy would stop vectorisation.
  return __builtin_bit_cast(float, (n + 127) << 23);
}

inline float exp_approx(float x) {
  // Ternaries, adds and fma only: GCC does not vectorise std::fmin / std::floor without -ffast-math.
  float xc = x < -103.9f ? -103.9f : x;
  xc = xc > 88.8f ? 88.8f : xc;
  // Round to nearest integer: adding and subtracting 1.5 * 2^23 drops the fraction (|n| < 2^22).
  const float n = (xc * 1.44269504088896341f + 12582912.f) - 12582912.f;
  float r = std::fma(n, -0.693359375f, xc);    // ln2 split in a part exact in float and a correction
  r = std::fma(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  p = std::fma(p, r * r, r) + 1.f;
  // 2^n in two factors, so n in [-150, 128] reaches subnormal results and FLT_MAX without a bad exponent.
  const int32_t n1 = static_cast<int32_t>(n) / 2, n2 = static_cast<int32_t>(n) - n1;
  const float y = p * pow2i(n1) * pow2i(n2);
  return x < -103.9f ? 0.f : (x > 88.8f ? INFINITY : y);
}

inline float erf_approx(float x) {
  const float ax = std::fabs(x);
  // |x| < 0.5: Maclaurin series to x^11 (relative error < 3e-8), avoiding the cancellation of 1 - (~1) below.
  const float x2 = x * x;
  float s = -1.f / 1320.f;
  s = std::fma(s, x2, 1.f / 216.f);
  s = std::fma(s, x2, -1.f / 42.f);
  s = std::fma(s, x2, 1.f / 10.f);
  s = std::fma(s, x2, -1.f / 3.f);
  s = std::fma(s, x2, 1.f);
  const float small = 1.1283791670955126f * x * s;
  // |x| >= 0.5: Abramowitz & Stegun 7.1.26.
  const float t = 1.f / std::fma(0.3275911f, ax, 1.f);
  float p = 1.061405429f;
  p = std::fma(p, t, -1.453152027f);
  p = std::fma(p, t, 1.421413741f);
  p = std::fma(p, t, -0.284496736f);
  p = std::fma(p, t, 0.254829592f);
  const float e = 1.f - p * t * exp_approx(-x2);
  const float large = x < 0.f ? -e : e;
  return ax < 0.5f ? small : large;
}

// Largest of K >= 1 values.
inline float row_max(const float* x, int64_t K) {
  float m = x[0];
#pragma omp simd reduction(max : m)
  for (int64_t k = 1; k < K; ++k) m = x[k] > m ? x[k] : m;
  return m;
}

// sum_k exp(x[k] - m) accumulated in double, in a fixed order. The exps go through a small buffer so both
// loops vectorise (GCC does not if-convert exp_approx inside a mixed float/double reduction).
inline double sum_exp_shifted(const float* x, int64_t K, float m) {
  constexpr int64_t kChunk = 256;
  float e[kChunk];
  double s = 0.0;
  for (int64_t k0 = 0; k0 < K; k0 += kChunk) {
    const int64_t len = K - k0 < kChunk ? K - k0 : kChunk;
#pragma omp simd
    for (int64_t k = 0; k < len; ++k) e[k] = exp_approx(x[k0 + k] - m);
#pragma omp simd reduction(+ : s)
    for (int64_t k = 0; k < len; ++k) s += e[k];
  }
  return s;
}

// Row maximum m and log sum_k exp(x[k] - m) of K >= 1 values: log-sum-exp = m + log_sum, kept apart so the
// caller can form (x - m) - log_sum without rounding m + log_sum first.
inline void row_logsumexp(const float* x, int64_t K, float& m, float& log_sum) {
  m = row_max(x, K);
  log_sum = static_cast<float>(std::log(sum_exp_shifted(x, K, m)));
}

}  // namespace ssmtl::kernels
