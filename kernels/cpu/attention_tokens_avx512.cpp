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
#include "kernels/cpu/attention_avx512_parts.h"

// GCC 12 flags the self-initialised undefined vectors inside its own AVX-512 intrinsics (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace ssmtl::kernels {
namespace {

using namespace attn;

bool avx512_available() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return has;
}

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
