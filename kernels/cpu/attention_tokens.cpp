// Multi-head attention on token-major buffers (kernels/attention.h, attention_tokens_*): one (sample, head)
// problem per OpenMP iteration; inside it, 16 queries at a time sit in the vector lanes, so the scores, the
// softmax over the keys and every product are vertical operations (no horizontal sums in the inner loops),
// and nothing of size Lq x Lk is ever stored: the backward recomputes the probabilities from the saved
// log-sum-exp (the recomputation of FlashAttention, Dao et al. 2022, done here per CPU core). The backward
// takes two passes, queries in the lanes for dq and keys in the lanes for dk / dv, as FlashAttention-2 splits it.
// These portable kernels serve the widths and machines that the AVX-512 ones (attention_tokens_avx512.cpp: one
// backward pass, a 9-instruction exp2) do not, and are the reference those are tested against.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/attention.h"
#include "kernels/cpu/aligned.h"
#include "kernels/cpu/attention_tokens_avx512.h"
#include "kernels/cpu/omp_workers.h"
#include "kernels/cpu/vmath.h"

namespace ssmtl::kernels {
namespace {

constexpr int kLanes = 16;
constexpr float kLog2e = 1.44269504088896341f, kLn2 = 0.693147180559945309f;   // lse is kept in base 2
// 16 lanes in one 512-bit register where the build targets AVX-512 (GCC otherwise prefers 256-bit vectors)
#ifdef __AVX512F__
#define SSMTL_WIDE __attribute__((target("prefer-vector-width=512")))
#else
#define SSMTL_WIDE
#endif   // queries per block: one AVX-512 register of floats (two AVX2 ones)

// Lane-major copy of rows [i0, i0 + n) of one head: dst[d * kLanes + l] = src[(i0 + l) * ld + d] * mul,
// zero for the lanes l >= n.
void gather_lanes(float* dst, const float* src, int64_t ld, int64_t i0, int n, int64_t width, float mul) {
  for (int64_t d = 0; d < width; ++d)
    for (int l = 0; l < kLanes; ++l) dst[d * kLanes + l] = l < n ? src[(i0 + l) * ld + d] * mul : 0.f;
}

// out[r][l] = sum over d < width of rows[r * ld + d] * xt[d * kLanes + l], for R rows at once (R independent
// chains of multiply-adds), d in order.
template <int R>
SSMTL_WIDE inline void lanes_dot(float (*out)[kLanes], const float* rows, int64_t ld, const float* xt,
                                 int64_t width) {
  for (int r = 0; r < R; ++r)
#pragma omp simd
    for (int l = 0; l < kLanes; ++l) out[r][l] = 0.f;
  for (int64_t d = 0; d < width; ++d)
    for (int r = 0; r < R; ++r) {
      const float c = rows[r * ld + d];
#pragma omp simd
      for (int l = 0; l < kLanes; ++l) out[r][l] += c * xt[d * kLanes + l];
    }
}

}  // namespace

namespace {

// kE, kEv > 0: the head widths known at compile time (the inner loops unroll into registers); 0: run time.
template <int kE, int kEv>
SSMTL_WIDE void forward_impl(float* out, float* lse, const float* q, const float* k, const float* v, int64_t B,
                             int64_t H, int64_t Lq, int64_t Lk, int64_t E_rt, int64_t Ev_rt) {
  const int64_t E = kE > 0 ? kE : E_rt, Ev = kEv > 0 ? kEv : Ev_rt;
  const float scale = 1.f / std::sqrt(static_cast<float>(E));
  const int64_t ldq = H * E, ldv = H * Ev;
  // Per thread: scores (Lk x lanes), q block (E x lanes), output accumulators (Ev x lanes).
  const int64_t per = (Lk + E + Ev) * kLanes;
  avector<float> scratch(static_cast<size_t>(worker_count() * per));
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < B * H; ++bh) {
    const int64_t b = bh / H, h = bh % H;
    float* s = scratch.data() + worker_id() * per;
    float* qt = s + Lk * kLanes;
    float* acc = qt + E * kLanes;
    const float* qb = q + b * Lq * ldq + h * E;
    const float* kb = k + b * Lk * ldq + h * E;
    const float* vb = v + b * Lk * ldv + h * Ev;
    for (int64_t i0 = 0; i0 < Lq; i0 += kLanes) {
      const int n = static_cast<int>(std::min<int64_t>(kLanes, Lq - i0));
      gather_lanes(qt, qb, ldq, i0, n, E, scale);
      float m[kLanes], sum[kLanes];
      for (int l = 0; l < kLanes; ++l) m[l] = -INFINITY, sum[l] = 0.f;
      // Four keys at a time: four independent multiply-add chains hide the FMA latency (one key's E-long
      // chain alone would leave the FMA units idle); each score is still summed over d in order.
      int64_t j = 0;
      for (; j + 4 <= Lk; j += 4) {
        float sj[4][kLanes];
        lanes_dot<4>(sj, kb + j * ldq, ldq, qt, E);
        for (int r = 0; r < 4; ++r)
#pragma omp simd
          for (int l = 0; l < kLanes; ++l) {
            s[(j + r) * kLanes + l] = sj[r][l];
            m[l] = sj[r][l] > m[l] ? sj[r][l] : m[l];
          }
      }
      for (; j < Lk; ++j) {
        float sj[1][kLanes];
        lanes_dot<1>(sj, kb + j * ldq, ldq, qt, E);
#pragma omp simd
        for (int l = 0; l < kLanes; ++l) {
          s[j * kLanes + l] = sj[0][l];
          m[l] = sj[0][l] > m[l] ? sj[0][l] : m[l];
        }
      }
      std::fill(acc, acc + Ev * kLanes, 0.f);
      for (int64_t j = 0; j < Lk; ++j) {
        float p[kLanes];
#pragma omp simd
        for (int l = 0; l < kLanes; ++l) {
          p[l] = exp_approx(s[j * kLanes + l] - m[l]);
          sum[l] += p[l];
        }
        const float* vr = vb + j * ldv;
        for (int64_t d = 0; d < Ev; ++d) {
          const float vd = vr[d];
#pragma omp simd
          for (int l = 0; l < kLanes; ++l) acc[d * kLanes + l] += p[l] * vd;
        }
      }
      for (int l = 0; l < n; ++l) {
        const float inv = 1.f / sum[l];
        float* o = out + (b * Lq + i0 + l) * ldv + h * Ev;
        for (int64_t d = 0; d < Ev; ++d) o[d] = acc[d * kLanes + l] * inv;
        lse[bh * Lq + i0 + l] = (m[l] + std::log(sum[l])) * kLog2e;
      }
    }
  }
}

// Two passes per (sample, head), each recomputing P from the log-sum-exp: queries in the lanes for dq, then
// keys in the lanes for dk and dv, so every accumulator stays in registers (no per-key partial sums in memory).
template <int kE, int kEv>
SSMTL_WIDE void backward_impl(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                              const float* v, const float* out, const float* lse, bool add_dq, bool add_dk,
                              bool add_dv, int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t E_rt,
                              int64_t Ev_rt) {
  const int64_t E = kE > 0 ? kE : E_rt, Ev = kEv > 0 ? kEv : Ev_rt;
  const float scale = 1.f / std::sqrt(static_cast<float>(E));
  const int64_t ldq = H * E, ldv = H * Ev;
  // Per thread: two lane-major blocks (E and Ev wide), two accumulator blocks, and D_i of every query.
  const int64_t per = 2 * (E + Ev) * kLanes + Lq;
  avector<float> scratch(static_cast<size_t>(worker_count() * per));
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < B * H; ++bh) {
    const int64_t b = bh / H, h = bh % H;
    float* xt = scratch.data() + worker_id() * per;   // q (pass 1) or k (pass 2), E x lanes
    float* yt = xt + E * kLanes;                        // dout (pass 1) or v (pass 2), Ev x lanes
    float* acc_e = yt + Ev * kLanes;                    // dq (pass 1) or dk (pass 2)
    float* acc_v = acc_e + E * kLanes;                  // dv (pass 2)
    float* delta = acc_v + Ev * kLanes;                 // D_i = dout_i . out_i = sum_j P_ij dP_ij
    const float* qb = q + b * Lq * ldq + h * E;
    const float* kb = k + b * Lk * ldq + h * E;
    const float* vb = v + b * Lk * ldv + h * Ev;
    const float* gb = dout + b * Lq * ldv + h * Ev;
    const float* ob = out + b * Lq * ldv + h * Ev;
    const float* lb = lse + bh * Lq;
    for (int64_t i = 0; i < Lq; ++i) {
      float t = 0.f;
      for (int64_t d = 0; d < Ev; ++d) t += gb[i * ldv + d] * ob[i * ldv + d];
      delta[i] = t;
    }
    if (dq) {
      for (int64_t i0 = 0; i0 < Lq; i0 += kLanes) {
        const int n = static_cast<int>(std::min<int64_t>(kLanes, Lq - i0));
        gather_lanes(xt, qb, ldq, i0, n, E, 1.f);
        gather_lanes(yt, gb, ldv, i0, n, Ev, 1.f);
        float l_se[kLanes], dl[kLanes], valid[kLanes];
        for (int l = 0; l < kLanes; ++l) {
          valid[l] = l < n ? 1.f : 0.f;
          l_se[l] = l < n ? lb[i0 + l] * kLn2 : 0.f;
          dl[l] = l < n ? delta[i0 + l] : 0.f;
        }
        std::fill(acc_e, acc_e + E * kLanes, 0.f);
        // Two keys at a time (four independent score / dP chains), accumulated in key order.
        for (int64_t j = 0; j < Lk; j += 2) {
          const int nk = j + 1 < Lk ? 2 : 1;
          float sj[2][kLanes], dp[2][kLanes];
          if (nk == 2) {
            lanes_dot<2>(sj, kb + j * ldq, ldq, xt, E);
            lanes_dot<2>(dp, vb + j * ldv, ldv, yt, Ev);
          } else {
            lanes_dot<1>(sj, kb + j * ldq, ldq, xt, E);
            lanes_dot<1>(dp, vb + j * ldv, ldv, yt, Ev);
          }
          for (int r = 0; r < nk; ++r) {
            const float* kr = kb + (j + r) * ldq;
            float ds[kLanes];
#pragma omp simd
            for (int l = 0; l < kLanes; ++l)
              ds[l] = valid[l] * exp_approx(sj[r][l] * scale - l_se[l]) * (dp[r][l] - dl[l]) * scale;
            for (int64_t d = 0; d < E; ++d) {
              const float kd = kr[d];
#pragma omp simd
              for (int l = 0; l < kLanes; ++l) acc_e[d * kLanes + l] += ds[l] * kd;
            }
          }
        }
        for (int l = 0; l < n; ++l) {
          float* r = dq + b * Lq * ldq + h * E + (i0 + l) * ldq;
          for (int64_t d = 0; d < E; ++d) r[d] = (add_dq ? r[d] : 0.f) + acc_e[d * kLanes + l];
        }
      }
    }
    if (!dk && !dv) continue;
    for (int64_t j0 = 0; j0 < Lk; j0 += kLanes) {
      const int n = static_cast<int>(std::min<int64_t>(kLanes, Lk - j0));
      gather_lanes(xt, kb, ldq, j0, n, E, 1.f);
      gather_lanes(yt, vb, ldv, j0, n, Ev, 1.f);
      float valid[kLanes];
      for (int l = 0; l < kLanes; ++l) valid[l] = l < n ? 1.f : 0.f;
      std::fill(acc_e, acc_e + (E + Ev) * kLanes, 0.f);
      // Two queries at a time (four independent score / dP chains), accumulated in query order.
      for (int64_t i = 0; i < Lq; i += 2) {
        const int nq = i + 1 < Lq ? 2 : 1;
        float si[2][kLanes], dp[2][kLanes];
        if (nq == 2) {
          lanes_dot<2>(si, qb + i * ldq, ldq, xt, E);
          lanes_dot<2>(dp, gb + i * ldv, ldv, yt, Ev);
        } else {
          lanes_dot<1>(si, qb + i * ldq, ldq, xt, E);
          lanes_dot<1>(dp, gb + i * ldv, ldv, yt, Ev);
        }
        for (int r = 0; r < nq; ++r) {
          const float* qr = qb + (i + r) * ldq;
          const float* gr = gb + (i + r) * ldv;
          const float li = lb[i + r] * kLn2, di = delta[i + r];
          float p[kLanes], ds[kLanes];
#pragma omp simd
          for (int l = 0; l < kLanes; ++l) {
            p[l] = valid[l] * exp_approx(si[r][l] * scale - li);
            ds[l] = p[l] * (dp[r][l] - di) * scale;
          }
          for (int64_t d = 0; d < E; ++d) {
            const float qd = qr[d];
#pragma omp simd
            for (int l = 0; l < kLanes; ++l) acc_e[d * kLanes + l] += ds[l] * qd;
          }
          for (int64_t d = 0; d < Ev; ++d) {
            const float gd = gr[d];
#pragma omp simd
            for (int l = 0; l < kLanes; ++l) acc_v[d * kLanes + l] += p[l] * gd;
          }
        }
      }
      for (int l = 0; l < n; ++l) {
        if (dk) {
          float* r = dk + b * Lk * ldq + h * E + (j0 + l) * ldq;
          for (int64_t d = 0; d < E; ++d) r[d] = (add_dk ? r[d] : 0.f) + acc_e[d * kLanes + l];
        }
        if (dv) {
          float* r = dv + b * Lk * ldv + h * Ev + (j0 + l) * ldv;
          for (int64_t d = 0; d < Ev; ++d) r[d] = (add_dv ? r[d] : 0.f) + acc_v[d * kLanes + l];
        }
      }
    }
  }
}

}  // namespace

