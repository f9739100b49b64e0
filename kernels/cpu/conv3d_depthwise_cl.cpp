// Depthwise 3-D convolution on channels-last volumes (kernels/conv3d.h, conv3d_depthwise_cl_*): the CvT's
// q/k/v projections read the LayerNorm's token rows (N, T*H*W, C) as they are, so no permute to (N, C, T, H, W)
// and back is needed. Every output row (one position, all channels) is a sum over the kernel taps of
// input rows scaled by the tap's per-channel weights: vector loops over the channels, which are contiguous.
//   forward: out row += wt[tap] * x row under the tap (weights transposed once to (taps, C) rows)
//   dx:      gathered per input row from the output rows whose window covers it (one writer per row)
//   dw:      per sample a float sum over its output rows, then the samples added in order in double
// On AVX-512 with kW == 3, stride 1 or 2 and pW <= 2 along W and C a whole number of vectors (at most 6 of them
// at stride 2), the forward runs a line of outputs at a time (conv3d_depthwise_cl_lines.cpp; threads take whole
// lines). Otherwise, when C is a whole number of vectors (<= 8; the CvT's 96 = 6 AVX-512 vectors) a row's
// accumulators stay in registers across the taps (forward, dx) and dw is summed tap by tap per sample (the
// sample's rows stay in cache); otherwise generic vector loops over the channels. With both dx and dw (the
// autograd node), whole vectors and 3x3 spatial kernels, one pass over the samples does both
// (conv3d_depthwise_cl_padded.cpp): dout is read from memory once. OpenMP threads take whole output rows
// (forward), whole input rows (dx), samples or channel blocks (dw, the fused pass): every value is summed in one
// fixed order by one thread, so results do not depend on the
// number of threads. add_dx false: the dx loops start from 0 instead of loading dx, and write every row.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "kernels/conv3d.h"
#include "kernels/cpu/aligned.h"
#include "kernels/cpu/bn_affine.h"
#include "kernels/cpu/conv_epilogue.h"
#include "kernels/cpu/conv3d_depthwise_cl_dw.h"
#include "kernels/cpu/simd.h"

