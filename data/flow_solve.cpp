// Displacement estimation of the Farnebäck flow from two polynomial expansions (see data/flow_internal.h).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "data/flow_internal.h"

// f8 values are passed only to inlined helpers; builds without AVX need not hear about the vector ABI.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace ssmtl::flow_detail {

void displacement_equations(float* out, const float* p1, const float* p2, const float* flow, int H, int W) {
  const size_t plane = size_t(H) * W;
  const float *fdx = flow, *fdy = flow + plane;
  float *g11 = out, *g12 = out + plane, *g22 = out + 2 * plane, *h1 = out + 3 * plane, *h2 = out + 4 * plane;
  const float xmax = float(W - 1), ymax = float(H - 1);
#pragma omp parallel for schedule(static)
  for (int y = 0; y < H; ++y) {
    for (int x = 0; x < W; ++x) {
      const size_t i = size_t(y) * W + x;
      const float dx = fdx[i], dy = fdy[i];
      float px = float(x) + dx, py = float(y) + dy;
      // No data beyond the border: the pixel gives no equation (certainty 0).
      const float wgt = (px >= 0.f && px <= xmax && py >= 0.f && py <= ymax) ? 1.f : 0.f;
      px = std::clamp(px, 0.f, xmax);
      py = std::clamp(py, 0.f, ymax);
      const int x0 = std::min(int(px), W - 1), y0 = std::min(int(py), H - 1);
      const int x1 = std::min(x0 + 1, W - 1), y1 = std::min(y0 + 1, H - 1);
      const float fx = px - float(x0), fy = py - float(y0);
      // next's expansion sampled bilinearly at x + d, all coefficients at once
      const f8 s = (1 - fy) * ((1 - fx) * load8(p2 + (size_t(y0) * W + x0) * kPolyStride) +
                               fx * load8(p2 + (size_t(y0) * W + x1) * kPolyStride)) +
                   fy * ((1 - fx) * load8(p2 + (size_t(y1) * W + x0) * kPolyStride) +
                         fx * load8(p2 + (size_t(y1) * W + x1) * kPolyStride));
      const f8 q = load8(p1 + i * kPolyStride);
      const f8 A = 0.5f * (q + s);  // lanes 0..2: mean A11, A22, A12
      const float A11 = A[0], A22 = A[1], A12 = A[2];
      const float db1 = -0.5f * (s[3] - q[3]) + A11 * dx + A12 * dy;
      const float db2 = -0.5f * (s[4] - q[4]) + A12 * dx + A22 * dy;
      g11[i] = wgt * (A11 * A11 + A12 * A12);
      g12[i] = wgt * (A11 * A12 + A12 * A22);
      g22[i] = wgt * (A12 * A12 + A22 * A22);
      h1[i] = wgt * (A11 * db1 + A12 * db2);
      h2[i] = wgt * (A12 * db1 + A22 * db2);
    }
  }
}

namespace {

constexpr int kBlock = 4 * kLanes;  // 4 independent accumulators hide the latency of the FMAs

inline void store_block(float* dst, const f8 acc[4], int x0, int W) {
  if (x0 + kBlock <= W) {
    std::memcpy(dst + x0, acc, kBlock * sizeof(float));
  } else {
    for (int j = 0; x0 + j < W; ++j) dst[x0 + j] = acc[j / kLanes][j % kLanes];
  }
}

// dst[x] = sum_t k[t] * src[x + t], x in [0, W), t in [0, taps); src readable up to W + taps - 1 rounded
// up to a multiple of kBlock.
void correlate_row(float* __restrict dst, const float* __restrict src, const float* __restrict k, int taps, int W) {
  for (int x0 = 0; x0 < W; x0 += kBlock) {
    f8 acc[4] = {};
    for (int t = 0; t < taps; ++t)
      for (int i = 0; i < 4; ++i) acc[i] += k[t] * load8(src + x0 + t + i * kLanes);
    store_block(dst, acc, x0, W);
  }
}

// dst[x] = sum_t k[t] * rows[t][x], x in [0, W); rows readable up to W rounded up to a multiple of kBlock.
void combine_rows(float* __restrict dst, const float* const* rows, const float* __restrict k, int taps, int W) {
  for (int x0 = 0; x0 < W; x0 += kBlock) {
    f8 acc[4] = {};
    for (int t = 0; t < taps; ++t)
      for (int i = 0; i < 4; ++i) acc[i] += k[t] * load8(rows[t] + x0 + i * kLanes);
    store_block(dst, acc, x0, W);
  }
}

}  // namespace

void blur_planes(float* data, int planes, int H, int W, float sigma, int radius, float* scratch) {
  const int n = radius, taps = 2 * n + 1;
  std::vector<float> k(taps);
  double sum = 0;
  for (int t = -n; t <= n; ++t) sum += std::exp(-0.5 * t * t / (double(sigma) * sigma));
  for (int t = -n; t <= n; ++t) k[t + n] = float(std::exp(-0.5 * t * t / (double(sigma) * sigma)) / sum);
  const size_t plane = size_t(H) * W;
  const int Wr = (W + kBlock - 1) / kBlock * kBlock;  // row length rounded up for the blocked loops
  float* tmp = scratch;
  // Along x, zero padded.
#pragma omp parallel
  {
    std::vector<float> pad(Wr + 2 * n, 0.f);
#pragma omp for schedule(static)
    for (int r = 0; r < planes * H; ++r) {
      std::copy(data + size_t(r) * W, data + size_t(r + 1) * W, pad.begin() + n);
      correlate_row(tmp + size_t(r) * W, pad.data(), k.data(), taps, W);
    }
  }
  // Along y: rows outside the image contribute nothing (they point at a zero row). The blocked loop reads
  // up to kBlock - 1 values past a row's end: the next row's (unused), or the scratch's slack at the end.
#pragma omp parallel
  {
    std::vector<float> zero(Wr, 0.f);
    std::vector<const float*> rows(taps);
#pragma omp for schedule(static)
    for (int r = 0; r < planes * H; ++r) {
      const int c = r / H, y = r % H;
      for (int t = -n; t <= n; ++t)
        rows[t + n] = (y + t < 0 || y + t >= H) ? zero.data() : tmp + c * plane + size_t(y + t) * W;
      combine_rows(data + size_t(r) * W, rows.data(), k.data(), taps, W);
    }
  }
}

void solve_flow(float* flow, const float* eq, int H, int W, float damping) {
  const size_t plane = size_t(H) * W;
  const float *g11 = eq, *g12 = eq + plane, *g22 = eq + 2 * plane, *h1 = eq + 3 * plane, *h2 = eq + 4 * plane;
  float *fdx = flow, *fdy = flow + plane;
  const float lam = damping;
#pragma omp parallel for schedule(static)
  for (int y = 0; y < H; ++y) {
    for (int x = 0; x < W; ++x) {
      const size_t i = size_t(y) * W + x;
      const float a = g11[i] + lam, b = g12[i], d = g22[i] + lam;
      const float r1 = h1[i] + lam * fdx[i], r2 = h2[i] + lam * fdy[i];
      const float det = a * d - b * b;
      // G is positive semi-definite, so det >= lam^2 > 0 when damping > 0; with no damping a pixel with
      // no equations at all keeps its prior.
      if (det > 0.f) {
        fdx[i] = (d * r1 - b * r2) / det;
        fdy[i] = (a * r2 - b * r1) / det;
      }
    }
  }
}

}  // namespace ssmtl::flow_detail