// Widths of the paper's CvT heads (96 / 12 = 8) and common ones get unrolled copies.
#define SSMTL_ATTN_WIDTHS(F, ...)                                                          \
  if (E == 8 && Ev == 8) F<8, 8>(__VA_ARGS__);                                             \
  else if (E == 16 && Ev == 16) F<16, 16>(__VA_ARGS__);                                    \
  else if (E == 32 && Ev == 32) F<32, 32>(__VA_ARGS__);                                    \
  else F<0, 0>(__VA_ARGS__)

void attention_tokens_forward_portable(float* out, float* lse, const float* q, const float* k, const float* v,
                                       int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t E, int64_t Ev) {
  SSMTL_ATTN_WIDTHS(forward_impl, out, lse, q, k, v, B, H, Lq, Lk, E, Ev);
}

void attention_tokens_backward_portable(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                        const float* k, const float* v, const float* out, const float* lse,
                                        bool add_dq, bool add_dk, bool add_dv, int64_t B, int64_t H, int64_t Lq,
                                        int64_t Lk, int64_t E, int64_t Ev) {
  if (!dq && !dk && !dv) return;
  SSMTL_ATTN_WIDTHS(backward_impl, dq, dk, dv, dout, q, k, v, out, lse, add_dq, add_dk, add_dv, B, H, Lq, Lk, E,
                    Ev);
}

