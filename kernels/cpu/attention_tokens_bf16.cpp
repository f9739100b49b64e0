// Token-major multi-head attention with bf16 products (kernels/cpu/attention_tokens_avx512.h): the layout of
// attention_tokens_avx512.cpp, with every product on VDPBF16PS (pairs of bf16 summed into float32 lanes) instead of
// float32 FMAs, with bf16 products: when scoring (`ssmtl score --precision bf16`, the mode Bf16Attention::inference
// of kernels/precision.h) and in training with SSMTL_BF16_ATTENTION=1. Heads of width 8 only (the paper's CvT).
//   forward: 16 queries in the lanes. Scores: 4 VDPBF16PS per key, the pairs along the head width (q pairs in the
//     lanes, the key's pair broadcast). P v: keys taken two at a time, their probabilities (rounded to bf16)
//     paired in each lane against the broadcast pair (v[j][d], v[j+1][d]): 8 VDPBF16PS per two keys. The softmax
//     denominator sums the float32 probabilities.
//   backward: 16 keys in the lanes, the queries of a block of 32 streaming past two at a time. Scores and dP =
//     dout . v with the pairs along the head width (4 + 4 VDPBF16PS per query); dv += P dout and dk += dS q with
//     the pairs along the two queries (8 + 8 per two queries); dq = dS k with the pairs along adjacent keys.
// The scores are the forward's in the backward: the same bf16 factors (q * log2(e) / sqrt(E) rounded, k rounded)
// in the same instructions and order, so the recomputed probabilities are the forward's. Each sum has one fixed
// order on one thread: deterministic, independent of the thread count. Rounding: every product factor is rounded
// to bf16 (q, k, v, dout, P, dS), sums stay float32 (the relative error of a result is a few bf16 ulps, 2^-8).
#include "kernels/attention.h"
#include "kernels/cpu/attention_avx512_parts.h"
#include "kernels/cpu/attention_tokens_avx512.h"
#include "kernels/cpu/bf16.h"
#include "kernels/precision.h"

#include <algorithm>

#define SSMTL_ATTN_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

