// bf16 direct stride-1 convolution (see conv3d_direct_bf16.h; the fp32 original is conv3d_direct.cpp).
//
// Forward and input gradient: the padded sample is stored as bfloat16 with the input channels interleaved in
// pairs: element (ci, z, y, x) at ((ci/2) * cstride + (z * Hp + y) * Wq + x) * 2 + (ci & 1) (cstride >= Dp * Hp *
// Wq), an odd channel count getting a zero partner. One 512-bit load at a position then holds 16 positions x 2
// channels, the weight pair (w[co][ci][tap], w[co][ci+1][tap]) is one 32-bit broadcast, and VDPBF16PS adds both
// products to the float32 accumulator: half the reduction steps of the fp32 kernel, each twice as wide.
// Narrow rows or an odd channel count: the shifted layout (Plan), whose staged channels are (ci, kw).
// Weight gradient: see its section below (pairs of adjacent positions instead of channels).
//
// Functions with AVX-512 intrinsics carry their own target attribute (the build need not target AVX-512; the
// caller checks the CPU at run time) and are never bodies of OpenMP loops (clang refuses intrinsics there).
#include "kernels/cpu/conv3d_direct_bf16.h"
#include "kernels/cpu/aligned.h"

#include "kernels/cpu/bf16.h"
#include "kernels/precision.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#define SSMTL_BF16_TARGET __attribute__((target("avx512f,avx512bf16")))

namespace ssmtl::kernels::detail {

// dst[x] = (bf16(a[x]), bf16(b[x])) for x < W; b == nullptr: a zero partner channel.
SSMTL_BF16_TARGET void bf16_pair_row(uint32_t* dst, const float* a, const float* b, int64_t W) {
  for (int64_t x = 0; x < W; x += 16) {
    const __mmask16 m = W - x >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (W - x)) - 1);
    const __m512 va = _mm512_maskz_loadu_ps(m, a + x);
    const __m512 vb = b ? _mm512_maskz_loadu_ps(m, b + x) : _mm512_setzero_ps();
    _mm512_mask_storeu_epi32(dst + x, m, bf16::pairs(va, vb));
  }
}

void pad_pair_planes(uint32_t* xp, const float* xn, const PairPlanes& p) {
  const int64_t vol = p.D * p.H * p.W;
  for (int64_t pr = 0; pr < p.Cp; ++pr) {
    const bool partner = 2 * pr + 1 < p.Cin;
    for (int64_t z = 0; z < p.D; ++z)
      for (int64_t y = 0; y < p.H; ++y) {
        const float* a = xn + 2 * pr * vol + (z * p.H + y) * p.W;
        bf16_pair_row(xp + pr * p.cstride + ((z + p.pD) * p.Hp + y + p.pH) * p.Wq + p.pW, a, partner ? a + vol : nullptr,
                      p.W);
      }
  }
}

namespace {

constexpr int L = 16;   // float32 lanes of a 512-bit vector: positions per vector
constexpr int CB = 8;   // output channels per register block
constexpr int NV = 3;   // position vectors per register block: 24 accumulators of the 32 registers

// float32 -> bfloat16 bits as VCVTNEPS2BF16 rounds (kernels/cpu/bf16.h), so scalar and vector conversions agree.
uint32_t bf16_bits(float f) { return bf16::from_float(f); }

struct Plan {
  // Cp = pairs of staged channels per group, kvol = taps per pair, taps = Cp * kvol (the reduction steps)
  int64_t Cin_g, Cp, Cout_g, groups, kvol, taps;
  int64_t D, H, W, pD, pH, pW, kH, kW;
  int64_t Do, Ho, Wo;
  int64_t Dp, Hp, Wq;   // padded input (pair units); by rows: rows long enough for whole output vectors
  int64_t cstride;      // pair units per channel pair (the padded volume, in flat and shifted mode with slack)
  int64_t npos, co_blocks;
  // By rows, vectors of L positions along W; flat (narrow rows, where that takes fewer vectors): vectors of L
  // consecutive indices q = (od * Hp + oh) * Wq + ow of the padded volume, which may span rows, written to a
  // scratch copy in that layout (channel stride ostride) and copied out (lanes past a row's end discarded).
  // Shifted: the staged channels are (input channel ci, kw) for kw < kW, channel (ci, kw) holding the padded input
  // shifted left by kw columns in rows of Wq = Wo, and the kernel is (kD, kH, 1) over them: the outputs of a slice
  // are then consecutive indices q = (od * Hp + oh) * Wo + ow with no padding columns between rows, tap (kd, kh)
  // reads q + (kd * Hp + kh) * Wo, and outputs are written directly (lanes past the slice's end masked). Chosen
  // where it saves products (the rule in make_plan): rows not a multiple of L (the CvT embedding's 8x8: 4 vectors
  // a slice instead of flat's 5) or an odd channel count (RGB: 5 pairs of (ci, kw) x 9 taps instead of 2 x 27).
  bool flat, shifted;
  int64_t KW;           // staged channels per input channel: kW when shifted, else 1
  int64_t ostride;
  std::vector<int64_t> off;            // (pair, tap) -> offset in the padded input of one group
  std::vector<int64_t> xbase, obase;   // position vector -> offset of its first input pair / output element
  std::vector<int> lanes;              // position vector -> valid lanes (< L at the end of a row)
  avector<uint32_t> wpack;         // [group][co block][(pair, tap)][CB] bf16 pairs, zeros beyond Cout_g
  // Shifted with Wo == W: [kw][vector j of a slice's H * W inputs] the lanes whose column + kw - pW is in the row
  avector<uint16_t> smask;

