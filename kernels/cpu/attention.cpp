#include "kernels/attention.h"
#include "kernels/cpu/aligned.h"

#include <cblas.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/omp_workers.h"

namespace ssmtl::kernels {
namespace {

// The problems are parallelised with OpenMP, so each GEMM must run on its calling thread: OpenBLAS's
// pthread build would otherwise start its own pool inside our loop and serialise the concurrent calls.
// Restores the previous thread count on exit.
class SingleThreadedBlas {
 public:
#ifdef OPENBLAS_VERSION
  SingleThreadedBlas() : prev_(openblas_get_num_threads()) { openblas_set_num_threads(1); }
  ~SingleThreadedBlas() { openblas_set_num_threads(prev_); }
 private:
  int prev_;
#endif
};

// C (m x n) = alpha * op(A) op(B) + beta * C, row-major; op = transpose when the flag is set.
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t kk, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(kk), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb),
              beta, c, static_cast<int>(ldc));
}

// exp(x) for x <= 0, written so that the softmax row loop vectorises (libm's expf is a scalar call and
// is most of the forward's time at the CvT shape). x = n ln2 + r with |r| <= ln2/2; exp(r) by its Taylor
// series to degree 7 (truncation error < 6e-9 relative, below one float ulp); 2^n goes into the
// exponent bits. Below -87 the result is clamped to about 2^-126 instead of a subnormal or 0, which is
// invisible next to the row maximum's exp(0) = 1. NaN propagates.
inline float exp_nonpositive(float x) {
  x = x < -87.f ? -87.f : x;
  const float n = (x * 1.44269504f + 12582912.f) - 12582912.f;   // round(x / ln2): adding 1.5 * 2^23 rounds
  const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;   // ln2 = hi + lo; n * hi is exact
  float p = 1.f / 5040.f;
  p = p * r + 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;   // 2^n as a float
  float two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  return p * two_n;
}

// Numerically stable softmax of one row, in place: subtracting the row maximum keeps exp() <= 1.
void softmax_row(float* s, int64_t n) {
  float m = s[0];
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < n; ++j) m = s[j] > m ? s[j] : m;
  float total = 0.f;
#pragma omp simd reduction(+ : total)
  for (int64_t j = 0; j < n; ++j) {
    const float e = exp_nonpositive(s[j] - m);
    s[j] = e;
    total += e;
  }
  const float inv = 1.f / total;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) s[j] *= inv;
}

// Softmax backward of one row, in place: dp holds dL/dP on entry and dL/dS on exit.
// dS_j = P_j (dP_j - sum_i P_i dP_i)
void softmax_backward_row(float* dp, const float* p, int64_t n) {
  float dot = 0.f;
#pragma omp simd reduction(+ : dot)
  for (int64_t j = 0; j < n; ++j) dot += p[j] * dp[j];
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) dp[j] = p[j] * (dp[j] - dot);
}

}  // namespace

void attention_forward_cpu(float* out, float* probs, const float* q, const float* k, const float* v, int64_t BH,
                           int64_t Lq, int64_t Lk, int64_t E, int64_t Ev) {
  const float scale = 1.f / std::sqrt(static_cast<float>(E));
  SingleThreadedBlas blas_guard;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < BH; ++i) {
    float* p = probs + i * Lq * Lk;
    gemm(false, true, Lq, Lk, E, scale, q + i * Lq * E, E, k + i * Lk * E, E, 0.f, p, Lk);   // scores
    for (int64_t r = 0; r < Lq; ++r) softmax_row(p + r * Lk, Lk);
    gemm(false, false, Lq, Ev, Lk, 1.f, p, Lk, v + i * Lk * Ev, Ev, 0.f, out + i * Lq * Ev, Ev);
  }
}

void attention_backward_cpu(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                            const float* v, const float* probs, int64_t BH, int64_t Lq, int64_t Lk, int64_t E,
                            int64_t Ev) {
  const float scale = 1.f / std::sqrt(static_cast<float>(E));
  const bool need_scores_grad = dq || dk;
  // One Lq x Lk scratch matrix per thread for dL/dscores, allocated before the parallel region so that
  // an allocation failure throws normally.
  avector<float> scratch(need_scores_grad ? static_cast<size_t>(worker_count() * Lq * Lk) : 0);
  SingleThreadedBlas blas_guard;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < BH; ++i) {
    const float* p = probs + i * Lq * Lk;
    const float* go = dout + i * Lq * Ev;
    if (dv) gemm(true, false, Lk, Ev, Lq, 1.f, p, Lk, go, Ev, 1.f, dv + i * Lk * Ev, Ev);
    if (!need_scores_grad) continue;
    float* ds = scratch.data() + static_cast<size_t>(worker_id()) * Lq * Lk;
    gemm(false, true, Lq, Lk, Ev, 1.f, go, Ev, v + i * Lk * Ev, Ev, 0.f, ds, Lk);   // dL/dP
    for (int64_t r = 0; r < Lq; ++r) softmax_backward_row(ds + r * Lk, p + r * Lk, Lk);
    if (dq) gemm(false, false, Lq, E, Lk, scale, ds, Lk, k + i * Lk * E, E, 1.f, dq + i * Lq * E, E);
    if (dk) gemm(true, false, Lk, E, Lq, scale, ds, Lk, q + i * Lq * E, E, 1.f, dk + i * Lk * E, E);
  }
}

}  // namespace ssmtl::kernels
