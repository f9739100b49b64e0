// GELU on whole vectors (simd::vec: 16 lanes on AVX-512): y = x Phi(x), Phi the standard normal cdf
// (1 + erf(x / sqrt 2)) / 2, PyTorch's default (erf) form; units: x and y in the same units, GELU' dimensionless.
// - With AVX-512: Phi and GELU' = Phi + x phi as piecewise polynomials (kernels/cpu/gelu_tables.h, made by
//   scripts/gen_gelu_tables.py: degree 5 on 32 intervals of [-6, 6); the polynomials' own error 3e-8 and 6e-8), one
//   two-table permute per coefficient: ~28 instructions a vector, 1.9x the speed of the form below where GELU runs
//   fused after a product (BM_GeluInCache, one thread, in L1: 4.6 against 8.8 ns a vector on this Zen 4; the
//   forward GELU was ~25 ms of the paper-size v1 bf16 training step, now ~15).
// - Otherwise Abramowitz & Stegun 7.1.26, erf(z) = 1 - t (a1 + a2 t + ... + a5 t^4) exp(-z^2), t = 1 / (1 + p |z|)
//   (|error| <= 1.5e-7), with exp(-z^2) for z^2 in [0, 16] only: beyond, erfc(z) < 1.2e-8 is below half an ulp of
//   1, so erf = +-1 and the pdf is taken as 0. Written on vectors rather than left to `#pragma omp simd` because
//   GCC then picks 8 lanes on this CPU and evaluates vmath.h's general-range exp and erf (~55 operations an
//   element, compute-bound: 5x the time of a copy, docs/WALKTHROUGH.md section 9); this form takes ~25.
// Against the exact form (tests/test_activation.cpp): GELU within 1.5e-7 |x| with the tables, 3e-7 |x| without;
// GELU' within 1.5e-7 (absolute) with the tables, 4e-7 without. Their bits differ, so a CPU with AVX-512 and one
// without train to slightly different weights.
// CPU-internal helper of kernels/cpu/activation.cpp (and bench/bench_memory_ops.cpp, which times both forms).
#pragma once
#include <cstdint>

#include "kernels/cpu/simd.h"
#if defined(__AVX512F__)
#include "kernels/cpu/gelu_tables.h"
#endif

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

// y = x Phi(x) on one vector, Phi from Abramowitz & Stegun (the form without AVX-512; BM_GeluInCache's reference)
inline vec gelu_as(vec x) {
  vec cdf, gauss;
  cdf_and_gauss(x, cdf, gauss);
  return x * cdf;
}

// d gelu / dx = Phi(x) + x phi(x) on one vector, Abramowitz & Stegun
inline vec gelu_derivative_as(vec x) {
  vec cdf, gauss;
  cdf_and_gauss(x, cdf, gauss);
  return cdf + x * (gauss * kInvSqrt2Pi);
}

#if defined(__AVX512F__)
// The two-table permute below holds exactly 32 intervals, and the upper clamp takes the range symmetric about 0.
static_assert(kTableIntervals == 32 && kTableLo + kTableIntervals * kTableStep == -kTableLo,
              "gelu_tables.h: table_poly expects 32 intervals on [-L, L)");

// The table's polynomial at every lane's x: interval j = floor((x + 6) / (3/8)) clamped to [0, 31], t = x - x_j with
// x clamped to 6 (t exact except on [-3/16, 0), where it rounds by at most 1.5e-8: Phi moves by < 1e-8), 0 for
// x < -6. A NaN x gives some finite value; callers keep it NaN.
inline __m512 table_poly(__m512 x, const float (&tab)[kTableDegree + 1][kTableIntervals]) {
  const __m512 xc = _mm512_min_ps(x, _mm512_set1_ps(-kTableLo));
  const __m512 u = _mm512_fmadd_ps(xc, _mm512_set1_ps(1.f / kTableStep), _mm512_set1_ps(-kTableLo / kTableStep));
  const __m512 uc = _mm512_min_ps(_mm512_max_ps(u, _mm512_setzero_ps()), _mm512_set1_ps(kTableIntervals - 1.f));
  const __m512 f = _mm512_roundscale_ps(uc, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __m512i j = _mm512_cvttps_epi32(f);
  const __m512 t = _mm512_sub_ps(xc, _mm512_fmadd_ps(f, _mm512_set1_ps(kTableStep), _mm512_set1_ps(kTableLo)));
  auto coef = [&](int k) { return _mm512_permutex2var_ps(_mm512_load_ps(tab[k]), j, _mm512_load_ps(tab[k] + 16)); };
  __m512 p = coef(kTableDegree);
  for (int k = kTableDegree - 1; k >= 0; --k) p = _mm512_fmadd_ps(p, t, coef(k));
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(kTableLo), _CMP_NLT_UQ), p);   // x < -6: 0
}

// y = x Phi(x) on one vector (x = NaN or +-inf: x Phi, as the exact form: NaN, inf, and NaN for -inf)
inline vec gelu(vec x) {
  const __m512 v = reinterpret_cast<__m512>(x);
  return reinterpret_cast<vec>(_mm512_mul_ps(v, table_poly(v, kCdfTable)));
}

// d gelu / dx = Phi(x) + x phi(x) on one vector (NaN for NaN)
inline vec gelu_derivative(vec x) {
  const __m512 v = reinterpret_cast<__m512>(x);
  const __m512 d = table_poly(v, kDerivativeTable);
  return reinterpret_cast<vec>(_mm512_mask_mov_ps(d, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v));
}
#else
inline vec gelu(vec x) { return gelu_as(x); }
inline vec gelu_derivative(vec x) { return gelu_derivative_as(x); }
#endif

}  // namespace ssmtl::kernels::gelu_vec