  size_t padded_size() const { return static_cast<size_t>(groups * Cp * cstride); }
};

// w[co][staged channel v][tap t of the plan] as an index of w (groups * Cout_g, Cin_g, kD, kH, kW).
int64_t weight_index(const Plan& d, int64_t gr, int64_t co, int64_t v, int64_t t) {
  const int64_t ci = v / d.KW, kw = v % d.KW, k = d.kvol * d.KW;   // k: taps of the real kernel
  const int64_t tap = d.shifted ? t * d.kW + kw : t;               // shifted: t = kd * kH + kh
  return ((gr * d.Cout_g + co) * d.Cin_g + ci) * k + tap;
}

void pack_weights(Plan& d, const float* w) {
  d.wpack.assign(static_cast<size_t>(d.groups * d.co_blocks * d.taps * CB), 0u);
  const int64_t staged = d.Cin_g * d.KW;
  for (int64_t gr = 0; gr < d.groups; ++gr)
    for (int64_t co = 0; co < d.Cout_g; ++co)
      for (int64_t pr = 0; pr < d.Cp; ++pr)
        for (int64_t t = 0; t < d.kvol; ++t) {
          const uint32_t lo = bf16_bits(w[weight_index(d, gr, co, 2 * pr, t)]);
          const uint32_t hi = 2 * pr + 1 < staged ? bf16_bits(w[weight_index(d, gr, co, 2 * pr + 1, t)]) : 0u;
          d.wpack[((gr * d.co_blocks + co / CB) * d.taps + pr * d.kvol + t) * CB + co % CB] = lo | hi << 16;
        }
}

Plan make_plan(const DirectShape& s, const float* w) {
  Plan d;
  d.Cin_g = s.Cin_g, d.Cout_g = s.Cout_g, d.groups = s.groups;
  d.D = s.in[0], d.H = s.in[1], d.W = s.in[2], d.pD = s.pad[0], d.pH = s.pad[1], d.pW = s.pad[2];
  d.kH = s.k[1], d.kW = s.k[2];
  d.Do = s.out[0], d.Ho = s.out[1], d.Wo = s.out[2];
  const int64_t vrow = (d.Wo + L - 1) / L, Wpad = d.W + 2 * d.pW, vslice = (d.Ho * Wpad + L - 1) / L;
  const int64_t vshift = (d.Ho * d.Wo + L - 1) / L;
  // Products per output slice and output channel of each layout (vectors x pairs x taps). Shifted where it takes
  // fewer than flat (ties, e.g. the decoders' 9 x 9 phase planes, stay flat: not measured) and >= 10% fewer than by
  // rows (staging kW copies costs too: rows of 31, 61 vectors instead of 62, ran 5-9% slower shifted; rows of 40,
  // 100 instead of flat's 105, 10% faster).
  const int64_t pair_taps = (d.Cin_g + 1) / 2 * s.k[0] * s.k[1] * s.k[2];
  const int64_t shift_cost = vshift * ((d.Cin_g * s.k[2] + 1) / 2) * s.k[0] * s.k[1];
  d.shifted = s.k[2] > 1 && 10 * shift_cost <= 9 * d.Ho * vrow * pair_taps && shift_cost < vslice * pair_taps;
  d.flat = !d.shifted && vslice < d.Ho * vrow;
  d.KW = d.shifted ? s.k[2] : 1;
  d.Cp = (d.Cin_g * d.KW + 1) / 2, d.kvol = s.k[0] * s.k[1] * (d.shifted ? 1 : s.k[2]), d.taps = d.Cp * d.kvol;
  d.Dp = d.D + 2 * d.pD, d.Hp = d.H + 2 * d.pH;
  d.Wq = d.shifted ? d.Wo : d.flat ? Wpad : std::max(Wpad, vrow * L + s.k[2] - 1);
  const int64_t per_slice = d.shifted ? vshift : d.flat ? vslice : d.Ho * vrow;
  for (int64_t od = 0; od < d.Do; ++od)
    for (int64_t j = 0; j < per_slice; ++j) {
      if (d.shifted) {   // the slice's outputs in order, the last vector masked at the slice's end
        d.xbase.push_back(od * d.Hp * d.Wq + j * L);
        d.obase.push_back(od * d.Ho * d.Wo + j * L);
        d.lanes.push_back(static_cast<int>(std::min<int64_t>(L, d.Ho * d.Wo - j * L)));
        continue;
      }
      const int64_t oh = d.flat ? 0 : j / vrow, x0 = d.flat ? j * L : j % vrow * L;
      d.xbase.push_back((od * d.Hp + oh) * d.Wq + x0);
      d.obase.push_back(d.flat ? d.xbase.back() : (od * d.Ho + oh) * d.Wo + x0);
      d.lanes.push_back(static_cast<int>(d.flat ? L : std::min<int64_t>(L, d.Wo - x0)));
    }
  d.npos = static_cast<int64_t>(d.xbase.size());
  d.ostride = d.flat ? d.obase.back() + L : 0;
  const int64_t kw_last = d.shifted ? 0 : s.k[2] - 1;
  const int64_t last_tap = ((s.k[0] - 1) * d.Hp + s.k[1] - 1) * d.Wq + kw_last;
  d.cstride = std::max(d.Dp * d.Hp * d.Wq, d.xbase.back() + L + last_tap);
  for (int64_t pr = 0; pr < d.Cp; ++pr)
    for (int64_t kd = 0; kd < s.k[0]; ++kd)
      for (int64_t kh = 0; kh < s.k[1]; ++kh)
        for (int64_t kw = 0; kw <= kw_last; ++kw) d.off.push_back(pr * d.cstride + (kd * d.Hp + kh) * d.Wq + kw);
  if (d.shifted && d.Wo == d.W) {
    const int64_t n = d.H * d.W, nvec = (n + L - 1) / L;
    d.smask.assign(static_cast<size_t>(d.KW * nvec), 0);
    for (int64_t kw = 0; kw < d.KW; ++kw)
      for (int64_t q = 0; q < n; ++q) {
        const int64_t x = q % d.W + kw - d.pW;
        if (x >= 0 && x < d.W) d.smask[kw * nvec + q / L] |= static_cast<uint16_t>(1u << (q % L));
      }
  }
  d.co_blocks = (d.Cout_g + CB - 1) / CB;
  pack_weights(d, w);
  return d;
}

// Shifted mode: row[ow] = input row `in` at column ow + kw - pW, 0 outside the input, for ow < Wq.
void shifted_row(float* row, const float* in, int64_t kw, const Plan& d) {
  const auto [x0, x1] = StagedColumns(d.W, kw - d.pW, d.Wq);
  std::fill(row, row + x0, 0.f);
  std::copy(in + x0 + kw - d.pW, in + x1 + kw - d.pW, row + x0);
  std::fill(row + x1, row + d.Wq, 0.f);
}

// Shifted mode with Wo == W (padding kW / 2 on each side, the usual 'same' convolution): a slice of staged channel
// (ci, kw) is the slice of ci read kw - pW elements further on, as one run of H * W, with the columns that fall
// outside the row masked off (Plan::smask). Whole vectors, not rows of 8 (the CvT embedding's rows).
SSMTL_BF16_TARGET void pad_shifted_slices(uint32_t* xp, const float* xn, const Plan& d) {
  const int64_t staged = d.Cin_g * d.KW, n = d.H * d.W, nvec = (n + L - 1) / L, vol = d.D * n;
  for (int64_t pr = 0; pr < d.Cp; ++pr) {
    const int64_t v0 = 2 * pr, v1 = 2 * pr + 1;
    const uint16_t* m0 = d.smask.data() + v0 % d.KW * nvec;
    const uint16_t* m1 = d.smask.data() + v1 % d.KW * nvec;
    for (int64_t z = 0; z < d.D; ++z) {
      // masked-off lanes are not read, so the first and last vector may start before or end after the slice
      const float* a = xn + v0 / d.KW * vol + z * n + v0 % d.KW - d.pW;
      const float* b = v1 < staged ? xn + v1 / d.KW * vol + z * n + v1 % d.KW - d.pW : nullptr;
      uint32_t* dst = xp + pr * d.cstride + ((z + d.pD) * d.Hp + d.pH) * d.Wq;
      for (int64_t j = 0; j < nvec; ++j) {
        const __m512 va = _mm512_maskz_loadu_ps(m0[j], a + j * L);
        const __m512 vb = b ? _mm512_maskz_loadu_ps(m1[j], b + j * L) : _mm512_setzero_ps();
        const __mmask16 m = n - j * L >= L ? static_cast<__mmask16>(0xffff)
                                           : static_cast<__mmask16>((1u << (n - j * L)) - 1);
        _mm512_mask_storeu_epi32(dst + j * L, m, bf16::pairs(va, vb));
      }
    }
  }
}

// Shifted mode: the staged channels (ci, kw) of xn (Cin_g, D, H, W) of one group, paired in order into xp.
void pad_shifted_pairs(uint32_t* xp, const float* xn, const Plan& d) {
  if (d.Wo == d.W) return pad_shifted_slices(xp, xn, d);
  const int64_t staged = d.Cin_g * d.KW;
  avector<float> rows(static_cast<size_t>(2 * d.Wq));
  for (int64_t pr = 0; pr < d.Cp; ++pr)
    for (int64_t z = 0; z < d.D; ++z)
      for (int64_t y = 0; y < d.H; ++y) {
        for (int e = 0; e < 2; ++e) {
          const int64_t v = 2 * pr + e;
          if (v < staged) shifted_row(rows.data() + e * d.Wq, xn + ((v / d.KW * d.D + z) * d.H + y) * d.W, v % d.KW, d);
        }
        bf16_pair_row(xp + pr * d.cstride + ((z + d.pD) * d.Hp + y + d.pH) * d.Wq, rows.data(),
                      2 * pr + 1 < staged ? rows.data() + d.Wq : nullptr, d.Wq);
      }
}

// Sample xn (groups * Cin_g, D, H, W) into the interior of xp, group by group (pad_pair_planes, or the shifted
// channels).
void pad_sample(uint32_t* xp, const float* xn, const Plan& d) {
  const PairPlanes p{d.Cin_g, d.Cp, d.D, d.H, d.W, d.pD, d.pH, d.pW, d.Hp, d.Wq, d.cstride};
  for (int64_t gr = 0; gr < d.groups; ++gr) {
    uint32_t* xg = xp + gr * d.Cp * d.cstride;
    const float* xng = xn + gr * d.Cin_g * d.D * d.H * d.W;
    if (d.shifted) pad_shifted_pairs(xg, xng, d);
    else pad_pair_planes(xg, xng, p);
  }
}

// Epilogue::apply's bits on one vector of channel c in registers, before the store (see apply_vec): fma, then
// the lanes > 0 kept and the rest +0, as relu_value (NaN and -0 give +0).
SSMTL_BF16_TARGET inline __m512 bn_relu(__m512 y, const Epilogue& ep, int c) {
  const __m512 t = _mm512_fmadd_ps(_mm512_sub_ps(y, _mm512_set1_ps(ep.mu[c])), _mm512_set1_ps(ep.s[c]),
                                   _mm512_set1_ps(ep.b[c]));
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(t, _mm512_setzero_ps(), _CMP_GT_OQ), t);
}

