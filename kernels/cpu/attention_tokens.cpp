// Multi-head attention on token-major buffers (kernels/attention.h, attention_tokens_*): one (sample, head)
// problem per OpenMP iteration; inside it, 16 queries at a time sit in the vector lanes, so the scores, the
// softmax over the keys and every product are vertical operations (no horizontal sums in the inner loops),
// and nothing of size Lq x Lk is ever stored: the backward recomputes the probabilities from the saved
// log-sum-exp (the recomputation of FlashAttention, Dao et al. 2022, done here per CPU core).
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/attention.h"
#include "kernels/cpu/vmath.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ssmtl::kernels {
namespace {

constexpr int kLanes = 16;
// 16 lanes in one 512-bit register where the build targets AVX-512 (GCC otherwise prefers 256-bit vectors)
#ifdef __AVX512F__
#define SSMTL_WIDE __attribute__((target("prefer-vector-width=512")))
#else
#define SSMTL_WIDE
#endif   // queries per block: one AVX-512 register of floats (two AVX2 ones)

int worker_count() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}
int worker_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Lane-major copy of rows [i0, i0 + n) of one head: dst[d * kLanes + l] = src[(i0 + l) * ld + d] * mul,
// zero for the lanes l >= n.
void gather_lanes(float* dst, const float* src, int64_t ld, int64_t i0, int n, int64_t width, float mul) {
  for (int64_t d = 0; d < width; ++d)
    for (int l = 0; l < kLanes; ++l) dst[d * kLanes + l] = l < n ? src[(i0 + l) * ld + d] * mul : 0.f;
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
  std::vector<float> scratch(static_cast<size_t>(worker_count() * per));
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
      for (int64_t j = 0; j < Lk; ++j) {
        float sj[kLanes] = {};
        const float* kr = kb + j * ldq;
        for (int64_t d = 0; d < E; ++d) {
          const float kd = kr[d];
#pragma omp simd
          for (int l = 0; l < kLanes; ++l) sj[l] += kd * qt[d * kLanes + l];
        }
#pragma omp simd
        for (int l = 0; l < kLanes; ++l) {
          s[j * kLanes + l] = sj[l];
          m[l] = sj[l] > m[l] ? sj[l] : m[l];
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
        lse[bh * Lq + i0 + l] = m[l] + std::log(sum[l]);
      }
    }
  }
}

