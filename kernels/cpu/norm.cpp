#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/aligned.h"
#include "kernels/norm.h"

#include "kernels/cpu/bn_affine.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace ssmtl::kernels {

namespace {
constexpr int64_t kParallelMin = 32768;   // below this many elements threads cost more than they save

// inner == 1 (x is (rows, C), e.g. the CvT's channels-last token rows): per-channel loops would stride through
// memory, so the reductions read the rows in order, vector loops over the channels, in fixed chunks of kRowChunk
// rows (a constant, not a per-thread split) whose partial results are merged in chunk order: the bits do not depend
// on the thread count.
constexpr int64_t kRowChunk = 256;
// The chunk loops take kRowsAtOnce rows per sweep over the channels, each channel's sum still adding the rows in
// order: one load and store of the sums (in L1) per 4 adds. In 512-bit vectors where the build targets AVX-512 (GCC
// otherwise prefers 256-bit ones): the float -> double conversions bound these loops; 1.2-1.3x on one core.
constexpr int kRowsAtOnce = 4;
#ifdef __AVX512F__
#define SSMTL_WIDE __attribute__((target("prefer-vector-width=512")))
#else
#define SSMTL_WIDE
#endif

// The fused batch norm + ReLU shares every loop below with plain batch norm through two small policies, so
// both compile to the same vector code and sum in the same order: the fused results are bitwise those of
// relu(batch_norm(x)) and its backward.
// How the output is written: Affine (batch norm) or AffineRelu (max(0, .) as relu_forward_cpu writes it:
// NaN and -0 give +0).
struct Affine {
  float operator()(float v) const { return v; }
};
struct AffineRelu {
  float operator()(float v) const { return detail::relu_value(v); }
};
// The pre-activation and its per-channel scale and shift: kernels/cpu/bn_affine.h (shared with the
// convolutions that apply eval-mode batch norm + ReLU as they write).
using detail::bn_affine;
using detail::bn_scale;
using detail::bn_shift;

using detail::masked;   // the ReLU's gradient mask (bn_affine.h)

// How the output gradient is read: Grad (dy) or ReluGrad (dy where the fused output y > 0, else 0). ReluGrad
// does not read y: it recomputes the sign of the pre-activation from x, one stream of memory less in each of
// the backward's two passes. at(o, c) gives the reader of a run of elements from o that all belong to channel
// c (the NCDHW loops); row(o, c0) the reader of a channels-last row's channels c0, c0 + 1, ... (the rows path).
struct Grad {
  const float* dy;
  Grad at(int64_t o, int64_t) const { return {dy + o}; }
  Grad row(int64_t o, int64_t) const { return {dy + o}; }
  float operator[](int64_t i) const { return dy[i]; }
};
struct ReluGrad {
  const float* dy;
  const float* x;
  const float* mu;   // (C) mean
  const float* s;    // (C) invstd * gamma
  const float* b;    // (C) beta
  struct Channel {
    const float* dy;
    const float* x;
    float mu, s, b;
    float operator[](int64_t i) const { return masked(dy[i], bn_affine(x[i], mu, s, b) > 0.f); }
  };
  struct Row {
    const float* dy;
    const float* x;
    const float* mu;
    const float* s;
    const float* b;
    float operator[](int64_t i) const { return masked(dy[i], bn_affine(x[i], mu[i], s[i], b[i]) > 0.f); }
  };
  Channel at(int64_t o, int64_t c) const { return {dy + o, x + o, mu[c], s[c], b[c]}; }
  Row row(int64_t o, int64_t c0) const { return {dy + o, x + o, mu + c0, s + c0, b + c0}; }
};

// Mean and sum of centred squares of the values seen so far; merge() adds a part of cnt values with mean mu_k and
// centred squares m2_k (Chan, Golub & LeVeque 1979: no cancellation for large means).
struct Moments {
  double mu = 0.0, m2 = 0.0, seen = 0.0;
  void merge(double mu_k, double m2_k, double cnt) {
    const double total = seen + cnt, delta = mu_k - mu;
    mu += delta * (cnt / total);
    m2 += m2_k + delta * delta * (seen * cnt / total);
    seen = total;
  }
};

// s[c] += rows 0 .. R - 1 of channel c (rows of length C from p), in order; kSquares: their squares centred on mu[c].
template <int R, bool kSquares>
SSMTL_WIDE inline void add_rows(double* s, const float* p, const double* mu, int64_t C) {
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) {
    double a = s[c];
    for (int r = 0; r < R; ++r) {
      if constexpr (kSquares) {
        const double d = p[r * C + c] - mu[c];
        a += d * d;
      } else {
        a += p[r * C + c];
      }
    }
    s[c] = a;
  }
}