// out (the first C <= CB channels from oc, row stride ov) (+)= the block of V position vectors starting at p.
template <int C, int V>
SSMTL_BF16_TARGET void conv_block(float* oc, int64_t nco, int64_t ov, const float* bias, bool accumulate,
                                  const Epilogue& ep, const uint32_t* xg, const uint32_t* wp, const Plan& d,
                                  int64_t p) {
  __m512 acc[C][V];
  for (int c = 0; c < C; ++c)
    for (int v = 0; v < V; ++v) {
      acc[c][v] = _mm512_setzero_ps();
      // the next block's output lines, for writing: RGB stage 1 has only 45 reduction steps per block, too few to
      // hide its stores' misses (BM_Conv3dPrecision forward 273-286 -> 300-302 GFLOP/s; this block's own lines
      // were no help)
      if (c < nco && p + V + v < d.npos) __builtin_prefetch(oc + c * ov + d.obase[p + V + v], 1, 3);
    }
  const int64_t* xb = d.xbase.data() + p;
  for (int64_t t = 0; t < d.taps; ++t) {
    const uint32_t* xt = xg + d.off[t];
    __m512bh xv[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) xv[v] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(xt + xb[v]));
    const uint32_t* wt = wp + t * CB;
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      const __m512bh wc = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(wt[c])));
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) acc[c][v] = _mm512_dpbf16_ps(acc[c][v], wc, xv[v]);
    }
  }
