// bf16-product variant of the direct stride-1 convolution of conv3d_direct.cpp, used for the forward pass and
// the input gradient when use_bf16_products() (kernels/precision.h): inputs and weights are rounded to bfloat16
// (round to nearest even), each product is exact and the sums are float32 (AVX512_BF16 VDPBF16PS, which adds two
// products per lane: here the products of two consecutive input channels). CPU-internal; no CUDA twin: the CUDA
// convolutions compute in fp32 in both precision modes.
#pragma once
#include <algorithm>
#include <cstdint>

#include "kernels/cpu/conv_epilogue.h"

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
// ep (not with accumulate): applied to each block of output channels as it is written.
// Requires cpu_has_bf16() (the caller checks through use_bf16_products()).
void direct_conv_bf16(float* out, const float* x, const float* w, const float* bias, bool accumulate, int64_t N,
                      bool parallel, const DirectShape& s, const Epilogue& ep = {});

// The same on AMX tiles (conv3d_direct_amx.cpp; direct_conv_bf16 calls it when use_amx_products() and
// direct_conv_amx_applicable(s)): one group, and Cin_g / 2 (rounded up) <= 16 or a multiple of 16. The float32
// sums run in another order than direct_conv_bf16's, so the two differ by float32 rounding. Requires
// cpu_has_amx_bf16().
bool direct_conv_amx_applicable(const DirectShape& s);
void direct_conv_amx(float* out, const float* x, const float* w, const float* bias, bool accumulate, int64_t N,
                     bool parallel, const DirectShape& s, const Epilogue& ep = {});

// The weight gradient on AMX tiles (conv3d_direct_amx_wgrad.cpp; conv3d_direct.cpp calls it when
// use_amx_products() and direct_weight_grad_amx_applicable(s): one group, >= 16 input channels). Same contract as
// direct_weight_grad_bf16, sums in another order. Requires cpu_has_amx_bf16().
bool direct_weight_grad_amx_applicable(const DirectShape& s);
void direct_weight_grad_amx(float* dw, const float* dout, const float* x, int64_t N, bool parallel,
                            const DirectShape& s);
// The weight gradient on AMX tiles for few input channels (conv3d_direct_amx_wgrad_few.cpp; conv3d_direct.cpp
// calls it when use_amx_products() and direct_weight_grad_amx_few_applicable(s): one group, < 16 input channels,
// e.g. the RGB input): the columns of a tile are (input channel, kh, kw) instead of 16 input channels. Same
// contract as direct_weight_grad_bf16, sums in another order. Requires cpu_has_amx_bf16().
bool direct_weight_grad_amx_few_applicable(const DirectShape& s);
void direct_weight_grad_amx_few(float* dw, const float* dout, const float* x, int64_t N, bool parallel,
                                const DirectShape& s);

// The columns [x0, x1) of a staged row of Wq whose input column x + shift exists (0 <= x + shift < W); empty when
// x1 <= x0. The shifted layouts (conv3d_direct.cpp, conv3d_direct_bf16.cpp) stage copy kw with shift = kw - pW.
struct StagedColumns {
  int64_t x0, x1;
  StagedColumns(int64_t W, int64_t shift, int64_t Wq)
      : x0(shift < 0 ? std::min(-shift, Wq) : 0), x1(std::max(x0, std::min(Wq, W - shift))) {}
};

// dst[x] = (bf16(a[x]), bf16(b[x])) as one 32-bit pair, for x < W; b == nullptr: a zero partner channel.
void bf16_pair_row(uint32_t* dst, const float* a, const float* b, int64_t W);

// One group's input as padded channel-pair planes (the B operand layout of the bf16 and AMX convolutions):
// channels (2 pr, 2 pr + 1) of xn (Cin, D, H, W) become plane pr of xp (pair units; plane stride cstride, Hp rows
// of Wq a depth slice), written at offset (pD, pH, pW); the partner of an odd last channel is zero. The border
// and the slack are not written: the caller zeroes them once and they stay so.
struct PairPlanes {
  int64_t Cin, Cp, D, H, W, pD, pH, pW, Hp, Wq, cstride;
};
void pad_pair_planes(uint32_t* xp, const float* xn, const PairPlanes& p);

// dw (groups * Cout_g, Cin_g, k...) += sum over samples and positions of dout x shifted x, with
//   dout (N, groups * Cout_g, out...), x (N, groups * Cin_g, in...); both rounded to bf16, VDPBF16PS adding the
// products of two adjacent positions (positions are the outputs' rows laid end to end, the input staged as kW
// copies shifted by kw, so the pairs may cross a row end; the dout of positions past a slice is zero). Each thread
// takes an equal share of the samples; per-thread partial sums are added in thread order: deterministic for a
// fixed thread count, as the fp32 kernel. Requires cpu_has_bf16().
void direct_weight_grad_bf16(float* dw, const float* dout, const float* x, int64_t N, bool parallel,
                             const DirectShape& s);

}  // namespace ssmtl::kernels::detail
