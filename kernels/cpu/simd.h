// Fixed-width float vectors for hand-blocked CPU kernels, written with GCC vector extensions so the same code
// compiles to AVX-512 (16 lanes, 32 registers), AVX/AVX2 (8 lanes, 16 registers) or SSE (4 lanes).
// CPU-internal helper of kernels/cpu/*.cpp.
#pragma once
#include <cmath>
#include <cstring>
#if defined(__AVX512F__) || defined(__FMA__)
// GCC 12 flags the self-initialised undefined vectors inside its own AVX-512 intrinsics (a known false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

namespace ssmtl::kernels::simd {

#if defined(__AVX512F__)
constexpr int VL = 16;          // floats per vector
constexpr int kRegisters = 32;  // vector registers
#elif defined(__AVX__)
constexpr int VL = 8;
constexpr int kRegisters = 16;
#else
constexpr int VL = 4;
constexpr int kRegisters = 16;
#endif

using vec = float __attribute__((vector_size(VL * sizeof(float))));

// Unaligned load and store (memcpy of a vector compiles to one move instruction).
inline vec loadu(const float* p) {
  vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void storeu(float* p, const vec& v) { std::memcpy(p, &v, sizeof v); }

// Lane masks (bit i = lane i) for loads and stores that must touch some lanes only, e.g. the end of a row whose
// length is not a multiple of VL: a lane that is off is neither read nor written (no access past a buffer).
using mask_t = unsigned;
constexpr mask_t kAllLanes = (1u << VL) - 1u;
inline mask_t first_lanes(int n) { return (1u << n) - 1u; }   // 0 <= n <= VL

// loaded lanes of p where m is set, 0 elsewhere
inline vec load_masked(const float* p, mask_t m) {
#if defined(__AVX512F__)
  return reinterpret_cast<vec>(_mm512_maskz_loadu_ps(static_cast<__mmask16>(m), p));
#else
  vec v{};
  for (int i = 0; i < VL; ++i)
    if (m >> i & 1u) v[i] = p[i];
  return v;
#endif
}
inline void store_masked(float* p, const vec& v, mask_t m) {
#if defined(__AVX512F__)
  _mm512_mask_storeu_ps(p, static_cast<__mmask16>(m), reinterpret_cast<__m512>(v));
#else
  for (int i = 0; i < VL; ++i)
    if (m >> i & 1u) p[i] = v[i];
#endif
}
// x in every lane, -0 included (vec{} + x would turn -0 into +0).
inline vec splat(float x) {
  vec v;
  for (int i = 0; i < VL; ++i) v[i] = x;
  return v;
}
// a * b + c per lane with one rounding (std::fma's bits), in one instruction where the build targets FMA.
inline vec fma_lanes(const vec& a, const vec& b, const vec& c) {
#if defined(__AVX512F__)
  return reinterpret_cast<vec>(_mm512_fmadd_ps(reinterpret_cast<__m512>(a), reinterpret_cast<__m512>(b),
                                               reinterpret_cast<__m512>(c)));
#elif defined(__FMA__) && defined(__AVX__)
  return reinterpret_cast<vec>(_mm256_fmadd_ps(reinterpret_cast<__m256>(a), reinterpret_cast<__m256>(b),
                                               reinterpret_cast<__m256>(c)));
#else
  vec r;
  for (int i = 0; i < VL; ++i) r[i] = std::fma(a[i], b[i], c[i]);
  return r;
#endif
}
// Sum of the lanes in lane order (deterministic).
inline float hsum(const vec& v) {
  float s = 0.f;
  for (int i = 0; i < VL; ++i) s += v[i];
  return s;
}

}  // namespace ssmtl::kernels::simd