// Channels-last statistics in one read of memory: per chunk (in cache) and channel a sum, then the squares centred on
// the chunk's mean (rows in order: the bits of one row per sweep); the chunks merged in order with Chan, Golub &
// LeVeque's update (as the NCDHW slabs below).
SSMTL_WIDE void stats_chunk(double* mu, double* m2, const float* x, int64_t r0, int64_t r1, int64_t C) {
  std::fill(mu, mu + C, 0.0);
  std::fill(m2, m2 + C, 0.0);
  int64_t r = r0;
  for (; r + kRowsAtOnce <= r1; r += kRowsAtOnce) add_rows<kRowsAtOnce, false>(mu, x + r * C, nullptr, C);
  for (; r < r1; ++r) add_rows<1, false>(mu, x + r * C, nullptr, C);
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) mu[c] /= static_cast<double>(r1 - r0);
  for (r = r0; r + kRowsAtOnce <= r1; r += kRowsAtOnce) add_rows<kRowsAtOnce, true>(m2, x + r * C, mu, C);
  for (; r < r1; ++r) add_rows<1, true>(m2, x + r * C, mu, C);
}

SSMTL_WIDE void stats_rows(float* mean, float* var, const float* x, int64_t N, int64_t C) {
  const int64_t chunks = (N + kRowChunk - 1) / kRowChunk;
  std::vector<double> part(static_cast<size_t>(chunks * 2 * C));   // per chunk: C means, then C centred squares
#pragma omp parallel for schedule(static) if (N * C > kParallelMin)
  for (int64_t k = 0; k < chunks; ++k) {
    double* mu = part.data() + k * 2 * C;
    stats_chunk(mu, mu + C, x, k * kRowChunk, std::min(N, (k + 1) * kRowChunk), C);
  }
  for (int64_t c = 0; c < C; ++c) {
    Moments m;
    for (int64_t k = 0; k < chunks; ++k)
      m.merge(part[static_cast<size_t>(k * 2 * C + c)], part[static_cast<size_t>(k * 2 * C + C + c)],
              static_cast<double>(std::min(kRowChunk, N - k * kRowChunk)));
    mean[c] = static_cast<float>(m.mu);
    var[c] = static_cast<float>(m.m2 / m.seen);
  }
}

template <class Out>
void forward_rows(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                  const float* beta, int64_t N, int64_t C, Out out) {
  avector<float> mu(mean, mean + C), sc(static_cast<size_t>(C)), sh(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    sc[c] = bn_scale(invstd, gamma, c);
    sh[c] = bn_shift(beta, c);
  }
#pragma omp parallel for schedule(static) if (N * C > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const float* src = x + n * C;
    float* dst = y + n * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) dst[c] = out(bn_affine(src[c], mu[c], sc[c], sh[c]));
  }
}

