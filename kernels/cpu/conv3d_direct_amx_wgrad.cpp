// AMX weight gradient of the direct stride-1 convolution (see conv3d_direct_bf16.h; used for one group when
// use_amx_products()). dw[co][ci][tap] = sum over samples and positions q of dout[co][q] x[ci][q + offset(tap)],
// with q the flat index of the zero-padded input volume (od * Hp + oh) * Wq + ow, so that every tap is a shift.
// One TDPBF16PS multiplies
//   A: 16 output channels x 32 consecutive positions of dout (bf16, one row per channel: gq[co][q]),
//   B: 32 positions x 16 input channels of x shifted by the tap, in pairs of positions: row k holds
//      (x[ci][s + 2k], x[ci][s + 2k + 1]) for the 16 channels. s = q + offset(tap) may be odd, so x is staged
//      twice: pairs starting at even positions (xe) and at odd ones (xo).
// into C: 16 x 16 float32 sums of one tap. dout is zero where no output is (ow >= Wo, oh >= Ho), so those
// positions add nothing. Positions are walked in chunks whose staged rows stay in L2 while every (tap, channel
// block) passes over them; the C tiles of a (tap, block) are loaded from and stored back to the thread's float32
// partial sums around each chunk, so each sum runs in a fixed order on one thread; the threads' partials are
// added in thread order (deterministic for a fixed thread count, as the other weight-gradient kernels).
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "kernels/cpu/aligned.h"
#include "kernels/cpu/amx.h"
#include "kernels/cpu/bf16.h"
#include "kernels/cpu/conv3d_direct_bf16.h"
#include "kernels/cpu/thread_partials.h"

namespace ssmtl::kernels::detail {

namespace {

constexpr int T = 16;           // tile side: channels per block, pairs of positions per B tile
constexpr int64_t kChunk = 2048;   // positions per chunk (a multiple of 32)

struct WPlan {
  int64_t Cin, Cout, Ci16, Co16, kvol;   // channels rounded up to 16 (zero rows and columns)
  int64_t D, H, W, pD, pH, pW, Do, Ho, Wo, Hp, Wq;
  int64_t nq;                  // positions with outputs, rounded up to 32: [0, nq)
  int64_t gstride;             // bf16 per dout channel row (nq)
  int64_t pairs;               // pair rows of xe and xo (Ci16 pairs of bf16 each)
  std::vector<int64_t> off;    // tap -> position offset
};

WPlan make_plan(const DirectShape& s) {
  WPlan d;
  d.Cin = s.Cin_g, d.Cout = s.Cout_g, d.Ci16 = (d.Cin + T - 1) / T * T, d.Co16 = (d.Cout + T - 1) / T * T;
  d.kvol = s.k[0] * s.k[1] * s.k[2];
  d.D = s.in[0], d.H = s.in[1], d.W = s.in[2], d.pD = s.pad[0], d.pH = s.pad[1], d.pW = s.pad[2];
  d.Do = s.out[0], d.Ho = s.out[1], d.Wo = s.out[2];
  d.Hp = d.H + 2 * d.pH, d.Wq = d.W + 2 * d.pW;
  const int64_t Dp = d.D + 2 * d.pD;
  d.nq = (((d.Do - 1) * d.Hp + d.Ho) * d.Wq + 31) / 32 * 32;
  d.gstride = d.nq;
  for (int64_t kd = 0; kd < s.k[0]; ++kd)
    for (int64_t kh = 0; kh < s.k[1]; ++kh)
      for (int64_t kw = 0; kw < s.k[2]; ++kw) d.off.push_back((kd * d.Hp + kh) * d.Wq + kw);
  // The last B tile reads pairs up to (nq - 32 + off + 1) / 2 + 15; the staged volume needs Dp * Hp * Wq.
  d.pairs = std::max((d.nq + d.off.back() + 2) / 2 + 1, (Dp * d.Hp * d.Wq + 1) / 2 + 1);
  return d;
}

// One input row (padded positions [q0, q0 + W)) of the channels [cb, cb + nc) into xe: for each pair p of
// positions (2p, 2p + 1), 16 channels x 2 bf16 (one 64-byte row of a B tile). The channels of one position are
// a gather at the channel stride; a position outside the row (the pair's partner in the border) stays zero.
SSMTL_AMX_TARGET void stage_x_row(uint16_t* xe, const float* row, int64_t plane, int nc, int64_t Ci16, int64_t q0,
                                  int64_t W) {
  const __mmask16 m = static_cast<__mmask16>((1u << nc) - 1);
  const __m512i vindex = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                            _mm512_set1_epi32(static_cast<int>(plane)));
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t p = q0 >> 1; 2 * p < q0 + W; ++p) {
    const int64_t q = 2 * p;
    const __m512 lo = q >= q0 ? _mm512_mask_i32gather_ps(zero, m, vindex, row + (q - q0), 4) : zero;
    const __m512 hi = q + 1 < q0 + W ? _mm512_mask_i32gather_ps(zero, m, vindex, row + (q + 1 - q0), 4) : zero;
    _mm512_storeu_si512(xe + p * Ci16 * 2, bf16::pairs(lo, hi));
  }
}