namespace {
void forward_fp32(float* out, float* lse, const float* q, const float* k, const float* v, int64_t B, int64_t H,
                  int64_t Lq, int64_t Lk, int64_t E, int64_t Ev) {
  if (!attention_tokens_forward_avx512(out, lse, q, k, v, B, H, Lq, Lk, E, Ev))
    attention_tokens_forward_portable(out, lse, q, k, v, B, H, Lq, Lk, E, Ev);
}
}  // namespace

void attention_tokens_forward_cpu(float* out, float* lse, const float* q, const float* k, const float* v, int64_t B,
                                  int64_t H, int64_t Lq, int64_t Lk, int64_t E, int64_t Ev) {
  if (!attention_tokens_forward_bf16(out, lse, q, k, v, B, H, Lq, Lk, E, Ev, true))
    forward_fp32(out, lse, q, k, v, B, H, Lq, Lk, E, Ev);
}

void attention_tokens_inference_cpu(float* out, float* lse, const float* q, const float* k, const float* v,
                                    int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t E, int64_t Ev) {
  if (!attention_tokens_forward_bf16(out, lse, q, k, v, B, H, Lq, Lk, E, Ev, false))
    forward_fp32(out, lse, q, k, v, B, H, Lq, Lk, E, Ev);
}

void attention_tokens_backward_cpu(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                   const float* k, const float* v, const float* out, const float* lse, bool add_dq,
                                   bool add_dk, bool add_dv, int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t E,
                                   int64_t Ev) {
  if (!dq && !dk && !dv) return;
  if (attention_tokens_backward_bf16(dq, dk, dv, dout, q, k, v, out, lse, add_dq, add_dk, add_dv, B, H, Lq, Lk, E, Ev))
    return;
  if (!attention_tokens_backward_avx512(dq, dk, dv, dout, q, k, v, out, lse, add_dq, add_dk, add_dv, B, H, Lq, Lk, E,
                                        Ev))
    attention_tokens_backward_portable(dq, dk, dv, dout, q, k, v, out, lse, add_dq, add_dk, add_dv, B, H, Lq, Lk, E,
                                       Ev);
}

}  // namespace ssmtl::kernels
