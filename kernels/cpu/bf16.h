// bfloat16 helpers of the CPU kernels (CPU-internal). A bf16 value is the upper half of a float32's bits,
// rounded to nearest even (Intel's VCVTNEPS2BF16; also how PyTorch's bfloat16 casts round). The vector
// conversion flushes float32 denormals to zero (as the instruction does), and so does the scalar one, so both
// give the same bits for every finite input.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

// The vector helpers below need AVX512_BF16 (and BW for the masked 16-bit store); their callers check the CPU.
#define SSMTL_BF16_VECTOR __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

namespace ssmtl::kernels::bf16 {

inline uint16_t from_float(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7f800000u) == 0) return static_cast<uint16_t>((u >> 16) & 0x8000u);   // zero / denormal -> +-0
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);   // NaN -> quiet NaN
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);   // (infinities stay infinite)
}

inline float to_float(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// The float32 value a bf16 product sees: to_float(from_float(f)).
inline float round(float f) { return to_float(from_float(f)); }

// dst[0, n) = bf16(src[0, n)) with VCVTNEPS2BF16, 16 at a time (the tail masked).
SSMTL_BF16_VECTOR inline void convert_row(uint16_t* dst, const float* src, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm256_mask_storeu_epi16(dst + i, m, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i)));
  }
}

// 32-bit lane j of the result = the pair (bf16(lo[j]), bf16(hi[j])), lo in the low half: the operand layout of
// VDPBF16PS and TDPBF16PS (pairs along the reduction).
SSMTL_BF16_VECTOR inline __m512i pairs(__m512 lo, __m512 hi) {
  const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                       21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));   // lo in the low 16 halves
}

}  // namespace ssmtl::kernels::bf16
