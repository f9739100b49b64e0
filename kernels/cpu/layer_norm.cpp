// Layer normalisation over the last dimension (Ba et al. 2016; PyTorch LayerNorm semantics), CPU kernels.
//
// The CvT's rows are short (D = 96 floats): a row's work is a few vectors, so the per-row reductions, not memory,
// bounded the first kernels (sums in double through `omp simd reduction`: ~390 cycles a row in the backward, 23
// GB/s). Here a row's sums run in float over 16 lanes (lane j takes the elements d = j mod 16) and the lanes are
// added as a fixed tree: the same bits whatever vector width the compiler picks and for any thread count. Float
// is enough for sums of D terms that are centred first: the forward sums x - x[0] (a constant row gives its
// mean exactly, so the output is beta), then the squares of x - mean (two passes, no cancellation).
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/aligned.h"
#include "kernels/norm.h"

namespace ssmtl::kernels {

namespace {
constexpr int64_t kParallelMin = 32768;   // below this many elements threads cost more than they save
constexpr int kLanes = 16;
// Row block of the column reductions (dgamma, dbeta): a fixed size, not a per-thread split, so the summation
// order (float within a block, double across blocks in order) does not depend on the thread count.
constexpr int64_t kRowBlock = 64;

// acc[0] after adding the upper half of the lanes onto the lower half, 8 + 4 + 2 + 1.
inline float lanes_total(float* acc) {
  for (int w = kLanes / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
  return acc[0];
}

// sum over d of f(d), lane by lane.
template <class F>
inline float row_sum(int64_t D, F f) {
  float acc[kLanes] = {};
  int64_t d0 = 0;
  for (; d0 + kLanes <= D; d0 += kLanes)
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) acc[j] += f(d0 + j);
  for (int64_t d = d0; d < D; ++d) acc[d - d0] += f(d);
  return lanes_total(acc);
}
}  // namespace

void layer_norm_forward_cpu(float* y, float* mean, float* invstd, const float* x, const float* gamma,
                            const float* beta, float eps, int64_t rows, int64_t D) {
  // Explicit ones / zeros for a missing affine keep the inner loops branch-free (vectorised).
  avector<float> ones, zeros;
  const float* gm = gamma ? gamma : (ones.assign(static_cast<size_t>(D), 1.f), ones.data());
  const float* bt = beta ? beta : (zeros.assign(static_cast<size_t>(D), 0.f), zeros.data());
  const float inv_d = 1.f / static_cast<float>(D);
#pragma omp parallel for schedule(static) if (rows * D > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = x + r * D;
    const float k = p[0];
    const float mu = k + row_sum(D, [&](int64_t d) { return p[d] - k; }) * inv_d;
    const float q = row_sum(D, [&](int64_t d) {
      const float t = p[d] - mu;
      return t * t;
    });
    const float is = static_cast<float>(1.0 / std::sqrt(static_cast<double>(q * inv_d) + static_cast<double>(eps)));
    mean[r] = mu;
    invstd[r] = is;
    float* o = y + r * D;
#pragma omp simd
    for (int64_t d = 0; d < D; ++d) o[d] = (p[d] - mu) * is * gm[d] + bt[d];
  }
}

void layer_norm_backward_cpu(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                             const float* mean, const float* invstd, const float* gamma, bool add_dx, int64_t rows,
                             int64_t D) {
  const bool sums = dgamma || dbeta;
  avector<float> ones;
  const float* gm = gamma ? gamma : (ones.assign(static_cast<size_t>(D), 1.f), ones.data());
  const float inv_d = 1.f / static_cast<float>(D);
  // One pass over dy and x: each block of rows gets its rows' dx and its column sums for dgamma and dbeta.
  const int64_t nblocks = (rows + kRowBlock - 1) / kRowBlock;
  std::vector<double> pg(sums ? static_cast<size_t>(nblocks * D) : 0), pb(pg.size());
#pragma omp parallel for schedule(static) if (rows * D > kParallelMin)
  for (int64_t blk = 0; blk < nblocks; ++blk) {
    avector<float> cg(sums ? static_cast<size_t>(D) : 0, 0.f), cb(cg.size(), 0.f);
    const int64_t r1 = std::min(rows, (blk + 1) * kRowBlock);
    for (int64_t r = blk * kRowBlock; r < r1; ++r) {
      const float* g = dy + r * D;
      const float* p = x + r * D;
      const float mu = mean[r], is = invstd[r];
      if (dx) {   // a = mean_d g gamma, b = mean_d g gamma xhat
        const float a = row_sum(D, [&](int64_t d) { return g[d] * gm[d]; }) * inv_d;
        const float b = row_sum(D, [&](int64_t d) { return g[d] * gm[d] * ((p[d] - mu) * is); }) * inv_d;
        float* o = dx + r * D;
#pragma omp simd
        for (int64_t d = 0; d < D; ++d)
          o[d] = (add_dx ? o[d] : 0.f) + is * (g[d] * gm[d] - a - (p[d] - mu) * is * b);
      }
      if (sums) {
#pragma omp simd
        for (int64_t d = 0; d < D; ++d) {
          cg[d] += g[d] * ((p[d] - mu) * is);
          cb[d] += g[d];
        }
      }
    }
    for (size_t d = 0; d < cg.size(); ++d) pg[blk * D + d] = cg[d], pb[blk * D + d] = cb[d];
  }
  if (!sums) return;
  for (int64_t d = 0; d < D; ++d) {
    double sg = 0.0, sb = 0.0;
    for (int64_t blk = 0; blk < nblocks; ++blk) {
      sg += pg[blk * D + d];
      sb += pb[blk * D + d];
    }
    if (dgamma) dgamma[d] += static_cast<float>(sg);
    if (dbeta) dbeta[d] += static_cast<float>(sb);
  }
}

}  // namespace ssmtl::kernels
