// Multi-head attention on token-major buffers with its products on AMX tiles (the bf16 path of
// attention_tokens_forward_cpu / attention_tokens_backward_cpu when kernels::use_amx_products(); head width 8,
// the paper's CvT: 96 / 12 heads). Why: with 8-wide heads the AVX-512 kernels spend ~2/3 of their instructions
// on the multiply-adds of the five products (q.k, p v; q.k again, dout.v, p^T dout, dS^T q, dS k); one TDPBF16PS
// does 16 x 16 x 8 of them, which leaves the softmax's vector work (exp2, masks, bf16 conversions).
// Layout: keys in the rows of every tile, 16 queries in the lanes of every vector, as in the AVX-512 kernels:
//   S^T (16 keys x 16 queries) = K (16 x 8) Q^T (8 x 16)        A: key rows; B: Q^T as 4 VNNI pair-rows
//   forward: out^T (8 x 16) += V^T (8 x 32 keys) P^T (32 keys x 16)   B: P^T as 16 pair-rows of keys
//   backward, per 16 keys while 32 queries at a time stream past:
//     dP^T = V dout^T (as S^T), dV (16 x 8) += P^T (16 x 32 queries) dout (32 x 8), dK += dS^T q (same shapes);
//     dS^T is also kept as pair-rows of keys, and after all keys dQ^T (8 x 16) = K^T (8 x 32 keys) dS^T per step.
// Factors are rounded to bf16 as every bf16 product of this engine (q after its scale log2(e) / sqrt(E), k, v,
// dout, P, dS; kernels/precision.h), sums in float32. The forward's lse (base 2) is the AVX-512 kernel's
// quantity and the backward recomputes the same scores with the same tile products. Each (sample, head) is done
// by one thread in a fixed order: results do not depend on the thread count. Zero padding: keys past Lk to a
// multiple of 32 (their probabilities are masked to 0), queries past Lq (their lanes are masked to 0 and never
// stored). TDPBF16PS semantics: kernels/cpu/amx.h and gemm_panel_amx.cpp.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cpu/amx.h"
#include "kernels/cpu/attention_tokens_avx512.h"
#include "kernels/cpu/attention_vec.h"
#include "kernels/cpu/bf16.h"
#include "kernels/precision.h"

namespace ssmtl::kernels {
namespace {

using namespace attention_vec;
constexpr int kE = 8;   // head width of this path

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

inline void memory_barrier() { __asm__ volatile("" ::: "memory"); }   // tile loads read what was just stored

inline __mmask16 lanes_below(int64_t n) {
  return n >= kLanes ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << std::max<int64_t>(n, 0)) - 1u);
}

// The per-head operands both kernels share, in bf16.
struct HeadOperands {
  std::vector<uint16_t> kr;   // (Lk16, 8): key rows, the A tiles of S^T
  std::vector<uint16_t> qt;   // per 16-query block, 4 pair-rows x 16 queries: (q c2)^T, the B tiles of S^T
};

// Rows of `src` (rows ld floats apart, 8 used) as bf16 rows of 8, zero past n rows, into dst (rows_total x 8).
SSMTL_AMX_TARGET void key_rows(uint16_t* dst, const float* src, int64_t ld, int64_t n, int64_t rows_total) {
  for (int64_t j = 0; j < rows_total; ++j)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + j * kE),
                     j < n ? (__m128i)_mm256_cvtneps_pbh(_mm256_loadu_ps(src + j * ld)) : _mm_setzero_si128());
}

// The same rows transposed: dst[d * stride + j] = bf16(src[j][d]) for j < cols (a multiple of 16), zero past n.
SSMTL_AMX_TARGET void key_columns(uint16_t* dst, int64_t stride, const float* src, int64_t ld, int64_t n,
                                  int64_t cols) {
  for (int64_t j0 = 0; j0 < cols; j0 += kLanes) {
    __m512 t[kE];
    load_rows8(t, src + j0 * ld, ld, static_cast<int>(std::clamp<int64_t>(n - j0, 0, kLanes)));
    for (int d = 0; d < kE; ++d)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + d * stride + j0), (__m256i)_mm512_cvtneps_pbh(t[d]));
  }
}