namespace ssmtl::kernels {
namespace {

using namespace attn;

constexpr int E = 8;              // head width (q, k and v)
constexpr int P2 = E / 2;         // bf16 pairs along the head width

// 2^x (attn::exp2_poly) with a degree-4 polynomial for 2^r on [-1/2, 1/2] (least-squares fit of the relative error
// by Lawson's iteration, numpy; max relative error 2.7e-6 in float32): the probabilities are rounded to bf16
// (2^-9) before they meet v or dout, so the degree-6 fit's 1e-7 buys nothing here. The forward and the backward
// both use this one, so the recomputed probabilities are the forward's.
SSMTL_ATTN_BF16 inline __m512 exp2_short(__m512 x) {
  static constexpr float c[] = {9.570102207e-03f, 5.591786280e-02f, 2.402474433e-01f, 6.931217909e-01f,
                                9.999992847e-01f};
  return exp2_poly(x, c);
}

SSMTL_ATTN_BF16 inline __m512 dot(__m512 acc, __m512i a, __m512i b) {
  return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
}
SSMTL_ATTN_BF16 inline __m512i bcast(uint32_t pair) { return _mm512_set1_epi32(static_cast<int>(pair)); }
inline uint32_t pair_bits(float lo, float hi) {
  return static_cast<uint32_t>(bf16::from_float(lo)) | static_cast<uint32_t>(bf16::from_float(hi)) << 16;
}

// rows[r][d / 2] = (bf16(x[r][d] * scale), bf16(x[r][d + 1] * scale)) for r < n: pairs along the width of n rows of
// 8 floats at stride ld (the product in float32, then the rounding, as the vector path does).
void width_pairs(uint32_t* rows, const float* x, int64_t ld, int64_t n, float scale) {
  for (int64_t r = 0; r < n; ++r)
    for (int p = 0; p < P2; ++p) rows[r * P2 + p] = pair_bits(x[r * ld + 2 * p] * scale, x[r * ld + 2 * p + 1] * scale);
}

// rows[rr][d] = (bf16(x[2 rr][d]), bf16(x[2 rr + 1][d])) for 2 rr < n, a zero partner past n: pairs of adjacent
// rows, one per dimension.
void row_pairs(uint32_t* rows, const float* x, int64_t ld, int64_t n) {
  for (int64_t rr = 0; 2 * rr < n; ++rr)
    for (int d = 0; d < E; ++d)
      rows[rr * E + d] = pair_bits(x[2 * rr * ld + d], 2 * rr + 1 < n ? x[(2 * rr + 1) * ld + d] : 0.f);
}

// NB blocks of 16 queries against all keys. qb: the queries' rows (16 NB, n[b] valid in block b); kp: Lk x 4 width
// pairs of k; vp: ceil(Lk / 2) x 8 key pairs of v; s: Lk x 16 NB scores.
template <int NB>
SSMTL_ATTN_BF16 void forward_blocks(float* out, float* lse, float* s, const float* qb, const uint32_t* kp,
                                    const uint32_t* vp, int64_t ldq, int64_t Lk, float c2, const int* n) {
  __m512i qp[NB][P2];
  for (int bl = 0; bl < NB; ++bl) {
    __m512 qv[E];
    load_rows8(qv, qb + bl * kLanes * ldq, ldq, n[bl]);
    for (int p = 0; p < P2; ++p)
      qp[bl][p] = bf16::pairs(_mm512_mul_ps(qv[2 * p], _mm512_set1_ps(c2)),
                              _mm512_mul_ps(qv[2 * p + 1], _mm512_set1_ps(c2)));
  }
  __m512 m[NB];
  for (int bl = 0; bl < NB; ++bl) m[bl] = _mm512_set1_ps(-INFINITY);
  for (int64_t j = 0; j < Lk; ++j) {
    __m512 sj[NB];
    for (int bl = 0; bl < NB; ++bl) sj[bl] = _mm512_setzero_ps();
    for (int p = 0; p < P2; ++p) {
      const __m512i kj = bcast(kp[j * P2 + p]);
      for (int bl = 0; bl < NB; ++bl) sj[bl] = dot(sj[bl], qp[bl][p], kj);
    }
    for (int bl = 0; bl < NB; ++bl) {
      _mm512_store_ps(s + (j * NB + bl) * kLanes, sj[bl]);
      m[bl] = _mm512_max_ps(m[bl], sj[bl]);
    }
  }
  __m512 acc[NB][E], sum[NB];
  for (int bl = 0; bl < NB; ++bl) {
    sum[bl] = _mm512_setzero_ps();
    for (int d = 0; d < E; ++d) acc[bl][d] = _mm512_setzero_ps();
  }
  for (int64_t j = 0; j < Lk; j += 2) {
    __m512i pp[NB];
    for (int bl = 0; bl < NB; ++bl) {
      const __m512 p0 = exp2_short(_mm512_sub_ps(_mm512_load_ps(s + (j * NB + bl) * kLanes), m[bl]));
      sum[bl] = _mm512_add_ps(sum[bl], p0);
      __m512 p1 = _mm512_setzero_ps();
      if (j + 1 < Lk) {
        p1 = exp2_short(_mm512_sub_ps(_mm512_load_ps(s + ((j + 1) * NB + bl) * kLanes), m[bl]));
        sum[bl] = _mm512_add_ps(sum[bl], p1);
      }
      pp[bl] = bf16::pairs(p0, p1);
    }
    const uint32_t* vr = vp + (j / 2) * E;
    for (int d = 0; d < E; ++d) {
      const __m512i vd = bcast(vr[d]);
      for (int bl = 0; bl < NB; ++bl) acc[bl][d] = dot(acc[bl][d], pp[bl], vd);
    }
  }
  for (int bl = 0; bl < NB; ++bl) {
    const __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.f), sum[bl]);
    for (int d = 0; d < E; ++d) acc[bl][d] = _mm512_mul_ps(acc[bl][d], inv);
    const __mmask16 valid = static_cast<__mmask16>((1u << n[bl]) - 1u);
    _mm512_mask_storeu_ps(lse + bl * kLanes, valid, _mm512_add_ps(m[bl], log2_ps(sum[bl])));
    store_rows8(out + bl * kLanes * ldq, ldq, acc[bl], n[bl]);
  }
}

