// AVX-512 multi-head attention on token-major buffers (kernels/cpu/attention_tokens_avx512.h). Why it is laid out
// this way: a head of width 8 fills half a vector, so neither kernel puts the head width in the lanes.
//   forward: 16 queries in the lanes, their (pre-scaled) q in E registers; pass 1 writes the 16 x Lk scores to an
//     L1 buffer and keeps the running max, pass 2 turns them into probabilities (exp2 with the AVX-512 scalef,
//     ~9 instructions instead of ~25 for a portable exp) and accumulates P v in Ev registers.
//   backward: one pass instead of two (no second exp). 16 keys in the lanes, their k in E registers and their dk
//     and dv accumulators in E + Ev registers, while the queries of a block of 32 stream past: score, dP, P, dS
//     are computed once per (query, key), dk += dS q and dv += P dout stay in registers, dS goes to an L1 buffer;
//     then dq = dS k for the block, keys in the lanes, summed across the lanes by one transposing reduction.
// The scores are computed as (q * log2(e) / sqrt(E)) . k in both kernels with the same products in the same order,
// so the backward's recomputed probabilities are the forward's (the FlashAttention recomputation, Dao et al. 2022).
#include "kernels/cpu/attention_tokens_avx512.h"
#include "kernels/cpu/omp_workers.h"

// GCC 12 flags the self-initialised undefined vectors inside its own AVX-512 intrinsics (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#define SSMTL_AVX512 __attribute__((target("avx512f")))