// xo from xe: pair p of xo is (x[2p + 1], x[2p + 2]) = the high half of xe's pair p and the low half of p + 1.
SSMTL_AMX_TARGET void odd_pairs(uint32_t* xo, const uint32_t* xe, int64_t words, int64_t Ci16) {
  for (int64_t i = 0; i + Ci16 < words; i += 16) {
    const __m512i a = _mm512_loadu_si512(xe + i), b = _mm512_loadu_si512(xe + i + Ci16);
    const __mmask16 all = 0xffff;   // (maskz forms: GCC 12 warns about the plain shifts' pass-through)
    const __m512i hi_of_a = _mm512_maskz_srli_epi32(all, a, 16), lo_of_b = _mm512_maskz_slli_epi32(all, b, 16);
    _mm512_storeu_si512(xo + i, _mm512_or_si512(hi_of_a, lo_of_b));
  }
}

// Stages one sample: gq[co][q] = bf16(dout) at the output positions; xe / xo pairs of x at the padded positions.
// Everything else was zeroed once and stays so (xo is derived from the whole of xe).
void stage(uint16_t* gq, uint16_t* xe, uint16_t* xo, const float* dn, const float* xn, const WPlan& d) {
  for (int64_t co = 0; co < d.Cout; ++co)
    for (int64_t od = 0; od < d.Do; ++od)
      for (int64_t oh = 0; oh < d.Ho; ++oh)
        bf16::convert_row(gq + co * d.gstride + (od * d.Hp + oh) * d.Wq, dn + ((co * d.Do + od) * d.Ho + oh) * d.Wo,
                          d.Wo);
  const int64_t plane = d.D * d.H * d.W;
  for (int64_t cb = 0; cb < d.Cin; cb += T)
    for (int64_t z = 0; z < d.D; ++z)
      for (int64_t y = 0; y < d.H; ++y)
        stage_x_row(xe + cb * 2, xn + cb * plane + (z * d.H + y) * d.W, plane,
                    static_cast<int>(std::min<int64_t>(T, d.Cin - cb)), d.Ci16,
                    ((z + d.pD) * d.Hp + y + d.pH) * d.Wq + d.pW, d.W);
  odd_pairs(reinterpret_cast<uint32_t*>(xo), reinterpret_cast<const uint32_t*>(xe), d.pairs * d.Ci16, d.Ci16);
}

// The sums of one tap and channel block (MC x NC blocks of 16: output channels co0.., input channels ci0..) over
// the positions [p0, p1), added to acc (Co16 x Ci16 floats of this tap, row stride Ci16).
template <int MC, int NC>
SSMTL_AMX_TARGET void tap_block(float* acc, int64_t ldacc, const uint16_t* gq, const uint16_t* xe,
                                const uint16_t* xo, const WPlan& d, int64_t off, int64_t p0, int64_t p1) {
  const int64_t cs = ldacc * 4;
  _tile_loadd(0, acc, cs);
  if constexpr (NC == 2) _tile_loadd(1, acc + T, cs);
  if constexpr (MC == 2) _tile_loadd(2, acc + T * ldacc, cs);
  if constexpr (MC == 2 && NC == 2) _tile_loadd(3, acc + T * ldacc + T, cs);
  const int64_t as = d.gstride * 2, bs = d.Ci16 * 4;
  for (int64_t q = p0; q < p1; q += 32) {
    const int64_t sft = q + off;
    const uint16_t* b = ((sft & 1) ? xo + ((sft - 1) >> 1) * d.Ci16 * 2 : xe + (sft >> 1) * d.Ci16 * 2);
    _tile_loadd(4, gq + q, as);
    if constexpr (MC == 2) _tile_loadd(5, gq + T * d.gstride + q, as);
    _tile_loadd(6, b, bs);
    if constexpr (NC == 2) _tile_loadd(7, b + 2 * T, bs);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (NC == 2) _tile_dpbf16ps(1, 4, 7);
    if constexpr (MC == 2) _tile_dpbf16ps(2, 5, 6);
    if constexpr (MC == 2 && NC == 2) _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, acc, cs);
  if constexpr (NC == 2) _tile_stored(1, acc + T, cs);
  if constexpr (MC == 2) _tile_stored(2, acc + T * ldacc, cs);
  if constexpr (MC == 2 && NC == 2) _tile_stored(3, acc + T * ldacc + T, cs);
}