// The forward's per-thread scratch in floats: Lk x 16 x 2 scores, then the k and v pairs (forward_head's layout).
int64_t forward_floats(int64_t Lk) { return Lk * kLanes * 2 + Lk * P2 + (Lk + 1) / 2 * E; }

// One (sample, head) problem; scratch: forward_floats(Lk).
SSMTL_ATTN_BF16 void forward_head(int64_t bh, float* scratch, float* out, float* lse, const float* q, const float* k,
                                  const float* v, int64_t H, int64_t Lq, int64_t Lk) {
  const float c2 = kLog2e / std::sqrt(static_cast<float>(E));
  const int64_t ld = H * E, b = bh / H, h = bh % H;
  float* s = scratch;
  uint32_t* kp = reinterpret_cast<uint32_t*>(s + Lk * kLanes * 2);
  uint32_t* vp = kp + Lk * P2;
  width_pairs(kp, k + b * Lk * ld + h * E, ld, Lk, 1.f);
  row_pairs(vp, v + b * Lk * ld + h * E, ld, Lk);
  const float* qb = q + b * Lq * ld + h * E;
  for (int64_t i0 = 0; i0 < Lq; i0 += 2 * kLanes) {
    int n[2];
    for (int bl = 0; bl < 2; ++bl) n[bl] = static_cast<int>(std::clamp<int64_t>(Lq - i0 - bl * kLanes, 0, kLanes));
    float* o = out + (b * Lq + i0) * ld + h * E;
    if (n[1] > 0) forward_blocks<2>(o, lse + bh * Lq + i0, s, qb + i0 * ld, kp, vp, ld, Lk, c2, n);
    else forward_blocks<1>(o, lse + bh * Lq + i0, s, qb + i0 * ld, kp, vp, ld, Lk, c2, n);
  }
}

// The backward's per-thread buffers for one (sample, head), in uint32 / float units.
struct BackwardBuffers {
  int64_t nc, Lkp;        // key chunks of 16 and the keys they hold (padded with zero keys)
  uint32_t* kw;           // [chunk][p][16]: width pairs of k, keys in the lanes
  uint32_t* vw;           // [chunk][p][16]: width pairs of v
  uint32_t* kk;           // [chunk pair][d][16]: lane l = (k[2l][d], k[2l + 1][d]) of 32 keys (dq)
  float* dka;             // [chunk][d][16] sum_i dS_ij q_i (unscaled)
  float* dva;             // [chunk][d][16] sum_i P_ij dout_i
  float* ds_rows;         // [query in block][Lkp]
  uint32_t* qw;           // [query][p] width pairs of q * log2(e) / sqrt(E)
  uint32_t* gw;           // [query][p] width pairs of dout
  uint32_t* qq;           // [query pair][d] pairs of adjacent queries' q
  uint32_t* gq;           // [query pair][d] pairs of adjacent queries' dout
  float* delta;           // [query] D_i = dout_i . out_i
  static int64_t padded_keys(int64_t Lk) { return (Lk + 2 * kLanes - 1) / (2 * kLanes) * (2 * kLanes); }
  static int64_t floats(int64_t Lq, int64_t Lk) {
    const int64_t Lkp = padded_keys(Lk), Lqp = Lq + 1;
    return 2 * P2 * Lkp + E * Lkp / 2 + 2 * E * Lkp + kQueryBlock * Lkp + 2 * P2 * Lq + 2 * E * (Lqp / 2) +
           Lq + kLanes;
  }
  BackwardBuffers(float* base, int64_t Lq, int64_t Lk) : nc((Lk + kLanes - 1) / kLanes), Lkp(padded_keys(Lk)) {
    kw = reinterpret_cast<uint32_t*>(base);
    vw = kw + P2 * Lkp;
    kk = vw + P2 * Lkp;
    dka = reinterpret_cast<float*>(kk + E * Lkp / 2);
    dva = dka + E * Lkp;
    ds_rows = dva + E * Lkp;
    qw = reinterpret_cast<uint32_t*>(ds_rows + kQueryBlock * Lkp);
    gw = qw + P2 * Lq;
    qq = gw + P2 * Lq;
    gq = qq + E * ((Lq + 1) / 2);
    delta = reinterpret_cast<float*>(gq + E * ((Lq + 1) / 2));
  }
};

