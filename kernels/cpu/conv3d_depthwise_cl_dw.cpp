// The channels-last depthwise conv3d's weight gradient with all taps in registers
// (kernels/cpu/conv3d_depthwise_cl_dw.h): per sample and channel vector, the 27 (or 9) tap sums and the bias sum
// stay in registers while the sample's output rows stream past once, so each loaded dout vector serves every
// tap. For whole vectors (C = 16..128 on AVX-512) conv3d_depthwise_cl_padded.cpp does it on a zero-padded copy
// of the sample (any stride); here out-of-range taps are skipped by branches that repeat row after row
// (predicted), stride 1 along W only, with masked loads and stores for the last vector of a partial channel count.
#include "kernels/cpu/conv3d_depthwise_cl_dw.h"
#include "kernels/cpu/aligned.h"

#include <type_traits>
#include <vector>

#include "kernels/cpu/simd.h"

namespace ssmtl::kernels::detail {

namespace {

using simd::load_masked;
using simd::mask_t;
using simd::store_masked;
using simd::vec;
using simd::VL;

// Whole vectors (FULL) load plainly: a masked load costs an extra micro-op on the multiply-add ports.
template <bool FULL>
inline vec load(const float* p, mask_t lane) {
  return FULL ? simd::loadu(p) : load_masked(p, lane);
}

// part (TAPS + 1, C) of sample n, the lanes of `lane` from channel c0: the taps' sums of dout * x and the sum
// of dout over the sample's output rows in ascending order.
template <int KD, bool FULL>
void dw_block(float* part, const float* dout, const float* x, const Conv3dGeometry& g, int64_t n, int64_t c0,
              mask_t lane, bool want_dw) {
  constexpr int TAPS = KD * 9;
  const int64_t C = g.Cin;
  vec s[TAPS], sb{};
#pragma GCC unroll 27
  for (int t = 0; t < TAPS; ++t) s[t] = vec{};
  for (int64_t od = 0; od < g.Do; ++od)
    for (int64_t oh = 0; oh < g.Ho; ++oh)
      for (int64_t ow = 0; ow < g.Wo; ++ow) {
        const vec go = load<FULL>(dout + (((n * g.Do + od) * g.Ho + oh) * g.Wo + ow) * C + c0, lane);
        sb += go;
        if (!want_dw) continue;
        const int64_t ww0 = ow * g.sW - g.pW;
#pragma GCC unroll 3
        for (int kd = 0; kd < KD; ++kd) {
          const int64_t d = od * g.sD - g.pD + kd;
          if (d < 0 || d >= g.D) continue;
#pragma GCC unroll 3
          for (int kh = 0; kh < 3; ++kh) {
            const int64_t h = oh * g.sH - g.pH + kh;
            if (h < 0 || h >= g.H) continue;
            const float* xr = x + ((n * g.D + d) * g.H + h) * g.W * C + c0;
#pragma GCC unroll 3
            for (int kw = 0; kw < 3; ++kw) {
              const int64_t ww = ww0 + kw;
              if (ww < 0 || ww >= g.W) continue;
              s[(kd * 3 + kh) * 3 + kw] += go * load<FULL>(xr + ww * C, lane);
            }
          }
        }
      }
#pragma GCC unroll 27
  for (int t = 0; t < TAPS; ++t) store_masked(part + t * C + c0, s[t], lane);
  store_masked(part + TAPS * C + c0, sb, lane);
}

// Calls body(FULL, c0, lane mask) for each channel vector, the last one partial when C is not a multiple of VL.
template <class Body>
void per_vector(int64_t C, Body&& body) {
  const int64_t full = C / VL * VL;
  for (int64_t c0 = 0; c0 < full; c0 += VL) body(std::true_type{}, c0, simd::kAllLanes);
  if (full < C) body(std::false_type{}, full, simd::first_lanes(static_cast<int>(C - full)));
}

template <int KD>
void dw_all(float* dw, float* dbias, const float* dout, const float* x, const Conv3dGeometry& g, bool par) {
  const int64_t C = g.Cin, taps = KD * 9, T1 = taps + 1;
  avector<float> part(static_cast<size_t>(g.N * T1 * C));
#pragma omp parallel for schedule(static) if (par)
  for (int64_t n = 0; n < g.N; ++n)
    per_vector(C, [&](auto full, int64_t c0, mask_t lane) {
      dw_block<KD, decltype(full)::value>(part.data() + n * T1 * C, dout, x, g, n, c0, lane, dw != nullptr);
    });
  add_sample_partials(dw, dbias, part.data(), g.N, taps, C, par);
}

}  // namespace

void add_sample_partials(float* dw, float* dbias, const float* part, int64_t N, int64_t taps, int64_t C,
                         bool parallel) {
  const int64_t T1 = taps + 1;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t t = 0; t <= taps; ++t) {
    const bool bias_row = t == taps;
    if (bias_row ? !dbias : !dw) continue;
    std::vector<double> acc(static_cast<size_t>(C), 0.0);
    for (int64_t n = 0; n < N; ++n) {
      const float* pt = part + (n * T1 + t) * C;
      for (int64_t c = 0; c < C; ++c) acc[c] += pt[c];
    }
    for (int64_t c = 0; c < C; ++c) {
      if (bias_row) dbias[c] += static_cast<float>(acc[c]);
      else dw[c * taps + t] += static_cast<float>(acc[c]);
    }
  }
}

bool depthwise_cl_dw_taps(float* dw, float* dbias, const float* dout, const float* x, const Conv3dGeometry& g,
                          bool parallel) {
  if (g.kW != 3 || g.kH != 3 || (g.kD != 1 && g.kD != 3)) return false;
  if (depthwise_cl_dw_padded(dw, dbias, dout, x, g, parallel)) return true;
  if (g.sW != 1) return false;
  if (g.kD == 3) dw_all<3>(dw, dbias, dout, x, g, parallel);
  else dw_all<1>(dw, dbias, dout, x, g, parallel);
  return true;
}

}  // namespace ssmtl::kernels::detail