// 16 query rows (n valid) of src, times `mul`, as 4 VNNI pair-rows (pair-row p, lane i: (x[i][2p], x[i][2p+1]))
SSMTL_AMX_TARGET void transposed_pairs(uint16_t* dst, const float* src, int64_t ld, int n, float mul) {
  __m512 t[kE];
  load_rows8(t, src, ld, n);
  for (int p = 0; p < kE / 2; ++p)
    _mm512_storeu_si512(dst + p * 2 * kLanes,
                        bf16::pairs(_mm512_mul_ps(t[2 * p], _mm512_set1_ps(mul)),
                                    _mm512_mul_ps(t[2 * p + 1], _mm512_set1_ps(mul))));
}

// 32 query rows (n valid) of src as 16 VNNI pair-rows of queries x 8 columns (32 bytes each):
// pair-row p, element 2 d + e = x[2 p + e][d].
SSMTL_AMX_TARGET void row_pairs(uint16_t* dst, const float* src, int64_t ld, int64_t n) {
  for (int p = 0; p < 16; p += 2) {   // two pair-rows per 64-byte store: rows 2p, 2p + 2 | 2p + 1, 2p + 3
    __m512 x[2];
    for (int e = 0; e < 2; ++e) {
      const int64_t i = 2 * p + e;
      const __m256 a = i < n ? _mm256_loadu_ps(src + i * ld) : _mm256_setzero_ps();
      const __m256 c = i + 2 < n ? _mm256_loadu_ps(src + (i + 2) * ld) : _mm256_setzero_ps();
      // [a | c] (insertf64x4: AVX512F; insertf32x8 would need AVX512DQ)
      x[e] = _mm512_castpd_ps(
          _mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(a)), _mm256_castps_pd(c), 1));
    }
    _mm512_storeu_si512(dst + p * 2 * kE, bf16::pairs(x[0], x[1]));
  }
}

// ---- forward ------------------------------------------------------------------------------------------------
// tiles: 0, 6 S^T (16 x 16 f32), 1, 7 K rows (16 x 8 bf16), 2 Q^T pairs (4 x 16 pairs), 3 out^T (8 x 16 f32),
//        4 V^T (8 x 32 bf16), 5 P^T pairs (16 x 16 pairs)
amx::TileConfig forward_config() {
  amx::TileConfig c;
  c.set(0, 16, 64);
  c.set(1, 16, 16);
  c.set(2, 4, 64);
  c.set(3, 8, 64);
  c.set(4, 8, 64);
  c.set(5, 16, 64);
  c.set(6, 16, 64);
  c.set(7, 16, 16);
  return c;
}

struct ForwardScratch {
  std::vector<uint16_t> kr, vt, qt, pb;   // pb: two query blocks' P^T pairs (double buffer)
  std::vector<float> s, ot;
  ForwardScratch(int64_t Lq16, int64_t Lk16, int64_t Lk32)
      : kr(Lk16 * kE), vt(kE * Lk32), qt(Lq16 / 16 * 128), pb(2 * Lk32 * kLanes), s(Lk16 * kLanes),
        ot(kE * kLanes) {}
};

// S^T of the 16 queries whose Q^T pairs are at qt, all keys, into s (Lk16 x 16), two tiles in turn.
SSMTL_AMX_TARGET void forward_scores(ForwardScratch& w, const uint16_t* qt, int64_t Lk16) {
  memory_barrier();
  _tile_loadd(2, qt, 64);
  for (int64_t j0 = 0; j0 < Lk16; j0 += 32) {
    _tile_zero(0);
    _tile_loadd(1, w.kr.data() + j0 * kE, 2 * kE);
    _tile_dpbf16ps(0, 1, 2);
    if (j0 + 16 < Lk16) {
      _tile_zero(6);
      _tile_loadd(7, w.kr.data() + (j0 + 16) * kE, 2 * kE);
      _tile_dpbf16ps(6, 7, 2);
    }
    _tile_stored(0, w.s.data() + j0 * kLanes, 64);
    if (j0 + 16 < Lk16) _tile_stored(6, w.s.data() + (j0 + 16) * kLanes, 64);
  }
  memory_barrier();
}

