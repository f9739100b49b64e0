// CPU pooling and up-sampling kernels (see kernels/pool.h for the semantics).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/pool.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace ssmtl::kernels {

namespace {

// Small problems run on one thread: spawning a team costs more than the work.
constexpr int64_t kParallelMin = 32768;

// torch's rule for a running maximum: a larger value or a NaN replaces it, so ties keep the first.
inline bool beats(float v, float m) { return v > m || std::isnan(v); }

#if defined(__AVX512F__)
// One candidate of the running maximum on 16 lanes, as beats() decides it: larger, or NaN.
inline __m512 take(__m512 v, __m512 m, __mmask16& won) {
  won = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  return _mm512_mask_blend_ps(won, m, v);
}

// 16 outputs of max_pool_1x2x2 from columns [2 j, 2 j + 32) of the window's rows x0, x1: the even and odd columns
// split by two permutes, then the scalar loop's selects in its order, so ties, signed zeros, NaN and the argmax
// come out the same. a (kIndex): the chosen input's offset in the plane.
template <bool kIndex>
inline void pool_16(float* o, int32_t* a, const float* x0, const float* x1, int64_t row0, int64_t j, int64_t W) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512 r0a = _mm512_loadu_ps(x0 + 2 * j), r0b = _mm512_loadu_ps(x0 + 2 * j + 16);
  const __m512 r1a = _mm512_loadu_ps(x1 + 2 * j), r1b = _mm512_loadu_ps(x1 + 2 * j + 16);
  __m512 m = _mm512_permutex2var_ps(r0a, even, r0b);
  __mmask16 w1, w2, w3;
  m = take(_mm512_permutex2var_ps(r0a, odd, r0b), m, w1);
  m = take(_mm512_permutex2var_ps(r1a, even, r1b), m, w2);
  m = take(_mm512_permutex2var_ps(r1a, odd, r1b), m, w3);
  _mm512_storeu_ps(o + j, m);
  if constexpr (kIndex) {
    const int32_t w = static_cast<int32_t>(W);
    __m512i off = _mm512_setzero_si512();
    off = _mm512_mask_mov_epi32(off, w1, _mm512_set1_epi32(1));
    off = _mm512_mask_mov_epi32(off, w2, _mm512_set1_epi32(w));
    off = _mm512_mask_mov_epi32(off, w3, _mm512_set1_epi32(w + 1));
    const __m512i base = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(row0 + 2 * j)),
                                          _mm512_slli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                                                              12, 13, 14, 15), 1));
    _mm512_storeu_si512(a + j, _mm512_add_epi32(base, off));
  }
}
#endif

// The backbone's spatial pooling (window (1,2,2), stride (1,2,2), no padding) on whole rows: no
// bounds checks, four candidates in torch's scan order; 16 outputs at a time on AVX-512.
template <bool kIndex>
void max_pool_1x2x2(float* out, int32_t* argmax, const float* x, const PoolGeometry& g) {
  const int64_t in_plane = g.D * g.H * g.W, out_plane = g.oD * g.oH * g.oW;
  const int64_t rows = g.D * g.oH, H = g.H, W = g.W, oH = g.oH, oW = g.oW;
#pragma omp parallel for schedule(static) if (g.planes * in_plane > kParallelMin)
  for (int64_t p = 0; p < g.planes; ++p) {
    const float* xp = x + p * in_plane;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t d = r / oH, oh = r % oH;
      const int64_t row0 = (d * H + 2 * oh) * W;   // offset of the window's top row in the plane
      const float* x0 = xp + row0;
      const float* x1 = x0 + W;
      float* o = out + p * out_plane + r * oW;
      int32_t* a = kIndex ? argmax + p * out_plane + r * oW : nullptr;
      int64_t j0 = 0;
#if defined(__AVX512F__)
      for (; j0 + 16 <= oW; j0 += 16) pool_16<kIndex>(o, a, x0, x1, row0, j0, W);
#endif
      // Selects instead of branches: random data would mispredict half of them.
      for (int64_t j = j0; j < oW; ++j) {
        const float v0 = x0[2 * j], v1 = x0[2 * j + 1], v2 = x1[2 * j], v3 = x1[2 * j + 1];
        float m = v0;
        int32_t best = 0;
        bool b = beats(v1, m);
        m = b ? v1 : m;
        best = b ? 1 : best;
        b = beats(v2, m);
        m = b ? v2 : m;
        best = b ? 2 : best;
        b = beats(v3, m);
        m = b ? v3 : m;
        best = b ? 3 : best;
        o[j] = m;
        if (kIndex) a[j] = static_cast<int32_t>(row0 + 2 * j + (best & 1) + (best >> 1) * W);
      }
    }
  }
}