// Channels-last backward: pass 1 takes each chunk's sums over all channels in one sequential read (the channel loop
// vectorised, its accumulators in L1), the chunks' sums then added in chunk order; pass 2 writes dx. All sums are
// double, as the general path's: dy and x - mean are float values widened exactly (x - mean in double is exact for
// floats of comparable size), so each add rounds at 2^-53: over 10^6 rows the error stays below ~1e-10 of the sum of
// magnitudes, far below float's last bit; chunking only regroups those adds.
// sdy[c] += dy, sdyc[c] += dy * (x - mu[c]) over rows n .. n + R - 1, in order.
template <int R, class G>
SSMTL_WIDE inline void add_grad_rows(double* sdy, double* sdyc, G dy, const float* x, const double* mu, int64_t n,
                                     int64_t C) {
  decltype(dy.row(0, 0)) g[R];
  for (int r = 0; r < R; ++r) g[r] = dy.row((n + r) * C, 0);
  const float* p = x + n * C;
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) {
    double a = sdy[c], b = sdyc[c];
    for (int r = 0; r < R; ++r) {
      const double gc = g[r][c];
      a += gc;
      b += gc * (p[r * C + c] - mu[c]);
    }
    sdy[c] = a, sdyc[c] = b;
  }
}
template <class G>
SSMTL_WIDE void backward_rows(float* dx, float* dgamma, float* dbeta, G dy, const float* x, const float* mean,
                              const float* invstd, const float* gamma, bool batch_stats, bool add_dx, int64_t N,
                              int64_t C) {
  const bool need_sums = dgamma || dbeta || (dx && batch_stats);
  const double M = static_cast<double>(N);
  const int64_t chunks = (N + kRowChunk - 1) / kRowChunk;
  std::vector<double> part(need_sums ? static_cast<size_t>(chunks * 2 * C) : 0), mud(mean, mean + C);
  avector<float> kf(static_cast<size_t>(C)), a(kf.size(), 0.f), bb(kf.size(), 0.f), muf(mean, mean + C);
  const double* mu = mud.data();
#pragma omp parallel if (N * C > kParallelMin)
  {
    if (need_sums) {
#pragma omp for schedule(static)
      for (int64_t k = 0; k < chunks; ++k) {
        double* sdy = part.data() + k * 2 * C;   // per chunk: C sums of dy, then C of dy * (x - mean) (zeroed)
        int64_t n = k * kRowChunk;
        const int64_t n1 = std::min(N, n + kRowChunk);
        for (; n + kRowsAtOnce <= n1; n += kRowsAtOnce) add_grad_rows<kRowsAtOnce>(sdy, sdy + C, dy, x, mu, n, C);
        for (; n < n1; ++n) add_grad_rows<1>(sdy, sdy + C, dy, x, mu, n, C);
      }
    }
#pragma omp single
    for (int64_t c = 0; c < C; ++c) {
      double sdy = 0.0, sdyc = 0.0;
      for (int64_t k = 0; k < (need_sums ? chunks : 0); ++k) {
        sdy += part[static_cast<size_t>(k * 2 * C + c)];
        sdyc += part[static_cast<size_t>(k * 2 * C + C + c)];
      }
      const double is = invstd[c], sdyx = sdyc * is;
      if (dgamma) dgamma[c] += static_cast<float>(sdyx);
      if (dbeta) dbeta[c] += static_cast<float>(sdy);
      kf[c] = static_cast<float>(is * (gamma ? gamma[c] : 1.0));
      a[c] = batch_stats ? static_cast<float>(sdy / M) : 0.f;
      bb[c] = batch_stats ? static_cast<float>(sdyx * is / M) : 0.f;
    }
    if (dx) {
#pragma omp for schedule(static)
      for (int64_t n = 0; n < N; ++n) {
        const auto g = dy.row(n * C, 0);
        const float* p = x + n * C;
        float* d = dx + n * C;
        if (add_dx) {
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) d[c] += kf[c] * (g[c] - a[c] - (p[c] - muf[c]) * bb[c]);
        } else {
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) d[c] = kf[c] * (g[c] - a[c] - (p[c] - muf[c]) * bb[c]);
        }
      }
    }
  }
}

// dx[n, c, :] += kf * (dy - a - (x - mean) * b) for every sample n of channel c (NCDHW-like: N x C x inner):
// the input gradient of batch norm (a, b are zero with fixed statistics); = instead of += when !add.
template <class G>
inline void add_bn_dx_channel(float* dx, G dy, const float* x, int64_t c, float kf, float a, float b, float muf,
                              int64_t N, int64_t C, int64_t inner, bool add = true) {
  for (int64_t n = 0; n < N; ++n) {
    const auto g = dy.at((n * C + c) * inner, c);
    const float* p = x + (n * C + c) * inner;
    float* d = dx + (n * C + c) * inner;
    if (add) {
#pragma omp simd
      for (int64_t i = 0; i < inner; ++i) d[i] += kf * (g[i] - a - (p[i] - muf) * b);
    } else {
#pragma omp simd
      for (int64_t i = 0; i < inner; ++i) d[i] = kf * (g[i] - a - (p[i] - muf) * b);
    }
  }
}

}  // namespace

