// The float expressions of eval/training batch norm's output, shared by batch_norm_forward_cpu /
// batch_norm_relu_forward_cpu (norm.cpp) and the convolutions that apply batch norm + ReLU as they write their
// output (conv3d_bn_relu_forward_cpu): one definition, so the fused and unfused paths give the same bits.
// CPU-internal.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace ssmtl::kernels::detail {

// The pre-activation of batch norm, x normalised then scaled and shifted: s = invstd * gamma, b = beta. One
// explicit fused multiply-add, so that the fused backward recomputes exactly the value the forward wrote (a
// contraction left to the compiler may differ between two loops).
inline float bn_affine(float x, float mu, float s, float b) { return std::fma(x - mu, s, b); }
// Its per-channel scale s and shift b (gamma / beta nullptr = 1 / 0).
inline float bn_scale(const float* invstd, const float* gamma, int64_t c) {
  return invstd[c] * (gamma ? gamma[c] : 1.f);
}
inline float bn_shift(const float* beta, int64_t c) { return beta ? beta[c] : 0.f; }
// max(0, v) as relu_forward_cpu writes it: NaN and -0 give +0.
inline float relu_value(float v) { return v > 0.f ? v : 0.f; }
// The ReLU's backward on one gradient value: dy + 0.f where keep, else +0 (+ 0.f maps -0 to +0 as
// relu_backward_cpu's add into the zeroed gradient of the unfused composition does). An AND of the bits, the same
// value as the select keep ? dy + 0.f : 0.f: GCC 12 leaves the backward's sum loops scalar with the select
// ("control flow in loop"), 4x slower; with the AND they vectorise.
inline float masked(float dy, bool keep) {
  const float g = dy + 0.f;
  uint32_t bits;
  std::memcpy(&bits, &g, sizeof bits);
  bits &= 0u - static_cast<uint32_t>(keep);
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

}  // namespace ssmtl::kernels::detail