bool is_1x2x2(const PoolGeometry& g) {
  return g.kd == 1 && g.kh == 2 && g.kw == 2 && g.sd == 1 && g.sh == 2 && g.sw == 2 && g.pd == 0 && g.ph == 0 &&
         g.pw == 0 && g.oD == g.D && g.oH == g.H / 2 && g.oW == g.W / 2;
}

// Window [lo, hi) of output position o along one axis, clipped to the input [0, n).
inline void window(int64_t o, int stride, int pad, int k, int64_t n, int64_t& lo, int64_t& hi) {
  const int64_t start = o * stride - pad;
  lo = std::max<int64_t>(start, 0);
  hi = std::min<int64_t>(start + k, n);
}

// The general sweep works on one output row (fixed plane, od, oh) at a time: for each input row
// (d, h) of the window and each column offset k < kw, it updates all outputs of the row whose
// column ow*sw - pw + k lies inside the input. Per output, candidates still come in torch's
// depth-row-column order, and the inner loop over ow has no bounds checks.
//
// visit_row(plane p, output row offset within the plane, d0, d1, h0, h1) for every output row,
// planes in parallel (each plane on one thread).
template <class F>
void for_each_output_row(const PoolGeometry& g, F visit_row) {
  const int64_t in_plane = g.D * g.H * g.W;
#pragma omp parallel for schedule(static) if (g.planes * in_plane > kParallelMin)
  for (int64_t p = 0; p < g.planes; ++p)
    for (int64_t od = 0; od < g.oD; ++od) {
      int64_t d0, d1;
      window(od, g.sd, g.pd, g.kd, g.D, d0, d1);
      for (int64_t oh = 0; oh < g.oH; ++oh) {
        int64_t h0, h1;
        window(oh, g.sh, g.ph, g.kh, g.H, h0, h1);
        visit_row(p, (od * g.oH + oh) * g.oW, d0, d1, h0, h1);
      }
    }
}

// Outputs [lo, hi) of a row whose window column offset k falls inside the input: w = ow*sw - pw + k
// in [0, W).
inline void column_range(const PoolGeometry& g, int k, int64_t& lo, int64_t& hi) {
  const int64_t first = g.pw - k, last = g.W - 1 + g.pw - k;   // need first <= ow*sw <= last
  lo = first <= 0 ? 0 : (first + g.sw - 1) / g.sw;
  hi = last < 0 ? 0 : std::min<int64_t>(last / g.sw + 1, g.oW);
}

template <bool kIndex>
void max_pool_general(float* out, int32_t* argmax, const float* x, const PoolGeometry& g) {
  const int64_t in_plane = g.D * g.H * g.W, out_plane = g.oD * g.oH * g.oW, H = g.H, W = g.W;
  for_each_output_row(g, [&](int64_t p, int64_t orow, int64_t d0, int64_t d1, int64_t h0, int64_t h1) {
    const float* xp = x + p * in_plane;
    float* m = out + p * out_plane + orow;
    int32_t* a = kIndex ? argmax + p * out_plane + orow : nullptr;
    // Start from -inf at the window's first valid element, as torch does (an all -inf window
    // reports that element).
    for (int64_t ow = 0; ow < g.oW; ++ow) {
      m[ow] = -std::numeric_limits<float>::infinity();
      if (kIndex) a[ow] = static_cast<int32_t>((d0 * H + h0) * W + std::max<int64_t>(ow * g.sw - g.pw, 0));
    }
    for (int64_t d = d0; d < d1; ++d)
      for (int64_t h = h0; h < h1; ++h) {
        const int64_t row = (d * H + h) * W;
        for (int k = 0; k < g.kw; ++k) {
          int64_t lo, hi;
          column_range(g, k, lo, hi);
          // Offset in the plane of output ow's candidate (column ow*sw - pw + k); 32-bit so that
          // the selects below vectorise.
          const int32_t base = static_cast<int32_t>(row + k - g.pw), sw = g.sw;
          for (int32_t ow = static_cast<int32_t>(lo); ow < static_cast<int32_t>(hi); ++ow) {
            const int32_t i = base + ow * sw;
            const float v = xp[i];
            const bool b = beats(v, m[ow]);
            m[ow] = b ? v : m[ow];
            if (kIndex) a[ow] = b ? i : a[ow];
          }
        }
      }
  });
}

}  // namespace

