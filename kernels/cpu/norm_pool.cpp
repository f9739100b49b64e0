// CPU kernels of kernels/norm_pool.h: batch norm + ReLU + (1,2,2) max pooling in one pass over x.
// Forward: planes (n, c) in parallel; per pair of input rows, 16 windows at a time on AVX-512 (the even and odd
// columns split by two permutes, as max_pool_1x2x2 in pool.cpp), else one window at a time.
// Backward: channels in parallel; per channel the two sums over the pooled windows (each window contributes its
// winner's gradient only), then dx over the full resolution with the window's gradient spread back to its winner.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/norm_pool.h"

#include "kernels/cpu/bn_affine.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace ssmtl::kernels {

namespace {
using detail::bn_affine;
using detail::bn_scale;
using detail::bn_shift;
using detail::relu_value;

constexpr int64_t kParallelMin = 32768;   // below this many elements threads cost more than they save

// Per channel c: the pre-activation's mean, scale and shift (bn_affine's arguments).
struct Affine {
  float mu, s, b;
  Affine(const float* mean, const float* invstd, const float* gamma, const float* beta, int64_t c)
      : mu(mean[c]), s(bn_scale(invstd, gamma, c)), b(bn_shift(beta, c)) {}
  float y(float x) const { return relu_value(bn_affine(x, mu, s, b)); }
  bool positive(float x) const { return bn_affine(x, mu, s, b) > 0.f; }
};

using detail::masked;   // the ReLU's gradient mask (bn_affine.h)

// Window j of the row pair (x0, x1): its maximum of y, the winner's position and x there. y >= 0 and never NaN
// (relu_value maps NaN to 0), so torch's "larger or NaN" rule is "larger": ties keep the first.
inline void window_scalar(float* o, uint8_t* ix, float* xm, const float* x0, const float* x1, int64_t j,
                          const Affine& a) {
  const float c[4] = {x0[2 * j], x0[2 * j + 1], x1[2 * j], x1[2 * j + 1]};
  float m = a.y(c[0]);
  int best = 0;
  for (int k = 1; k < 4; ++k) {
    const float v = a.y(c[k]);
    if (v > m) m = v, best = k;
  }
  o[j] = m;
  ix[j] = static_cast<uint8_t>(best);
  xm[j] = c[best];
}

#if defined(__AVX512F__)
// Windows j .. j + n - 1 (n <= 16) of the row pair: columns 2 j .. 2 j + 2 n - 1 of both rows, loaded with masks
// (no access past the rows), y by the same fused multiply-add as bn_affine and max(v, 0) (= relu_value: NaN and
// -0 give +0), then the scalar loop's comparisons in its order.
inline void windows_16(float* o, uint8_t* ix, float* xm, const float* x0, const float* x1, int64_t j, int n,
                       __m512 mu, __m512 s, __m512 b) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __mmask16 lo = static_cast<__mmask16>(n >= 8 ? 0xFFFFu : (1u << (2 * n)) - 1u);
  const __mmask16 hi = static_cast<__mmask16>(n > 8 ? (n == 16 ? 0xFFFFu : (1u << (2 * (n - 8))) - 1u) : 0u);
  const __mmask16 out_mask = static_cast<__mmask16>(n == 16 ? 0xFFFFu : (1u << n) - 1u);
  const __m512 r0a = _mm512_maskz_loadu_ps(lo, x0 + 2 * j), r0b = _mm512_maskz_loadu_ps(hi, x0 + 2 * j + 16);
  const __m512 r1a = _mm512_maskz_loadu_ps(lo, x1 + 2 * j), r1b = _mm512_maskz_loadu_ps(hi, x1 + 2 * j + 16);
  const __m512 c[4] = {_mm512_permutex2var_ps(r0a, even, r0b), _mm512_permutex2var_ps(r0a, odd, r0b),
                       _mm512_permutex2var_ps(r1a, even, r1b), _mm512_permutex2var_ps(r1a, odd, r1b)};
  const __m512 zero = _mm512_setzero_ps();
  // (the masked forms of max and permute below: GCC 12's unmasked ones warn about their undefined pass-through)
  auto y = [&](__m512 v) { return _mm512_mask_max_ps(zero, 0xFFFF, _mm512_fmadd_ps(_mm512_sub_ps(v, mu), s, b), zero); };
  __m512 m = y(c[0]), xv = c[0];
  __m512i best = _mm512_setzero_si512();
  for (int k = 1; k < 4; ++k) {
    const __m512 v = y(c[k]);
    const __mmask16 won = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ);
    m = _mm512_mask_blend_ps(won, m, v);
    xv = _mm512_mask_blend_ps(won, xv, c[k]);
    best = _mm512_mask_mov_epi32(best, won, _mm512_set1_epi32(k));
  }
  _mm512_mask_storeu_ps(o + j, out_mask, m);
  _mm512_mask_storeu_ps(xm + j, out_mask, xv);
  _mm512_mask_cvtepi32_storeu_epi8(ix + j, out_mask, best);
}
#endif

}  // namespace