// The softmax of s over the Lk keys (queries in the lanes): P^T as pair-rows of keys into pb (zero past Lk);
// returns the maximum m and the sum of 2^(s - m).
SSMTL_AMX_TARGET void forward_softmax(const float* s, uint16_t* pb, int64_t Lk, int64_t Lk32, __m512& m,
                                      __m512& sum) {
  __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;   // four independent chains (registers)
  int64_t j = 0;
  for (; j + 4 <= Lk; j += 4) {
    m0 = _mm512_max_ps(m0, _mm512_loadu_ps(s + j * kLanes));
    m1 = _mm512_max_ps(m1, _mm512_loadu_ps(s + (j + 1) * kLanes));
    m2 = _mm512_max_ps(m2, _mm512_loadu_ps(s + (j + 2) * kLanes));
    m3 = _mm512_max_ps(m3, _mm512_loadu_ps(s + (j + 3) * kLanes));
  }
  for (; j < Lk; ++j) m0 = _mm512_max_ps(m0, _mm512_loadu_ps(s + j * kLanes));
  m = _mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3));
  __m512 s0 = _mm512_setzero_ps(), s1 = s0;   // even and odd keys
  for (j = 0; j < Lk32; j += 2) {
    const __m512 p0 = j < Lk ? exp2_ps(_mm512_sub_ps(_mm512_loadu_ps(s + j * kLanes), m)) : _mm512_setzero_ps();
    const __m512 p1 =
        j + 1 < Lk ? exp2_ps(_mm512_sub_ps(_mm512_loadu_ps(s + (j + 1) * kLanes), m)) : _mm512_setzero_ps();
    s0 = _mm512_add_ps(s0, p0);
    s1 = _mm512_add_ps(s1, p1);
    _mm512_storeu_si512(pb + j * kLanes, bf16::pairs(p0, p1));
  }
  sum = _mm512_add_ps(s0, s1);
}

// out^T = V^T P^T for one query block (P^T pairs at pb), normalised by sum, stored with its lse.
SSMTL_AMX_TARGET void forward_finish(ForwardScratch& w, const uint16_t* pb, int64_t Lk32, __m512 m, __m512 sum,
                                     float* out, int64_t ld, float* lse, int n) {
  memory_barrier();   // pb's stores before the tile loads (the last round runs no forward_scores in between)
  _tile_zero(3);
  for (int64_t j0 = 0; j0 < Lk32; j0 += 32) {
    _tile_loadd(4, w.vt.data() + j0, Lk32 * 2);
    _tile_loadd(5, pb + j0 * kLanes, 64);
    _tile_dpbf16ps(3, 4, 5);
  }
  _tile_stored(3, w.ot.data(), 64);
  memory_barrier();
  const __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.f), sum);
  __m512 acc[kE];
  for (int d = 0; d < kE; ++d) acc[d] = _mm512_mul_ps(_mm512_loadu_ps(w.ot.data() + d * kLanes), inv);
  _mm512_mask_storeu_ps(lse, lanes_below(n), _mm512_add_ps(m, log2_ps(sum)));
  store_rows8(out, ld, acc, n);
}

