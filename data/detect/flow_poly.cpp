// Polynomial expansion and the Gaussian pyramid of the Farnebäck flow (see data/detect/flow_internal.h).
#include <algorithm>
#include <cmath>
#include <vector>

#include "data/detect/flow_internal.h"

// f8 values are passed only to inlined helpers; builds without AVX need not hear about the vector ABI.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace ssmtl::flow_detail {

namespace {

// Inverse of a 3x3 matrix (row-major), by cofactors; the matrix here is a small, well-conditioned Gram
// matrix.
void invert3(double inv[9], const double m[9]) {
  const double c00 = m[4] * m[8] - m[5] * m[7], c01 = m[5] * m[6] - m[3] * m[8], c02 = m[3] * m[7] - m[4] * m[6];
  const double det = m[0] * c00 + m[1] * c01 + m[2] * c02;
  inv[0] = c00 / det;
  inv[1] = (m[2] * m[7] - m[1] * m[8]) / det;
  inv[2] = (m[1] * m[5] - m[2] * m[4]) / det;
  inv[3] = c01 / det;
  inv[4] = (m[0] * m[8] - m[2] * m[6]) / det;
  inv[5] = (m[2] * m[3] - m[0] * m[5]) / det;
  inv[6] = c02 / det;
  inv[7] = (m[1] * m[6] - m[0] * m[7]) / det;
  inv[8] = (m[0] * m[4] - m[1] * m[3]) / det;
}

}  // namespace

void poly_expand(float* out, const float* img, int H, int W, float sigma, int radius, float* scratch) {
  const int n = radius, taps = 2 * n + 1;
  // 1D correlation kernels a(t), t a(t), t^2 a(t) and the moments S_k = sum t^k a(t) of the applicability.
  std::vector<float> k0(taps), k1(taps), k2(taps);
  double S0 = 0, S2 = 0, S4 = 0;
  for (int t = -n; t <= n; ++t) {
    const double a = std::exp(-0.5 * t * t / (double(sigma) * sigma));
    k0[t + n] = float(a);
    k1[t + n] = float(t * a);
    k2[t + n] = float(t * t * a);
    S0 += a;
    S2 += t * t * a;
    S4 += double(t) * t * t * t * a;
  }
  // With a separable applicability the Gram matrix of the basis {1, x, y, x^2, y^2, xy} is block diagonal:
  // x, y and xy are orthogonal to everything else, {1, x^2, y^2} form a 3x3 block.
  const double gram[9] = {S0 * S0, S0 * S2, S0 * S2, S0 * S2, S0 * S4, S2 * S2, S0 * S2, S2 * S2, S0 * S4};
  double inv[9];
  invert3(inv, gram);
  const float sx = float(1.0 / (S0 * S2)), sxy = float(0.5 / (S2 * S2));  // A12 is half the xy coefficient
  const float ixx[3] = {float(inv[3]), float(inv[4]), float(inv[5])};         // row of x^2
  const float iyy[3] = {float(inv[6]), float(inv[7]), float(inv[8])};         // row of y^2

  // Row pass: r0 = f * a, r1 = f * (t a), r2 = f * (t^2 a) along x, with replicated borders; 8 columns
  // at a time, the three sums held in registers across the taps.
  const size_t plane = size_t(H) * W;
  float* r0 = scratch;
  float* r1 = r0 + plane;
  float* r2 = r1 + plane;
  const int Wr = (W + kLanes - 1) / kLanes * kLanes;
#pragma omp parallel
  {
    std::vector<float> pad(Wr + 2 * n);
#pragma omp for schedule(static)
    for (int y = 0; y < H; ++y) {
      const float* src = img + size_t(y) * W;
      for (int i = 0; i < Wr + 2 * n; ++i) pad[i] = src[std::clamp(i - n, 0, W - 1)];
      for (int x0 = 0; x0 < W; x0 += kLanes) {
        f8 s0 = {}, s1 = {}, s2 = {};
        for (int t = 0; t < taps; ++t) {
          const f8 p = load8(pad.data() + x0 + t);
          s0 += k0[t] * p;
          s1 += k1[t] * p;
          s2 += k2[t] * p;
        }
        for (int j = 0; j < kLanes && x0 + j < W; ++j) {
          const size_t i = size_t(y) * W + x0 + j;
          r0[i] = s0[j];
          r1[i] = s1[j];
          r2[i] = s2[j];
        }
      }
    }
  }

  // Column pass: the six projections <basis, f> along y (rows replicated at the borders), then the least
  // squares solution, written interleaved per pixel. Reads up to 7 floats past a row's end (the scratch's
  // slack for the last row).
#pragma omp parallel for schedule(static)
  for (int y = 0; y < H; ++y) {
    for (int x0 = 0; x0 < W; x0 += kLanes) {
      f8 m00 = {}, m01 = {}, m02 = {}, m10 = {}, m11 = {}, m20 = {};
      for (int t = 0; t < taps; ++t) {
        const size_t i = size_t(std::clamp(y + t - n, 0, H - 1)) * W + x0;
        const f8 q0 = load8(r0 + i), q1 = load8(r1 + i), q2 = load8(r2 + i);
        m00 += k0[t] * q0;
        m01 += k1[t] * q0;
        m02 += k2[t] * q0;
        m10 += k0[t] * q1;
        m11 += k1[t] * q1;
        m20 += k0[t] * q2;
      }
      const f8 a11 = ixx[0] * m00 + ixx[1] * m20 + ixx[2] * m02;
      const f8 a22 = iyy[0] * m00 + iyy[1] * m20 + iyy[2] * m02;
      const f8 a12 = sxy * m11, b1 = sx * m10, b2 = sx * m01;
      for (int j = 0; j < kLanes && x0 + j < W; ++j) {
        float* o = out + (size_t(y) * W + x0 + j) * kPolyStride;
        o[0] = a11[j];
        o[1] = a22[j];
        o[2] = a12[j];
        o[3] = b1[j];
        o[4] = b2[j];
        o[5] = o[6] = o[7] = 0.f;
      }
    }
  }
}

void pyr_down(float* out, const float* img, int H, int W, float* scratch) {
  static const float k[5] = {1.f / 16, 4.f / 16, 6.f / 16, 4.f / 16, 1.f / 16};
  const int h = (H + 1) / 2, w = (W + 1) / 2;
  float* tmp = scratch;  // rows blurred and decimated along x
#pragma omp parallel for schedule(static)
  for (int y = 0; y < H; ++y) {
    const float* src = img + size_t(y) * W;
    for (int j = 0; j < w; ++j) {
      float s = 0.f;
      for (int t = -2; t <= 2; ++t) s += k[t + 2] * src[std::clamp(2 * j + t, 0, W - 1)];
      tmp[size_t(y) * w + j] = s;
    }
  }
#pragma omp parallel for schedule(static)
  for (int i = 0; i < h; ++i) {
    float* dst = out + size_t(i) * w;
    std::fill(dst, dst + w, 0.f);
    for (int t = -2; t <= 2; ++t) {
      const float* src = tmp + size_t(std::clamp(2 * i + t, 0, H - 1)) * w;
      for (int j = 0; j < w; ++j) dst[j] += k[t + 2] * src[j];
    }
  }
}

}  // namespace ssmtl::flow_detail
