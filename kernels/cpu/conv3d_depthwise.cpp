// Depthwise 3-D convolution on the CPU (groups == Cin == Cout): every channel is convolved with its own
// kD x kH x kW filter. The work per output element is tiny (27 multiply-adds for 3x3x3), so a GEMM formulation
// would spend its time building columns; direct loops over a zero-padded copy of the channel volume instead
// run without bounds checks, vectorised along the output row.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "kernels/conv3d.h"
#include "kernels/elementwise.h"

namespace ssmtl::kernels {

namespace {

// Below this many multiply-adds the work runs on one thread (waking a team costs more than it saves).
constexpr double kParallelMacs = 1 << 16;
bool worth_threads(const Conv3dGeometry& g) {
  return static_cast<double>(g.N) * g.Cout * g.Do * g.Ho * g.Wo * g.kD * g.kH * g.kW > kParallelMacs;
}

// Sizes of the zero-padded channel volume; every input index the convolution reads lies inside it.
struct Padded {
  int64_t D, H, W;
  explicit Padded(const Conv3dGeometry& g) : D(g.D + 2 * g.pD), H(g.H + 2 * g.pH), W(g.W + 2 * g.pW) {}
  size_t size() const { return static_cast<size_t>(D * H * W); }
};

// xp (padded) = x volume (D, H, W) surrounded by zeros.
void pad_volume(float* xp, const float* xc, const Conv3dGeometry& g, const Padded& pd) {
  std::fill(xp, xp + pd.size(), 0.f);
  for (int64_t d = 0; d < g.D; ++d)
    for (int64_t h = 0; h < g.H; ++h)
      std::copy(xc + (d * g.H + h) * g.W, xc + (d * g.H + h + 1) * g.W,
                xp + ((d + g.pD) * pd.H + h + g.pH) * pd.W + g.pW);
}

// o[ow] += sum_kw wk[kw] * xr[ow * sW + kw]: one kernel row applied to one output row.
inline void row_forward(float* o, const float* xr, const float* wk, int64_t kW, int64_t Wo, int64_t sW) {
  if (kW == 3 && sW == 1) {   // the common case, fused so each output is loaded and stored once
    const float w0 = wk[0], w1 = wk[1], w2 = wk[2];
    for (int64_t ow = 0; ow < Wo; ++ow) o[ow] += w0 * xr[ow] + w1 * xr[ow + 1] + w2 * xr[ow + 2];
    return;
  }
  for (int64_t kw = 0; kw < kW; ++kw) {
    const float wv = wk[kw];
    const float* s = xr + kw;
    if (sW == 1)
      for (int64_t ow = 0; ow < Wo; ++ow) o[ow] += wv * s[ow];
    else
      for (int64_t ow = 0; ow < Wo; ++ow) o[ow] += wv * s[ow * sW];
  }
}

}  // namespace

void conv3d_depthwise_forward_cpu(float* out, const float* x, const float* w, const float* bias,
                                  const Conv3dGeometry& g) {
  const Padded pd(g);
  const int64_t C = g.Cin, kvol = g.kD * g.kH * g.kW, in_vol = g.D * g.H * g.W, out_vol = g.Do * g.Ho * g.Wo;
#pragma omp parallel if (worth_threads(g))
  {
    std::vector<float> xp(pd.size());
#pragma omp for schedule(static)
    for (int64_t t = 0; t < g.N * C; ++t) {   // one (sample, channel) volume
      const int64_t c = t % C;
      pad_volume(xp.data(), x + t * in_vol, g, pd);
      const float* wc = w + c * kvol;
      float* oc = out + t * out_vol;
      const float b = bias ? bias[c] : 0.f;
      for (int64_t od = 0; od < g.Do; ++od)
        for (int64_t oh = 0; oh < g.Ho; ++oh) {
          float* orow = oc + (od * g.Ho + oh) * g.Wo;
          std::fill(orow, orow + g.Wo, b);
          for (int64_t kd = 0; kd < g.kD; ++kd)
            for (int64_t kh = 0; kh < g.kH; ++kh)
              row_forward(orow, xp.data() + ((od * g.sD + kd) * pd.H + oh * g.sH + kh) * pd.W,
                          wc + (kd * g.kH + kh) * g.kW, g.kW, g.Wo, g.sW);
        }
    }
  }
}

void conv3d_depthwise_backward_cpu(float* dx, float* dw, float* dbias, const float* dout, const float* x,
                                   const float* w, const Conv3dGeometry& g) {
  if (dbias) channel_sum_backward_cpu(dbias, dout, g.N, g.Cout, g.Do * g.Ho * g.Wo);
  if (!dx && !dw) return;
  const Padded pd(g);
  const int64_t C = g.Cin, kvol = g.kD * g.kH * g.kW, in_vol = g.D * g.H * g.W, out_vol = g.Do * g.Ho * g.Wo;
  const int64_t Wo = g.Wo, sW = g.sW;
  // A thread owns whole channels: their dw entries and dx volumes are written by nobody else.
#pragma omp parallel if (worth_threads(g))
  {
    std::vector<float> xp(dw ? pd.size() : 0), dxp(dx ? pd.size() : 0);
    // Per-lane partial sums of dw (tap, ow): plain vector adds, reduced over ow once per volume.
    std::vector<float> lanes(dw ? static_cast<size_t>(kvol * Wo) : 0);
    std::vector<double> acc(dw ? static_cast<size_t>(kvol) : 0);
#pragma omp for schedule(static)
    for (int64_t c = 0; c < C; ++c) {
      std::fill(acc.begin(), acc.end(), 0.0);
      const float* wc = w + c * kvol;
      for (int64_t n = 0; n < g.N; ++n) {
        const int64_t t = n * C + c;
        const float* goc = dout + t * out_vol;
        if (dw) {
          pad_volume(xp.data(), x + t * in_vol, g, pd);
          std::fill(lanes.begin(), lanes.end(), 0.f);
        }
        if (dx) std::fill(dxp.begin(), dxp.end(), 0.f);
        for (int64_t od = 0; od < g.Do; ++od)
          for (int64_t oh = 0; oh < g.Ho; ++oh) {
            const float* go = goc + (od * g.Ho + oh) * Wo;
            for (int64_t kd = 0; kd < g.kD; ++kd)
              for (int64_t kh = 0; kh < g.kH; ++kh) {
                const int64_t off = ((od * g.sD + kd) * pd.H + oh * g.sH + kh) * pd.W;
                const int64_t tap0 = (kd * g.kH + kh) * g.kW;
                for (int64_t kw = 0; kw < g.kW; ++kw) {
                  if (dw) {
                    float* lane = lanes.data() + (tap0 + kw) * Wo;
                    const float* s = xp.data() + off + kw;
                    for (int64_t ow = 0; ow < Wo; ++ow) lane[ow] += go[ow] * s[ow * sW];
                  }
                  if (dx) {
                    const float wv = wc[tap0 + kw];
                    float* d = dxp.data() + off + kw;
                    for (int64_t ow = 0; ow < Wo; ++ow) d[ow * sW] += wv * go[ow];
                  }
                }
              }
          }
        if (dw)
          for (int64_t k = 0; k < kvol; ++k) {
            float s = 0.f;
            for (int64_t ow = 0; ow < Wo; ++ow) s += lanes[k * Wo + ow];
            acc[k] += s;
          }
        if (dx) {
          float* dxc = dx + t * in_vol;
          for (int64_t d = 0; d < g.D; ++d)
            for (int64_t h = 0; h < g.H; ++h) {
              const float* src = dxp.data() + ((d + g.pD) * pd.H + h + g.pH) * pd.W + g.pW;
              float* dst = dxc + (d * g.H + h) * g.W;
              for (int64_t i = 0; i < g.W; ++i) dst[i] += src[i];
            }
        }
      }
      if (dw)
        for (int64_t k = 0; k < kvol; ++k) dw[c * kvol + k] += static_cast<float>(acc[k]);
    }
  }
}

}  // namespace ssmtl::kernels