namespace ssmtl::kernels {

namespace {

constexpr double kParallelMacs = 1 << 16;   // below this many multiply-adds one thread does the work
constexpr int64_t kCBlock = 48;             // channels per block of the dw pass (3 AVX-512 vectors; CvT C = 96)

bool worth_threads(const Conv3dGeometry& g) {
  return static_cast<double>(g.N) * g.Cout * g.Do * g.Ho * g.Wo * g.kD * g.kH * g.kW > kParallelMacs;
}

// wt (taps, C) = w (C, taps) transposed, so a tap's weights for all channels are one contiguous row.
avector<float> tap_rows(const float* w, int64_t C, int64_t taps) {
  avector<float> wt(static_cast<size_t>(C * taps));
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

// source() for every input index and tap of one axis, computed once per call: tab[i * k + t] (the dx loops
// would otherwise divide by the stride three times per tap and row).
std::vector<int32_t> source_table(int64_t n_in, int64_t p, int64_t k, int64_t s, int64_t n_out) {
  std::vector<int32_t> tab(static_cast<size_t>(n_in * k));
  for (int64_t i = 0; i < n_in; ++i)
    for (int64_t t = 0; t < k; ++t) tab[static_cast<size_t>(i * k + t)] = static_cast<int32_t>(source(i, p, t, s, n_out));
  return tab;
}

// The three axes' source tables of a geometry.
struct SourceTables {
  std::vector<int32_t> d, h, w;
  explicit SourceTables(const Conv3dGeometry& g)
      : d(source_table(g.D, g.pD, g.kD, g.sD, g.Do)), h(source_table(g.H, g.pH, g.kH, g.sH, g.Ho)),
        w(source_table(g.W, g.pW, g.kW, g.sW, g.Wo)) {}
};

// The outputs o in [lo, hi) along one axis whose window puts tap k inside the input: 0 <= o s - p + k < n_in.
inline void valid_outputs(int64_t n_in, int64_t p, int64_t k, int64_t s, int64_t n_out, int64_t& lo, int64_t& hi) {
  const int64_t a = p - k;   // o s >= a
  lo = a <= 0 ? 0 : (a + s - 1) / s;
  const int64_t b = n_in - 1 + p - k;   // o s <= b
  hi = b < 0 ? 0 : std::min(n_out, b / s + 1);
  if (hi < lo) hi = lo;
}

using simd::loadu;
using simd::storeu;
using simd::vec;
using simd::VL;

// Register-blocked variants for C = NV * VL channels (NV <= 8, e.g. the CvT's 96 = 6 AVX-512 vectors): a row's
// NV accumulators stay in registers across all taps; the terms are added in the order of the generic loops.
using RowBn = detail::RowBatchNorm;

template <int NV>
void forward_rows(float* out, const float* x, const float* wt, const float* bias, const Conv3dGeometry& g,
                  int64_t rows, RowBn bn) {
  constexpr int64_t C = NV * VL;
#pragma omp parallel for schedule(static) if (worth_threads(g))
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t ow = r % g.Wo, oh = (r / g.Wo) % g.Ho, od = (r / (g.Wo * g.Ho)) % g.Do, n = r / (g.Wo * g.Ho * g.Do);
    vec acc[NV];
    for (int v = 0; v < NV; ++v) acc[v] = bias ? loadu(bias + v * VL) : vec{};
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
          const float* wk = wt + ((kd * g.kH + kh) * g.kW + kw) * C;
#pragma GCC unroll 8
          for (int v = 0; v < NV; ++v) acc[v] += loadu(wk + v * VL) * loadu(xi + v * VL);
        }
      }
    }
    for (int v = 0; v < NV; ++v) storeu(out + r * C + v * VL, acc[v]);
    bn.apply(out + r * C, C);
  }
}

template <int NV>
void dx_rows(float* dx, const float* dout, const float* wt, const Conv3dGeometry& g, int64_t in_rows, bool add) {
  constexpr int64_t C = NV * VL;
  const SourceTables src(g);
#pragma omp parallel for schedule(static) if (worth_threads(g))
  for (int64_t r = 0; r < in_rows; ++r) {
    const int64_t wi = r % g.W, h = (r / g.W) % g.H, d = (r / (g.W * g.H)) % g.D, n = r / (g.W * g.H * g.D);
    vec acc[NV];
    for (int v = 0; v < NV; ++v) acc[v] = add ? loadu(dx + r * C + v * VL) : vec{};
    for (int64_t kd = 0; kd < g.kD; ++kd) {
      const int64_t od = src.d[d * g.kD + kd];
      if (od < 0) continue;
      for (int64_t kh = 0; kh < g.kH; ++kh) {
        const int64_t oh = src.h[h * g.kH + kh];
        if (oh < 0) continue;
        for (int64_t kw = 0; kw < g.kW; ++kw) {
          const int64_t ow = src.w[wi * g.kW + kw];
          if (ow < 0) continue;
          const float* go = dout + (((n * g.Do + od) * g.Ho + oh) * g.Wo + ow) * C;
          const float* wk = wt + ((kd * g.kH + kh) * g.kW + kw) * C;
#pragma GCC unroll 8
          for (int v = 0; v < NV; ++v) acc[v] += loadu(wk + v * VL) * loadu(go + v * VL);
        }
      }
    }
    for (int v = 0; v < NV; ++v) storeu(dx + r * C + v * VL, acc[v]);
  }
}

