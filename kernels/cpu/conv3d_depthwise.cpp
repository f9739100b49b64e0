// Depthwise 3-D convolution on the CPU (groups == Cin == Cout): every channel is convolved with its own
// kD x kH x kW filter. The work per output element is tiny (27 multiply-adds for 3x3x3) and the CvT volumes are
// small (7x8x8), so per-row loops would spend their time on loop control. Instead each channel volume is
// zero-padded and flattened: with padded strides (Hp * Wp, Wp, 1) the input of output position i (a padded
// index) and kernel tap t is xp[i + off[t]], for every position at once. So
//   forward:  F[i]   = sum_t w[t] xp[i + off[t]]      (long vector loops; the output samples F at the strided
//                                                      positions, the rest of F is thrown away)
//   dw:       dw[t] += sum_i G[i] xp[i + off[t]]      (G = dout placed at those positions, zero elsewhere)
//   dx:       dxp[j] = sum_t w[t] G[j - off[t]]       (then the interior of dxp is added to dx)
// Strides only change which positions are sampled; stride 2 computes 4x the outputs it keeps, still far cheaper
// than scalar loops at these sizes.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "kernels/conv3d.h"
#include "kernels/cpu/aligned.h"
#include "kernels/cpu/simd.h"
#include "kernels/elementwise.h"

namespace ssmtl::kernels {

namespace {

using simd::hsum;
using simd::loadu;
using simd::storeu;
using simd::vec;
using simd::VL;

constexpr int kBlock = 4;   // vectors per register block in the tap loops
constexpr int kTaps = 8;    // taps per register block of the dw loop

// Below this many multiply-adds the work runs on one thread (waking a team costs more than it saves).
constexpr double kParallelMacs = 1 << 16;
bool worth_threads(const Conv3dGeometry& g) {
  return static_cast<double>(g.N) * g.Cout * g.Do * g.Ho * g.Wo * g.kD * g.kH * g.kW > kParallelMacs;
}

int64_t round_up(int64_t a, int64_t m) { return (a + m - 1) / m * m; }

// Layout of one padded, flattened channel volume and of the position range the computation covers.
struct Flat {
  int64_t Hp, Wp, vol;     // padded sizes; vol = Dp * Hp * Wp
  int64_t M;               // positions computed: up to the last sampled one, rounded up to whole vectors
  int64_t V;               // positions of the dx pass: the whole padded volume, rounded up to whole vectors
  int64_t S;               // zeros in front of G, so that G[j - off[t]] never reads before the buffer
  std::vector<int64_t> off;     // tap (kd, kh, kw) -> kd * Hp * Wp + kh * Wp + kw
  std::vector<int64_t> off_blocks;   // off padded with zeros to whole blocks of kTaps (results discarded)
  std::vector<int64_t> pos;     // output (od, oh, ow) in order -> its padded index
  size_t xp_size() const { return static_cast<size_t>(std::max(M, V) + off.back() + VL); }
  size_t g_size() const { return static_cast<size_t>(S + std::max(M, V) + VL); }

