// The channels-last depthwise conv3d's forward a line of outputs at a time (kernels/cpu/conv3d_depthwise_cl_dw.h),
// for stride 1 or 2 along W (the CvT's q and k / v projections), kW == 3, pW <= 2 and C a whole number of AVX-512
// vectors (the CvT's 96 = 6). Why: the row loop of conv3d_depthwise_cl.cpp loads a weight and an input vector for
// every multiply-add, with the index and bounds arithmetic of every tap of every row. Stride 1: per channel vector
// 8 outputs along W keep their sums in registers, and per (kd, kh) the tap row's 3 weights are loaded once for 24
// multiply-adds (one thread, 64-byte aligned buffers, the q projection's 128 x 7x8x8 x 96: 0.045 -> 0.028 ms a
// sample from cache, 3.6 -> 2.8 ms for all from memory on 2 threads). Stride 2: all channel vectors of 4 outputs
// at once (docs/RESULTS.md section 47). Each output adds the bias, then its taps in the order kd, kh, kw, skipping
// those outside the input: bitwise the row loop's results (tests/test_depthwise_cl.cpp). Threads take whole lines
// (n, od, oh): the bits do not depend on their number.
#include <algorithm>

// GCC 12 flags the self-initialised undefined vectors inside its own AVX-512 intrinsics (a known false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include "kernels/cpu/bn_affine.h"
#include "kernels/cpu/conv3d_depthwise_cl_dw.h"
#include "kernels/cpu/simd.h"