// k and v of one head in the backward's layouts (keys past Lk are zero).
SSMTL_ATTN_BF16 void pack_keys(const BackwardBuffers& bb, const float* kb, const float* vb, int64_t ld, int64_t Lk) {
  __m512 prev[E];   // the even chunk's k^T, paired with the odd one's
  for (int64_t c = 0; c < bb.Lkp / kLanes; ++c) {
    const int n = static_cast<int>(std::clamp<int64_t>(Lk - c * kLanes, 0, kLanes));
    __m512 kt[E], vt[E];
    load_rows8(kt, kb + c * kLanes * ld, ld, n);
    load_rows8(vt, vb + c * kLanes * ld, ld, n);
    for (int p = 0; p < P2; ++p) {
      _mm512_store_si512(bb.kw + (c * P2 + p) * kLanes, bf16::pairs(kt[2 * p], kt[2 * p + 1]));
      _mm512_store_si512(bb.vw + (c * P2 + p) * kLanes, bf16::pairs(vt[2 * p], vt[2 * p + 1]));
    }
    if (c % 2 == 0) {
      for (int d = 0; d < E; ++d) prev[d] = kt[d];
    } else {   // chunks c - 1 and c: 32 keys, adjacent keys paired in their order
      for (int d = 0; d < E; ++d)
        _mm512_store_si512(bb.kk + (c / 2 * E + d) * kLanes, (__m512i)_mm512_cvtne2ps_pbh(kt[d], prev[d]));
    }
  }
}