#pragma GCC unroll 8
  for (int c = 0; c < C; ++c) {
    if (c >= nco) break;
    const __m512 b = _mm512_set1_ps(bias ? bias[c] : 0.f);
    for (int v = 0; v < V; ++v) {
      float* dst = oc + c * ov + d.obase[p + v];
      const int n = d.lanes[p + v];
      const __mmask16 m = n == L ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1);
      const __m512 y = _mm512_add_ps(acc[c][v], accumulate ? _mm512_maskz_loadu_ps(m, dst) : b);
      _mm512_mask_storeu_ps(dst, m, ep ? bn_relu(y, ep, c) : y);
    }
  }
}

// Flat mode: oc (nco channels, row stride ov) (+)= the outputs in the scratch layout (channel stride ostride).
void copy_out(float* oc, int64_t nco, int64_t ov, const float* bias, bool accumulate, const Epilogue& ep,
              const float* sc, const Plan& d) {
  for (int64_t c = 0; c < nco; ++c)
    for (int64_t od = 0; od < d.Do; ++od)
      for (int64_t oh = 0; oh < d.Ho; ++oh) {
        float* dst = oc + c * ov + (od * d.Ho + oh) * d.Wo;
        const float* src = sc + c * d.ostride + (od * d.Hp + oh) * d.Wq;
        const float b = bias ? bias[c] : 0.f;
        for (int64_t i = 0; i < d.Wo; ++i) dst[i] = accumulate ? dst[i] + src[i] : src[i] + b;
        if (ep) ep.apply(dst, d.Wo, c);
      }
}

