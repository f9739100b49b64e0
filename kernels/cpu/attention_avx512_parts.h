// AVX-512 building blocks of the token-major attention kernels (CPU-internal): attention_tokens_avx512.cpp (fp32
// products) and attention_tokens_bf16.cpp (VDPBF16PS products) share them. Every function carries its own target
// attribute: the build need not target AVX-512, the callers check the CPU at run time.
#pragma once
// GCC 12 flags the self-initialised undefined vectors inside its own AVX-512 intrinsics (a known false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cpu/aligned.h"
#include "kernels/cpu/omp_workers.h"

#define SSMTL_AVX512 __attribute__((target("avx512f")))

namespace ssmtl::kernels::attn {

constexpr int kLanes = 16;
constexpr int kQueryBlock = 32;   // backward: queries whose dS rows stay in L1 (32 x Lk floats)
constexpr float kLog2e = 1.44269504088896341f;

// 2^x: x = n + r with n = round(x), |r| <= 1/2; 2^r by the polynomial c (highest degree first, Horner), times
// 2^n by scalef, which also gives 0 for n below the range.
template <int N>
SSMTL_AVX512 inline __m512 exp2_poly(__m512 x, const float (&c)[N]) {
  const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 r = _mm512_sub_ps(x, n);
  __m512 p = _mm512_set1_ps(c[0]);
  for (int i = 1; i < N; ++i) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c[i]));
  return _mm512_scalef_ps(p, n);
}

// 2^x with a degree-6 polynomial (relative-error fit on [-1/2, 1/2], made with numpy, max error 1e-7 in fp32).
SSMTL_AVX512 inline __m512 exp2_ps(__m512 x) {
  static constexpr float c[] = {1.534581243e-04f, 1.339993090e-03f, 9.618489072e-03f, 5.550328642e-02f,
                                2.402264625e-01f, 6.931471825e-01f, 1.f};
  return exp2_poly(x, c);
}

// log2 x for x >= 1 (here a softmax denominator): x = m 2^e with m in [0.75, 1.5), log m = 2 atanh(u),
// u = (m - 1) / (m + 1) in [-1/7, 1/5], by its series to u^11 (truncation < 1e-10). e = getexp(x / m) is exact.
SSMTL_AVX512 inline __m512 log2_ps(__m512 x) {
  const __m512 m = _mm512_getmant_ps(x, _MM_MANT_NORM_p75_1p5, _MM_MANT_SIGN_src);
  const __m512 e = _mm512_getexp_ps(_mm512_div_ps(x, m));
  const __m512 one = _mm512_set1_ps(1.f);
  const __m512 u = _mm512_div_ps(_mm512_sub_ps(m, one), _mm512_add_ps(m, one));
  const __m512 u2 = _mm512_mul_ps(u, u);
  __m512 p = _mm512_set1_ps(1.f / 11.f);
  p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(1.f / 9.f));
  p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(1.f / 7.f));
  p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(1.f / 5.f));
  p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(1.f / 3.f));
  p = _mm512_fmadd_ps(p, u2, one);
  return _mm512_fmadd_ps(_mm512_mul_ps(u, p), _mm512_set1_ps(2.f * kLog2e), e);
}

// 4 x 4 transposes inside each 128-bit lane of in[0..3] (element e of lane g of out[r] = element r of lane g of
// in[e]); its own inverse.
SSMTL_AVX512 inline void transpose4_lanes(const __m512* in, __m512* out) {
  const __m512 a0 = _mm512_unpacklo_ps(in[0], in[1]), a1 = _mm512_unpackhi_ps(in[0], in[1]);
  const __m512 a2 = _mm512_unpacklo_ps(in[2], in[3]), a3 = _mm512_unpackhi_ps(in[2], in[3]);
  out[0] = _mm512_shuffle_ps(a0, a2, 0x44);
  out[1] = _mm512_shuffle_ps(a0, a2, 0xEE);
  out[2] = _mm512_shuffle_ps(a1, a3, 0x44);
  out[3] = _mm512_shuffle_ps(a1, a3, 0xEE);
}