// The main pass over one block of queries [i0, i0 + ni) (i0 even) and all key chunks: dS rows, dk and dv sums.
SSMTL_ATTN_BF16 void block_pass(const BackwardBuffers& bb, const float* lb, int64_t i0, int64_t ni, int64_t Lk) {
  const __mmask16 tail = static_cast<__mmask16>((1u << (Lk - (bb.nc - 1) * kLanes)) - 1u);
  for (int64_t c = 0; c < bb.nc; ++c) {
    const __mmask16 valid = c == bb.nc - 1 ? tail : static_cast<__mmask16>(0xFFFF);
    __m512i kr[P2], vr[P2];
    __m512 ka[E], va[E];
    for (int p = 0; p < P2; ++p) {
      kr[p] = _mm512_load_si512(bb.kw + (c * P2 + p) * kLanes);
      vr[p] = _mm512_load_si512(bb.vw + (c * P2 + p) * kLanes);
    }
    for (int d = 0; d < E; ++d) {
      ka[d] = _mm512_load_ps(bb.dka + (c * E + d) * kLanes);
      va[d] = _mm512_load_ps(bb.dva + (c * E + d) * kLanes);
    }
    for (int64_t i = i0; i < i0 + ni; i += 2) {
      __m512 p2[2], ds2[2];
      for (int e = 0; e < 2; ++e) {
        p2[e] = ds2[e] = _mm512_setzero_ps();
        if (i + e >= i0 + ni) continue;
        const uint32_t* qwi = bb.qw + (i + e) * P2;
        const uint32_t* gwi = bb.gw + (i + e) * P2;
        __m512 s = _mm512_setzero_ps(), dp = _mm512_setzero_ps();
        for (int p = 0; p < P2; ++p) s = dot(s, kr[p], bcast(qwi[p]));   // the forward's products, same order
        for (int p = 0; p < P2; ++p) dp = dot(dp, vr[p], bcast(gwi[p]));
        p2[e] = _mm512_maskz_mov_ps(valid, exp2_short(_mm512_sub_ps(s, _mm512_set1_ps(lb[i + e]))));
        ds2[e] = _mm512_mul_ps(p2[e], _mm512_sub_ps(dp, _mm512_set1_ps(bb.delta[i + e])));
        _mm512_store_ps(bb.ds_rows + (i + e - i0) * bb.Lkp + c * kLanes, ds2[e]);
      }
      const __m512i pp = bf16::pairs(p2[0], p2[1]), dsp = bf16::pairs(ds2[0], ds2[1]);
      const uint32_t* gqi = bb.gq + (i / 2) * E;
      const uint32_t* qqi = bb.qq + (i / 2) * E;
      for (int d = 0; d < E; ++d) va[d] = dot(va[d], pp, bcast(gqi[d]));
      for (int d = 0; d < E; ++d) ka[d] = dot(ka[d], dsp, bcast(qqi[d]));
    }
    for (int d = 0; d < E; ++d) {
      _mm512_store_ps(bb.dka + (c * E + d) * kLanes, ka[d]);
      _mm512_store_ps(bb.dva + (c * E + d) * kLanes, va[d]);
    }
  }
}

// dq_i = scale * sum_j dS_ij k_j for the queries of one block: adjacent keys paired in the lanes, then one sum
// across the lanes. Padded keys have dS = 0 and k = 0.
SSMTL_ATTN_BF16 void dq_pass(const BackwardBuffers& bb, float* dqb, int64_t ld, int64_t i0, int64_t ni, float scale,
                             bool add) {
  for (int64_t i = i0; i < i0 + ni; ++i) {
    const float* dsr = bb.ds_rows + (i - i0) * bb.Lkp;
    __m512 t[E];
    for (int d = 0; d < E; ++d) t[d] = _mm512_setzero_ps();
    for (int64_t cc = 0; cc < bb.Lkp / (2 * kLanes); ++cc) {
      const __m512i dsp = (__m512i)_mm512_cvtne2ps_pbh(_mm512_load_ps(dsr + (2 * cc + 1) * kLanes),
                                                       _mm512_load_ps(dsr + 2 * cc * kLanes));
      for (int d = 0; d < E; ++d) t[d] = dot(t[d], dsp, _mm512_load_si512(bb.kk + (cc * E + d) * kLanes));
    }
    float* r = dqb + i * ld;
    const __m256 sums = _mm256_mul_ps(lane_sums8(t), _mm256_set1_ps(scale));
    _mm256_storeu_ps(r, add ? _mm256_add_ps(_mm256_loadu_ps(r), sums) : sums);
  }
}

