// AMX weight gradient of the direct stride-1 convolution for FEW input channels (Cin < 16: the RGB input, 3 -> 16
// channels at 64 x 64). conv3d_direct_amx_wgrad.cpp puts 16 input channels in the columns of a B tile, one tap at a
// time; with 3 channels 13 of its 16 columns would be zero. Here the columns are (ci, kh, kw) and the product is
// transposed:
//   dw[co][ci][kd, kh, kw] = sum over samples and positions q of x[ci][q + (kd Hp + kh) Wq + kw] dout[co][q]
//   C[j][co] (one tile per 16 columns j = (ci kH + kh) kW + kw and 16 output channels, one set per kd)
//     += A[j][k] B[k][co]: A = 16 columns x 32 consecutive positions of x shifted by the column's (kh, kw) and kd
//        (bf16 rows copied from the sample's zero-padded bf16 volume: a shift is an offset in its flat layout),
//        B = 32 positions x 16 output channels of dout in pairs of positions (the VNNI layout, staged once per
//        sample by transposing 16 x 16 blocks of pairs).
// q runs over the zero-padded input's flat layout (od * Hp + oh) * Wq + ow; dout is zero where no output is, so
// those positions add nothing. Positions go in chunks of kChunk whose A rows (32 x 2048 bf16) stay in L2; the C
// tiles of a (kd, column block, channel block) are loaded from and stored back to the thread's float32 partial
// sums around each chunk, so each sum runs in a fixed order on one thread; the threads' partials are added in
// thread order (deterministic for a fixed thread count, as the other weight-gradient kernels).
// GCC 12 flags the self-initialised undefined vectors inside its own AVX-512 intrinsics (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/aligned.h"
#include "kernels/cpu/amx.h"
#include "kernels/cpu/bf16.h"
#include "kernels/cpu/conv3d_direct_bf16.h"
#include "kernels/cpu/thread_partials.h"