// Rows l < n of 16 rows of 8 floats at src + l * ld (zero for l >= n) as t[d][l], the inverse of store_rows8.
// [row k | row 4+k] and [row 8+k | row 12+k] come in by masked loads (the upper half at row - 8: masked-off
// lanes are never touched), the 128-bit lanes are regrouped, then transposed 4 x 4 inside the lanes.
SSMTL_AVX512 inline void load_rows8(__m512* t, const float* src, int64_t ld, int n) {
  auto mask = [n](int row, __mmask16 m) { return row < n ? m : static_cast<__mmask16>(0); };
  __m512 b[8];
  for (int k = 0; k < 4; ++k) {
    __m512 r01 = _mm512_maskz_loadu_ps(mask(k, 0x00FF), src + k * ld);
    r01 = _mm512_mask_loadu_ps(r01, mask(4 + k, 0xFF00), src + (4 + k) * ld - 8);
    __m512 r23 = _mm512_maskz_loadu_ps(mask(8 + k, 0x00FF), src + (8 + k) * ld);
    r23 = _mm512_mask_loadu_ps(r23, mask(12 + k, 0xFF00), src + (12 + k) * ld - 8);
    const __m512 lo = _mm512_shuffle_f32x4(r01, r01, 0xD8), hi = _mm512_shuffle_f32x4(r23, r23, 0xD8);
    b[k] = _mm512_shuffle_f32x4(lo, hi, 0x44);       // lane g: d0..d3 of row 4g + k
    b[4 + k] = _mm512_shuffle_f32x4(lo, hi, 0xEE);   // lane g: d4..d7 of row 4g + k
  }
  transpose4_lanes(b, t);
  transpose4_lanes(b + 4, t + 4);
}

// Writes 16 rows of 8 floats, row l = (t[0][l], ..., t[7][l]), to dst + l * ld for the n <= 16 rows l < n:
// the 8 x 16 block transposed in registers (the steps of load_rows8 backwards).
SSMTL_AVX512 inline void store_rows8(float* dst, int64_t ld, const __m512* t, int n) {
  __m512 b[8];
  transpose4_lanes(t, b);       // b[k] lane g = d0..d3 of row 4g + k
  transpose4_lanes(t + 4, b + 4);   // b[4 + k] lane g = d4..d7 of it
  for (int k = 0; k < 4; ++k) {
    const __m512 lo = _mm512_shuffle_f32x4(b[k], b[4 + k], 0x44);   // [k lo, 4+k lo, k hi, 4+k hi]
    const __m512 hi = _mm512_shuffle_f32x4(b[k], b[4 + k], 0xEE);   // rows 8+k, 12+k
    const __m512 r01 = _mm512_shuffle_f32x4(lo, lo, 0xD8);          // [row k | row 4+k]
    const __m512 r23 = _mm512_shuffle_f32x4(hi, hi, 0xD8);          // [row 8+k | row 12+k]
    if (k < n) _mm512_mask_storeu_ps(dst + k * ld, 0x00FF, r01);
    if (4 + k < n) _mm512_mask_storeu_ps(dst + (4 + k) * ld - 8, 0xFF00, r01);
    if (8 + k < n) _mm512_mask_storeu_ps(dst + (8 + k) * ld, 0x00FF, r23);
    if (12 + k < n) _mm512_mask_storeu_ps(dst + (12 + k) * ld - 8, 0xFF00, r23);
  }
}

// Lane sums of 8 vectors: result[d] = sum over the 16 lanes of t[d], by pairwise unpack / shuffle adds
// (24 instructions instead of 8 separate reductions of ~8 each). Fixed order: deterministic.
SSMTL_AVX512 inline __m256 lane_sums8(const __m512* t) {
  __m512 u[4];
  for (int a = 0; a < 4; ++a)
    u[a] = _mm512_add_ps(_mm512_unpacklo_ps(t[2 * a], t[2 * a + 1]), _mm512_unpackhi_ps(t[2 * a], t[2 * a + 1]));
  // per 128-bit lane: [t0, t1, t0, t1] partial sums -> [t0, t1, t2, t3]
  const __m512 v0 = _mm512_add_ps(_mm512_shuffle_ps(u[0], u[1], 0x44), _mm512_shuffle_ps(u[0], u[1], 0xEE));
  const __m512 v1 = _mm512_add_ps(_mm512_shuffle_ps(u[2], u[3], 0x44), _mm512_shuffle_ps(u[2], u[3], 0xEE));
  // 128-bit lanes: x = [v0 L0+L2, v0 L1+L3, v1 L0+L2, v1 L1+L3]
  const __m512 x = _mm512_add_ps(_mm512_shuffle_f32x4(v0, v1, 0x44), _mm512_shuffle_f32x4(v0, v1, 0xEE));
  // y lane 0 = x L0 + x L1 (t0..t3), y lane 2 = x L2 + x L3 (t4..t7)
  const __m512 y = _mm512_add_ps(x, _mm512_shuffle_f32x4(x, x, 0xB1));
  return _mm512_castps512_ps256(_mm512_shuffle_f32x4(y, y, 0x08));
}

// Aligned per-thread scratch: `per` floats for each worker, each block starting on a 64-byte boundary.
struct Scratch {
  avector<float> buf;
  int64_t per;
  explicit Scratch(int64_t floats) : per((floats + 15) / 16 * 16) {
    buf.resize(static_cast<size_t>(worker_count() * per + 16));
  }
  float* mine() {
    auto p = reinterpret_cast<uintptr_t>(buf.data());
    float* base = reinterpret_cast<float*>((p + 63) / 64 * 64);
    return base + worker_id() * per;
  }
};

}  // namespace ssmtl::kernels::attn
#pragma GCC diagnostic pop