// All output channels of one (group, channel block) of one sample: out_n (groups * Cout_g, Do, Ho, Wo);
// scratch (CB x ostride floats) in flat mode.
void conv_task(float* out_n, float* scratch, const uint32_t* xp, const Plan& d, const float* bias, bool accumulate,
               const Epilogue& epilogue, int64_t gr, int64_t cb) {
  const int64_t co0 = gr * d.Cout_g + cb * CB, nco = std::min<int64_t>(CB, d.Cout_g - cb * CB);
  const int64_t ov = d.Do * d.Ho * d.Wo;
  float* oc = out_n + co0 * ov;
  const float* b = bias ? bias + co0 : nullptr;
  const uint32_t* xg = xp + gr * d.Cp * d.cstride;
  const uint32_t* wp = d.wpack.data() + (gr * d.co_blocks + cb) * d.taps * CB;
  float* dst = d.flat ? scratch : oc;
  const int64_t dstride = d.flat ? d.ostride : ov;
  const float* db = d.flat ? nullptr : b;
  const bool dacc = !d.flat && accumulate;
  const Epilogue ep = epilogue.from(co0), dep = d.flat ? Epilogue{} : ep;
  int64_t p = 0;
  if (nco <= 4) {   // e.g. a decoder's 3 output channels: half the block, twice the positions (same sums)
    for (; p + 6 <= d.npos; p += 6) conv_block<4, 6>(dst, nco, dstride, db, dacc, dep, xg, wp, d, p);
    for (; p < d.npos; ++p) conv_block<4, 1>(dst, nco, dstride, db, dacc, dep, xg, wp, d, p);
  } else {
    for (; p + NV <= d.npos; p += NV) conv_block<CB, NV>(dst, nco, dstride, db, dacc, dep, xg, wp, d, p);
    for (; p < d.npos; ++p) conv_block<CB, 1>(dst, nco, dstride, db, dacc, dep, xg, wp, d, p);
  }
  if (d.flat) copy_out(oc, nco, ov, b, accumulate, ep, scratch, d);
}

}  // namespace