namespace ssmtl::kernels {
namespace {

constexpr int kLanes = 16;
constexpr int kQueryBlock = 32;                 // backward: queries whose dS rows stay in L1 (32 x Lk floats)
constexpr float kLog2e = 1.44269504088896341f;

bool avx512_available() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return has;
}

// 2^x: x = n + r with n = round(x), |r| <= 1/2; 2^r by a degree-6 polynomial (relative-error fit on [-1/2, 1/2],
// made with numpy, max error 1e-7 in fp32), times 2^n by scalef, which also gives 0 for n below the range.
SSMTL_AVX512 inline __m512 exp2_ps(__m512 x) {
  const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 r = _mm512_sub_ps(x, n);
  __m512 p = _mm512_set1_ps(1.534581243e-04f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.339993090e-03f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(9.618489072e-03f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.550328642e-02f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(2.402264625e-01f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(6.931471825e-01f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(p, n);
}

// log2 x for x >= 1 (here a softmax denominator): x = m 2^e with m in [0.75, 1.5), log m = 2 atanh(u),
// u = (m - 1) / (m + 1) in [-1/7, 1/5], by its series to u^11 (truncation < 1e-10). e = getexp(x / m) is exact.
SSMTL_AVX512 inline __m512 log2_ps(__m512 x) {
  const __m512 m = _mm512_getmant_ps(x, _MM_MANT_NORM_p75_1p5, _MM_MANT_SIGN_src);
  const __m512 e = _mm512_getexp_ps(_mm512_div_ps(x, m));
  const __m512 one = _mm512_set1_ps(1.f);
  const __m512 u = _mm512_div_ps(_mm512_sub_ps(m, one), _mm512_add_ps(m, one));
  const __m512 u2 = _mm512_mul_ps(u, u);
  __m512 p = _mm512_set1_ps(1.f / 11.f);
  p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(1.f / 9.f));
  p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(1.f / 7.f));
  p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(1.f / 5.f));
  p = _mm512_fmadd_ps(p, u2, _mm512_set1_ps(1.f / 3.f));
  p = _mm512_fmadd_ps(p, u2, one);
  return _mm512_fmadd_ps(_mm512_mul_ps(u, p), _mm512_set1_ps(2.f * kLog2e), e);
}

// 4 x 4 transposes inside each 128-bit lane of in[0..3] (element e of lane g of out[r] = element r of lane g of
// in[e]); its own inverse.
SSMTL_AVX512 inline void transpose4_lanes(const __m512* in, __m512* out) {
  const __m512 a0 = _mm512_unpacklo_ps(in[0], in[1]), a1 = _mm512_unpackhi_ps(in[0], in[1]);
  const __m512 a2 = _mm512_unpacklo_ps(in[2], in[3]), a3 = _mm512_unpackhi_ps(in[2], in[3]);
  out[0] = _mm512_shuffle_ps(a0, a2, 0x44);
  out[1] = _mm512_shuffle_ps(a0, a2, 0xEE);
  out[2] = _mm512_shuffle_ps(a1, a3, 0x44);
  out[3] = _mm512_shuffle_ps(a1, a3, 0xEE);
}

// Rows l < n of 16 rows of 8 floats at src + l * ld (zero for l >= n) as t[d][l], the inverse of store_rows8.
// [row k | row 4+k] and [row 8+k | row 12+k] come in by masked loads (the upper half at row - 8: masked-off
// lanes are never touched), the 128-bit lanes are regrouped, then transposed 4 x 4 inside the lanes.
SSMTL_AVX512 inline void load_rows8(__m512* t, const float* src, int64_t ld, int n) {
  auto mask = [n](int row, __mmask16 m) { return row < n ? m : static_cast<__mmask16>(0); };
  __m512 b[8];
  for (int k = 0; k < 4; ++k) {
    __m512 r01 = _mm512_maskz_loadu_ps(mask(k, 0x00FF), src + k * ld);
    r01 = _mm512_mask_loadu_ps(r01, mask(4 + k, 0xFF00), src + (4 + k) * ld - 8);
    __m512 r23 = _mm512_maskz_loadu_ps(mask(8 + k, 0x00FF), src + (8 + k) * ld);
    r23 = _mm512_mask_loadu_ps(r23, mask(12 + k, 0xFF00), src + (12 + k) * ld - 8);
    const __m512 lo = _mm512_shuffle_f32x4(r01, r01, 0xD8), hi = _mm512_shuffle_f32x4(r23, r23, 0xD8);
    b[k] = _mm512_shuffle_f32x4(lo, hi, 0x44);       // lane g: d0..d3 of row 4g + k
    b[4 + k] = _mm512_shuffle_f32x4(lo, hi, 0xEE);   // lane g: d4..d7 of row 4g + k
  }
  transpose4_lanes(b, t);
  transpose4_lanes(b + 4, t + 4);
}

// Writes 16 rows of 8 floats, row l = (t[0][l], ..., t[7][l]), to dst + l * ld for the n <= 16 rows l < n:
// the 8 x 16 block transposed in registers (the steps of load_rows8 backwards).
SSMTL_AVX512 inline void store_rows8(float* dst, int64_t ld, const __m512* t, int n) {
  __m512 b[8];
  transpose4_lanes(t, b);       // b[k] lane g = d0..d3 of row 4g + k
  transpose4_lanes(t + 4, b + 4);   // b[4 + k] lane g = d4..d7 of it
  for (int k = 0; k < 4; ++k) {
    const __m512 lo = _mm512_shuffle_f32x4(b[k], b[4 + k], 0x44);   // [k lo, 4+k lo, k hi, 4+k hi]
    const __m512 hi = _mm512_shuffle_f32x4(b[k], b[4 + k], 0xEE);   // rows 8+k, 12+k
    const __m512 r01 = _mm512_shuffle_f32x4(lo, lo, 0xD8);          // [row k | row 4+k]
    const __m512 r23 = _mm512_shuffle_f32x4(hi, hi, 0xD8);          // [row 8+k | row 12+k]
    if (k < n) _mm512_mask_storeu_ps(dst + k * ld, 0x00FF, r01);
    if (4 + k < n) _mm512_mask_storeu_ps(dst + (4 + k) * ld - 8, 0xFF00, r01);
    if (8 + k < n) _mm512_mask_storeu_ps(dst + (8 + k) * ld, 0x00FF, r23);
    if (12 + k < n) _mm512_mask_storeu_ps(dst + (12 + k) * ld - 8, 0xFF00, r23);
  }
}

// Lane sums of 8 vectors: result[d] = sum over the 16 lanes of t[d], by pairwise unpack / shuffle adds
// (24 instructions instead of 8 separate reductions of ~8 each). Fixed order: deterministic.
SSMTL_AVX512 inline __m256 lane_sums8(const __m512* t) {
  __m512 u[4];
  for (int a = 0; a < 4; ++a)
    u[a] = _mm512_add_ps(_mm512_unpacklo_ps(t[2 * a], t[2 * a + 1]), _mm512_unpackhi_ps(t[2 * a], t[2 * a + 1]));
  // per 128-bit lane: [t0, t1, t0, t1] partial sums -> [t0, t1, t2, t3]
  const __m512 v0 = _mm512_add_ps(_mm512_shuffle_ps(u[0], u[1], 0x44), _mm512_shuffle_ps(u[0], u[1], 0xEE));
  const __m512 v1 = _mm512_add_ps(_mm512_shuffle_ps(u[2], u[3], 0x44), _mm512_shuffle_ps(u[2], u[3], 0xEE));
  // 128-bit lanes: x = [v0 L0+L2, v0 L1+L3, v1 L0+L2, v1 L1+L3]
  const __m512 x = _mm512_add_ps(_mm512_shuffle_f32x4(v0, v1, 0x44), _mm512_shuffle_f32x4(v0, v1, 0xEE));
  // y lane 0 = x L0 + x L1 (t0..t3), y lane 2 = x L2 + x L3 (t4..t7)
  const __m512 y = _mm512_add_ps(x, _mm512_shuffle_f32x4(x, x, 0xB1));
  return _mm512_castps512_ps256(_mm512_shuffle_f32x4(y, y, 0x08));
}

// Aligned per-thread scratch: `per` floats for each worker, each block starting on a 64-byte boundary.
struct Scratch {
  std::vector<float> buf;
  int64_t per;
  explicit Scratch(int64_t floats) : per((floats + 15) / 16 * 16) {
    buf.resize(static_cast<size_t>(worker_count() * per + 16));
  }
  float* mine() {
    auto p = reinterpret_cast<uintptr_t>(buf.data());
    float* base = reinterpret_cast<float*>((p + 63) / 64 * 64);
    return base + worker_id() * per;
  }
};

// NB blocks of 16 queries (rows i0 .. i0 + 16 NB of one head; n[b] valid rows in block b) against all keys: each
// broadcast k / v element feeds NB multiply-adds. s: scores, Lk x 16 NB.
template <int E, int Ev, int NB>
SSMTL_AVX512 inline void forward_blocks(float* out, float* lse, float* s, const float* qb, const float* kb,
                                        const float* vb, int64_t ldq, int64_t ldv, int64_t Lk, float c2,
                                        const int* n) {
  __m512 qv[NB][E];
  for (int bl = 0; bl < NB; ++bl) {
    for (int d0 = 0; d0 < E; d0 += 8) load_rows8(qv[bl] + d0, qb + bl * kLanes * ldq + d0, ldq, n[bl]);
    for (int d = 0; d < E; ++d) qv[bl][d] = _mm512_mul_ps(qv[bl][d], _mm512_set1_ps(c2));   // as qs in the backward
  }
  __m512 m[NB];
  for (int bl = 0; bl < NB; ++bl) m[bl] = _mm512_set1_ps(-INFINITY);
  for (int64_t j = 0; j < Lk; ++j) {
    const float* kr = kb + j * ldq;
    __m512 sj[NB];
    const __m512 k0 = _mm512_set1_ps(kr[0]);
    for (int bl = 0; bl < NB; ++bl) sj[bl] = _mm512_mul_ps(qv[bl][0], k0);
    for (int d = 1; d < E; ++d) {
      const __m512 kd = _mm512_set1_ps(kr[d]);
      for (int bl = 0; bl < NB; ++bl) sj[bl] = _mm512_fmadd_ps(qv[bl][d], kd, sj[bl]);
    }
    for (int bl = 0; bl < NB; ++bl) {
      _mm512_store_ps(s + (j * NB + bl) * kLanes, sj[bl]);
      m[bl] = _mm512_max_ps(m[bl], sj[bl]);
    }
  }
  __m512 acc[NB][Ev], sum[NB];
  for (int bl = 0; bl < NB; ++bl) {
    sum[bl] = _mm512_setzero_ps();
    for (int d = 0; d < Ev; ++d) acc[bl][d] = _mm512_setzero_ps();
  }
  for (int64_t j = 0; j < Lk; ++j) {
    __m512 p[NB];
    for (int bl = 0; bl < NB; ++bl) {
      p[bl] = exp2_ps(_mm512_sub_ps(_mm512_load_ps(s + (j * NB + bl) * kLanes), m[bl]));
      sum[bl] = _mm512_add_ps(sum[bl], p[bl]);
    }
    const float* vr = vb + j * ldv;
    for (int d = 0; d < Ev; ++d) {
      const __m512 vd = _mm512_set1_ps(vr[d]);
      for (int bl = 0; bl < NB; ++bl) acc[bl][d] = _mm512_fmadd_ps(p[bl], vd, acc[bl][d]);
    }
  }
  for (int bl = 0; bl < NB; ++bl) {
    const __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.f), sum[bl]);
    for (int d = 0; d < Ev; ++d) acc[bl][d] = _mm512_mul_ps(acc[bl][d], inv);
    const __mmask16 valid = static_cast<__mmask16>((1u << n[bl]) - 1u);
    _mm512_mask_storeu_ps(lse + bl * kLanes, valid, _mm512_add_ps(m[bl], log2_ps(sum[bl])));
    for (int d0 = 0; d0 < Ev; d0 += 8)
      store_rows8(out + bl * kLanes * ldv + d0, ldv, acc[bl] + d0, n[bl]);
  }
}