namespace ssmtl::kernels::detail {

namespace {

constexpr int T = 16;               // tile side: columns / output channels per block, pairs of positions per B tile
constexpr int64_t kChunk = 2048;    // positions per chunk (a multiple of 32): the A rows' length
constexpr int64_t kRow = kChunk + 32;   // bf16 between A rows: 4 KiB + 64 bytes, so a tile's 16 rows do not all
                                        // fall in one cache set (at 4 KiB they would)
constexpr int64_t kPairTile = 512;  // bf16 per B tile (16 pair-rows x 16 channels x 2)

struct FewPlan {
  int64_t Cin, Cout, Co16, kD, kH, kW, ncols, J16;   // ncols = Cin kH kW columns, rounded up to 16 in J16
  int64_t D, H, W, pD, pH, pW, Do, Ho, Wo, Hp, Wq;
  int64_t nq;      // positions with outputs, rounded up to 32: [0, nq)
  int64_t plane;   // bf16 per padded input channel (the volume and the slack read by the last chunk)
  std::vector<int64_t> col;   // column j -> ci plane + kh Wq + kw
  // dout of 16 positions [16 k, 16 k + 16) as masked loads of a channel's (Do, Ho, Wo) volume: segments
  // seg_begin[k] .. seg_begin[k + 1] of segs, each the lanes of one padded row (lane i reads off + i; the lanes of
  // positions without an output are not in any mask and stay zero).
  struct Seg {
    int64_t off;
    __mmask16 mask;
  };
  std::vector<Seg> segs;
  std::vector<int64_t> seg_begin;
};

// The segments of FewPlan: the padded rows that each run of 16 positions touches (several when Wq < 16).
void make_segments(FewPlan& d) {
  for (int64_t q0 = 0; q0 < d.nq; q0 += 16) {
    d.seg_begin.push_back(static_cast<int64_t>(d.segs.size()));
    for (int64_t i = 0; i < 16;) {
      const int64_t r = (q0 + i) / d.Wq, c = (q0 + i) % d.Wq, len = std::min(16 - i, d.Wq - c);
      const int64_t od = r / d.Hp, oh = r % d.Hp;
      uint32_t mask = 0;
      for (int64_t l = 0; l < len; ++l)
        if (od < d.Do && oh < d.Ho && c + l < d.Wo) mask |= 1u << (i + l);
      if (mask) d.segs.push_back({(od * d.Ho + oh) * d.Wo + c - i, static_cast<__mmask16>(mask)});
      i += len;
    }
  }
  d.seg_begin.push_back(static_cast<int64_t>(d.segs.size()));
}

FewPlan make_plan(const DirectShape& s) {
  FewPlan d;
  d.Cin = s.Cin_g, d.Cout = s.Cout_g, d.Co16 = (d.Cout + T - 1) / T * T;
  d.kD = s.k[0], d.kH = s.k[1], d.kW = s.k[2];
  d.ncols = d.Cin * d.kH * d.kW, d.J16 = (d.ncols + T - 1) / T * T;
  d.D = s.in[0], d.H = s.in[1], d.W = s.in[2], d.pD = s.pad[0], d.pH = s.pad[1], d.pW = s.pad[2];
  d.Do = s.out[0], d.Ho = s.out[1], d.Wo = s.out[2];
  d.Hp = d.H + 2 * d.pH, d.Wq = d.W + 2 * d.pW;
  d.nq = (((d.Do - 1) * d.Hp + d.Ho) * d.Wq + 31) / 32 * 32;
  const int64_t max_off = ((d.kD - 1) * d.Hp + d.kH - 1) * d.Wq + d.kW - 1;
  d.plane = std::max((d.D + 2 * d.pD) * d.Hp * d.Wq, d.nq + max_off);
  for (int64_t ci = 0; ci < d.Cin; ++ci)
    for (int64_t kh = 0; kh < d.kH; ++kh)
      for (int64_t kw = 0; kw < d.kW; ++kw) d.col.push_back(ci * d.plane + kh * d.Wq + kw);
  make_segments(d);
  return d;
}

// dout of one channel at the 16 positions of run k (zero where no output is).
SSMTL_AMX_TARGET inline __m512 load_run(const float* dc, const FewPlan& d, int64_t k) {
  __m512 v = _mm512_setzero_ps();
  // (masked-off lanes are not read; off may be negative, so the address is formed as an integer: lane 0 of a
  // segment that starts mid-run lies before the channel's first value)
  const uintptr_t base = reinterpret_cast<uintptr_t>(dc);
  for (int64_t s = d.seg_begin[k]; s < d.seg_begin[k + 1]; ++s)
    v = _mm512_mask_loadu_ps(v, d.segs[s].mask,
                             reinterpret_cast<const void*>(base + static_cast<uintptr_t>(d.segs[s].off * 4)));
  return v;
}

// Stages one sample: xp = its input as zero-padded bf16 planes (the border was zeroed once and stays so); gb =
// dout's B tiles: for each 32 positions and block of 16 channels, the 16 channels' pairs of positions (bf16 of
// 32 consecutive positions) transposed into 16 pair-rows of 16 channels.
SSMTL_AMX_TARGET void stage(uint16_t* xp, uint16_t* gb, const float* xn, const float* dn, const FewPlan& d) {
  for (int64_t ci = 0; ci < d.Cin; ++ci)
    for (int64_t z = 0; z < d.D; ++z)
      for (int64_t y = 0; y < d.H; ++y)
        bf16::convert_row(xp + ci * d.plane + ((z + d.pD) * d.Hp + y + d.pH) * d.Wq + d.pW,
                          xn + (ci * d.D + z) * d.H * d.W + y * d.W, d.W);
  const int64_t cob = d.Co16 / T, out_vol = d.Do * d.Ho * d.Wo;
  for (int64_t q = 0; q < d.nq; q += 32)
    for (int64_t b = 0; b < cob; ++b) {
      __m512i r[T];
      for (int i = 0; i < T; ++i) {
        const int64_t co = b * T + i;
        if (co >= d.Cout) {
          r[i] = _mm512_setzero_si512();
          continue;
        }
        const float* dc = dn + co * out_vol;
        r[i] = (__m512i)_mm512_cvtne2ps_pbh(load_run(dc, d, q / 16 + 1), load_run(dc, d, q / 16));
      }
      amx::transpose16(r);
      uint16_t* dst = gb + (q / 32 * cob + b) * kPairTile;
      for (int i = 0; i < T; ++i) _mm512_storeu_si512(dst + i * 2 * T, r[i]);
    }
}

// One staged sample into acc (kD x J16 x Co16): per chunk and kd, the A rows (J16 rows, kRow bf16 apart) are
// copied from xp (each column's shift is an offset), then every 2 x 2 block of C tiles sums the chunk.
void sample_sums(float* acc, uint16_t* a, const uint16_t* xp, const uint16_t* gb, const FewPlan& d) {
  const int64_t jbs = d.J16 / T, cbs = d.Co16 / T;
  for (int64_t p0 = 0; p0 < d.nq; p0 += kChunk) {
    const int64_t p1 = std::min(d.nq, p0 + kChunk);
    for (int64_t kd = 0; kd < d.kD; ++kd) {
      for (int64_t j = 0; j < d.ncols; ++j)
        std::memcpy(a + j * kRow, xp + d.col[j] + kd * d.Hp * d.Wq + p0, static_cast<size_t>(p1 - p0) * 2);
      float* acc_kd = acc + kd * d.J16 * d.Co16;   // C[j][co] of this kd, rows Co16 floats apart
      for (int64_t jb = 0; jb < jbs; jb += 2)
        for (int64_t cb = 0; cb < cbs; cb += 2) {
          // A: 16 columns x 32 positions of the chunk's rows; B: the 32 positions' tile of 16 channels.
          const amx::Operands o{a + jb * T * kRow, 32, kRow * 2, T * kRow, gb + (p0 / 32 * cbs + cb) * kPairTile,
                                cbs * kPairTile, 64, kPairTile, (p1 - p0) / 32};
          amx::block_product(jb + 1 < jbs ? 2 : 1, cb + 1 < cbs ? 2 : 1, acc_kd + jb * T * d.Co16 + cb * T, d.Co16,
                             true, o);
        }
    }
  }
}

// The thread's samples [n0, n1) into acc, on its own tiles (all 16 rows x 64 bytes).
void thread_sums(float* acc, const float* dout, const float* x, int64_t n0, int64_t n1, const FewPlan& d) {
  if (n0 >= n1) return;
  const amx::AmxTiles tiles(amx::full_tiles());
  avector<uint16_t> xp(static_cast<size_t>(d.Cin * d.plane), 0), gb(static_cast<size_t>(d.Co16 * d.nq));
  avector<uint16_t> a(static_cast<size_t>(d.J16 * kRow), 0);   // (A rows past ncols stay 0)
  const int64_t in_vol = d.D * d.H * d.W, out_vol = d.Do * d.Ho * d.Wo;
  for (int64_t n = n0; n < n1; ++n) {
    stage(xp.data(), gb.data(), x + n * d.Cin * in_vol, dout + n * d.Cout * out_vol, d);
    sample_sums(acc, a.data(), xp.data(), gb.data(), d);
  }
}

}  // namespace

bool direct_weight_grad_amx_few_applicable(const DirectShape& s) { return s.groups == 1 && s.Cin_g < T; }

void direct_weight_grad_amx_few(float* dw, const float* dout, const float* x, int64_t N, bool parallel,
                                const DirectShape& s) {
  const FewPlan d = make_plan(s);
  const int64_t asize = d.kD * d.J16 * d.Co16;
  int nt = 1;
  const avector<float> part = thread_partials(N, parallel, asize, nt, [&](float* acc, int64_t n0, int64_t n1) {
    thread_sums(acc, dout, x, n0, n1, d);
  });
  const int64_t kvol = d.kD * d.kH * d.kW;
  for (int64_t co = 0; co < d.Cout; ++co)
    for (int64_t kd = 0; kd < d.kD; ++kd)
      for (int64_t j = 0; j < d.ncols; ++j) {   // j = (ci kH + kh) kW + kw
        float sum = 0.f;
        for (int th = 0; th < nt; ++th) sum += part[th * asize + (kd * d.J16 + j) * d.Co16 + co];
        const int64_t ci = j / (d.kH * d.kW), hw = j % (d.kH * d.kW);
        dw[(co * d.Cin + ci) * kvol + kd * d.kH * d.kW + hw] += sum;
      }
}

}  // namespace ssmtl::kernels::detail