  explicit Flat(const Conv3dGeometry& g) {
    Hp = g.H + 2 * g.pH, Wp = g.W + 2 * g.pW, vol = (g.D + 2 * g.pD) * Hp * Wp;
    for (int64_t kd = 0; kd < g.kD; ++kd)
      for (int64_t kh = 0; kh < g.kH; ++kh)
        for (int64_t kw = 0; kw < g.kW; ++kw) off.push_back((kd * Hp + kh) * Wp + kw);
    for (int64_t od = 0; od < g.Do; ++od)
      for (int64_t oh = 0; oh < g.Ho; ++oh)
        for (int64_t ow = 0; ow < g.Wo; ++ow) pos.push_back((od * g.sD * Hp + oh * g.sH) * Wp + ow * g.sW);
    off_blocks = off;
    off_blocks.resize(static_cast<size_t>(round_up(static_cast<int64_t>(off.size()), kTaps)), 0);
    M = round_up(pos.back() + 1, kBlock * VL);
    V = round_up(vol, kBlock * VL);
    S = round_up(off.back(), VL);
  }
};

// Copies the channel volume xc (D, H, W) into the interior of xp; everything else in xp stays zero.
void pad_volume(float* xp, const float* xc, const Conv3dGeometry& g, const Flat& f) {
  for (int64_t d = 0; d < g.D; ++d)
    for (int64_t h = 0; h < g.H; ++h) {   // rows are short: an inline loop beats a call to memmove
      const float* src = xc + (d * g.H + h) * g.W;
      float* dst = xp + ((d + g.pD) * f.Hp + h + g.pH) * f.Wp + g.pW;
      for (int64_t i = 0; i < g.W; ++i) dst[i] = src[i];
    }
}

// lanes[k] (vector partial sums) += G[i] * xp[i + off[k]] over i in [0, n), kTaps taps k at a time in registers.
void tap_dot(vec* lanes, const float* G, const float* xp, const std::vector<int64_t>& off_blocks, int64_t n) {
  for (size_t k0 = 0; k0 < off_blocks.size(); k0 += kTaps) {
    const int64_t* o = off_blocks.data() + k0;
    vec acc[kTaps] = {};
    for (int64_t i = 0; i < n; i += VL) {
      const vec gv = loadu(G + i);
#pragma GCC unroll 8
      for (int k = 0; k < kTaps; ++k) acc[k] += gv * loadu(xp + i + o[k]);
    }
    for (int k = 0; k < kTaps; ++k) lanes[k0 + k] += acc[k];
  }
}

// out[i] = sum_t w[t] * src[i + sign * off[t]] for i in [0, n), n a multiple of kBlock * VL.
template <int Sign>
void tap_sum(float* out, const float* src, const float* w, const std::vector<int64_t>& off, int64_t n) {
  const int64_t taps = static_cast<int64_t>(off.size());
  for (int64_t i = 0; i < n; i += kBlock * VL) {
    vec acc[kBlock] = {};
    for (int64_t t = 0; t < taps; ++t) {
      const float* s = src + i + Sign * off[t];
      const float wt = w[t];
#pragma GCC unroll 4
      for (int b = 0; b < kBlock; ++b) acc[b] += wt * loadu(s + b * VL);
    }
    for (int b = 0; b < kBlock; ++b) storeu(out + i + b * VL, acc[b]);
  }
}

}  // namespace

void conv3d_depthwise_forward_cpu(float* out, const float* x, const float* w, const float* bias,
                                  const Conv3dGeometry& g) {
  const Flat f(g);
  const int64_t C = g.Cin, kvol = g.kD * g.kH * g.kW, in_vol = g.D * g.H * g.W, out_vol = g.Do * g.Ho * g.Wo;
#pragma omp parallel if (worth_threads(g))
  {
    avector<float> xp(f.xp_size(), 0.f), F(static_cast<size_t>(f.M));
#pragma omp for schedule(static)
    for (int64_t t = 0; t < g.N * C; ++t) {   // one (sample, channel) volume
      const int64_t c = t % C;
      pad_volume(xp.data(), x + t * in_vol, g, f);
      tap_sum<1>(F.data(), xp.data(), w + c * kvol, f.off, f.M);
      float* oc = out + t * out_vol;
      const float b = bias ? bias[c] : 0.f;
      for (int64_t i = 0; i < out_vol; ++i) oc[i] = F[f.pos[i]] + b;
    }
  }
}

void conv3d_depthwise_backward_cpu(float* dx, float* dw, float* dbias, const float* dout, const float* x,
                                   const float* w, const Conv3dGeometry& g) {
  if (dbias) channel_sum_backward_cpu(dbias, dout, g.N, g.Cout, g.Do * g.Ho * g.Wo);
  if (!dx && !dw) return;
  const Flat f(g);
  const int64_t C = g.Cin, kvol = g.kD * g.kH * g.kW, in_vol = g.D * g.H * g.W, out_vol = g.Do * g.Ho * g.Wo;
  // A thread owns whole channels: their dw entries and dx volumes are written by nobody else.
#pragma omp parallel if (worth_threads(g))
  {
    avector<float> xp(dw ? f.xp_size() : 0, 0.f), G(f.g_size(), 0.f), dxp(dx ? f.V : 0);
    std::vector<vec> lanes(dw ? f.off_blocks.size() : 0);
    std::vector<double> acc(dw ? static_cast<size_t>(kvol) : 0);
    float* g0 = G.data() + f.S;   // G[i] for padded index i
#pragma omp for schedule(static)
    for (int64_t c = 0; c < C; ++c) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t n = 0; n < g.N; ++n) {
        const int64_t t = n * C + c;
        const float* goc = dout + t * out_vol;
        for (int64_t i = 0; i < out_vol; ++i) g0[f.pos[i]] = goc[i];   // the other positions stay zero
        if (dw) {
          pad_volume(xp.data(), x + t * in_vol, g, f);
          std::fill(lanes.begin(), lanes.end(), vec{});
          tap_dot(lanes.data(), g0, xp.data(), f.off_blocks, f.M);
          for (int64_t k = 0; k < kvol; ++k) acc[k] += hsum(lanes[k]);
        }
        if (dx) {
          tap_sum<-1>(dxp.data(), g0, w + c * kvol, f.off, f.V);
          float* dxc = dx + t * in_vol;
          for (int64_t d = 0; d < g.D; ++d)
            for (int64_t h = 0; h < g.H; ++h) {
              const float* src = dxp.data() + ((d + g.pD) * f.Hp + h + g.pH) * f.Wp + g.pW;
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
