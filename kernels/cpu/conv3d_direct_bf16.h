// bf16-product variant of the direct stride-1 convolution of conv3d_direct.cpp, used for the forward pass and
// the input gradient when use_bf16_products() (kernels/precision.h): inputs and weights are rounded to bfloat16
// (round to nearest even), each product is exact and the sums are float32 (AVX512_BF16 VDPBF16PS, which adds two
// products per lane: here the products of two consecutive input channels). CPU-internal; no CUDA twin: the CUDA
// convolutions compute in fp32 in both precision modes.
#pragma once
#include <cstdint>

namespace ssmtl::kernels::detail {

// One stride-1 convolution of groups x (Cin_g -> Cout_g) channels: kernel k, zero padding pad on both sides,
// input extent in, output extent out = in + 2 pad - k + 1 (each {D, H, W}).
struct DirectShape {
  int64_t Cin_g, Cout_g, groups;
  int64_t k[3], pad[3], in[3], out[3];
};

// out (N, groups * Cout_g, out...) = bias + conv(x), or (accumulate) out += conv(x) with bias ignored, where
//   x (N, groups * Cin_g, in...), w (groups * Cout_g, Cin_g, k...) float32, bias (groups * Cout_g) or nullptr.
// Each output element is summed by one thread in a fixed order (deterministic, independent of the thread count).
// Requires cpu_has_bf16() (the caller checks through use_bf16_products()).
void direct_conv_bf16(float* out, const float* x, const float* w, const float* bias, bool accumulate, int64_t N,
                      bool parallel, const DirectShape& s);

// dw (groups * Cout_g, Cin_g, k...) += sum over samples and positions of dout x shifted x, with
//   dout (N, groups * Cout_g, out...), x (N, groups * Cin_g, in...); both rounded to bf16, VDPBF16PS adding the
// products of two adjacent positions (positions are enumerated in the zero-padded input's flat layout, so the
// pairs may cross a row end: the dout of positions past a row is zero). Per-thread partial sums are added in
// thread order: deterministic for a fixed thread count, as the fp32 kernel. Requires cpu_has_bf16().
void direct_weight_grad_bf16(float* dw, const float* dout, const float* x, int64_t N, bool parallel,
                             const DirectShape& s);

}  // namespace ssmtl::kernels::detail