namespace {
// Sum of p[0, n) and sum of (p[i] - mu)^2 in double, 32 independent lanes (4 vectors of 8 doubles: the adds'
// latency, not memory, bounded the single-accumulator loop), lanes added in order: the same bits for any thread
// count. Lane j takes the elements i = j mod 32; on AVX-512 the same lanes as 4 explicit vectors (GCC compiled the
// generic loop to 2.1x the instructions: 1.3x slower on a stage-1 tensor), then the same tail and final order:
// the bits of the generic loop as GCC compiles it by default (contracting d * d + acc to a fused multiply-add;
// under -ffp-contract=off the generic loop's squares would round differently).
constexpr int kLanes = 32;
#if defined(__AVX512F__)
inline __m512d widen(const float* p) {   // (the masked form: GCC 12 warns about the plain one's undefined pass-through)
  return _mm512_maskz_cvtps_pd(0xFF, _mm256_loadu_ps(p));
}
inline void spill(double* acc, __m512d a0, __m512d a1, __m512d a2, __m512d a3) {
  _mm512_storeu_pd(acc, a0), _mm512_storeu_pd(acc + 8, a1), _mm512_storeu_pd(acc + 16, a2);
  _mm512_storeu_pd(acc + 24, a3);
}
#endif
double slab_sum(const float* p, int64_t n) {
  double acc[kLanes] = {};
  int64_t i = 0;
#if defined(__AVX512F__)
  __m512d a0 = _mm512_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
  for (; i + kLanes <= n; i += kLanes) {
    a0 = _mm512_add_pd(a0, widen(p + i)), a1 = _mm512_add_pd(a1, widen(p + i + 8));
    a2 = _mm512_add_pd(a2, widen(p + i + 16)), a3 = _mm512_add_pd(a3, widen(p + i + 24));
  }
  spill(acc, a0, a1, a2, a3);
#else
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += p[i + j];
#endif
  double s = 0.0;
  for (; i < n; ++i) s += p[i];
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  return s;
}
double slab_centred_squares(const float* p, int64_t n, double mu) {
  double acc[kLanes] = {};
  int64_t i = 0;
#if defined(__AVX512F__)
  const __m512d m = _mm512_set1_pd(mu);
  __m512d a0 = _mm512_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
  for (; i + kLanes <= n; i += kLanes) {
    const __m512d d0 = _mm512_sub_pd(widen(p + i), m), d1 = _mm512_sub_pd(widen(p + i + 8), m);
    const __m512d d2 = _mm512_sub_pd(widen(p + i + 16), m), d3 = _mm512_sub_pd(widen(p + i + 24), m);
    a0 = _mm512_fmadd_pd(d0, d0, a0), a1 = _mm512_fmadd_pd(d1, d1, a1);
    a2 = _mm512_fmadd_pd(d2, d2, a2), a3 = _mm512_fmadd_pd(d3, d3, a3);
  }
  spill(acc, a0, a1, a2, a3);
#else
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      const double d = p[i + j] - mu;
      acc[j] += d * d;
    }
#endif
  double q = 0.0;
  for (; i < n; ++i) q += (p[i] - mu) * (p[i] - mu);
  for (int j = 0; j < kLanes; ++j) q += acc[j];
  return q;
}
}  // namespace

void batch_norm_stats_cpu(float* mean, float* var, const float* x, int64_t N, int64_t C, int64_t inner) {
  if (inner == 1 && C > 1) return stats_rows(mean, var, x, N, C);
  // Per sample's slab of a channel: its sum, then the squares centred on its own mean while it is still in cache
  // (one read from memory instead of two passes over the whole channel); the slabs are merged in sample order with
  // the pairwise update of Chan, Golub & LeVeque (1979): no cancellation for large means, as the two-pass formula.
  const double cnt = static_cast<double>(inner);
#pragma omp parallel for schedule(static) if (N * C * inner > kParallelMin)
  for (int64_t c = 0; c < C; ++c) {
    Moments m;
    for (int64_t n = 0; n < N; ++n) {
      const float* p = x + (n * C + c) * inner;
      const double mu_n = slab_sum(p, inner) / cnt;
      m.merge(mu_n, slab_centred_squares(p, inner, mu_n), cnt);
    }
    mean[c] = static_cast<float>(m.mu);
    var[c] = static_cast<float>(m.m2 / m.seen);
  }
}

void batch_norm_update_running_cpu(float* running_mean, float* running_var, const float* mean, const float* var,
                                   float momentum, int64_t M, int64_t C) {
  const double unbias = static_cast<double>(M) / static_cast<double>(M - 1);
  for (int64_t c = 0; c < C; ++c) {
    running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * static_cast<double>(mean[c]));
    running_var[c] = static_cast<float>((1.0 - momentum) * running_var[c] + momentum * var[c] * unbias);
  }
}

void batch_norm_invstd_cpu(float* invstd, const float* var, float eps, int64_t C) {
  for (int64_t c = 0; c < C; ++c)
    invstd[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(var[c]) + static_cast<double>(eps)));
}

namespace {

template <class Out>
void forward_impl(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                  const float* beta, int64_t N, int64_t C, int64_t inner, Out out) {
  if (inner == 1 && C > 1) return forward_rows(y, x, mean, invstd, gamma, beta, N, C, out);
#pragma omp parallel for collapse(2) schedule(static) if (N * C * inner > kParallelMin)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const float mu = mean[c];
      const float s = bn_scale(invstd, gamma, c);
      const float b = bn_shift(beta, c);
      const float* src = x + (n * C + c) * inner;
      float* dst = y + (n * C + c) * inner;
#pragma omp simd
      for (int64_t i = 0; i < inner; ++i) dst[i] = out(bn_affine(src[i], mu, s, b));
    }
}

