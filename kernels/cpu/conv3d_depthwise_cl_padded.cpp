// The channels-last depthwise conv3d's weight and bias gradients on zero-padded samples
// (kernels/cpu/conv3d_depthwise_cl_dw.h): for C a whole number of vectors (<= 8; the CvT's 96 = 6 on AVX-512)
// and 3x3 spatial kernels, any strides. Why: dw_all's branchy loop (conv3d_depthwise_cl_dw.cpp) checks every tap
// of every row and handles stride 1 along W only (the k / v projections' stride 2 fell to a tap-by-tap loop that
// reads the sample 27 times from L2). Here each sample is first copied into a zero-padded volume (per thread, in
// cache), so every tap of every output row is in range, and per channel vector the taps' 27 sums stay in
// registers while the sample's dout rows stream past once: each multiply-add is one instruction with a memory
// operand at a fixed offset. A padding tap adds go * 0, an exact zero, to its sum: the sums are dw_all's term for
// term in the same order (per sample a float sum over output rows ascending, samples in double), so the results
// are bitwise its results for finite dout (tests/test_depthwise_cl.cpp). Threads take whole samples: the bits do
// not depend on the thread count. (The same padding for the forward and dx was measured slower than the row
// loops of conv3d_depthwise_cl.cpp: the copy and one pass per channel vector over the output cost more than the
// branches; docs/RESULTS.md section 26.)
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

// The zero-padded sample under every output window: (Dp, Hp, Wp) rows of C, x at offset (pD, pH, pW).
struct Padded {
  int64_t Dp, Hp, Wp;
  explicit Padded(const Conv3dGeometry& g)
      : Dp((g.Do - 1) * g.sD + g.kD), Hp((g.Ho - 1) * g.sH + g.kH), Wp((g.Wo - 1) * g.sW + g.kW) {}
};

// xp (Dp, Hp, Wp, C) = sample n of x (N, D, H, W, C) at offset (pD, pH, pW), zero elsewhere.
void pad_sample(float* xp, const float* x, const Conv3dGeometry& g, const Padded& p, int64_t n) {
  const int64_t C = g.Cin;
  for (int64_t i = 0; i < p.Dp; ++i)
    for (int64_t j = 0; j < p.Hp; ++j) {
      float* row = xp + (i * p.Hp + j) * p.Wp * C;
      const int64_t d = i - g.pD, h = j - g.pH;
      if (d < 0 || d >= g.D || h < 0 || h >= g.H) {
        std::fill(row, row + p.Wp * C, 0.f);
        continue;
      }
      const float* s = x + ((n * g.D + d) * g.H + h) * g.W * C;
      for (int64_t k = 0; k < p.Wp; ++k) {
        const int64_t w = k - g.pW;
        if (w < 0 || w >= g.W) std::fill(row + k * C, row + (k + 1) * C, 0.f);
        else std::copy(s + w * C, s + (w + 1) * C, row + k * C);
      }
    }
}

template <int KD, int NV>
void dw_block(float* part, const float* dout, const float* xp, const Conv3dGeometry& g, const Padded& ps,
              int64_t n, int v, bool want_dw) {
  constexpr int TAPS = KD * 9;
  constexpr int64_t C = NV * VL;
  const int64_t sh = ps.Wp * C, sd = ps.Hp * sh;
  vec s[TAPS], sb{};
#pragma GCC unroll 27
  for (int t = 0; t < TAPS; ++t) s[t] = vec{};
  const float* go = dout + n * g.Do * g.Ho * g.Wo * C + v * VL;
  for (int64_t od = 0; od < g.Do; ++od)
    for (int64_t oh = 0; oh < g.Ho; ++oh) {
      const float* xr = xp + od * g.sD * sd + oh * g.sH * sh + v * VL;
      for (int64_t ow = 0; ow < g.Wo; ++ow, go += C) {
        // dout rows come from memory in the first pass (v = 0), one line of each: fetch whole rows 8 ahead, so the
        // loads of this pass and the next ones do not wait for memory (the CvT's q projection: 4.7 -> 4.2 ms)
        if (v == 0)
#pragma GCC unroll 8
          for (int l = 0; l < NV; ++l) __builtin_prefetch(go + 8 * C + l * VL);
        const vec gv = loadu(go);
        sb += gv;
        if (!want_dw) continue;
        const float* xw = xr + ow * g.sW * C;
#pragma GCC unroll 3
        for (int kd = 0; kd < KD; ++kd)
#pragma GCC unroll 3
          for (int kh = 0; kh < 3; ++kh) {
            const float* p = xw + kd * sd + kh * sh;
            s[(kd * 3 + kh) * 3 + 0] += gv * loadu(p);
            s[(kd * 3 + kh) * 3 + 1] += gv * loadu(p + C);
            s[(kd * 3 + kh) * 3 + 2] += gv * loadu(p + 2 * C);
          }
      }
    }
#pragma GCC unroll 27
  for (int t = 0; t < TAPS; ++t) storeu(part + t * C + v * VL, s[t]);
  storeu(part + TAPS * C + v * VL, sb);
}

template <int KD, int NV>
void dw_padded(float* dw, float* dbias, const float* dout, const float* x, const Conv3dGeometry& g, bool par) {
  constexpr int64_t C = NV * VL;
  const int64_t taps = KD * 9, T1 = taps + 1;
  const Padded ps(g);
  std::vector<float> part(static_cast<size_t>(g.N * T1 * C));
#pragma omp parallel if (par)
  {
    std::vector<float> xp(static_cast<size_t>(ps.Dp * ps.Hp * ps.Wp * C));
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.N; ++n) {
      if (dw) pad_sample(xp.data(), x, g, ps, n);
      for (int v = 0; v < NV; ++v)
        dw_block<KD, NV>(part.data() + n * T1 * C, dout, xp.data(), g, ps, n, v, dw != nullptr);
    }
  }
  add_sample_partials(dw, dbias, part.data(), g.N, taps, C, par);
}

}  // namespace

bool depthwise_cl_dw_padded(float* dw, float* dbias, const float* dout, const float* x, const Conv3dGeometry& g,
                            bool parallel) {
  // 3x3 spatial kernels, kD 1 or 3, whole channel vectors; an empty output is left to the caller's loops
  if (g.kH != 3 || g.kW != 3 || (g.kD != 1 && g.kD != 3) || g.N <= 0 || g.Do <= 0 || g.Ho <= 0 || g.Wo <= 0)
    return false;
  return with_vectors(g.Cin, [&](auto nv) {
    constexpr int NV = decltype(nv)::value;
    if (g.kD == 3) dw_padded<3, NV>(dw, dbias, dout, x, g, parallel);
    else dw_padded<1, NV>(dw, dbias, dout, x, g, parallel);
  });
}

}  // namespace ssmtl::kernels::detail