// One (sample, head). Software-pipelined by one query block: block i's scores are on the tiles while block
// i - 1's P^T (written a block earlier, so its stores have reached the cache that tile loads read) meets V.
SSMTL_AMX_TARGET void forward_head(int64_t bh, ForwardScratch& w, float* out, float* lse, const float* q,
                                   const float* k, const float* v, int64_t H, int64_t Lq, int64_t Lk) {
  const float c2 = kLog2e / std::sqrt(static_cast<float>(kE));
  const int64_t ld = H * kE, Lk16 = round_up(Lk, 16), Lk32 = round_up(Lk, 32), blocks = (Lq + 15) / 16;
  const int64_t b = bh / H, h = bh % H;
  const float* qb = q + b * Lq * ld + h * kE;
  key_rows(w.kr.data(), k + b * Lk * ld + h * kE, ld, Lk, Lk16);
  key_columns(w.vt.data(), Lk32, v + b * Lk * ld + h * kE, ld, Lk, Lk32);
  for (int64_t i = 0; i < blocks; ++i)
    transposed_pairs(w.qt.data() + i * 128, qb + i * 16 * ld, ld, static_cast<int>(std::min<int64_t>(16, Lq - i * 16)), c2);
  __m512 m[2], sum[2];
  for (int64_t i = 0; i <= blocks; ++i) {
    if (i < blocks) forward_scores(w, w.qt.data() + i * 128, Lk16);
    if (i > 0) {
      const int64_t i0 = (i - 1) * 16;
      forward_finish(w, w.pb.data() + (i - 1) % 2 * Lk32 * kLanes, Lk32, m[(i - 1) % 2], sum[(i - 1) % 2],
                     out + (b * Lq + i0) * ld + h * kE, ld, lse + bh * Lq + i0,
                     static_cast<int>(std::min<int64_t>(16, Lq - i0)));
    }
    if (i < blocks) forward_softmax(w.s.data(), w.pb.data() + i % 2 * Lk32 * kLanes, Lk, Lk32, m[i % 2], sum[i % 2]);
  }
}

// ---- backward -----------------------------------------------------------------------------------------------
// tiles: 0 S^T / dQ^T (16 x 16 f32), 1 K or V rows (16 x 8 bf16), 2 Q^T or dout^T pairs (4 x 16 pairs),
//        3 dV (16 x 8 f32), 4 dK (16 x 8 f32), 5 P^T or dS^T rows (16 x 32 bf16) / K^T (8 used of 16 rows x 32),
//        6 dout or q pairs (16 pair-rows x 8), 7 dP^T (16 x 16 f32) / dS^T pairs of keys (16 x 16 pairs)
amx::TileConfig backward_config() {
  amx::TileConfig c;
  c.set(0, 16, 64);
  c.set(1, 16, 16);
  c.set(2, 4, 64);
  c.set(3, 16, 32);
  c.set(4, 16, 32);
  c.set(5, 16, 64);
  c.set(6, 16, 32);
  c.set(7, 16, 64);
  return c;
}

struct BackwardScratch {
  int64_t Lq16, Lq32, Lk16, Lk32;
  std::vector<uint16_t> kr, vr, ktp, qt, gt, qv, gv, dsv, pbuf, dsbuf;
  std::vector<float> lse, delta, s, dp, pf, dsf, dkv, tq;
  BackwardScratch(int64_t Lq, int64_t Lk)
      : Lq16(round_up(Lq, 16)), Lq32(round_up(Lq, 32)), Lk16(round_up(Lk, 16)), Lk32(round_up(Lk, 32)),
        kr(Lk16 * kE), vr(Lk16 * kE), ktp(16 * Lk32, 0), qt(Lq32 / 16 * 128), gt(Lq32 / 16 * 128),
        qv(Lq32 * kE), gv(Lq32 * kE), dsv(Lq32 / 16 * Lk32 * 16), pbuf(2 * 512), dsbuf(2 * 512), lse(Lq32),
        delta(Lq32), s(2 * 256), dp(2 * 256), pf(2 * 256), dsf(2 * 256), dkv(2 * 128), tq(256) {}
};

