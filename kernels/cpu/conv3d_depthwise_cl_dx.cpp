// The channels-last depthwise conv3d's input gradient for whole channel vectors, one sample at a time
// (kernels/cpu/conv3d_depthwise_cl_dw.h): per channel vector, a block of 8 input positions along W is gathered at
// once, so each tap's weight vector is loaded once for 8 multiply-adds (the row loop of conv3d_depthwise_cl.cpp
// loads a weight and a dout vector for each: two loads per multiply-add, its limit). The output column of each
// (block position, kw) pair is a compile-time offset once the loops are unrolled (stride 1 or 2 along W); whether
// it exists is a bit of a per-block mask, the same for every row, so its branch is predicted. Each position sums
// its taps in the order kd, kh, kw, skipping the same ones as the row loop: bitwise its results.
// It runs inside the fused backward (conv3d_depthwise_cl_padded.cpp), where the sample's dout rows are in cache:
// 1.4x the row loop there. dx alone keeps the row loop: its whole-position accesses suit the hardware
// prefetcher, and it measured faster from memory (one thread, 128 samples of 7x8x8x96: 9.7 vs 10.5 ms).
#include <algorithm>
#include <vector>

#include "kernels/cpu/conv3d_depthwise_cl_dw.h"
#include "kernels/cpu/simd.h"

namespace ssmtl::kernels::detail {

namespace {

using simd::loadu;
using simd::storeu;
using simd::vec;
using simd::VL;

constexpr int WB = 8;   // input positions along W per block (8 accumulators)

// One block of input positions w0 + j, j < nb, along W. With base * SW + PAR = w0 + pW (PAR < SW), tap kw puts
// position j under output column base + (j - kw + PAR) / SW when that divides; bit j of mask[kw] says whether
// that column exists (0 <= it < Wo).
struct WBlock {
  int64_t w0, base;
  int nb;
  unsigned mask[3];
};

WBlock w_block(const Conv3dGeometry& g, int64_t w0) {
  WBlock b{};
  b.w0 = w0;
  b.nb = static_cast<int>(std::min<int64_t>(WB, g.W - w0));
  b.base = (w0 + g.pW) / g.sW;
  for (int kw = 0; kw < 3; ++kw)
    for (int j = 0; j < b.nb; ++j) {
      const int64_t t = w0 + j + g.pW - kw;
      if (t >= 0 && t % g.sW == 0 && t / g.sW < g.Wo) b.mask[kw] |= 1u << j;
    }
  return b;
}

// The output index along D (or H) whose window puts tap k on input index i, or -1.
inline int64_t source(int64_t i, int64_t p, int64_t k, int64_t s, int64_t n_out) {
  const int64_t t = i + p - k;
  if (t < 0 || t % s != 0) return -1;
  return t / s < n_out ? t / s : -1;
}

// dx rows (n, d, h, w0 .. w0 + nb) for C = NV * VL channels, stride SW along W, (w0 + pW) % SW == PAR.
template <int NV, int SW, int PAR>
void dx_block(float* dx, const float* dout, const float* wt, const Conv3dGeometry& g, int64_t n, int64_t d, int64_t h,
              const WBlock& b, bool add) {
  constexpr int64_t C = NV * VL;
  int64_t od[3], oh[3];   // per kd / kh: the output plane and row over (d, h), or -1
  for (int k = 0; k < g.kD; ++k) od[k] = source(d, g.pD, k, g.sD, g.Do);
  for (int k = 0; k < 3; ++k) oh[k] = source(h, g.pH, k, g.sH, g.Ho);
  float* row = dx + (((n * g.D + d) * g.H + h) * g.W + b.w0) * C;
  for (int v = 0; v < NV; ++v) {
    vec acc[WB];
#pragma GCC unroll 8
    for (int j = 0; j < WB; ++j) acc[j] = add && j < b.nb ? loadu(row + j * C + v * VL) : vec{};
    for (int kd = 0; kd < g.kD; ++kd) {
      if (od[kd] < 0) continue;
      for (int kh = 0; kh < 3; ++kh) {
        if (oh[kh] < 0) continue;
        const float* go = dout + (((n * g.Do + od[kd]) * g.Ho + oh[kh]) * g.Wo + b.base) * C + v * VL;
        const float* wk = wt + (kd * 3 + kh) * 3 * C + v * VL;
#pragma GCC unroll 3
        for (int kw = 0; kw < 3; ++kw) {
          const vec wv = loadu(wk + kw * C);
          const unsigned m = b.mask[kw];
#pragma GCC unroll 8
          for (int j = 0; j < WB; ++j) {
            const int q = j - kw + PAR;   // a constant once unrolled
            if (q % SW == 0 && (m >> j & 1u)) acc[j] += wv * loadu(go + q / SW * C);
          }
        }
      }
    }
#pragma GCC unroll 8
    for (int j = 0; j < WB; ++j)
      if (j < b.nb) storeu(row + j * C + v * VL, acc[j]);
  }
}

}  // namespace

bool depthwise_cl_dx_applies(const Conv3dGeometry& g) {
  return g.kH == 3 && g.kW == 3 && g.kD <= 3 && (g.sW == 1 || g.sW == 2) && g.Cin % VL == 0 && g.Cin / VL <= 8;
}

void depthwise_cl_dx_sample(float* dx, const float* dout, const float* wt, const Conv3dGeometry& g, int64_t n,
                            bool add) {
  if (!depthwise_cl_dx_applies(g)) return;
  std::vector<WBlock> blocks;   // (blocks start at multiples of WB, even: (w0 + pW) % 2 is the same for all)
  for (int64_t w0 = 0; w0 < g.W; w0 += WB) blocks.push_back(w_block(g, w0));
  with_vectors(g.Cin, [&](auto nv) {
    constexpr int NV = decltype(nv)::value;
    for (int64_t d = 0; d < g.D; ++d)
      for (int64_t h = 0; h < g.H; ++h)
        for (const WBlock& b : blocks) {
          if (g.sW == 1) dx_block<NV, 1, 0>(dx, dout, wt, g, n, d, h, b, add);
          else if (g.pW % 2 == 0) dx_block<NV, 2, 0>(dx, dout, wt, g, n, d, h, b, add);
          else dx_block<NV, 2, 1>(dx, dout, wt, g, n, d, h, b, add);
        }
  });
}

}  // namespace ssmtl::kernels::detail