void batch_norm_relu_pool_forward_cpu(float* out, uint8_t* idx, float* xmax, const float* x, const float* mean,
                                      const float* invstd, const float* gamma, const float* beta, int64_t N,
                                      int64_t C, int64_t D, int64_t H, int64_t W) {
  const int64_t oH = H / 2, oW = W / 2, in_plane = D * H * W, out_plane = D * oH * oW;
#pragma omp parallel for schedule(static) if (N * C * in_plane > kParallelMin)
  for (int64_t p = 0; p < N * C; ++p) {
    const Affine a(mean, invstd, gamma, beta, p % C);
#if defined(__AVX512F__)
    const __m512 mu = _mm512_set1_ps(a.mu), s = _mm512_set1_ps(a.s), b = _mm512_set1_ps(a.b);
#endif
    for (int64_t d = 0; d < D; ++d)
      for (int64_t oh = 0; oh < oH; ++oh) {
        const float* x0 = x + p * in_plane + (d * H + 2 * oh) * W;
        const float* x1 = x0 + W;
        const int64_t off = p * out_plane + (d * oH + oh) * oW;
#if defined(__AVX512F__)
        for (int64_t j = 0; j < oW; j += 16)
          windows_16(out + off, idx + off, xmax + off, x0, x1, j, static_cast<int>(std::min<int64_t>(16, oW - j)),
                     mu, s, b);
#else
        for (int64_t j = 0; j < oW; ++j) window_scalar(out + off, idx + off, xmax + off, x0, x1, j, a);
#endif
      }
  }
}

namespace {

// dx of one input row h of channel plane (n, c, d): dx = kf (dy - ka - (x - mu) kb), dy spread from the pooled
// row `prow` (nullptr: a row no window covers) to each window's winner.
struct DxCoef {
  float kf, ka, kb;
};
void dx_row(float* dr, const float* xr, const float* dout_row, const uint8_t* idx_row, int64_t h, int64_t W,
            int64_t oW, const Affine& a, const DxCoef& k, bool add) {
  const int row_k = static_cast<int>(h & 1) * 2;   // this row's positions in a window: row_k, row_k + 1
  auto put = [&](int64_t w, float g) {
    const float v = k.kf * std::fma(-(xr[w] - a.mu), k.kb, g - k.ka);
    dr[w] = add ? dr[w] + v : v;
  };
  int64_t w = 0;
#if defined(__AVX512F__)
  if (dout_row) {
    const __m512i dup = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512i pos = _mm512_add_epi32(_mm512_set1_epi32(row_k), _mm512_setr_epi32(0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
                                                                                     0, 1, 0, 1, 0, 1));
    const __m512 mu = _mm512_set1_ps(a.mu), s = _mm512_set1_ps(a.s), b = _mm512_set1_ps(a.b);
    const __m512 kf = _mm512_set1_ps(k.kf), ka = _mm512_set1_ps(k.ka), kb = _mm512_set1_ps(k.kb);
    const __m512 zero = _mm512_setzero_ps();
    for (; w + 16 <= 2 * oW; w += 16) {   // 8 windows
      const int64_t j = w / 2;
      const __m512 g8 = _mm512_mask_permutexvar_ps(zero, 0xFFFF, dup, _mm512_maskz_loadu_ps(0xFF, dout_row + j));
      const __m128i i8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(idx_row + j));   // 8 windows' bytes
      const __m512i won = _mm512_mask_permutexvar_epi32(_mm512_setzero_si512(), 0xFFFF, dup, _mm512_maskz_cvtepu8_epi32(0xFFFF, i8));
      const __m512 xv = _mm512_loadu_ps(xr + w);
      const __m512 xc = _mm512_sub_ps(xv, mu);
      const __mmask16 keep = _mm512_cmpeq_epi32_mask(won, pos) &
                             _mm512_cmp_ps_mask(_mm512_fmadd_ps(xc, s, b), zero, _CMP_GT_OQ);
      const __m512 g = _mm512_maskz_mov_ps(keep, _mm512_add_ps(g8, zero));
      __m512 v = _mm512_mul_ps(kf, _mm512_fnmadd_ps(xc, kb, _mm512_sub_ps(g, ka)));
      if (add) v = _mm512_add_ps(_mm512_loadu_ps(dr + w), v);
      _mm512_storeu_ps(dr + w, v);
    }
  }
#endif
  for (; w < W; ++w) {
    const int64_t j = w / 2;
    const bool winner = dout_row && j < oW && idx_row[j] == row_k + static_cast<int>(w & 1);
    put(w, winner ? masked(dout_row[j], a.positive(xr[w])) : 0.f);
  }
}

}  // namespace

