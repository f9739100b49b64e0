// The channels-last depthwise conv3d's weight and bias gradients on zero-padded samples
// (kernels/cpu/conv3d_depthwise_cl_dw.h): for C a whole number of vectors (<= 8; the CvT's 96 = 6 on AVX-512)
// and 3x3 spatial kernels, any strides. Why: dw_all's branchy loop (conv3d_depthwise_cl_dw.cpp) checks every tap
// of every row and handles stride 1 along W only (the k / v projections' stride 2 fell to a tap-by-tap loop that
// reads the sample 27 times from L2). Here each sample is first copied into a zero-padded volume (per thread, in
// cache), so every tap along W of every output row is in range, and per channel vector the taps' 27 sums stay in
// registers while the sample's dout rows stream past once: each multiply-add is one instruction with a memory
// operand at a fixed offset. The taps on padding planes (D) and rows (H) are left out by a variant of the row
// loop chosen per output row; a padding tap along W adds go * 0, an exact zero, to its sum: the sums are dw_all's
// term for term in the same order (per sample a float sum over output rows ascending, samples in double), so the
// results are bitwise its results for finite dout (tests/test_depthwise_cl.cpp). Threads take whole samples: the
// bits do not depend on the thread count. With dx wanted too, each sample's dx follows its dw
// (conv3d_depthwise_cl_dx.cpp) while its dout rows are in cache. (The same padding for the forward and dx was
// measured slower than the row loops of conv3d_depthwise_cl.cpp: the copy and one pass per channel vector over
// the output cost more than the branches; docs/RESULTS.md section 26.)
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/cpu/aligned.h"
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

// xp (Dp, Hp, Wp, C) = sample n of x (N, D, H, W, C) at offset (pD, pH, pW), zero elsewhere, where xp was
// zero-filled once and holds an earlier sample of the same geometry (or none): the padding positions are never
// written, so only the input's rows are copied, each one contiguous run of W C floats (clipped to the volume the
// windows cover). Per position with a zero-or-copy test, this took 16% of the fused backward's samples in perf at
// the k / v projections' 7x8x8 (stride (1, 2, 2)); the copy now takes 13%, bound by reading x from memory.
void pad_sample(float* xp, const float* x, const Conv3dGeometry& g, const Padded& p, int64_t n) {
  const int64_t C = g.Cin;
  const int64_t d1 = std::min(g.D, p.Dp - g.pD), h1 = std::min(g.H, p.Hp - g.pH), w1 = std::min(g.W, p.Wp - g.pW);
  if (w1 <= 0) return;
  for (int64_t d = 0; d < d1; ++d)
    for (int64_t h = 0; h < h1; ++h)
      std::memcpy(xp + (((d + g.pD) * p.Hp + h + g.pH) * p.Wp + g.pW) * C, x + ((n * g.D + d) * g.H + h) * g.W * C,
                  static_cast<size_t>(w1 * C) * sizeof(float));
}

// Cache lines fetched a few at a time (with intent to write) between the multiply-adds of the passes that run
// from cache: the sample's dx rows, read or written after its dw (the fused backward), arrive while the core
// computes instead of stalling the dx pass, whose channel-vector passes touch one line in six (the CvT's q
// projection, one thread: 17.5 -> 14.5 ms for dx + dw).
struct LineStream {
  const char* p = nullptr;
  const char* end = nullptr;
  int64_t per_step = 0;
  void step() {
    for (int64_t i = 0; i < per_step && p < end; ++i, p += 64) __builtin_prefetch(p, 1, 3);
  }
};

// The taps [lo, hi) along D or H of an output index that lie inside the input (the others read padding): one of
// the cases 0 (all), 1 (not the first), 2 (not the last), 3 (the middle one only: D = 1 under a 3-tap kernel);
// an uncommon range (large padding) falls back to case 0, whose padding taps add exact zeros.
inline int tap_case(int64_t o, int64_t s, int64_t p, int64_t n_in, int k) {
  const int64_t lo = std::max<int64_t>(0, p - o * s), hi = std::min<int64_t>(k, n_in + p - o * s);
  if (k != 3 || (lo == 0 && hi == 3)) return 0;
  return lo == 1 && hi == 3 ? 1 : lo == 0 && hi == 2 ? 2 : lo == 1 && hi == 2 ? 3 : 0;
}
constexpr int first_tap(int c) { return c == 1 || c == 3 ? 1 : 0; }
constexpr int end_tap(int c, int k) { return c == 2 || c == 3 ? 2 : k; }