// The per-head operands of the backward, in bf16 (scaled q for the scores), and D_i = dout_i . out_i.
SSMTL_AMX_TARGET void prepare_backward(BackwardScratch& w, const float* qb, const float* kb, const float* vb,
                                       const float* gb, const float* ob, const float* lb, int64_t ld, int64_t Lq,
                                       int64_t Lk, float c2) {
  key_rows(w.kr.data(), kb, ld, Lk, w.Lk16);
  key_rows(w.vr.data(), vb, ld, Lk, w.Lk16);
  key_columns(w.ktp.data(), w.Lk32, kb, ld, Lk, w.Lk32);   // rows 8..15 of ktp stay zero
  for (int64_t i0 = 0; i0 < w.Lq32; i0 += 16) {
    const int n = static_cast<int>(std::clamp<int64_t>(Lq - i0, 0, 16));
    transposed_pairs(w.qt.data() + i0 / 16 * 128, qb + i0 * ld, ld, n, c2);
    transposed_pairs(w.gt.data() + i0 / 16 * 128, gb + i0 * ld, ld, n, 1.f);
    __m512 gr[kE], orr[kE];
    load_rows8(gr, gb + i0 * ld, ld, n);
    load_rows8(orr, ob + i0 * ld, ld, n);
    __m512 dsum = _mm512_setzero_ps();
    for (int d = 0; d < kE; ++d) dsum = _mm512_fmadd_ps(gr[d], orr[d], dsum);
    _mm512_storeu_ps(w.delta.data() + i0, dsum);
    _mm512_storeu_ps(w.lse.data() + i0, _mm512_maskz_loadu_ps(lanes_below(n), lb + i0));
  }
  for (int64_t i0 = 0; i0 < w.Lq32; i0 += 32) {
    const int64_t n = std::clamp<int64_t>(Lq - i0, 0, 32);
    row_pairs(w.qv.data() + i0 * kE, qb + i0 * ld, ld, n);
    row_pairs(w.gv.data() + i0 * kE, gb + i0 * ld, ld, n);
  }
  if (w.Lk32 != w.Lk16)   // the key pairs past Lk16 of the last step: never written by the key loop
    for (int64_t qb16 = 0; qb16 < w.Lq32 / 16; ++qb16)
      std::fill_n(w.dsv.data() + (qb16 * (w.Lk32 / 32) + w.Lk32 / 32 - 1) * 512 + 8 * 32, 8 * 32, uint16_t{0});
}

// Issues S^T and dP^T of keys [j0, j0 + 16) against the 16 queries of block u into tiles 0 and 7.
SSMTL_AMX_TARGET void issue_scores(const BackwardScratch& w, int64_t j0, int64_t u) {
  memory_barrier();
  _tile_zero(0);
  _tile_loadd(1, w.kr.data() + j0 * kE, 2 * kE);
  _tile_loadd(2, w.qt.data() + u * 128, 64);
  _tile_dpbf16ps(0, 1, 2);
  _tile_zero(7);   // dP^T in tile 7 (free until the dQ pass)
  _tile_loadd(1, w.vr.data() + j0 * kE, 2 * kE);
  _tile_loadd(2, w.gt.data() + u * 128, 64);
  _tile_dpbf16ps(7, 1, 2);
}

SSMTL_AMX_TARGET void store_scores(BackwardScratch& w, int slot) {
  _tile_stored(0, w.s.data() + slot * 256, 64);
  _tile_stored(7, w.dp.data() + slot * 256, 64);
  memory_barrier();
}

// P and dS per key row j0 + r of the scores in `slot` (queries of block u in the lanes; zero for keys >= Lk and
// queries >= Lq) into pf / dsf (16 x 16 floats each).
SSMTL_AMX_TARGET void softmax_grad(const BackwardScratch& w, int slot, int64_t j0, int64_t u, int64_t Lq, int64_t Lk,
                                   float* pf, float* dsf) {
  const __mmask16 qmask = lanes_below(Lq - u * 16);
  const __m512 l = _mm512_loadu_ps(w.lse.data() + u * 16), dl = _mm512_loadu_ps(w.delta.data() + u * 16);
  const float* sr = w.s.data() + slot * 256;
  const float* dpr = w.dp.data() + slot * 256;
  for (int r = 0; r < 16; ++r) {
    const __mmask16 m = j0 + r < Lk ? qmask : static_cast<__mmask16>(0);
    const __m512 p = _mm512_maskz_mov_ps(m, exp2_ps(_mm512_sub_ps(_mm512_loadu_ps(sr + r * 16), l)));
    _mm512_storeu_ps(pf + r * 16, p);
    _mm512_storeu_ps(dsf + r * 16, _mm512_mul_ps(p, _mm512_sub_ps(_mm512_loadu_ps(dpr + r * 16), dl)));
  }
}