// dw and dbias for C = NV * VL: each sample's sums over its output rows are formed in NV register accumulators,
// tap by tap (the sample's dout and x rows stay in cache), into part (N, taps + 1, C); then the samples are added
// in order in double. The order of the generic dw loop: per sample a float sum over rows, then double over n.
template <int NV>
void dw_taps(float* dw, float* dbias, const float* dout, const float* x, const Conv3dGeometry& g, bool par) {
  constexpr int64_t C = NV * VL;
  const int64_t taps = g.kD * g.kH * g.kW, P = g.Do * g.Ho * g.Wo, T1 = taps + 1;
  avector<float> part(static_cast<size_t>(g.N * T1 * C), 0.f);
#pragma omp parallel for schedule(static) if (par)
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t t = 0; t <= taps; ++t) {
      const bool bias_task = t == taps;
      if (bias_task ? !dbias : !dw) continue;
      const int64_t kd = t / (g.kH * g.kW), kh = (t / g.kW) % g.kH, kw = t % g.kW;
      vec s[NV] = {};
      if (bias_task) {
        for (int64_t p = 0; p < P; ++p)
          for (int v = 0; v < NV; ++v) s[v] += loadu(dout + (n * P + p) * C + v * VL);
      } else {   // the output positions whose window holds the tap, in raster order (the generic loop's order)
        int64_t d0, d1, h0, h1, w0, w1;
        valid_outputs(g.D, g.pD, kd, g.sD, g.Do, d0, d1);
        valid_outputs(g.H, g.pH, kh, g.sH, g.Ho, h0, h1);
        valid_outputs(g.W, g.pW, kw, g.sW, g.Wo, w0, w1);
        for (int64_t od = d0; od < d1; ++od)
          for (int64_t oh = h0; oh < h1; ++oh) {
            const float* go = dout + (((n * g.Do + od) * g.Ho + oh) * g.Wo) * C;
            const int64_t xrow = ((n * g.D + od * g.sD - g.pD + kd) * g.H + oh * g.sH - g.pH + kh) * g.W - g.pW + kw;
            for (int64_t ow = w0; ow < w1; ++ow) {
              const float* gi = go + ow * C;
              const float* xi = x + (xrow + ow * g.sW) * C;
#pragma GCC unroll 8
              for (int v = 0; v < NV; ++v) s[v] += loadu(gi + v * VL) * loadu(xi + v * VL);
            }
          }
      }
      for (int v = 0; v < NV; ++v) storeu(part.data() + (n * T1 + t) * C + v * VL, s[v]);
    }
  }
  detail::add_sample_partials(dw, dbias, part.data(), g.N, taps, C, par);
}

bool blocked_dw(float* dw, float* dbias, const float* dout, const float* x, const Conv3dGeometry& g, bool par) {
  return detail::with_vectors(g.Cin, [&](auto nv) { dw_taps<decltype(nv)::value>(dw, dbias, dout, x, g, par); });
}

bool blocked_forward(float* out, const float* x, const float* wt, const float* bias, const Conv3dGeometry& g,
                     int64_t rows, RowBn bn) {
  return detail::with_vectors(g.Cin,
                              [&](auto nv) { forward_rows<decltype(nv)::value>(out, x, wt, bias, g, rows, bn); });
}

bool blocked_dx(float* dx, const float* dout, const float* wt, const Conv3dGeometry& g, int64_t in_rows, bool add) {
  return detail::with_vectors(g.Cin, [&](auto nv) { dx_rows<decltype(nv)::value>(dx, dout, wt, g, in_rows, add); });
}

