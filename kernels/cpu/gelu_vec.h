// GELU on whole vectors (simd::vec: 16 lanes on AVX-512): the standard normal cdf Phi(x) = (1 + erf(x / sqrt 2)) / 2
// from Abramowitz & Stegun 7.1.26, erf(z) = 1 - t (a1 + a2 t + ... + a5 t^4) exp(-z^2), t = 1 / (1 + p |z|)
// (|error| <= 1.5e-7), with exp(-z^2) for z^2 in [0, 16] only: beyond, erfc(z) < 1.2e-8 is below half an ulp of
// 1, so erf = +-1 and the pdf is taken as 0. Written on vectors rather than left to `#pragma omp simd` because
// GCC then picks 8 lanes on this CPU and evaluates vmath.h's general-range exp and erf (~55 operations an
// element, compute-bound: 5x the time of a copy, docs/WALKTHROUGH.md section 9); this form takes ~25.
// CPU-internal helper of kernels/cpu/activation.cpp.
#pragma once
#include <cstdint>

#include "kernels/cpu/simd.h"

namespace ssmtl::kernels::gelu_vec {

using simd::vec;
using ivec = int32_t __attribute__((vector_size(simd::VL * sizeof(int32_t))));

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

// exp(-a) for a in [0, 16] (callers clamp): Cody-Waite reduction -a = n ln2 + r with n in [-24, 0], the degree-6
// polynomial of vmath.h's exp_approx (Cephes expf), 2^n through the exponent bits (never subnormal here).
inline vec exp_neg(vec a) {
  const vec x = -a;
  const vec n = (x * 1.44269504088896341f + 12582912.f) - 12582912.f;   // round to nearest (|n| < 2^22)
  vec r = n * -0.693359375f + x;
  r = n * 2.12194440e-4f + r;
  vec p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.f;
  const ivec e = (__builtin_convertvector(n, ivec) + 127) << 23;
  return p * reinterpret_cast<vec>(e);
}

// Phi(x) and exp(-x^2 / 2) (0 where x^2 / 2 > 16), the two factors of GELU and its derivative.
inline void cdf_and_gauss(vec x, vec& cdf, vec& gauss) {
  const vec z = x * kInvSqrt2;
  const vec az = reinterpret_cast<vec>(reinterpret_cast<ivec>(z) & 0x7fffffff);
  const vec t = 1.f / (az * 0.3275911f + 1.f);
  vec p = t * 1.061405429f - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  p = p * t;
  const vec z2 = z * z;
  const auto far = z2 > 16.f;
  gauss = far ? vec{} : exp_neg(far ? vec{} + 16.f : z2);
  // 1 - |erf(z)| = p exp(-z^2): Phi = (1 - |erf|) / 2 for z < 0 without the cancellation of 1 + erf(z).
  const vec half_erfc = 0.5f * p * gauss;
  cdf = z < 0.f ? half_erfc : 1.f - half_erfc;
}

// y = x Phi(x) on one vector
inline vec gelu(vec x) {
  vec cdf, gauss;
  cdf_and_gauss(x, cdf, gauss);
  return x * cdf;
}

// d gelu / dx = Phi(x) + x phi(x) on one vector
inline vec gelu_derivative(vec x) {
  vec cdf, gauss;
  cdf_and_gauss(x, cdf, gauss);
  return cdf + x * (gauss * kInvSqrt2Pi);
}

}  // namespace ssmtl::kernels::gelu_vec