// The 32 queries of chunk c done (pf, dsf: both halves): P^T and dS^T rows (key r, queries 32 c .. 32 c + 31) into
// buffer c % 2, and dS^T as pair-rows of keys for dQ^T (tile (query block, key step), pair-row (j0 % 32) / 2 + p).
SSMTL_AMX_TARGET void finish_chunk(BackwardScratch& w, int64_t c, int64_t j0, int64_t steps, bool dq) {
  uint16_t* pb = w.pbuf.data() + c % 2 * 512;
  uint16_t* db = w.dsbuf.data() + c % 2 * 512;
  for (int r = 0; r < 16; ++r) {   // the lower 16 queries first
    const float* p = w.pf.data() + r * 16;
    const float* ds = w.dsf.data() + r * 16;
    _mm512_storeu_si512(pb + r * 32, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(p + 256), _mm512_loadu_ps(p)));
    _mm512_storeu_si512(db + r * 32, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(ds + 256), _mm512_loadu_ps(ds)));
  }
  if (!dq) return;
  for (int hf = 0; hf < 2; ++hf) {
    uint16_t* t = w.dsv.data() + ((2 * c + hf) * steps + j0 / 32) * 512 + (j0 % 32) / 2 * 32;
    const float* f = w.dsf.data() + hf * 256;
    for (int p = 0; p < 8; ++p)
      _mm512_storeu_si512(t + p * 32,
                          bf16::pairs(_mm512_loadu_ps(f + 2 * p * 16), _mm512_loadu_ps(f + (2 * p + 1) * 16)));
  }
}

// dV += P^T dout and dK += dS^T q (unscaled) for the 32 queries of chunk c (tiles 3 and 4).
SSMTL_AMX_TARGET void chunk_products(const BackwardScratch& w, int64_t c) {
  memory_barrier();
  _tile_loadd(5, w.pbuf.data() + c % 2 * 512, 64);
  _tile_loadd(6, w.gv.data() + c * 32 * kE, 32);
  _tile_dpbf16ps(3, 5, 6);
  _tile_loadd(5, w.dsbuf.data() + c % 2 * 512, 64);
  _tile_loadd(6, w.qv.data() + c * 32 * kE, 32);
  _tile_dpbf16ps(4, 5, 6);
}

