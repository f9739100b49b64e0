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
#include <type_traits>
#include <vector>

#include "kernels/cpu/conv3d_depthwise_cl_dw.h"
#include "kernels/cpu/simd.h"

namespace ssmtl::kernels::detail {

namespace {

using simd::loadu;
using simd::storeu;
using simd::vec;
using simd::VL;

// A zero-padded sample: dims (Dp, Hp, Wp) rows of C; source row (i - aD, j - aH, k - aW) of a (D, H, W) volume.
struct PadSpec {
  int64_t Dp, Hp, Wp, aD, aH, aW, D, H, W;
};

// The padded input under every output window: x at offset (pD, pH, pW).
PadSpec input_pad(const Conv3dGeometry& g) {
  return {(g.Do - 1) * g.sD + g.kD, (g.Ho - 1) * g.sH + 3, (g.Wo - 1) * g.sW + 3, g.pD, g.pH, g.pW, g.D, g.H, g.W};
}

// dst (Dp, Hp, Wp, C) = sample n of src (N, D, H, W, C) shifted by (aD, aH, aW), zero elsewhere.
void pad_sample(float* dst, const float* src, const PadSpec& p, int64_t C, int64_t n) {
  for (int64_t i = 0; i < p.Dp; ++i)
    for (int64_t j = 0; j < p.Hp; ++j) {
      float* row = dst + (i * p.Hp + j) * p.Wp * C;
      const int64_t d = i - p.aD, h = j - p.aH;
      if (d < 0 || d >= p.D || h < 0 || h >= p.H) {
        std::fill(row, row + p.Wp * C, 0.f);
        continue;
      }
      const float* s = src + ((n * p.D + d) * p.H + h) * p.W * C;
      for (int64_t k = 0; k < p.Wp; ++k) {
        const int64_t w = k - p.aW;
        if (w < 0 || w >= p.W) std::fill(row + k * C, row + (k + 1) * C, 0.f);
        else std::copy(s + w * C, s + (w + 1) * C, row + k * C);
      }
    }
}

template <int KD, int NV>
void dw_block(float* part, const float* dout, const float* xp, const Conv3dGeometry& g, const PadSpec& ps,
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
  const PadSpec ps = input_pad(g);
  std::vector<float> part(static_cast<size_t>(g.N * T1 * C));
#pragma omp parallel if (par)
  {
    std::vector<float> xp(static_cast<size_t>(ps.Dp * ps.Hp * ps.Wp * C));
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.N; ++n) {
      if (dw) pad_sample(xp.data(), x, ps, C, n);
      for (int v = 0; v < NV; ++v) dw_block<KD, NV>(part.data() + n * T1 * C, dout, xp.data(), g, ps, n, v, dw != nullptr);
    }
  }
  add_sample_partials(dw, dbias, part.data(), g.N, taps, C, par);
}

// Calls f(KD, NV) as compile-time constants when this path applies (3x3 spatial kernel, kD in {1, 3}, C a
// whole number of vectors <= 8) and returns true; false otherwise.
template <class F>
bool dispatch(const Conv3dGeometry& g, F&& f) {
  if (g.kH != 3 || g.kW != 3 || (g.kD != 1 && g.kD != 3) || g.Cin % VL != 0 || g.Cin / VL > 8 || g.Cin == 0)
    return false;
  if (g.N <= 0 || g.Do <= 0 || g.Ho <= 0 || g.Wo <= 0) return false;   // nothing to sum: the caller's loops
  auto with_kd = [&](auto nv) {
    if (g.kD == 3) f(std::integral_constant<int, 3>{}, nv);
    else f(std::integral_constant<int, 1>{}, nv);
  };
  switch (g.Cin / VL) {
    case 1: with_kd(std::integral_constant<int, 1>{}); break;
    case 2: with_kd(std::integral_constant<int, 2>{}); break;
    case 3: with_kd(std::integral_constant<int, 3>{}); break;
    case 4: with_kd(std::integral_constant<int, 4>{}); break;
    case 5: with_kd(std::integral_constant<int, 5>{}); break;
    case 6: with_kd(std::integral_constant<int, 6>{}); break;
    case 7: with_kd(std::integral_constant<int, 7>{}); break;
    default: with_kd(std::integral_constant<int, 8>{}); break;
  }
  return true;
}

}  // namespace

bool depthwise_cl_dw_padded(float* dw, float* dbias, const float* dout, const float* x, const Conv3dGeometry& g,
                            bool parallel) {
  return dispatch(g, [&](auto kd, auto nv) {
    dw_padded<decltype(kd)::value, decltype(nv)::value>(dw, dbias, dout, x, g, parallel);
  });
}

}  // namespace ssmtl::kernels::detail
