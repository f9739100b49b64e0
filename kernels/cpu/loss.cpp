#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/vmath.h"
#include "kernels/loss.h"

namespace ssmtl::kernels {

namespace {
constexpr int64_t kParallelMin = 32768;
// Reductions are split in blocks of a fixed size (not one per thread), so the summation order and the
// result do not depend on the number of threads.
constexpr int64_t kBlock = 8192;

// Mean over rows of per-row double values, in row order.
float mean_of(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return static_cast<float>(s / static_cast<double>(v.size()));
}

// out[r] = mean over c of term(r * cols + c), summed in double per fixed block, blocks added in order.
template <class Term>
void row_means(float* out, int64_t rows, int64_t cols, Term term) {
  const int64_t per_row = (cols + kBlock - 1) / kBlock;
  std::vector<double> part(static_cast<size_t>(rows * per_row));
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMin)
  for (int64_t j = 0; j < rows * per_row; ++j) {
    const int64_t base = (j / per_row) * cols;
    const int64_t c0 = (j % per_row) * kBlock, c1 = std::min(cols, c0 + kBlock);
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t c = c0; c < c1; ++c) s += term(base + c);
    part[j] = s;
  }
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0.0;
    for (int64_t b = 0; b < per_row; ++b) s += part[r * per_row + b];
    out[r] = static_cast<float>(s / static_cast<double>(cols));
  }
}

// dst[i] += term(i, row_scale[r] * scale) for every i = r * cols + c, in contiguous blocks (parallel even
// for rows = 1). `dst` may not alias the inputs read by term.
template <class Term>
void row_apply(float* __restrict dst, const float* row_scale, float scale, int64_t rows, int64_t cols, Term term) {
  const int64_t per_row = (cols + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMin)
  for (int64_t j = 0; j < rows * per_row; ++j) {
    const int64_t r = j / per_row, base = r * cols;
    const int64_t c0 = base + (j % per_row) * kBlock, c1 = base + std::min(cols, (j % per_row + 1) * kBlock);
    const float g = row_scale[r] * scale;
#pragma omp simd
    for (int64_t i = c0; i < c1; ++i) dst[i] += term(i, g);
  }
}
}  // namespace

void cross_entropy_forward_cpu(float* loss, const float* logits, const float* targets, int64_t N, int64_t K) {
  std::vector<double> row(static_cast<size_t>(N));
#pragma omp parallel for schedule(static) if (N * K > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = logits + n * K;
    float m, log_sum;
    row_logsumexp(x, K, m, log_sum);
    row[n] = static_cast<double>(m - x[static_cast<int64_t>(targets[n])]) + log_sum;
  }
  loss[0] = mean_of(row);
}

void cross_entropy_backward_cpu(float* dlogits, const float* dloss, const float* logits, const float* targets,
                                int64_t N, int64_t K) {
  const float g = dloss[0] / static_cast<float>(N);
#pragma omp parallel for schedule(static) if (N * K > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = logits + n * K;
    float* d = dlogits + n * K;
    float m, log_sum;
    row_logsumexp(x, K, m, log_sum);
    for (int64_t k = 0; k < K; ++k) d[k] += g * exp_approx((x[k] - m) - log_sum);
    d[static_cast<int64_t>(targets[n])] -= g;
  }
}

void cross_entropy_soft_forward_cpu(float* loss, const float* logits, const float* probs, int64_t N, int64_t K) {
  std::vector<double> row(static_cast<size_t>(N));
#pragma omp parallel for schedule(static) if (N * K > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = logits + n * K;
    const float* p = probs + n * K;
    float m, log_sum;
    row_logsumexp(x, K, m, log_sum);
    double s = 0.0;
    for (int64_t k = 0; k < K; ++k) s += static_cast<double>(p[k]) * (static_cast<double>(m - x[k]) + log_sum);
    row[n] = s;
  }
  loss[0] = mean_of(row);
}

void cross_entropy_soft_backward_cpu(float* dlogits, float* dprobs, const float* dloss, const float* logits,
                                     const float* probs, int64_t N, int64_t K) {
  const float g = dloss[0] / static_cast<float>(N);
#pragma omp parallel for schedule(static) if (N * K > kParallelMin)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = logits + n * K;
    const float* p = probs + n * K;
    float m, log_sum;
    row_logsumexp(x, K, m, log_sum);
    if (dlogits) {
      double ps = 0.0;
      for (int64_t k = 0; k < K; ++k) ps += p[k];
      const float psf = static_cast<float>(ps);
      float* d = dlogits + n * K;
      for (int64_t k = 0; k < K; ++k) d[k] += g * (exp_approx((x[k] - m) - log_sum) * psf - p[k]);
    }
    if (dprobs) {
      float* d = dprobs + n * K;
      for (int64_t k = 0; k < K; ++k) d[k] += g * ((m - x[k]) + log_sum);
    }
  }
}

void l1_forward_cpu(float* out, const float* a, const float* b, int64_t rows, int64_t cols) {
  row_means(out, rows, cols, [=](int64_t i) { return static_cast<double>(std::fabs(a[i] - b[i])); });
}

void mse_forward_cpu(float* out, const float* a, const float* b, int64_t rows, int64_t cols) {
  row_means(out, rows, cols, [=](int64_t i) {
    const double d = static_cast<double>(a[i]) - b[i];
    return d * d;
  });
}

void l1_backward_cpu(float* da, float* db, const float* dout, const float* a, const float* b, int64_t rows,
                     int64_t cols) {
  const float inv = 1.f / static_cast<float>(cols);
  // sign(a - b) as (a > b) - (a < b): 0 at equality, branch-free.
  auto sign = [=](int64_t i, float g) { return g * (static_cast<float>(a[i] > b[i]) - static_cast<float>(a[i] < b[i])); };
  if (da) row_apply(da, dout, inv, rows, cols, sign);
  if (db) row_apply(db, dout, -inv, rows, cols, sign);
}

void mse_backward_cpu(float* da, float* db, const float* dout, const float* a, const float* b, int64_t rows,
                      int64_t cols) {
  const float inv = 2.f / static_cast<float>(cols);
  auto diff = [=](int64_t i, float g) { return g * (a[i] - b[i]); };
  if (da) row_apply(da, dout, inv, rows, cols, diff);
  if (db) row_apply(db, dout, -inv, rows, cols, diff);
}

}  // namespace ssmtl::kernels