namespace ssmtl::kernels::detail {

namespace {

#if defined(__AVX512F__)
#define SSMTL_AVX512 __attribute__((target("avx512f")))
using simd::VL;

// The first two and last two of a block's kCols input columns, the only ones that can lie outside the input when
// pW <= 2: per column a mask of all lanes where it lies inside [0, W), none where outside. c0: the block's first
// input column (may be negative).
template <int kCols>
struct EdgeColumns {
  __mmask16 m[4];
  SSMTL_AVX512 EdgeColumns(int64_t c0, int64_t W) {
    auto inside = [&](int q) { return static_cast<__mmask16>(c0 + q >= 0 && c0 + q < W ? 0xFFFF : 0); };
    m[0] = inside(0), m[1] = inside(1), m[2] = inside(kCols - 2), m[3] = inside(kCols - 1);
  }
  static constexpr bool edge(int q) { return q < 2 || q >= kCols - 2; }
  __mmask16 operator()(int q) const { return q == 0 ? m[0] : q == 1 ? m[1] : q == kCols - 2 ? m[2] : m[3]; }
};

// acc + w * (the vector at p, input column q of the block): plain inside the block; at its edge columns a masked
// load, which does not touch memory under a zero mask, and a masked multiply-add, which then leaves acc as it was
// (the tap is skipped, as in the row loop). q is a constant once the callers' loops are unrolled.
template <int kCols>
SSMTL_AVX512 inline __m512 tap(__m512 acc, __m512 w, const float* p, int q, const EdgeColumns<kCols>& cols) {
  if (!EdgeColumns<kCols>::edge(q)) return _mm512_fmadd_ps(w, _mm512_loadu_ps(p), acc);
  const __mmask16 m = cols(q);
  return _mm512_mask3_fmadd_ps(w, _mm512_maskz_loadu_ps(m, p), acc, m);
}

// f(kd, kh, d, h) for the taps of output plane od, row oh whose input plane d and row h lie inside the input, in
// the order kd, kh (the row loop's order; the taps outside are skipped, as there).
template <class F>
inline void for_tap_rows(const Conv3dGeometry& g, int64_t od, int64_t oh, F&& f) {
  for (int64_t kd = 0; kd < g.kD; ++kd) {
    const int64_t d = od * g.sD - g.pD + kd;
    if (d < 0 || d >= g.D) continue;
    for (int64_t kh = 0; kh < g.kH; ++kh) {
      const int64_t h = oh * g.sH - g.pH + kh;
      if (h >= 0 && h < g.H) f(kd, kh, d, h);
    }
  }
}

// Outputs (n, od, oh, ow0 .. ow0 + NB) of channel vector v, with NB sums in registers. The input columns under the
// block are ci = ow0 - pW + q for q < NB + 2; output j meets column q = j + kw under tap kw. Per (kd, kh) the
// loop runs kw outer and j inner, so a sum's next multiply-add comes NB instructions after its last one (column by
// column, each column's 3 multiply-adds waited for the previous column's: 1.4x slower), and each output still adds
// kw = 0, 1, 2 in order. Columns outside the input are skipped by tap() (EdgeColumns: with pW <= 2 only the first
// and last two can be).
template <int NB>
SSMTL_AVX512 inline void line_block(float* orow, const float* x, const float* wt, const float* bias, int64_t C,
                                    const Conv3dGeometry& g, int64_t n, int64_t od, int64_t oh, int64_t ow0,
                                    int v) {
  constexpr int kCols = NB + 2;
  const int64_t c0 = ow0 - g.pW;
  const EdgeColumns<kCols> cols(c0, g.W);
  __m512 acc[NB];
  const __m512 b0 = bias ? _mm512_loadu_ps(bias + v * VL) : _mm512_setzero_ps();
#pragma GCC unroll 8
  for (int j = 0; j < NB; ++j) acc[j] = b0;
  for_tap_rows(g, od, oh, [&](int64_t kd, int64_t kh, int64_t d, int64_t h) {
    const float* xr = x + (((n * g.D + d) * g.H + h) * g.W + c0) * C + v * VL;
    const float* wk = wt + (kd * g.kH + kh) * 3 * C + v * VL;
    // The next line's rows that this line does not read (h + sH for the last sH taps) come from memory: fetch
    // this vector's part of them now, or the loads of the next line wait there.
    if (kh + g.sH >= g.kH && h + g.sH < g.H) {
      const float* xn = xr + g.sH * g.W * C;
      const int64_t q0 = std::max<int64_t>(0, -c0), q1 = std::min<int64_t>(kCols, g.W - c0);   // (inside)
      for (int64_t q = q0; q < q1; ++q) _mm_prefetch(reinterpret_cast<const char*>(xn + q * C), _MM_HINT_T0);
    }
#pragma GCC unroll 3
    for (int kw = 0; kw < 3; ++kw) {
      const __m512 w = _mm512_loadu_ps(wk + kw * C);
#pragma GCC unroll 8
      for (int j = 0; j < NB; ++j) acc[j] = tap(acc[j], w, xr + (j + kw) * C, j + kw, cols);
    }
  });
#pragma GCC unroll 8
  for (int j = 0; j < NB; ++j) _mm512_storeu_ps(orow + (ow0 + j) * C + v * VL, acc[j]);
}

SSMTL_AVX512 void forward_line(float* out, const float* x, const float* wt, const float* bias, int64_t C,
                               const Conv3dGeometry& g, const RowBatchNorm& bn, int64_t l) {
  const int64_t oh = l % g.Ho, od = (l / g.Ho) % g.Do, n = l / (g.Ho * g.Do);
  float* orow = out + l * g.Wo * C;
  for (int v = 0; v < C / VL; ++v) {   // blocks of 8 outputs along W, then 4, then single ones
    int64_t ow0 = 0;
    for (; ow0 + 8 <= g.Wo; ow0 += 8) line_block<8>(orow, x, wt, bias, C, g, n, od, oh, ow0, v);
    for (; ow0 + 4 <= g.Wo; ow0 += 4) line_block<4>(orow, x, wt, bias, C, g, n, od, oh, ow0, v);
    for (; ow0 < g.Wo; ++ow0) line_block<1>(orow, x, wt, bias, C, g, n, od, oh, ow0, v);
  }
  for (int64_t ow = 0; ow < g.Wo; ++ow) bn.apply(orow + ow * C, C);   // (the line is in L1)
}

// Stride 2 along W (the k / v projections: 4 outputs a line at the CvT's 8 x 8 maps): the per-vector blocks above
// run only 12 multiply-adds per (kd, kh) there, and their bookkeeping cost more than they saved. Here all NV
// channel vectors of NB outputs are summed at once (NV NB <= 24 registers), so each (kd, kh) is one pass of
// 12 NV multiply-adds. Output j meets column q = 2 j + kw, through tap() as above.
template <int NV, int NB>
SSMTL_AVX512 inline void strided_block(float* orow, const float* x, const float* wt, const float* bias,
                                       const Conv3dGeometry& g, int64_t n, int64_t od, int64_t oh, int64_t ow0) {
  constexpr int64_t C = NV * VL;
  constexpr int kCols = 2 * NB + 1;
  const int64_t c0 = 2 * ow0 - g.pW;
  const EdgeColumns<kCols> cols(c0, g.W);
  __m512 acc[NV][NB];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    const __m512 b0 = bias ? _mm512_loadu_ps(bias + v * VL) : _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) acc[v][j] = b0;
  }
  for_tap_rows(g, od, oh, [&](int64_t kd, int64_t kh, int64_t d, int64_t h) {
    const float* xr = x + (((n * g.D + d) * g.H + h) * g.W + c0) * C;
    const float* wk = wt + (kd * g.kH + kh) * 3 * C;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
#pragma GCC unroll 3
      for (int kw = 0; kw < 3; ++kw) {
        const __m512 w = _mm512_loadu_ps(wk + kw * C + v * VL);
#pragma GCC unroll 4
        for (int j = 0; j < NB; ++j) {
          const int q = 2 * j + kw;
          acc[v][j] = tap(acc[v][j], w, xr + q * C + v * VL, q, cols);
        }
      }
    }
  });
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v)
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) _mm512_storeu_ps(orow + (ow0 + j) * C + v * VL, acc[v][j]);
}