// One staged sample into acc (kvol x Co16 x Ci16): chunk by chunk, every tap and block pair.
void sample_sums(float* acc, const uint16_t* gq, const uint16_t* xe, const uint16_t* xo, const WPlan& d) {
  const int64_t cob = d.Co16 / T, cib = d.Ci16 / T, tap_size = d.Co16 * d.Ci16;
  for (int64_t p0 = 0; p0 < d.nq; p0 += kChunk) {
    const int64_t p1 = std::min(d.nq, p0 + kChunk);
    for (int64_t t = 0; t < d.kvol; ++t)
      for (int64_t mb = 0; mb < cob; mb += 2)
        for (int64_t nb = 0; nb < cib; nb += 2) {
          const bool m2 = mb + 1 < cob, n2 = nb + 1 < cib;
          float* a = acc + t * tap_size + mb * T * d.Ci16 + nb * T;
          const uint16_t* g = gq + mb * T * d.gstride;
          const uint16_t* e = xe + nb * T * 2;
          const uint16_t* o = xo + nb * T * 2;
          if (m2 && n2) tap_block<2, 2>(a, d.Ci16, g, e, o, d, d.off[t], p0, p1);
          else if (m2) tap_block<2, 1>(a, d.Ci16, g, e, o, d, d.off[t], p0, p1);
          else if (n2) tap_block<1, 2>(a, d.Ci16, g, e, o, d, d.off[t], p0, p1);
          else tap_block<1, 1>(a, d.Ci16, g, e, o, d, d.off[t], p0, p1);
        }
  }
}

// The thread's samples [n0, n1) into acc, on its own tiles (all 16 rows x 64 bytes).
void thread_sums(float* acc, const float* dout, const float* x, int64_t n0, int64_t n1, const WPlan& d) {
  if (n0 >= n1) return;
  const amx::AmxTiles tiles(amx::full_tiles());
  avector<uint16_t> gq(static_cast<size_t>(d.Co16 * d.gstride), 0);
  avector<uint16_t> xe(static_cast<size_t>(d.pairs * d.Ci16 * 2), 0), xo(xe.size(), 0);
  const int64_t in_vol = d.D * d.H * d.W, out_vol = d.Do * d.Ho * d.Wo;
  for (int64_t n = n0; n < n1; ++n) {
    stage(gq.data(), xe.data(), xo.data(), dout + n * d.Cout * out_vol, x + n * d.Cin * in_vol, d);
    sample_sums(acc, gq.data(), xe.data(), xo.data(), d);
  }
}

}  // namespace

// Few input channels leave most of the 16 B columns zero and the staging dominates: measured on the RGB input
// (3 -> 16 channels at 64 x 64, bench/bench_conv_amx.cpp) 76-116 GFLOP/s against AVX512_BF16's 134-137; those go
// to conv3d_direct_amx_wgrad_few.cpp.
bool direct_weight_grad_amx_applicable(const DirectShape& s) { return s.groups == 1 && s.Cin_g >= T; }

void direct_weight_grad_amx(float* dw, const float* dout, const float* x, int64_t N, bool parallel,
                            const DirectShape& s) {
  const WPlan d = make_plan(s);
  const int64_t asize = d.kvol * d.Co16 * d.Ci16;
  int nt = 1;
  const avector<float> part = thread_partials(N, parallel, asize, nt, [&](float* acc, int64_t n0, int64_t n1) {
    thread_sums(acc, dout, x, n0, n1, d);
  });
  for (int64_t co = 0; co < d.Cout; ++co)
    for (int64_t ci = 0; ci < d.Cin; ++ci)
      for (int64_t t = 0; t < d.kvol; ++t) {
        float sum = 0.f;
        for (int th = 0; th < nt; ++th) sum += part[th * asize + (t * d.Co16 + co) * d.Ci16 + ci];
        dw[(co * d.Cin + ci) * d.kvol + t] += sum;
      }
}

}  // namespace ssmtl::kernels::detail
