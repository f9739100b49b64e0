// One refinement of the Farnebäck flow at one pyramid level (see data/detect/flow_internal.h): displacement
// equations per pixel, summed over a Gaussian window, solved per pixel.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "data/detect/flow_internal.h"

// f8 values are passed only to inlined helpers; builds without AVX need not hear about the vector ABI.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace ssmtl::flow_detail {

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

void displacement_equations_row(float* const out[5], const float* p1, const float* p2, const float* flow, int H,
                                int W, int y) {
  const size_t plane = size_t(H) * W, row = size_t(y) * W;
  const float *fdx = flow + row, *fdy = flow + plane + row;
  const float xmax = float(W - 1), ymax = float(H - 1);
  for (int x = 0; x < W; ++x) {
    const float dx = fdx[x], dy = fdy[x];
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
    const f8 q = load8(p1 + (row + x) * kPolyStride);
    const f8 A = 0.5f * (q + s);  // lanes 0..2: mean A11, A22, A12
    const float A11 = A[0], A22 = A[1], A12 = A[2];
    const float db1 = -0.5f * (s[3] - q[3]) + A11 * dx + A12 * dy;
    const float db2 = -0.5f * (s[4] - q[4]) + A12 * dx + A22 * dy;
    out[0][x] = wgt * (A11 * A11 + A12 * A12);
    out[1][x] = wgt * (A11 * A12 + A12 * A22);
    out[2][x] = wgt * (A12 * A12 + A22 * A22);
    out[3][x] = wgt * (A11 * db1 + A12 * db2);
    out[4][x] = wgt * (A12 * db1 + A22 * db2);
  }
}

void refine_flow(float* flow, const float* p1, const float* p2, int H, int W, float window_sigma, int radius,
                 float damping, float* scratch) {
  const int n = radius, taps = 2 * n + 1;
  std::vector<float> k(taps);
  double sum = 0;
  for (int t = -n; t <= n; ++t) sum += std::exp(-0.5 * t * t / (double(window_sigma) * window_sigma));
  for (int t = -n; t <= n; ++t)
    k[t + n] = float(std::exp(-0.5 * t * t / (double(window_sigma) * window_sigma)) / sum);
  const size_t plane = size_t(H) * W;
  const int Wr = (W + kBlock - 1) / kBlock * kBlock;  // row length rounded up for the blocked loops

  // Equations of each row, summed along x (zero outside the image) into scratch (5, H, W).
#pragma omp parallel
  {
    std::vector<float> pad(5 * size_t(Wr + 2 * n), 0.f);  // 5 equation rows with n zeros on either side
    float* rows[5];
    for (int c = 0; c < 5; ++c) rows[c] = pad.data() + c * size_t(Wr + 2 * n) + n;
#pragma omp for schedule(static)
    for (int y = 0; y < H; ++y) {
      displacement_equations_row(rows, p1, p2, flow, H, W, y);
      for (int c = 0; c < 5; ++c) correlate_row(scratch + c * plane + size_t(y) * W, rows[c] - n, k.data(), taps, W);
    }
  }

  // Summed along y (rows outside the image point at a zero row), then (G + damping I) d = h + damping d~.
  // The blocked loop reads up to kBlock - 1 values past a row's end: the next row's (unused), or the
  // scratch's slack at the end.
#pragma omp parallel
  {
    std::vector<float> zero(Wr, 0.f), eq(5 * size_t(W));
    std::vector<const float*> src(taps);
#pragma omp for schedule(static)
    for (int y = 0; y < H; ++y) {
      for (int c = 0; c < 5; ++c) {
        for (int t = -n; t <= n; ++t)
          src[t + n] = (y + t < 0 || y + t >= H) ? zero.data() : scratch + c * plane + size_t(y + t) * W;
        combine_rows(eq.data() + c * size_t(W), src.data(), k.data(), taps, W);
      }
      const float *g11 = eq.data(), *g12 = g11 + W, *g22 = g12 + W, *h1 = g22 + W, *h2 = h1 + W;
      float *fdx = flow + size_t(y) * W, *fdy = flow + plane + size_t(y) * W;
      for (int x = 0; x < W; ++x) {
        const float a = g11[x] + damping, b = g12[x], d = g22[x] + damping;
        const float r1 = h1[x] + damping * fdx[x], r2 = h2[x] + damping * fdy[x];
        const float det = a * d - b * b;
        // G is positive semi-definite, so det >= damping^2 > 0 when damping > 0; with no damping a pixel
        // without equations keeps its prior.
        if (det > 0.f) {
          fdx[x] = (d * r1 - b * r2) / det;
          fdy[x] = (a * r2 - b * r1) / det;
        }
      }
    }
  }
}

}  // namespace ssmtl::flow_detail