PoolGeometry pool_1x2x2_geometry(int64_t planes, int64_t D, int64_t H, int64_t W) {
  PoolGeometry g{};
  g.planes = planes, g.D = D, g.H = H, g.W = W;
  g.oD = D, g.oH = H / 2, g.oW = W / 2;
  g.kd = 1, g.kh = 2, g.kw = 2, g.sd = 1, g.sh = 2, g.sw = 2;
  return g;
}

void max_pool3d_forward_cpu(float* out, int32_t* argmax, const float* x, const PoolGeometry& g) {
  if (is_1x2x2(g)) {
    if (argmax) max_pool_1x2x2<true>(out, argmax, x, g);
    else max_pool_1x2x2<false>(out, nullptr, x, g);
  } else {
    if (argmax) max_pool_general<true>(out, argmax, x, g);
    else max_pool_general<false>(out, nullptr, x, g);
  }
}

void max_pool3d_backward_cpu(float* dx, const float* dout, const int32_t* argmax, bool add_dx, const PoolGeometry& g) {
  const int64_t in_plane = g.D * g.H * g.W, out_plane = g.oD * g.oH * g.oW;
#pragma omp parallel for schedule(static) if (g.planes * in_plane > kParallelMin)
  for (int64_t p = 0; p < g.planes; ++p) {
    float* dxp = dx + p * in_plane;
    if (!add_dx) std::fill(dxp, dxp + in_plane, 0.f);
    const float* gp = dout + p * out_plane;
    const int32_t* ap = argmax + p * out_plane;
    for (int64_t o = 0; o < out_plane; ++o) dxp[ap[o]] += gp[o];
  }
}

void avg_pool3d_forward_cpu(float* out, const float* x, const PoolGeometry& g) {
  const int64_t in_plane = g.D * g.H * g.W, out_plane = g.oD * g.oH * g.oW, H = g.H, W = g.W;
  const float divisor = static_cast<float>(g.kd * g.kh * g.kw);
  for_each_output_row(g, [&](int64_t p, int64_t orow, int64_t d0, int64_t d1, int64_t h0, int64_t h1) {
    const float* xp = x + p * in_plane;
    float* s = out + p * out_plane + orow;
    std::fill(s, s + g.oW, 0.f);
    for (int64_t d = d0; d < d1; ++d)
      for (int64_t h = h0; h < h1; ++h)
        for (int k = 0; k < g.kw; ++k) {
          int64_t lo, hi;
          column_range(g, k, lo, hi);
          const int64_t base = (d * H + h) * W + k - g.pw;
          for (int64_t ow = lo; ow < hi; ++ow) s[ow] += xp[base + ow * g.sw];
        }
    for (int64_t ow = 0; ow < g.oW; ++ow) s[ow] /= divisor;
  });
}

void avg_pool3d_backward_cpu(float* dx, const float* dout, const PoolGeometry& g) {
  const int64_t in_plane = g.D * g.H * g.W, out_plane = g.oD * g.oH * g.oW, H = g.H, W = g.W;
  const float inv = 1.f / static_cast<float>(g.kd * g.kh * g.kw);
  // Each plane is written by the one thread that owns it, so overlapping windows are safe.
  for_each_output_row(g, [&](int64_t p, int64_t orow, int64_t d0, int64_t d1, int64_t h0, int64_t h1) {
    float* dxp = dx + p * in_plane;
    const float* gr = dout + p * out_plane + orow;
    for (int64_t d = d0; d < d1; ++d)
      for (int64_t h = h0; h < h1; ++h)
        for (int k = 0; k < g.kw; ++k) {
          int64_t lo, hi;
          column_range(g, k, lo, hi);
          const int64_t base = (d * H + h) * W + k - g.pw;
          for (int64_t ow = lo; ow < hi; ++ow) dxp[base + ow * g.sw] += gr[ow] * inv;
        }
  });
}

void temporal_max_pool_forward_cpu(float* out, int32_t* argmax, const float* x, int64_t planes, int64_t T,
                                   int64_t inner) {
#pragma omp parallel for schedule(static) if (planes * T * inner > kParallelMin)
  for (int64_t p = 0; p < planes; ++p) {
    const float* xp = x + p * T * inner;
    float* o = out + p * inner;
    std::memcpy(o, xp, sizeof(float) * inner);
    if (argmax) {
      int32_t* a = argmax + p * inner;
      std::fill(a, a + inner, 0);
      for (int64_t t = 1; t < T; ++t) {
        const float* xt = xp + t * inner;
        for (int64_t i = 0; i < inner; ++i)
          if (beats(xt[i], o[i])) { o[i] = xt[i]; a[i] = static_cast<int32_t>(t); }
      }
    } else {
      for (int64_t t = 1; t < T; ++t) {
        const float* xt = xp + t * inner;
        for (int64_t i = 0; i < inner; ++i) o[i] = beats(xt[i], o[i]) ? xt[i] : o[i];
      }
    }
  }
}