// The generic dx loop (any C).
void dx_generic(float* dx, const float* dout, const float* wt_rows, const Conv3dGeometry& g, int64_t in_rows,
                bool add, bool par) {
  const int64_t C = g.Cin;
  const SourceTables src(g);
#pragma omp parallel for schedule(static) if (par)
  for (int64_t r = 0; r < in_rows; ++r) {   // r = ((n D + d) H + h) W + wi
    const int64_t wi = r % g.W, h = (r / g.W) % g.H, d = (r / (g.W * g.H)) % g.D, n = r / (g.W * g.H * g.D);
    float* di = dx + r * C;
    if (!add) std::fill(di, di + C, 0.f);   // (the row is in cache for the taps that follow)
    for (int64_t kd = 0; kd < g.kD; ++kd) {
      const int64_t od = src.d[d * g.kD + kd];
      if (od < 0) continue;
      for (int64_t kh = 0; kh < g.kH; ++kh) {
        const int64_t oh = src.h[h * g.kH + kh];
        if (oh < 0) continue;
        for (int64_t kw = 0; kw < g.kW; ++kw) {
          const int64_t ow = src.w[wi * g.kW + kw];
          if (ow < 0) continue;
          const float* go = dout + (((n * g.Do + od) * g.Ho + oh) * g.Wo + ow) * C;
          const float* wk = wt_rows + ((kd * g.kH + kh) * g.kW + kw) * C;
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) di[c] += wk[c] * go[c];
        }
      }
    }
  }
}

}  // namespace

namespace {

// The forward of both entry points: the depthwise sums of each output row, then `bn` on it.
void forward(float* out, const float* x, const float* w, const float* bias, const Conv3dGeometry& g, RowBn bn) {
  const int64_t C = g.Cin, taps = g.kD * g.kH * g.kW;
  const avector<float> wt = tap_rows(w, C, taps);
  const int64_t rows = g.N * g.Do * g.Ho * g.Wo;
  if (detail::depthwise_cl_forward_lines(out, x, wt.data(), bias, g, bn, worth_threads(g))) return;
  if (blocked_forward(out, x, wt.data(), bias, g, rows, bn)) return;
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
    bn.apply(o, C);
  }
}

}  // namespace

void conv3d_depthwise_cl_forward_cpu(float* out, const float* x, const float* w, const float* bias,
                                     const Conv3dGeometry& g) {
  forward(out, x, w, bias, g, RowBn{});
}

void conv3d_depthwise_cl_bn_forward_cpu(float* out, const float* x, const float* w, const float* bias,
                                        const BnRelu& bn, const Conv3dGeometry& g) {
  const detail::EpilogueTables tables(&bn, g.Cout);   // per-channel scale and shift (no ReLU applied here)
  const detail::Epilogue e = tables.view();
  forward(out, x, w, bias, g, RowBn{e.mu, e.s, e.b});
}

void conv3d_depthwise_cl_backward_cpu(float* dx, float* dw, float* dbias, const float* dout, const float* x,
                                      const float* w, bool add_dx, const Conv3dGeometry& g) {
  const int64_t C = g.Cin, taps = g.kD * g.kH * g.kW;
  const bool par = worth_threads(g);
  const avector<float> wt = dx ? tap_rows(w, C, taps) : avector<float>();
  if (dx && (dw || dbias) && detail::depthwise_cl_backward_padded(dx, dw, dbias, dout, x, wt.data(), g, add_dx, par))
    return;
  if (dx) {
    const int64_t in_rows = g.N * g.D * g.H * g.W;
    if (!blocked_dx(dx, dout, wt.data(), g, in_rows, add_dx)) dx_generic(dx, dout, wt.data(), g, in_rows, add_dx, par);
  }
  if (!dw && !dbias) return;
  if (detail::depthwise_cl_dw_taps(dw, dbias, dout, x, g, par)) return;   // (stride 1 along W: faster there)
  if (blocked_dw(dw, dbias, dout, x, g, par)) return;
  // dw[c, tap] += sum over samples n of (float sum over the sample's output rows of dout * x under the tap),
  // the per-sample sums added in double; dbias likewise. A block of kCBlock channels per task.
  const int64_t blocks = (C + kCBlock - 1) / kCBlock;
  const int64_t P = g.Do * g.Ho * g.Wo;
#pragma omp parallel for schedule(static) if (par && blocks > 1)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t c0 = b * kCBlock, cb = std::min(kCBlock, C - c0);
    avector<float> part(static_cast<size_t>((taps + 1) * kCBlock));   // taps rows, then the bias row
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