// One (sample, head). Per block of 16 keys, software-pipelined over the 16-query blocks: block u + 1's scores
// are on the tiles while block u's softmax gradient runs, and chunk c - 1's dV / dK products (their operands
// written a chunk earlier, so the stores have reached the cache that tile loads read) follow chunk c.
SSMTL_AMX_TARGET void backward_head(int64_t bh, BackwardScratch& w, float* dq, float* dk, float* dv,
                                    const float* dout, const float* q, const float* k, const float* v,
                                    const float* out, const float* lse, int64_t H, int64_t Lq, int64_t Lk) {
  const float scale = 1.f / std::sqrt(static_cast<float>(kE)), c2 = kLog2e * scale;
  const int64_t ld = H * kE, b = bh / H, h = bh % H, steps = w.Lk32 / 32, U = w.Lq32 / 16;
  const int64_t off_q = b * Lq * ld + h * kE, off_k = b * Lk * ld + h * kE;
  prepare_backward(w, q + off_q, k + off_k, v + off_k, dout + off_q, out + off_q, lse + bh * Lq, ld, Lq, Lk, c2);
  for (int64_t j0 = 0; j0 < w.Lk16; j0 += 16) {
    _tile_zero(3);
    _tile_zero(4);
    issue_scores(w, j0, 0);
    store_scores(w, 0);
    for (int64_t u = 0; u < U; ++u) {
      if (u + 1 < U) issue_scores(w, j0, u + 1);
      softmax_grad(w, static_cast<int>(u % 2), j0, u, Lq, Lk, w.pf.data() + u % 2 * 256, w.dsf.data() + u % 2 * 256);
      if (u + 1 < U) store_scores(w, static_cast<int>((u + 1) % 2));
      if (u % 2 == 1) {
        finish_chunk(w, u / 2, j0, steps, dq != nullptr);
        if (u / 2 > 0) chunk_products(w, u / 2 - 1);
      }
    }
    chunk_products(w, U / 2 - 1);
    _tile_stored(3, w.dkv.data(), 32);
    _tile_stored(4, w.dkv.data() + 128, 32);
    memory_barrier();
    for (int64_t r = 0; r < 16 && j0 + r < Lk; ++r) {
      const int64_t j = j0 + r;
      if (dv) {
        float* row = dv + off_k + j * ld;
        _mm256_storeu_ps(row, _mm256_add_ps(_mm256_loadu_ps(row), _mm256_loadu_ps(w.dkv.data() + r * kE)));
      }
      if (dk) {
        float* row = dk + off_k + j * ld;
        const __m256 g = _mm256_mul_ps(_mm256_loadu_ps(w.dkv.data() + 128 + r * kE), _mm256_set1_ps(scale));
        _mm256_storeu_ps(row, _mm256_add_ps(_mm256_loadu_ps(row), g));
      }
    }
  }
  if (!dq) return;
  for (int64_t i0 = 0; i0 < Lq; i0 += 16) {   // dQ^T = K^T dS^T, 32 keys a step (rows 8..15 of K^T are zero)
    const int n = static_cast<int>(std::min<int64_t>(16, Lq - i0));
    memory_barrier();
    _tile_zero(0);
    for (int64_t st = 0; st < steps; ++st) {
      _tile_loadd(5, w.ktp.data() + st * 32, w.Lk32 * 2);
      _tile_loadd(7, w.dsv.data() + (i0 / 16 * steps + st) * 512, 64);
      _tile_dpbf16ps(0, 5, 7);
    }
    _tile_stored(0, w.tq.data(), 64);
    memory_barrier();
    float* dst = dq + off_q + i0 * ld;
    __m512 acc[kE];
    load_rows8(acc, dst, ld, n);
    for (int d = 0; d < kE; ++d)
      acc[d] = _mm512_fmadd_ps(_mm512_loadu_ps(w.tq.data() + d * 16), _mm512_set1_ps(scale), acc[d]);
    store_rows8(dst, ld, acc, n);
  }
}

}  // namespace

bool attention_tokens_forward_amx(float* out, float* lse, const float* q, const float* k, const float* v, int64_t B,
                                  int64_t H, int64_t Lq, int64_t Lk, int64_t E, int64_t Ev) {
  if (E != kE || Ev != kE || !use_amx_products() || Lq <= 0 || Lk <= 0) return false;
  const amx::TileConfig cfg = forward_config();
#pragma omp parallel
  {
    const amx::AmxTiles tiles(cfg);
    ForwardScratch w(round_up(Lq, 16), round_up(Lk, 16), round_up(Lk, 32));
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < B * H; ++bh) forward_head(bh, w, out, lse, q, k, v, H, Lq, Lk);
  }
  return true;
}

bool attention_tokens_backward_amx(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                   const float* k, const float* v, const float* out, const float* lse, int64_t B,
                                   int64_t H, int64_t Lq, int64_t Lk, int64_t E, int64_t Ev) {
  if (E != kE || Ev != kE || !use_amx_products() || Lq <= 0 || Lk <= 0) return false;
  const amx::TileConfig cfg = backward_config();
#pragma omp parallel
  {
    const amx::AmxTiles tiles(cfg);
    BackwardScratch w(Lq, Lk);
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < B * H; ++bh) backward_head(bh, w, dq, dk, dv, dout, q, k, v, out, lse, H, Lq, Lk);
  }
  return true;
}

}  // namespace ssmtl::kernels
