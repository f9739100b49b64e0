// Depthwise 3-D convolution on channels-last volumes (kernels/conv3d.h, conv3d_depthwise_cl_*): the CvT's
// q/k/v projections read the LayerNorm's token rows (N, T*H*W, C) as they are, so no permute to (N, C, T, H, W)
// and back is needed. Every output row (one position, all channels) is a sum over the kernel taps of
// input rows scaled by the tap's per-channel weights: vector loops over the channels, which are contiguous.
//   forward: out row += wt[tap] * x row under the tap (weights transposed once to (taps, C) rows)
//   dx:      gathered per input row from the output rows whose window covers it (one writer per row)
//   dw:      per channel block, sums over samples and positions in a fixed order
// OpenMP threads take whole output rows (forward), whole input rows (dx) or channel blocks (dw): every value is
// summed in one fixed order by one thread, so results do not depend on the number of threads.
#include <algorithm>
#include <vector>

#include "kernels/conv3d.h"

namespace ssmtl::kernels {

namespace {

constexpr double kParallelMacs = 1 << 16;   // below this many multiply-adds one thread does the work
constexpr int64_t kCBlock = 48;             // channels per block of the dw pass (3 AVX-512 vectors; CvT C = 96)

bool worth_threads(const Conv3dGeometry& g) {
  return static_cast<double>(g.N) * g.Cout * g.Do * g.Ho * g.Wo * g.kD * g.kH * g.kW > kParallelMacs;
}

// wt (taps, C) = w (C, taps) transposed, so a tap's weights for all channels are one contiguous row.
std::vector<float> tap_rows(const float* w, int64_t C, int64_t taps) {
  std::vector<float> wt(static_cast<size_t>(C * taps));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t t = 0; t < taps; ++t) wt[t * C + c] = w[c * taps + t];
  return wt;
}

// The output index o on one axis whose window puts tap k on input index i, or -1 if none:
// i = o * s - p + k  ->  o = (i + p - k) / s when divisible and in [0, n_out).
inline int64_t source(int64_t i, int64_t p, int64_t k, int64_t s, int64_t n_out) {
  const int64_t t = i + p - k;
  if (t < 0 || t % s != 0) return -1;
  const int64_t o = t / s;
  return o < n_out ? o : -1;
}

}  // namespace

void conv3d_depthwise_cl_forward_cpu(float* out, const float* x, const float* w, const float* bias,
                                     const Conv3dGeometry& g) {
  const int64_t C = g.Cin, taps = g.kD * g.kH * g.kW;
  const std::vector<float> wt = tap_rows(w, C, taps);
  const int64_t rows = g.N * g.Do * g.Ho * g.Wo;
#pragma omp parallel for schedule(static) if (worth_threads(g))
  for (int64_t r = 0; r < rows; ++r) {   // r = ((n Do + od) Ho + oh) Wo + ow
    const int64_t ow = r % g.Wo, oh = (r / g.Wo) % g.Ho, od = (r / (g.Wo * g.Ho)) % g.Do, n = r / (g.Wo * g.Ho * g.Do);
    float* o = out + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) o[c] = bias ? bias[c] : 0.f;
    for (int64_t kd = 0; kd < g.kD; ++kd) {
      const int64_t d = od * g.sD - g.pD + kd;
      if (d < 0 || d >= g.D) continue;
      for (int64_t kh = 0; kh < g.kH; ++kh) {
        const int64_t h = oh * g.sH - g.pH + kh;
        if (h < 0 || h >= g.H) continue;
        for (int64_t kw = 0; kw < g.kW; ++kw) {
          const int64_t ww = ow * g.sW - g.pW + kw;
          if (ww < 0 || ww >= g.W) continue;
          const float* xi = x + (((n * g.D + d) * g.H + h) * g.W + ww) * C;
          const float* wk = wt.data() + ((kd * g.kH + kh) * g.kW + kw) * C;
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) o[c] += wk[c] * xi[c];
        }
      }
    }
  }
}

