// bfloat16 helpers of the CPU kernels (CPU-internal). A bf16 value is the upper half of a float32's bits,
// rounded to nearest even (Intel's VCVTNEPS2BF16; also how PyTorch's bfloat16 casts round). The vector
// conversion flushes float32 denormals to zero (as the instruction does), and so does the scalar one, so both
// give the same bits for every finite input.
#pragma once
#include <cstdint>
#include <cstring>

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

}  // namespace ssmtl::kernels::bf16