template <int kE, int kEv>
SSMTL_WIDE void backward_impl(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                              const float* v, const float* out, const float* lse, int64_t B, int64_t H, int64_t Lq,
                              int64_t Lk, int64_t E_rt, int64_t Ev_rt) {
  const int64_t E = kE > 0 ? kE : E_rt, Ev = kEv > 0 ? kEv : Ev_rt;
  const float scale = 1.f / std::sqrt(static_cast<float>(E));
  const int64_t ldq = H * E, ldv = H * Ev;
  // Per thread: q block and dout block (lane-major), dq accumulators, and per-key lane partials of dk and dv,
  // summed over the lanes once per problem (so the inner loop has no horizontal sums).
  const int64_t per = (E + Ev + E + Lk * E + Lk * Ev) * kLanes;
  std::vector<float> scratch(static_cast<size_t>(worker_count() * per));
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < B * H; ++bh) {
    const int64_t b = bh / H, h = bh % H;
    float* qt = scratch.data() + worker_id() * per;
    float* gt = qt + E * kLanes;
    float* dqa = gt + Ev * kLanes;
    float* dka = dqa + E * kLanes;
    float* dva = dka + Lk * E * kLanes;
    std::fill(dka, dka + (Lk * E + Lk * Ev) * kLanes, 0.f);
    const int64_t qoff = b * Lq * ldq + h * E, koff = b * Lk * ldq + h * E;
    const int64_t ooff = b * Lq * ldv + h * Ev, voff = b * Lk * ldv + h * Ev;
    for (int64_t i0 = 0; i0 < Lq; i0 += kLanes) {
      const int n = static_cast<int>(std::min<int64_t>(kLanes, Lq - i0));
      gather_lanes(qt, q + qoff, ldq, i0, n, E, 1.f);
      gather_lanes(gt, dout + ooff, ldv, i0, n, Ev, 1.f);
      float l_se[kLanes], delta[kLanes], valid[kLanes];
      for (int l = 0; l < kLanes; ++l) {
        valid[l] = l < n ? 1.f : 0.f;
        l_se[l] = l < n ? lse[bh * Lq + i0 + l] : 0.f;
        delta[l] = 0.f;   // D_i = sum_d dout_id out_id = sum_j P_ij dP_ij (softmax backward's row term)
        if (l < n) {
          const float* o = out + ooff + (i0 + l) * ldv;
          for (int64_t d = 0; d < Ev; ++d) delta[l] += gt[d * kLanes + l] * o[d];
        }
      }
      std::fill(dqa, dqa + E * kLanes, 0.f);
      for (int64_t j = 0; j < Lk; ++j) {
        const float* kr = k + koff + j * ldq;
        const float* vr = v + voff + j * ldv;
        float sj[kLanes] = {}, dp[kLanes] = {};
        for (int64_t d = 0; d < E; ++d) {
          const float kd = kr[d];
#pragma omp simd
          for (int l = 0; l < kLanes; ++l) sj[l] += kd * qt[d * kLanes + l];
        }
        for (int64_t d = 0; d < Ev; ++d) {
          const float vd = vr[d];
#pragma omp simd
          for (int l = 0; l < kLanes; ++l) dp[l] += vd * gt[d * kLanes + l];
        }
        float p[kLanes], ds[kLanes];
#pragma omp simd
        for (int l = 0; l < kLanes; ++l) {
          p[l] = valid[l] * exp_approx(sj[l] * scale - l_se[l]);
          ds[l] = p[l] * (dp[l] - delta[l]) * scale;
        }
        for (int64_t d = 0; d < E; ++d) {
          const float kd = kr[d];
          float* dkr = dka + (j * E + d) * kLanes;
#pragma omp simd
          for (int l = 0; l < kLanes; ++l) {
            dqa[d * kLanes + l] += ds[l] * kd;
            dkr[l] += ds[l] * qt[d * kLanes + l];
          }
        }
        float* dvr = dva + j * Ev * kLanes;
        for (int64_t d = 0; d < Ev; ++d)
#pragma omp simd
          for (int l = 0; l < kLanes; ++l) dvr[d * kLanes + l] += p[l] * gt[d * kLanes + l];
      }
      if (dq)
        for (int l = 0; l < n; ++l) {
          float* r = dq + qoff + (i0 + l) * ldq;
          for (int64_t d = 0; d < E; ++d) r[d] += dqa[d * kLanes + l];
        }
    }
    // Lane sums in a fixed order: deterministic.
    auto lane_sum = [](const float* x) {
      float t = 0.f;
      for (int l = 0; l < kLanes; ++l) t += x[l];
      return t;
    };
    if (dk)
      for (int64_t j = 0; j < Lk; ++j)
        for (int64_t d = 0; d < E; ++d) dk[koff + j * ldq + d] += lane_sum(dka + (j * E + d) * kLanes);
    if (dv)
      for (int64_t j = 0; j < Lk; ++j)
        for (int64_t d = 0; d < Ev; ++d) dv[voff + j * ldv + d] += lane_sum(dva + (j * Ev + d) * kLanes);
  }
}

}  // namespace

// Widths of the paper's CvT heads (96 / 12 = 8) and common ones get unrolled copies.
#define SSMTL_ATTN_WIDTHS(F, ...)                                                          \
  if (E == 8 && Ev == 8) F<8, 8>(__VA_ARGS__);                                             \
  else if (E == 16 && Ev == 16) F<16, 16>(__VA_ARGS__);                                    \
  else if (E == 32 && Ev == 32) F<32, 32>(__VA_ARGS__);                                    \
  else F<0, 0>(__VA_ARGS__)

void attention_tokens_forward_cpu(float* out, float* lse, const float* q, const float* k, const float* v, int64_t B,
                                  int64_t H, int64_t Lq, int64_t Lk, int64_t E, int64_t Ev) {
  SSMTL_ATTN_WIDTHS(forward_impl, out, lse, q, k, v, B, H, Lq, Lk, E, Ev);
}

void attention_tokens_backward_cpu(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                   const float* k, const float* v, const float* out, const float* lse, int64_t B,
                                   int64_t H, int64_t Lq, int64_t Lk, int64_t E, int64_t Ev) {
  if (!dq && !dk && !dv) return;
  SSMTL_ATTN_WIDTHS(backward_impl, dq, dk, dv, dout, q, k, v, out, lse, B, H, Lq, Lk, E, Ev);
}

}  // namespace ssmtl::kernels