// Threads take (sample, group, channel block) tasks and re-pad a sample only when it changes, as in fp32.
void direct_conv_bf16(float* out, const float* x, const float* w, const float* bias, bool accumulate, int64_t N,
                      bool parallel, const DirectShape& s, const Epilogue& ep) {
  if (use_amx_products() && direct_conv_amx_applicable(s))
    return direct_conv_amx(out, x, w, bias, accumulate, N, parallel, s, ep);
  const Plan d = make_plan(s, w);
  const int64_t per_n = d.groups * d.co_blocks, in_vol = d.D * d.H * d.W, out_vol = d.Do * d.Ho * d.Wo;
  const int64_t Cin = d.groups * d.Cin_g, Cout = d.groups * d.Cout_g;
#pragma omp parallel if (parallel)
  {
    avector<uint32_t> xp(d.padded_size(), 0u);
    avector<float> scratch(d.flat ? static_cast<size_t>(CB * d.ostride) : 0);
    int64_t padded = -1;
#pragma omp for schedule(static)
    for (int64_t t = 0; t < N * per_n; ++t) {
      const int64_t n = t / per_n;
      if (n != padded) pad_sample(xp.data(), x + n * Cin * in_vol, d), padded = n;
      conv_task(out + n * Cout * out_vol, scratch.data(), xp.data(), d, bias, accumulate, ep,
                (t % per_n) / d.co_blocks, t % d.co_blocks);
    }
  }
}

// ---- weight gradient ----------------------------------------------------------------------------------------
// Positions are q = (od * Hp + oh) * Wq + ow with Wq = Wo: the output rows without gaps. The input is staged as
// kW copies, copy kw shifted left by kw columns (copy_kw[z][y][ow] = padded input [z][y][ow + kw]), each in the
// same (Dp, Hp, Wq) layout; then the input of tap (kd, kh, kw) is at q + (kd * Hp + kh) * Wq in copy kw for every
// q, and a vector of 32 consecutive q is 16 lanes of two adjacent positions. With rows of the padded width
// instead (one copy), the kW - 1 padding columns of every row were vector lanes too: 64 of 96 lanes useful at 8x8
// (the CvT embedding), 256 of 288 at 16x16. dout is stored in the same layout (zero in rows >= Ho), so the
// positions past a slice's last row add nothing.
// Small volumes are staged several samples at a time (sample b of a channel at b * cstride, the same q for dout
// and input), so that the vector sums are reduced once per ~256 position vectors, not once per sample.
namespace {

constexpr int Q = 2 * L;   // positions per bf16 vector
constexpr int WB = 4;      // output channels x
constexpr int TB = 6;      // (ci, tap) pairs per register block: 24 accumulators

struct WgradPlan {
  int64_t Cin_g, Cout_g, groups, Kg;
  int64_t D, H, W, pD, pH, pW, Do, Ho, Wo, Dp, Hp, Wq, KW;
  int64_t cstride;             // bf16 elements per sample plane (the padded volume and slack for the last vector)
  int64_t vslice, per_sample;  // position vectors per output slice od, per sample
  int64_t B;                   // samples staged together
  int64_t gstride, chstride;   // bf16 elements per channel: of dout (B * cstride), of the input (KW copies of that)
  std::vector<int64_t> off;    // (ci, kd, kh, kw) -> offset in the group's staged input from position q
  std::vector<int64_t> qpos;   // position vector -> its first q (B samples)
};

// nt: threads; the batch of N samples is staged in groups of B that still give every thread some.
WgradPlan make_wgrad_plan(const DirectShape& s, int64_t N, int nt) {
  WgradPlan d;
  d.Cin_g = s.Cin_g, d.Cout_g = s.Cout_g, d.groups = s.groups, d.Kg = s.Cin_g * s.k[0] * s.k[1] * s.k[2];
  d.D = s.in[0], d.H = s.in[1], d.W = s.in[2], d.pD = s.pad[0], d.pH = s.pad[1], d.pW = s.pad[2];
  d.Do = s.out[0], d.Ho = s.out[1], d.Wo = s.out[2];
  d.Dp = d.D + 2 * d.pD, d.Wq = d.Wo, d.KW = s.k[2];
  d.vslice = (d.Ho * d.Wq + Q - 1) / Q, d.per_sample = d.Do * d.vslice;
  // A slice's last vector may reach past its rows (narrow slices: 5 rows of 9 need 64 positions, 7 x 9 hold
  // 63); zero rows are added so that it never reads the next slice's first outputs.
  d.Hp = std::max(d.H + 2 * d.pH, (d.vslice * Q + d.Wq - 1) / d.Wq);
  const int64_t last_tap = ((s.k[0] - 1) * d.Hp + s.k[1] - 1) * d.Wq;
  d.cstride = std::max(d.Dp * d.Hp * d.Wq, (d.Do - 1) * d.Hp * d.Wq + d.vslice * Q + last_tap);
  d.B = std::max<int64_t>(1, std::min((256 + d.per_sample - 1) / d.per_sample, N / nt));
  d.gstride = d.B * d.cstride, d.chstride = d.KW * d.gstride;
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t od = 0; od < d.Do; ++od)
      for (int64_t j = 0; j < d.vslice; ++j) d.qpos.push_back(b * d.cstride + od * d.Hp * d.Wq + j * Q);
  for (int64_t ci = 0; ci < d.Cin_g; ++ci)
    for (int64_t kd = 0; kd < s.k[0]; ++kd)
      for (int64_t kh = 0; kh < s.k[1]; ++kh)
        for (int64_t kw = 0; kw < d.KW; ++kw)
          d.off.push_back(ci * d.chstride + kw * d.gstride + (kd * d.Hp + kh) * d.Wq);
  return d;
}