void temporal_max_pool_backward_cpu(float* dx, const float* dout, const int32_t* argmax, bool add_dx, int64_t planes,
                                    int64_t T, int64_t inner) {
#pragma omp parallel for schedule(static) if (planes * T * inner > kParallelMin)
  for (int64_t p = 0; p < planes; ++p) {
    float* dxp = dx + p * T * inner;
    if (!add_dx) std::fill(dxp, dxp + T * inner, 0.f);   // a new dx: its plane zeroed just before the scatter
    const float* gp = dout + p * inner;
    const int32_t* a = argmax + p * inner;
    for (int64_t i = 0; i < inner; ++i) dxp[a[i] * inner + i] += gp[i];
  }
}

void temporal_avg_pool_forward_cpu(float* out, const float* x, int64_t planes, int64_t T, int64_t inner) {
  const float inv = 1.f / static_cast<float>(T);
#pragma omp parallel for schedule(static) if (planes * T * inner > kParallelMin)
  for (int64_t p = 0; p < planes; ++p) {
    const float* xp = x + p * T * inner;
    float* o = out + p * inner;
    std::memcpy(o, xp, sizeof(float) * inner);
    for (int64_t t = 1; t < T; ++t)
      for (int64_t i = 0; i < inner; ++i) o[i] += xp[t * inner + i];
    for (int64_t i = 0; i < inner; ++i) o[i] *= inv;
  }
}

void temporal_avg_pool_backward_cpu(float* dx, const float* dout, int64_t planes, int64_t T, int64_t inner) {
  const float inv = 1.f / static_cast<float>(T);
#pragma omp parallel for schedule(static) if (planes * T * inner > kParallelMin)
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t t = 0; t < T; ++t) {
      float* d = dx + (p * T + t) * inner;
      const float* gp = dout + p * inner;
      for (int64_t i = 0; i < inner; ++i) d[i] += gp[i] * inv;
    }
}

void global_avg_pool_forward_cpu(float* out, const float* x, int64_t planes, int64_t inner) {
#pragma omp parallel for schedule(static) if (planes * inner > kParallelMin)
  for (int64_t p = 0; p < planes; ++p) {
    const float* xp = x + p * inner;
    double s = 0.0;
    for (int64_t i = 0; i < inner; ++i) s += xp[i];
    out[p] = static_cast<float>(s / static_cast<double>(inner));
  }
}

void global_avg_pool_backward_cpu(float* dx, const float* dout, int64_t planes, int64_t inner) {
#pragma omp parallel for schedule(static) if (planes * inner > kParallelMin)
  for (int64_t p = 0; p < planes; ++p) {
    const float v = dout[p] / static_cast<float>(inner);
    float* d = dx + p * inner;
    for (int64_t i = 0; i < inner; ++i) d[i] += v;
  }
}

void upsample_nearest2d_forward_cpu(float* out, const float* x, int64_t planes, int64_t H, int64_t W, int s) {
  const int64_t oW = W * s;
#pragma omp parallel for schedule(static) if (planes * H * W * s * s > kParallelMin)
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t i = 0; i < H; ++i) {
      const float* xr = x + (p * H + i) * W;
      float* o = out + (p * H + i) * s * oW;   // first of the s output rows made from input row i
      for (int64_t j = 0; j < W; ++j)
        for (int r = 0; r < s; ++r) o[j * s + r] = xr[j];
      for (int r = 1; r < s; ++r) std::memcpy(o + r * oW, o, sizeof(float) * oW);
    }
}

void upsample_nearest2d_backward_cpu(float* dx, const float* dout, bool add_dx, int64_t planes, int64_t H, int64_t W,
                                     int s) {
  const int64_t oW = W * s;
#pragma omp parallel for schedule(static) if (planes * H * W * s * s > kParallelMin)
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t i = 0; i < H; ++i) {
      float* d = dx + (p * H + i) * W;
      const float* g = dout + (p * H + i) * s * oW;
      for (int64_t j = 0; j < W; ++j) {
        float acc = 0.f;
        for (int r = 0; r < s; ++r)
          for (int c = 0; c < s; ++c) acc += g[r * oW + j * s + c];
        d[j] = (add_dx ? d[j] : 0.f) + acc;
      }
    }
}

}  // namespace ssmtl::kernels