template <int NV>
SSMTL_AVX512 void strided_line(float* out, const float* x, const float* wt, const float* bias,
                               const Conv3dGeometry& g, const RowBatchNorm& bn, int64_t l) {
  constexpr int64_t C = NV * VL;
  const int64_t oh = l % g.Ho, od = (l / g.Ho) % g.Do, n = l / (g.Ho * g.Do);
  float* orow = out + l * g.Wo * C;
  int64_t ow0 = 0;   // blocks of 4 outputs along W, then single ones
  for (; ow0 + 4 <= g.Wo; ow0 += 4) strided_block<NV, 4>(orow, x, wt, bias, g, n, od, oh, ow0);
  for (; ow0 < g.Wo; ++ow0) strided_block<NV, 1>(orow, x, wt, bias, g, n, od, oh, ow0);
  for (int64_t ow = 0; ow < g.Wo; ++ow) bn.apply(orow + ow * C, C);
}

// Returns false, having written nothing, where neither path applies (stride 2 with more than 6 vectors).
bool forward_lines(float* out, const float* x, const float* wt, const float* bias, int64_t C,
                   const Conv3dGeometry& g, const RowBatchNorm& bn, bool parallel) {
  const int64_t lines = g.N * g.Do * g.Ho;
  if (g.sW == 2) {
    bool ran = false;
    with_vectors(C, [&](auto nv) {
      constexpr int NV = decltype(nv)::value;
      if constexpr (NV <= 6) {   // (4 outputs of NV vectors in registers)
#pragma omp parallel for schedule(static) if (parallel)
        for (int64_t l = 0; l < lines; ++l) strided_line<NV>(out, x, wt, bias, g, bn, l);
        ran = true;
      }
    });
    return ran;
  }
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t l = 0; l < lines; ++l) forward_line(out, x, wt, bias, C, g, bn, l);
  return true;
}

#endif  // __AVX512F__

}  // namespace

void RowBatchNorm::apply(float* o, int64_t C) const {
  if (!mu) return;
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) o[c] = bn_affine(o[c], mu[c], s[c], b[c]);
}

bool depthwise_cl_forward_lines(float* out, const float* x, const float* wt, const float* bias,
                                const Conv3dGeometry& g, const RowBatchNorm& bn, bool parallel) {
#if defined(__AVX512F__)
  if (g.kW != 3 || (g.sW != 1 && g.sW != 2) || g.pW > 2 || g.Wo <= 0 || g.Cin % VL != 0) return false;
  return forward_lines(out, x, wt, bias, g.Cin, g, bn, parallel);
#else
  (void)out, (void)x, (void)wt, (void)bias, (void)g, (void)bn, (void)parallel;
  return false;
#endif
}

}  // namespace ssmtl::kernels::detail