// Sample xn (groups * Cin_g, D, H, W) into the kW shifted copies of slot b of xp; dout gn (groups * Cout_g, Do,
// Ho, Wo) into slot b of gq. Everything else was zeroed once and stays so.
void stage_sample(uint16_t* xp, uint16_t* gq, const float* xn, const float* gn, int64_t b, const WgradPlan& d) {
  for (int64_t c = 0; c < d.groups * d.Cin_g; ++c)
    for (int64_t kw = 0; kw < d.KW; ++kw) {
      // copy column ow holds input column ow + kw - pW: the columns [x0, x1) of the copy that exist in the input
      const auto [x0, x1] = StagedColumns(d.W, kw - d.pW, d.Wq);
      if (x1 <= x0) continue;
      for (int64_t z = 0; z < d.D; ++z)
        for (int64_t y = 0; y < d.H; ++y)
          bf16::convert_row(xp + c * d.chstride + kw * d.gstride + b * d.cstride + ((z + d.pD) * d.Hp + y + d.pH) * d.Wq +
                                x0,
                            xn + ((c * d.D + z) * d.H + y) * d.W + x0 + kw - d.pW, x1 - x0);
    }
  for (int64_t c = 0; c < d.groups * d.Cout_g; ++c)
    for (int64_t z = 0; z < d.Do; ++z)   // Wq = Wo: a slice's rows are contiguous in both layouts
      bf16::convert_row(gq + c * d.gstride + b * d.cstride + z * d.Hp * d.Wq, gn + (c * d.Do + z) * d.Ho * d.Wo,
                        d.Ho * d.Wo);
}

// Lanes summed in lane order (deterministic).
SSMTL_BF16_TARGET float lane_sum(__m512 v) {
  alignas(64) float a[L];
  _mm512_store_ps(a, v);
  float s = 0.f;
  for (int i = 0; i < L; ++i) s += a[i];
  return s;
}

// dw rows (WB channels from the first, row stride Kg) += sum over the np position vectors of g[c] x shifted x,
// for T (ci, tap) pairs.
template <int T>
SSMTL_BF16_TARGET void wgrad_block(float* dwr, int64_t Kg, int64_t nco, const uint16_t* const* g, const uint16_t* xg,
                                   const int64_t* toff, const int64_t* qpos, int64_t np) {
  __m512 acc[WB][T];
  for (int c = 0; c < WB; ++c)
    for (int t = 0; t < T; ++t) acc[c][t] = _mm512_setzero_ps();
  for (int64_t p = 0; p < np; ++p) {
    const int64_t q = qpos[p];
    __m512bh gv[WB];
#pragma GCC unroll 8
    for (int c = 0; c < WB; ++c) gv[c] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(g[c] + q));
    const uint16_t* xq = xg + q;
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const __m512bh xv = reinterpret_cast<__m512bh>(_mm512_loadu_si512(xq + toff[t]));
#pragma GCC unroll 8
      for (int c = 0; c < WB; ++c) acc[c][t] = _mm512_dpbf16_ps(acc[c][t], gv[c], xv);
    }
  }
  for (int c = 0; c < WB; ++c) {
    if (c >= nco) break;
    for (int t = 0; t < T; ++t) dwr[c * Kg + t] += lane_sum(acc[c][t]);
  }
}