// One (sample, head) problem of forward_heads (a function of its own: see backward_head). `s`: this thread's
// score buffer (Lk x 16 x kBlocks).
template <int E, int Ev>
SSMTL_AVX512 void forward_head(int64_t bh, float* s, float* out, float* lse, const float* q, const float* k,
                               const float* v, int64_t H, int64_t Lq, int64_t Lk) {
  const float c2 = kLog2e / std::sqrt(static_cast<float>(E));
  const int64_t ldq = H * E, ldv = H * Ev;
  // Two blocks of 16 queries at a time for width 8 (2 x 8 q registers + 2 x 8 accumulators fit in 32); one for
  // wider heads. The per-query results do not depend on the blocking.
  constexpr int kBlocks = E <= 8 && Ev <= 8 ? 2 : 1;
  const int64_t b = bh / H, h = bh % H;
  const float* qb = q + b * Lq * ldq + h * E;
  const float* kb = k + b * Lk * ldq + h * E;
  const float* vb = v + b * Lk * ldv + h * Ev;
  for (int64_t i0 = 0; i0 < Lq; i0 += kLanes * kBlocks) {
    int n[2];
    for (int bl = 0; bl < 2; ++bl) n[bl] = static_cast<int>(std::clamp<int64_t>(Lq - i0 - bl * kLanes, 0, kLanes));
    float* o = out + (b * Lq + i0) * ldv + h * Ev;
    if (kBlocks == 2 && n[1] > 0)
      forward_blocks<E, Ev, kBlocks>(o, lse + bh * Lq + i0, s, qb + i0 * ldq, kb, vb, ldq, ldv, Lk, c2, n);
    else
      forward_blocks<E, Ev, 1>(o, lse + bh * Lq + i0, s, qb + i0 * ldq, kb, vb, ldq, ldv, Lk, c2, n);
  }
}