void batch_norm_relu_pool_backward_cpu(float* dx, float* dgamma, float* dbeta, const float* dout, const uint8_t* idx,
                                       const float* xmax, const float* x, const float* mean, const float* invstd,
                                       const float* gamma, const float* beta, bool batch_stats, bool add_dx, int64_t N,
                                       int64_t C, int64_t D, int64_t H, int64_t W) {
  const int64_t oH = H / 2, oW = W / 2, in_plane = D * H * W, out_plane = D * oH * oW;
  const bool need_sums = dgamma || dbeta || (dx && batch_stats);
  const double M = static_cast<double>(N * in_plane);
#pragma omp parallel for schedule(static) if (N * C * in_plane > kParallelMin)
  for (int64_t c = 0; c < C; ++c) {
    const Affine a(mean, invstd, gamma, beta, c);
    const double mu = mean[c], is = invstd[c];
    double sdy = 0.0, sdyc = 0.0;   // sum dy, sum dy * (x - mean): only the windows' winners have dy != 0
    if (need_sums)
      for (int64_t n = 0; n < N; ++n) {
        const float* g = dout + (n * C + c) * out_plane;
        const float* xm = xmax + (n * C + c) * out_plane;
#pragma omp simd reduction(+ : sdy, sdyc)
        for (int64_t i = 0; i < out_plane; ++i) {
          const float gi = masked(g[i], a.positive(xm[i]));
          sdy += gi;
          sdyc += gi * (xm[i] - mu);
        }
      }
    const double sdyx = sdyc * is;
    if (dgamma) dgamma[c] += static_cast<float>(sdyx);
    if (dbeta) dbeta[c] += static_cast<float>(sdy);
    if (!dx) continue;
    const DxCoef k{static_cast<float>(is * (gamma ? gamma[c] : 1.0)), batch_stats ? static_cast<float>(sdy / M) : 0.f,
                   batch_stats ? static_cast<float>(sdyx * is / M) : 0.f};
    for (int64_t n = 0; n < N; ++n)
      for (int64_t d = 0; d < D; ++d)
        for (int64_t h = 0; h < H; ++h) {
          const int64_t row = (n * C + c) * in_plane + (d * H + h) * W;
          const bool pooled = h < 2 * oH;
          const int64_t prow = (n * C + c) * out_plane + (d * oH + h / 2) * oW;
          dx_row(dx + row, x + row, pooled ? dout + prow : nullptr, pooled ? idx + prow : nullptr, h, W, oW, a, k,
                 add_dx);
        }
  }
}

}  // namespace ssmtl::kernels