SSMTL_ATTN_BF16 void backward_head(int64_t bh, float* scratch, float* dq, float* dk, float* dv, const float* dout,
                                   const float* q, const float* k, const float* v, const float* out, const float* lse,
                                   bool add_dq, bool add_dk, bool add_dv, int64_t H, int64_t Lq, int64_t Lk) {
  const float scale = 1.f / std::sqrt(static_cast<float>(E));
  const float c2 = kLog2e / std::sqrt(static_cast<float>(E));   // forward_head's expression: the same bf16 q
  const int64_t ld = H * E, b = bh / H, h = bh % H;
  const BackwardBuffers bb(scratch, Lq, Lk);
  for (int64_t r = 0; r < kQueryBlock; ++r)   // dS of the padding chunk (never written): zero for dq_pass
    std::fill(bb.ds_rows + r * bb.Lkp + bb.nc * kLanes, bb.ds_rows + (r + 1) * bb.Lkp, 0.f);
  const float* qb = q + b * Lq * ld + h * E;
  const float* gb = dout + b * Lq * ld + h * E;
  const float* ob = out + b * Lq * ld + h * E;
  pack_keys(bb, k + b * Lk * ld + h * E, v + b * Lk * ld + h * E, ld, Lk);
  width_pairs(bb.qw, qb, ld, Lq, c2);
  width_pairs(bb.gw, gb, ld, Lq, 1.f);
  row_pairs(bb.qq, qb, ld, Lq);
  row_pairs(bb.gq, gb, ld, Lq);
  std::fill(bb.dka, bb.dka + 2 * E * bb.Lkp, 0.f);
  for (int64_t i0 = 0; i0 < Lq; i0 += kLanes) {   // D for 16 queries at a time (float32, as the fp32 kernel)
    const int n = static_cast<int>(std::min<int64_t>(kLanes, Lq - i0));
    __m512 gt[E], ot[E], dsum = _mm512_setzero_ps();
    load_rows8(gt, gb + i0 * ld, ld, n);
    load_rows8(ot, ob + i0 * ld, ld, n);
    for (int d = 0; d < E; ++d) dsum = _mm512_fmadd_ps(gt[d], ot[d], dsum);
    _mm512_storeu_ps(bb.delta + i0, dsum);
  }
  for (int64_t i0 = 0; i0 < Lq; i0 += kQueryBlock) {
    const int64_t ni = std::min<int64_t>(kQueryBlock, Lq - i0);
    block_pass(bb, lse + bh * Lq, i0, ni, Lk);
    if (dq) dq_pass(bb, dq + b * Lq * ld + h * E, ld, i0, ni, scale, add_dq);
  }
  for (int64_t j = 0; j < Lk; ++j) {
    const int64_t c = j / kLanes, l = j % kLanes;
    if (dk) {
      float* r = dk + (b * Lk + j) * ld + h * E;
      for (int d = 0; d < E; ++d) r[d] = (add_dk ? r[d] : 0.f) + bb.dka[(c * E + d) * kLanes + l] * scale;
    }
    if (dv) {
      float* r = dv + (b * Lk + j) * ld + h * E;
      for (int d = 0; d < E; ++d) r[d] = (add_dv ? r[d] : 0.f) + bb.dva[(c * E + d) * kLanes + l];
    }
  }
}

}  // namespace

bool attention_tokens_bf16_applies(int64_t E_, int64_t Ev, bool training) {
  const Bf16Attention mode = bf16_attention();
  const bool here = mode == Bf16Attention::always || (mode == Bf16Attention::inference && !training);
  return here && E_ == E && Ev == E && use_bf16_products();
}

bool attention_tokens_forward_bf16(float* out, float* lse, const float* q, const float* k, const float* v, int64_t B,
                                   int64_t H, int64_t Lq, int64_t Lk, int64_t E_, int64_t Ev, bool training) {
  if (!attention_tokens_bf16_applies(E_, Ev, training)) return false;
  Scratch scratch(forward_floats(Lk));
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < B * H; ++bh) forward_head(bh, scratch.mine(), out, lse, q, k, v, H, Lq, Lk);
  return true;
}

bool attention_tokens_backward_bf16(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                    const float* k, const float* v, const float* out, const float* lse, bool add_dq,
                                    bool add_dk, bool add_dv, int64_t B, int64_t H, int64_t Lq, int64_t Lk,
                                    int64_t E_, int64_t Ev) {
  if (!attention_tokens_bf16_applies(E_, Ev, true)) return false;
  Scratch scratch(BackwardBuffers::floats(Lq, Lk));
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < B * H; ++bh)
    backward_head(bh, scratch.mine(), dq, dk, dv, dout, q, k, v, out, lse, add_dq, add_dk, add_dv, H, Lq, Lk);
  return true;
}

}  // namespace ssmtl::kernels