template <int E, int Ev>
SSMTL_AVX512 void forward_heads(float* out, float* lse, const float* q, const float* k, const float* v, int64_t B,
                                int64_t H, int64_t Lq, int64_t Lk) {
  constexpr int kBlocks = E <= 8 && Ev <= 8 ? 2 : 1;
  Scratch scratch(Lk * kLanes * kBlocks);   // per thread: the scores
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < B * H; ++bh) forward_head<E, Ev>(bh, scratch.mine(), out, lse, q, k, v, H, Lq, Lk);
}

// One (sample, head) problem of backward_heads; `scratch`: this thread's buffer (see there). A function of its
// own, not the body of the parallel loop: clang outlines an OpenMP loop body into a function without this
// target attribute, and refuses AVX-512 intrinsics there.
template <int E, int Ev>
SSMTL_AVX512 void backward_head(int64_t bh, float* scratch, float* dq, float* dk, float* dv, const float* dout,
                                const float* q, const float* k, const float* v, const float* out, const float* lse,
                                bool add_dq, bool add_dk, bool add_dv, int64_t H, int64_t Lq, int64_t Lk) {
  const float scale = 1.f / std::sqrt(static_cast<float>(E)), c2 = kLog2e * scale;
  const int64_t ldq = H * E, ldv = H * Ev;
  const int64_t nc = (Lk + kLanes - 1) / kLanes, Lkp = nc * kLanes;   // key chunks of 16, padded
  const __mmask16 tail = static_cast<__mmask16>((1u << (Lk - (nc - 1) * kLanes)) - 1u);
  const int64_t b = bh / H, h = bh % H;
  float* kt = scratch;                   // [chunk][d][16] k^T, zero past Lk
  float* vt = kt + E * Lkp;              // [chunk][d][16] v^T
  float* dka = vt + Ev * Lkp;            // [chunk][d][16] sum_i dS_ij q_i (unscaled)
  float* dva = dka + E * Lkp;            // [chunk][d][16] sum_i P_ij dout_i
  float* ds_rows = dva + Ev * Lkp;       // [query in block][Lkp]
  float* qs = ds_rows + kQueryBlock * Lkp;   // [query][d] q * log2(e) / sqrt(E)
  float* delta = qs + Lq * E;            // D_i = dout_i . out_i
  const float* qb = q + b * Lq * ldq + h * E;
  const float* kb = k + b * Lk * ldq + h * E;
  const float* vb = v + b * Lk * ldv + h * Ev;
  const float* gb = dout + b * Lq * ldv + h * Ev;
  const float* ob = out + b * Lq * ldv + h * Ev;
  const float* lb = lse + bh * Lq;
  for (int64_t c = 0; c < nc; ++c)
    for (int l = 0; l < kLanes; ++l) {
      const int64_t j = c * kLanes + l;
      for (int d = 0; d < E; ++d) kt[(c * E + d) * kLanes + l] = j < Lk ? kb[j * ldq + d] : 0.f;
      for (int d = 0; d < Ev; ++d) vt[(c * Ev + d) * kLanes + l] = j < Lk ? vb[j * ldv + d] : 0.f;
    }
  std::fill(dka, dka + (E + Ev) * Lkp, 0.f);
  for (int64_t i = 0; i < Lq; ++i)
    for (int d0 = 0; d0 < E; d0 += 8)   // the same products as the forward's q block
      _mm256_storeu_ps(qs + i * E + d0, _mm256_mul_ps(_mm256_loadu_ps(qb + i * ldq + d0), _mm256_set1_ps(c2)));
  for (int64_t i0 = 0; i0 < Lq; i0 += kLanes) {   // D for 16 queries at a time, queries in the lanes
    const int n = static_cast<int>(std::min<int64_t>(kLanes, Lq - i0));
    __m512 dsum = _mm512_setzero_ps();
    for (int d0 = 0; d0 < Ev; d0 += 8) {
      __m512 gt[8], ot[8];
      load_rows8(gt, gb + i0 * ldv + d0, ldv, n);
      load_rows8(ot, ob + i0 * ldv + d0, ldv, n);
      for (int d = 0; d < 8; ++d) dsum = _mm512_fmadd_ps(gt[d], ot[d], dsum);
    }
    _mm512_storeu_ps(delta + i0, dsum);
  }
  for (int64_t i0 = 0; i0 < Lq; i0 += kQueryBlock) {
    const int64_t ni = std::min<int64_t>(kQueryBlock, Lq - i0);
    for (int64_t c = 0; c < nc; ++c) {
      const __mmask16 valid = c == nc - 1 ? tail : static_cast<__mmask16>(0xFFFF);
      __m512 kr[E], ka[E], va[Ev];
      for (int d = 0; d < E; ++d) {
        kr[d] = _mm512_load_ps(kt + (c * E + d) * kLanes);
        ka[d] = _mm512_load_ps(dka + (c * E + d) * kLanes);
      }
      for (int d = 0; d < Ev; ++d) va[d] = _mm512_load_ps(dva + (c * Ev + d) * kLanes);
      const float* vtc = vt + c * Ev * kLanes;
      for (int64_t i = i0; i < i0 + ni; ++i) {
        const float* qsi = qs + i * E;
        const float* qi = qb + i * ldq;
        const float* gi = gb + i * ldv;
        __m512 s = _mm512_mul_ps(kr[0], _mm512_set1_ps(qsi[0]));   // the forward's products, same order
        for (int d = 1; d < E; ++d) s = _mm512_fmadd_ps(kr[d], _mm512_set1_ps(qsi[d]), s);
        __m512 dp = _mm512_mul_ps(_mm512_load_ps(vtc), _mm512_set1_ps(gi[0]));
        for (int d = 1; d < Ev; ++d)
          dp = _mm512_fmadd_ps(_mm512_load_ps(vtc + d * kLanes), _mm512_set1_ps(gi[d]), dp);
        const __m512 p = _mm512_maskz_mov_ps(valid, exp2_ps(_mm512_sub_ps(s, _mm512_set1_ps(lb[i]))));
        const __m512 ds = _mm512_mul_ps(p, _mm512_sub_ps(dp, _mm512_set1_ps(delta[i])));
        for (int d = 0; d < Ev; ++d) va[d] = _mm512_fmadd_ps(p, _mm512_set1_ps(gi[d]), va[d]);
        for (int d = 0; d < E; ++d) ka[d] = _mm512_fmadd_ps(ds, _mm512_set1_ps(qi[d]), ka[d]);
        _mm512_store_ps(ds_rows + (i - i0) * Lkp + c * kLanes, ds);
      }
      for (int d = 0; d < E; ++d) _mm512_store_ps(dka + (c * E + d) * kLanes, ka[d]);
      for (int d = 0; d < Ev; ++d) _mm512_store_ps(dva + (c * Ev + d) * kLanes, va[d]);
    }
    if (!dq) continue;
    // dq_i = scale * sum_j dS_ij k_j: keys in the lanes, chunk by chunk, then one sum across the lanes.
    for (int64_t i = i0; i < i0 + ni; ++i) {
      const float* dsr = ds_rows + (i - i0) * Lkp;
      __m512 t[E];
      for (int d = 0; d < E; ++d) t[d] = _mm512_setzero_ps();
      for (int64_t c = 0; c < nc; ++c) {
        const __m512 ds = _mm512_load_ps(dsr + c * kLanes);
        for (int d = 0; d < E; ++d) t[d] = _mm512_fmadd_ps(ds, _mm512_load_ps(kt + (c * E + d) * kLanes), t[d]);
      }
      float* r = dq + (b * Lq + i) * ldq + h * E;
      for (int d0 = 0; d0 < E; d0 += 8) {
        const __m256 sums = _mm256_mul_ps(lane_sums8(t + d0), _mm256_set1_ps(scale));
        _mm256_storeu_ps(r + d0, add_dq ? _mm256_add_ps(_mm256_loadu_ps(r + d0), sums) : sums);
      }
    }
  }
  for (int64_t j = 0; j < Lk; ++j) {
    const int64_t c = j / kLanes, l = j % kLanes;
    if (dk) {
      float* r = dk + (b * Lk + j) * ldq + h * E;
      for (int d = 0; d < E; ++d) r[d] = (add_dk ? r[d] : 0.f) + dka[(c * E + d) * kLanes + l] * scale;
    }
    if (dv) {
      float* r = dv + (b * Lk + j) * ldv + h * Ev;
      for (int d = 0; d < Ev; ++d) r[d] = (add_dv ? r[d] : 0.f) + dva[(c * Ev + d) * kLanes + l];
    }
  }
}