template <int KD, int NV>
void dw_block(float* part, const float* dout, const float* xp, const Conv3dGeometry& g, const Padded& ps,
              int64_t n, int v, bool want_dw, LineStream& ahead) {
  constexpr int TAPS = KD * 9;
  constexpr int64_t C = NV * VL;
  const int64_t sh = ps.Wp * C, sd = ps.Hp * sh;
  vec s[TAPS], sb{};
#pragma GCC unroll 27
  for (int t = 0; t < TAPS; ++t) s[t] = vec{};
  const float* go = dout + n * g.Do * g.Ho * g.Wo * C + v * VL;
  // One output row (od, oh) whose taps along D and H are [D0, D1) x [H0, H1): the taps on padding planes and rows
  // are left out (a quarter of the multiply-adds at 7x8x8; they would add go * 0 = 0).
  auto row = [&](const float* xr, auto dc, auto hc) {
    constexpr int D0 = first_tap(decltype(dc)::value), D1 = end_tap(decltype(dc)::value, KD);
    constexpr int H0 = first_tap(decltype(hc)::value), H1 = end_tap(decltype(hc)::value, 3);
    for (int64_t ow = 0; ow < g.Wo; ++ow, go += C) {
      // dout rows come from memory in the first pass (v = 0), one line of each: fetch whole rows 8 ahead, so the
      // loads of this pass and the next ones do not wait for memory (the CvT's q projection: 4.7 -> 4.2 ms)
      if (v == 0)
#pragma GCC unroll 8
        for (int l = 0; l < NV; ++l) __builtin_prefetch(go + 8 * C + l * VL);
      else ahead.step();
      const vec gv = loadu(go);
      sb += gv;
      if (!want_dw) continue;
      const float* xw = xr + ow * g.sW * C;
#pragma GCC unroll 3
      for (int kd = D0; kd < D1; ++kd)
#pragma GCC unroll 3
        for (int kh = H0; kh < H1; ++kh) {
          const float* p = xw + kd * sd + kh * sh;
          s[(kd * 3 + kh) * 3 + 0] += gv * loadu(p);
          s[(kd * 3 + kh) * 3 + 1] += gv * loadu(p + C);
          s[(kd * 3 + kh) * 3 + 2] += gv * loadu(p + 2 * C);
        }
    }
  };
  using C0 = std::integral_constant<int, 0>;
  using C1 = std::integral_constant<int, 1>;
  using C2 = std::integral_constant<int, 2>;
  using C3 = std::integral_constant<int, 3>;
  for (int64_t od = 0; od < g.Do; ++od) {
    const int dc = KD == 3 ? tap_case(od, g.sD, g.pD, g.D, 3) : 0;
    for (int64_t oh = 0; oh < g.Ho; ++oh) {
      const float* xr = xp + od * g.sD * sd + oh * g.sH * sh + v * VL;
      const int hc = tap_case(oh, g.sH, g.pH, g.H, 3);
      auto rows_h = [&](auto d) {
        switch (hc) {
          case 1: row(xr, d, C1{}); break;
          case 2: row(xr, d, C2{}); break;
          case 3: row(xr, d, C3{}); break;
          default: row(xr, d, C0{});
        }
      };
      if constexpr (KD == 3) {
        switch (dc) {
          case 1: rows_h(C1{}); break;
          case 2: rows_h(C2{}); break;
          case 3: rows_h(C3{}); break;
          default: rows_h(C0{});
        }
      } else {
        rows_h(C0{});
      }
    }
  }
#pragma GCC unroll 27
  for (int t = 0; t < TAPS; ++t) storeu(part + t * C + v * VL, s[t]);
  storeu(part + TAPS * C + v * VL, sb);
}

template <int KD, int NV>
void dw_padded(float* dx, float* dw, float* dbias, const float* dout, const float* x, const float* wt,
               const Conv3dGeometry& g, bool add_dx, bool par) {
  constexpr int64_t C = NV * VL;
  const int64_t taps = KD * 9, T1 = taps + 1;
  const Padded ps(g);
  avector<float> part(static_cast<size_t>(g.N * T1 * C));
#pragma omp parallel if (par)
  {
    avector<float> xp(static_cast<size_t>(ps.Dp * ps.Hp * ps.Wp * C));   // zeros: pad_sample's padding
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.N; ++n) {
      if (dw) pad_sample(xp.data(), x, g, ps, n);
      LineStream ahead;   // this sample's dx rows, spread over the passes v >= 1
      const int64_t in = g.D * g.H * g.W * C, rows = (NV - 1) * g.Do * g.Ho * g.Wo;
      if (dx && rows > 0) {
        ahead.p = reinterpret_cast<const char*>(dx + n * in);
        ahead.end = reinterpret_cast<const char*>(dx + (n + 1) * in);
        ahead.per_step = ((ahead.end - ahead.p) / 64 + rows - 1) / rows;
      }
      for (int v = 0; v < NV; ++v)
        dw_block<KD, NV>(part.data() + n * T1 * C, dout, xp.data(), g, ps, n, v, dw != nullptr, ahead);
      if (dx) depthwise_cl_dx_sample(dx, dout, wt, g, n, add_dx);   // (the sample's dout rows are in cache)
    }
  }
  add_sample_partials(dw, dbias, part.data(), g.N, taps, C, par);
}

}  // namespace

bool depthwise_cl_backward_padded(float* dx, float* dw, float* dbias, const float* dout, const float* x,
                                  const float* wt, const Conv3dGeometry& g, bool add_dx, bool parallel) {
  // 3x3 spatial kernels, kD 1 or 3, whole channel vectors; an empty output is left to the caller's loops
  if (g.kH != 3 || g.kW != 3 || (g.kD != 1 && g.kD != 3) || g.N <= 0 || g.Do <= 0 || g.Ho <= 0 || g.Wo <= 0)
    return false;
  if (dx && !depthwise_cl_dx_applies(g)) return false;
  return with_vectors(g.Cin, [&](auto nv) {
    constexpr int NV = decltype(nv)::value;
    if (g.kD == 3) dw_padded<3, NV>(dx, dw, dbias, dout, x, wt, g, add_dx, parallel);
    else dw_padded<1, NV>(dx, dw, dbias, dout, x, wt, g, add_dx, parallel);
  });
}

bool depthwise_cl_dw_padded(float* dw, float* dbias, const float* dout, const float* x, const Conv3dGeometry& g,
                            bool parallel) {
  return depthwise_cl_backward_padded(nullptr, dw, dbias, dout, x, nullptr, g, false, parallel);
}

}  // namespace ssmtl::kernels::detail