template <int T>
void wgrad_block_upto(int n, float* dwr, int64_t Kg, int64_t nco, const uint16_t* const* g, const uint16_t* xg,
                      const int64_t* toff, const int64_t* qpos, int64_t np) {
  if constexpr (T > 1) {
    if (n < T) return wgrad_block_upto<T - 1>(n, dwr, Kg, nco, g, xg, toff, qpos, np);
  }
  wgrad_block<T>(dwr, Kg, nco, g, xg, toff, qpos, np);
}

// dw (groups * Cout_g, Kg) += the contribution of the nb staged samples, in chunks of whole output slices (about
// 256 vectors) that stay in cache while every (channel block, tap block) passes over them.
void wgrad_staged(float* dw, const uint16_t* xp, const uint16_t* gq, int64_t nb, const WgradPlan& d) {
  const int64_t chunk = std::max<int64_t>(1, (256 + d.vslice - 1) / d.vslice) * d.vslice, npos = nb * d.per_sample;
  for (int64_t p0 = 0; p0 < npos; p0 += chunk) {
    const int64_t np = std::min(npos - p0, chunk);
    for (int64_t gr = 0; gr < d.groups; ++gr) {
      const uint16_t* xg = xp + gr * d.Cin_g * d.chstride;
      for (int64_t c0 = 0; c0 < d.Cout_g; c0 += WB) {
        const int64_t nco = std::min<int64_t>(WB, d.Cout_g - c0);
        const uint16_t* gch[WB];
        for (int c = 0; c < WB; ++c)   // past the last channel: repeat it (results discarded)
          gch[c] = gq + (gr * d.Cout_g + c0 + std::min<int64_t>(c, nco - 1)) * d.gstride;
        float* dwr = dw + (gr * d.Cout_g + c0) * d.Kg;
        for (int64_t t0 = 0; t0 < d.Kg; t0 += TB)
          wgrad_block_upto<TB>(static_cast<int>(std::min<int64_t>(TB, d.Kg - t0)), dwr + t0, d.Kg, nco, gch, xg,
                               d.off.data() + t0, d.qpos.data() + p0, np);
      }
    }
  }
}

}  // namespace

void direct_weight_grad_bf16(float* dw, const float* dout, const float* x, int64_t N, bool parallel,
                             const DirectShape& s) {
  const int nt = parallel ? omp_get_max_threads() : 1;
  const WgradPlan d = make_wgrad_plan(s, N, nt);
  const int64_t Cin = d.groups * d.Cin_g, Cout = d.groups * d.Cout_g, wsize = Cout * d.Kg;
  const int64_t in_vol = d.D * d.H * d.W, out_vol = d.Do * d.Ho * d.Wo;
  avector<float> part(static_cast<size_t>(nt * wsize), 0.f);
#pragma omp parallel num_threads(nt)
  {
    avector<uint16_t> xp(static_cast<size_t>(Cin * d.chstride), 0);
    avector<uint16_t> gq(static_cast<size_t>(Cout * d.gstride), 0);
    // Each thread takes an equal share of the samples, staged B at a time (a loop over groups of B split among
    // the threads gave one thread 2 groups of 19 samples and the other 19 + 7, at the CvT embedding's 64).
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    float* dwp = part.data() + t * wsize;
    for (int64_t n0 = N * t / T, n1 = N * (t + 1) / T; n0 < n1; n0 += d.B) {
      const int64_t nb = std::min(d.B, n1 - n0);
      for (int64_t b = 0; b < nb; ++b)
        stage_sample(xp.data(), gq.data(), x + (n0 + b) * Cin * in_vol, dout + (n0 + b) * Cout * out_vol, b, d);
      wgrad_staged(dwp, xp.data(), gq.data(), nb, d);
    }
  }
  for (int64_t i = 0; i < wsize; ++i) {
    float s = 0.f;
    for (int t = 0; t < nt; ++t) s += part[t * wsize + i];
    dw[i] += s;
  }
}

}  // namespace ssmtl::kernels::detail