template <int E, int Ev>
SSMTL_AVX512 void backward_heads(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                                 const float* v, const float* out, const float* lse, bool add_dq, bool add_dk,
                                 bool add_dv, int64_t B, int64_t H, int64_t Lq, int64_t Lk) {
  const int64_t Lkp = (Lk + kLanes - 1) / kLanes * kLanes;   // key chunks of 16, padded
  // Per thread: scaled q rows (Lq x E), D (Lq), k^T and v^T (E / Ev x Lkp), dk / dv accumulators (same),
  // dS rows of a query block (kQueryBlock x Lkp).
  const int64_t per = Lq * E + (Lq + kLanes) + 2 * (E + Ev) * Lkp + kQueryBlock * Lkp;
  Scratch scratch(per);
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < B * H; ++bh)
    backward_head<E, Ev>(bh, scratch.mine(), dq, dk, dv, dout, q, k, v, out, lse, add_dq, add_dk, add_dv, H, Lq, Lk);
}

}  // namespace

bool attention_tokens_forward_avx512(float* out, float* lse, const float* q, const float* k, const float* v,
                                     int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t E, int64_t Ev) {
  if (!avx512_available()) return false;
  if (E == 8 && Ev == 8) forward_heads<8, 8>(out, lse, q, k, v, B, H, Lq, Lk);
  else if (E == 16 && Ev == 16) forward_heads<16, 16>(out, lse, q, k, v, B, H, Lq, Lk);
  else return false;
  return true;
}

bool attention_tokens_backward_avx512(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                      const float* k, const float* v, const float* out, const float* lse, bool add_dq,
                                      bool add_dk, bool add_dv, int64_t B, int64_t H, int64_t Lq, int64_t Lk,
                                      int64_t E, int64_t Ev) {
  if (!avx512_available()) return false;
  if (E == 8 && Ev == 8)
    backward_heads<8, 8>(dq, dk, dv, dout, q, k, v, out, lse, add_dq, add_dk, add_dv, B, H, Lq, Lk);
  else if (E == 16 && Ev == 16)
    backward_heads<16, 16>(dq, dk, dv, dout, q, k, v, out, lse, add_dq, add_dk, add_dv, B, H, Lq, Lk);
  else return false;
  return true;
}

}  // namespace ssmtl::kernels
