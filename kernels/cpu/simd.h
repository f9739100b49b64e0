// Fixed-width float vectors for hand-blocked CPU kernels, written with GCC vector extensions so the same code
// compiles to AVX-512 (16 lanes, 32 registers), AVX/AVX2 (8 lanes, 16 registers) or SSE (4 lanes).
// CPU-internal helper of kernels/cpu/*.cpp.
#pragma once
#include <cstring>

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

// Sum of the lanes in lane order (deterministic).
inline float hsum(const vec& v) {
  float s = 0.f;
  for (int i = 0; i < VL; ++i) s += v[i];
  return s;
}

}  // namespace ssmtl::kernels::simd