template <class G>
void backward_impl(float* dx, float* dgamma, float* dbeta, G dy, const float* x, const float* mean,
                   const float* invstd, const float* gamma, bool batch_stats, bool add_dx, int64_t N, int64_t C,
                   int64_t inner) {
  if (inner == 1 && C > 1)
    return backward_rows(dx, dgamma, dbeta, dy, x, mean, invstd, gamma, batch_stats, add_dx, N, C);
  const bool need_sums = dgamma || dbeta || (dx && batch_stats);
  const double M = static_cast<double>(N * inner);
#pragma omp parallel for schedule(static) if (N * C * inner > kParallelMin)
  for (int64_t c = 0; c < C; ++c) {
    const double mu = mean[c], is = invstd[c];
    double sdy = 0.0, sdyx = 0.0;   // sum dy, sum dy * xhat
    if (need_sums) {
      double sdyc = 0.0;            // sum dy * (x - mean); times invstd below
      for (int64_t n = 0; n < N; ++n) {
        const auto g = dy.at((n * C + c) * inner, c);
        const float* p = x + (n * C + c) * inner;
#pragma omp simd reduction(+ : sdy, sdyc)
        for (int64_t i = 0; i < inner; ++i) {
          sdy += g[i];
          sdyc += g[i] * (p[i] - mu);
        }
      }
      sdyx = sdyc * is;
    }
    if (dgamma) dgamma[c] += static_cast<float>(sdyx);
    if (dbeta) dbeta[c] += static_cast<float>(sdy);
    if (!dx) continue;
    const double k = is * (gamma ? gamma[c] : 1.0);
    // dx = k * (dy - a - (x - mean) * b): a, b are zero with fixed statistics.
    const float kf = static_cast<float>(k);
    const float a = batch_stats ? static_cast<float>(sdy / M) : 0.f;
    const float b = batch_stats ? static_cast<float>(sdyx * is / M) : 0.f;
    const float muf = static_cast<float>(mu);
    add_bn_dx_channel(dx, dy, x, c, kf, a, b, muf, N, C, inner, add_dx);
  }
}

}  // namespace

void batch_norm_forward_cpu(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                            const float* beta, int64_t N, int64_t C, int64_t inner) {
  forward_impl(y, x, mean, invstd, gamma, beta, N, C, inner, Affine{});
}

void batch_norm_relu_forward_cpu(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                                 const float* beta, int64_t N, int64_t C, int64_t inner) {
  forward_impl(y, x, mean, invstd, gamma, beta, N, C, inner, AffineRelu{});
}

void batch_norm_backward_cpu(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                             const float* mean, const float* invstd, const float* gamma, bool batch_stats,
                             bool add_dx, int64_t N, int64_t C, int64_t inner) {
  backward_impl(dx, dgamma, dbeta, Grad{dy}, x, mean, invstd, gamma, batch_stats, add_dx, N, C, inner);
}

void batch_norm_relu_backward_cpu(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                                  const float* mean, const float* invstd, const float* gamma, const float* beta,
                                  bool batch_stats, bool add_dx, int64_t N, int64_t C, int64_t inner) {
  avector<float> s(static_cast<size_t>(C)), b(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    s[c] = bn_scale(invstd, gamma, c);
    b[c] = bn_shift(beta, c);
  }
  backward_impl(dx, dgamma, dbeta, ReluGrad{dy, x, mean, s.data(), b.data()}, x, mean, invstd, gamma, batch_stats,
                add_dx, N, C, inner);
}

void batch_norm_backward_input_cpu(float* dx, const float* dy, const float* x, const float* mean, const float* invstd,
                                   const float* gamma, const double* sum_dy, const double* sum_dy_xhat, int64_t M,
                                   int64_t N, int64_t C, int64_t inner) {
#pragma omp parallel for schedule(static) if (N * C * inner > kParallelMin)
  for (int64_t c = 0; c < C; ++c) {
    const double is = invstd[c];
    const float kf = static_cast<float>(is * (gamma ? gamma[c] : 1.0));
    const float a = static_cast<float>(sum_dy[c] / static_cast<double>(M));
    const float b = static_cast<float>(sum_dy_xhat[c] * is / static_cast<double>(M));
    const float muf = mean[c];
    add_bn_dx_channel(dx, Grad{dy}, x, c, kf, a, b, muf, N, C, inner);
  }
}

}  // namespace ssmtl::kernels