void conv3d_depthwise_cl_backward_cpu(float* dx, float* dw, float* dbias, const float* dout, const float* x,
                                      const float* w, const Conv3dGeometry& g) {
  const int64_t C = g.Cin, taps = g.kD * g.kH * g.kW, out_rows = g.N * g.Do * g.Ho * g.Wo;
  const bool par = worth_threads(g);
  if (dx) {
    const std::vector<float> wt = tap_rows(w, C, taps);
    const int64_t in_rows = g.N * g.D * g.H * g.W;
#pragma omp parallel for schedule(static) if (par)
    for (int64_t r = 0; r < in_rows; ++r) {   // r = ((n D + d) H + h) W + wi
      const int64_t wi = r % g.W, h = (r / g.W) % g.H, d = (r / (g.W * g.H)) % g.D, n = r / (g.W * g.H * g.D);
      float* di = dx + r * C;
      for (int64_t kd = 0; kd < g.kD; ++kd) {
        const int64_t od = source(d, g.pD, kd, g.sD, g.Do);
        if (od < 0) continue;
        for (int64_t kh = 0; kh < g.kH; ++kh) {
          const int64_t oh = source(h, g.pH, kh, g.sH, g.Ho);
          if (oh < 0) continue;
          for (int64_t kw = 0; kw < g.kW; ++kw) {
            const int64_t ow = source(wi, g.pW, kw, g.sW, g.Wo);
            if (ow < 0) continue;
            const float* go = dout + (((n * g.Do + od) * g.Ho + oh) * g.Wo + ow) * C;
            const float* wk = wt.data() + ((kd * g.kH + kh) * g.kW + kw) * C;
#pragma omp simd
            for (int64_t c = 0; c < C; ++c) di[c] += wk[c] * go[c];
          }
        }
      }
    }
  }
  if (!dw && !dbias) return;
  // dw[c, tap] += sum over samples n of (float sum over the sample's output rows of dout * x under the tap),
  // the per-sample sums added in double; dbias likewise. A block of kCBlock channels per task.
  const int64_t blocks = (C + kCBlock - 1) / kCBlock;
  const int64_t P = g.Do * g.Ho * g.Wo;
#pragma omp parallel for schedule(static) if (par && blocks > 1)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t c0 = b * kCBlock, cb = std::min(kCBlock, C - c0);
    std::vector<float> part(static_cast<size_t>((taps + 1) * kCBlock));   // taps rows, then the bias row
    std::vector<double> acc(static_cast<size_t>((taps + 1) * kCBlock), 0.0);
    for (int64_t n = 0; n < g.N; ++n) {
      std::fill(part.begin(), part.end(), 0.f);
      for (int64_t p = 0; p < P; ++p) {
        const int64_t ow = p % g.Wo, oh = (p / g.Wo) % g.Ho, od = p / (g.Wo * g.Ho);
        const float* go = dout + (n * P + p) * C + c0;
        float* pb = part.data() + taps * kCBlock;
#pragma omp simd
        for (int64_t c = 0; c < cb; ++c) pb[c] += go[c];
        if (!dw) continue;
        for (int64_t kd = 0; kd < g.kD; ++kd) {
          const int64_t d = od * g.sD - g.pD + kd;
          if (d < 0 || d >= g.D) continue;
          for (int64_t kh = 0; kh < g.kH; ++kh) {
            const int64_t h = oh * g.sH - g.pH + kh;
            if (h < 0 || h >= g.H) continue;
            for (int64_t kw = 0; kw < g.kW; ++kw) {
              const int64_t ww = ow * g.sW - g.pW + kw;
              if (ww < 0 || ww >= g.W) continue;
              const float* xi = x + (((n * g.D + d) * g.H + h) * g.W + ww) * C + c0;
              float* pt = part.data() + ((kd * g.kH + kh) * g.kW + kw) * kCBlock;
#pragma omp simd
              for (int64_t c = 0; c < cb; ++c) pt[c] += go[c] * xi[c];
            }
          }
        }
      }
      for (size_t i = 0; i < part.size(); ++i) acc[i] += part[i];
    }
    for (int64_t c = 0; c < cb; ++c) {
      if (dw)
        for (int64_t t = 0; t < taps; ++t) dw[(c0 + c) * taps + t] += static_cast<float>(acc[t * kCBlock + c]);
      if (dbias) dbias[c0 + c] += static_cast<float>(acc[taps * kCBlock + c]);
    }
  }
}

}  // namespace ssmtl::kernels
