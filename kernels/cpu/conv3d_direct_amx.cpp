// AMX variant of the bf16 direct stride-1 convolution (see conv3d_direct_bf16.h): the forward pass and the input
// gradient when use_amx_products(). Same data as the AVX512_BF16 kernel: the padded sample in bf16 with the
// input channels interleaved in pairs, element (ci, q) of the flat padded volume at ((ci / 2) * cstride + q) * 2 +
// (ci & 1). One TDPBF16PS multiplies
//   A: 16 output channels x 32 input channels of one tap (the packed weights, 16 rows x 64 bytes)
//   B: 16 channel pairs x 16 consecutive positions q + offset(tap) (16 rows of 64 bytes, one per pair plane:
//      a constant row stride of cstride pairs, so the padded sample is read in place, no column matrix)
// into C: 16 output channels x 16 positions in float32, summed over taps and channel chunks. Each C element is
// summed in a fixed order by one thread (deterministic, independent of the thread count). Positions are the
// flat padded indices q = (od * Hp + oh) * Wq + ow. On the 2 x 2 kernel, where Wo is a multiple of 16 (the
// paper-size backbone's 64, 32 and 16), each B tile is 16 outputs of one row ("row tiles"): only outputs are
// computed, and each row of C goes to the output as one vector. Otherwise a tile is 16 consecutive q that may span rows; the lanes of
// positions outside the output (ow >= Wo, oh >= Ho) are computed and dropped when C is copied out by runs.
// Both give each output the same sum in the same order (taps, then channel chunks), so the same bits.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "kernels/cpu/aligned.h"
#include "kernels/cpu/amx.h"
#include "kernels/cpu/bf16.h"
#include "kernels/cpu/conv3d_direct_bf16.h"

namespace ssmtl::kernels::detail {

namespace {

constexpr int T = 16;   // tile side: output channels per A tile, positions per B tile, pairs per chunk

struct AmxPlan {
  int64_t Cin, Cp, Cout, kvol, chunks, Kc;   // Cp channel pairs, chunks of <= 16 pairs (Kc = bf16 values each)
  int64_t D, H, W, pD, pH, pW, Do, Ho, Wo, Dp, Hp, Wq;
  int64_t nq;        // positions that hold outputs: [0, ((Do - 1) * Hp + Ho) * Wq)
  int64_t cstride;   // pairs per plane: the padded volume and the slack the last tile and tap read
  int64_t co_blocks;
  std::vector<int64_t> off;        // tap -> position offset (kd * Hp + kh) * Wq + kw
  avector<uint16_t> wpack;     // [co block][tap][chunk] 16 x Kc bf16 (A tiles), zeros past Cout / Cin
  std::vector<int64_t> oidx;       // position q -> output index (od * Ho + oh) * Wo + ow, or -1
  // Row tiles (the 2 x 2 kernel), where Wo is a multiple of 16: tile i holds the 16 outputs from output index tile_o[i] (one row's
  // piece), at padded positions from tile_q[i]; no position outside the output is computed and each C row goes
  // out as one vector. Empty otherwise (flat blocks of positions, some of them padding, copied out by runs).
  std::vector<int64_t> tile_q, tile_o;
};

AmxPlan make_plan(const DirectShape& s, const float* w) {
  AmxPlan d;
  d.Cin = s.Cin_g, d.Cp = (s.Cin_g + 1) / 2, d.Cout = s.Cout_g, d.kvol = s.k[0] * s.k[1] * s.k[2];
  d.chunks = (d.Cp + T - 1) / T, d.Kc = 2 * std::min<int64_t>(d.Cp, T);
  d.D = s.in[0], d.H = s.in[1], d.W = s.in[2], d.pD = s.pad[0], d.pH = s.pad[1], d.pW = s.pad[2];
  d.Do = s.out[0], d.Ho = s.out[1], d.Wo = s.out[2];
  d.Dp = d.D + 2 * d.pD, d.Hp = d.H + 2 * d.pH, d.Wq = d.W + 2 * d.pW;
  d.nq = ((d.Do - 1) * d.Hp + d.Ho) * d.Wq;
  for (int64_t kd = 0; kd < s.k[0]; ++kd)
    for (int64_t kh = 0; kh < s.k[1]; ++kh)
      for (int64_t kw = 0; kw < s.k[2]; ++kw) d.off.push_back((kd * d.Hp + kh) * d.Wq + kw);
  const int64_t qend = (d.nq + 3 * T - 1) / (3 * T) * (3 * T) + 3 * T;   // the largest block's reach, rounded
  d.cstride = std::max(d.Dp * d.Hp * d.Wq, qend + d.off.back());
  d.co_blocks = (d.Cout + T - 1) / T;
  d.wpack.assign(static_cast<size_t>(d.co_blocks * d.kvol * d.chunks * T * d.Kc), 0);
  for (int64_t co = 0; co < d.Cout; ++co)
    for (int64_t ci = 0; ci < d.Cin; ++ci)
      for (int64_t t = 0; t < d.kvol; ++t) {
        const int64_t ch = ci / (2 * T), j = ci % (2 * T);
        d.wpack[(((co / T * d.kvol + t) * d.chunks + ch) * T + co % T) * d.Kc + j] =
            bf16::from_float(w[(co * d.Cin + ci) * d.kvol + t]);
      }
  d.oidx.assign(static_cast<size_t>(qend), -1);
  for (int64_t od = 0; od < d.Do; ++od)
    for (int64_t oh = 0; oh < d.Ho; ++oh)
      for (int64_t ow = 0; ow < d.Wo; ++ow) d.oidx[(od * d.Hp + oh) * d.Wq + ow] = (od * d.Ho + oh) * d.Wo + ow;
  if (d.Wo % T == 0 && d.co_blocks >= 2) {   // (only the 2 x 2 kernel uses them)
    d.tile_q.reserve(static_cast<size_t>(d.Do * d.Ho * d.Wo / T));
    d.tile_o.reserve(d.tile_q.capacity());
    for (int64_t od = 0; od < d.Do; ++od)
      for (int64_t oh = 0; oh < d.Ho; ++oh)
        for (int64_t ow = 0; ow < d.Wo; ow += T) {
          d.tile_q.push_back((od * d.Hp + oh) * d.Wq + ow);
          d.tile_o.push_back((od * d.Ho + oh) * d.Wo + ow);
        }
  }
  return d;
}

// All 8 tiles 16 rows: C (0-3) and A (4-5) of 64 bytes; B (6-7) of Kc / 2 pair rows. The 3 x 1 kernel uses
// 0-2 as C, 3 as A (its colsb is set like A's) and 4-6 as B.
amx::TileConfig tile_config(const AmxPlan& d, bool wide) {
  amx::TileConfig c;
  const int ka = static_cast<int>(2 * d.Kc), kb = static_cast<int>(d.Kc / 2);
  if (wide) {
    for (int t = 0; t < 4; ++t) c.set(t, T, 64);
    c.set(4, T, ka), c.set(5, T, ka), c.set(6, kb, 64), c.set(7, kb, 64);
  } else {
    for (int t = 0; t < 3; ++t) c.set(t, T, 64);
    c.set(3, T, ka);
    for (int t = 4; t < 7; ++t) c.set(t, kb, 64);
  }
  return c;
}

// out rows (nco channels from oc, row stride ov) (+)= the block's sums cb (channel rows of ldc floats, positions
// q0 + [0, nq_blk)), dropping the positions outside the output.
void copy_block(float* oc, int64_t nco, int64_t ov, const float* bias, bool accumulate, const Epilogue& ep,
                const float* cb, int ldc, int64_t q0, int nq_blk, const AmxPlan& d) {
  for (int i = 0; i < nq_blk;) {   // runs of consecutive outputs
    const int64_t o0 = d.oidx[q0 + i];
    if (o0 < 0) {
      ++i;
      continue;
    }
    int n = 1;
    while (i + n < nq_blk && d.oidx[q0 + i + n] == o0 + n) ++n;
    for (int64_t c = 0; c < nco; ++c) {
      float* dst = oc + c * ov + o0;
      const float* src = cb + c * ldc + i;
      const float b = bias ? bias[c] : 0.f;
      if (accumulate)
        for (int k = 0; k < n; ++k) dst[k] += src[k];
      else
        for (int k = 0; k < n; ++k) dst[k] = src[k] + b;
      if (ep) ep.apply(dst, n, c);
    }
    i += n;
  }
}

// out rows (nco channels from oc, row stride ov) (+)= the row tiles' sums: tile j's 16 values of channel c at
// cb + c ldc + 16 j go to output indices o[j] + [0, 16). The same expressions as copy_block (bits alike).
SSMTL_AMX_TARGET void copy_tiles(float* oc, int64_t nco, int64_t ov, const float* bias, bool accumulate,
                                 const Epilogue& ep, const float* cb, int ldc, const int64_t* o, int n) {
  for (int64_t c = 0; c < nco; ++c)   // a channel's tiles in turn: consecutive tiles are consecutive in a row
    for (int j = 0; j < n; ++j) {
      float* dst = oc + c * ov + o[j];
      const __m512 s = _mm512_loadu_ps(cb + c * ldc + T * j);
      _mm512_storeu_ps(dst, accumulate ? _mm512_add_ps(_mm512_loadu_ps(dst), s)
                                       : _mm512_add_ps(s, _mm512_set1_ps(bias ? bias[c] : 0.f)));
      if (ep) ep.apply(dst, T, c);
    }
}

// 32 output channels (A tiles 4, 5) x 32 positions (B tiles 6, 7: 16 from q0, 16 from q1; q1 = q0 + 16 in flat
// blocks, any two row tiles otherwise): C tiles 0-3 into cb (32 x 32).
SSMTL_AMX_TARGET void block_2x2(float* cb, const uint16_t* xg, const uint16_t* wp, const AmxPlan& d, int64_t q0,
                                int64_t q1) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  const int64_t bstride = d.cstride * 4, astride = d.Kc * 2, wblock = d.kvol * d.chunks * T * d.Kc;
  for (int64_t t = 0; t < d.kvol; ++t)
    for (int64_t ch = 0; ch < d.chunks; ++ch) {
      const uint16_t* a = wp + (t * d.chunks + ch) * T * d.Kc;
      const uint16_t* b = xg + (ch * T * d.cstride + d.off[t]) * 2;
      _tile_loadd(4, a, astride);
      _tile_loadd(5, a + wblock, astride);
      _tile_loadd(6, b + q0 * 2, bstride);
      _tile_loadd(7, b + q1 * 2, bstride);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
  _tile_stored(0, cb, 2 * T * 4);
  _tile_stored(1, cb + T, 2 * T * 4);
  _tile_stored(2, cb + T * 2 * T, 2 * T * 4);
  _tile_stored(3, cb + T * 2 * T + T, 2 * T * 4);
}

// 16 output channels (A tile 3) x 48 positions (B tiles 4-6) from q0: C tiles 0-2 into cb (16 x 48).
SSMTL_AMX_TARGET void block_1x3(float* cb, const uint16_t* xg, const uint16_t* wp, const AmxPlan& d, int64_t q0) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  const int64_t bstride = d.cstride * 4, astride = d.Kc * 2;
  for (int64_t t = 0; t < d.kvol; ++t)
    for (int64_t ch = 0; ch < d.chunks; ++ch) {
      const uint16_t* b = xg + (ch * T * d.cstride + d.off[t]) * 2;
      _tile_loadd(3, wp + (t * d.chunks + ch) * T * d.Kc, astride);
      _tile_loadd(4, b + q0 * 2, bstride);
      _tile_loadd(5, b + q0 * 2 + 2 * T, bstride);
      _tile_loadd(6, b + q0 * 2 + 4 * T, bstride);
      _tile_dpbf16ps(0, 3, 4);
      _tile_dpbf16ps(1, 3, 5);
      _tile_dpbf16ps(2, 3, 6);
    }
  _tile_stored(0, cb, 3 * T * 4);
  _tile_stored(1, cb + T, 3 * T * 4);
  _tile_stored(2, cb + 2 * T, 3 * T * 4);
}

// Output channels [cb0 * 16, +16 * ncb) of one sample (ncb = 2: the 2 x 2 kernel, 1: the 1 x 3 kernel) over all
// positions; the thread's tiles are configured for that kernel.
void conv_task(float* out_n, const uint16_t* xp, const AmxPlan& d, const float* bias, bool accumulate,
               const Epilogue& ep, int64_t cb0, int ncb) {
  const int64_t ov = d.Do * d.Ho * d.Wo, co0 = cb0 * T, nco = std::min<int64_t>(ncb * T, d.Cout - co0);
  const uint16_t* wp = d.wpack.data() + cb0 * d.kvol * d.chunks * T * d.Kc;
  const float* b = bias ? bias + co0 : nullptr;
  alignas(64) float cbuf[2 * T * 3 * T];
  const int step = ncb == 2 ? 2 * T : 3 * T;
  // Row tiles on the 2 x 2 kernel only: on the 1 x 3 kernel they measured slower for 16 -> 16 channels at 64 x 64
  // (25 -> 32 ms at batch 64; faster for 16 -> 3 and at 32 x 32), unexplained, so it keeps the flat blocks.
  if (!d.tile_q.empty() && ncb == 2) {   // 2 tiles a block; a last single one is computed twice, written once
    const int64_t ntiles = static_cast<int64_t>(d.tile_q.size());
    for (int64_t i0 = 0; i0 < ntiles; i0 += 2) {
      const int n = i0 + 1 < ntiles ? 2 : 1;
      block_2x2(cbuf, xp, wp, d, d.tile_q[i0], d.tile_q[i0 + n - 1]);
      copy_tiles(out_n + co0 * ov, nco, ov, b, accumulate, ep.from(co0), cbuf, step, d.tile_o.data() + i0, n);
    }
    return;
  }
  for (int64_t q0 = 0; q0 < d.nq; q0 += step) {
    if (ncb == 2)
      block_2x2(cbuf, xp, wp, d, q0, q0 + T);
    else
      block_1x3(cbuf, xp, wp, d, q0);
    copy_block(out_n + co0 * ov, nco, ov, b, accumulate, ep.from(co0), cbuf, step, q0,
               static_cast<int>(std::min<int64_t>(step, d.nq - q0)), d);
  }
}

// A padded sample (zeros), 64-byte aligned, so that its B tile rows start at the same place in their cache lines
// in every call: in a 16-byte-aligned heap block the same convolution ran up to 1.4x slower or faster depending
// on what had been allocated before (16 -> 16 channels at 64 x 64, batch 64: 25 or 34 ms).
struct AlignedPairs {
  explicit AlignedPairs(size_t n) : p(static_cast<uint32_t*>(std::aligned_alloc(64, (n * 4 + 63) / 64 * 64))) {
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, n * 4);
  }
  ~AlignedPairs() { std::free(p); }
  AlignedPairs(const AlignedPairs&) = delete;
  AlignedPairs& operator=(const AlignedPairs&) = delete;
  uint32_t* p;
};

// Sample xn (Cin, D, H, W) into the interior of xp as channel pairs (pad_pair_planes).
void pad_sample(uint32_t* xp, const float* xn, const AmxPlan& d) {
  pad_pair_planes(xp, xn, {d.Cin, d.Cp, d.D, d.H, d.W, d.pD, d.pH, d.pW, d.Hp, d.Wq, d.cstride});
}

// One task on this thread's tiles, configured for its kernel and released after (a task is a whole sample's
// positions for 16 or 32 channels: the configuration costs nothing next to it).
void run_task(const amx::TileConfig& cfg, float* out_n, const uint16_t* xp, const AmxPlan& d, const float* bias,
              bool accumulate, const Epilogue& ep, int64_t cb0, int ncb) {
  amx::AmxTiles tiles(cfg);
  conv_task(out_n, xp, d, bias, accumulate, ep, cb0, ncb);
}

}  // namespace

bool direct_conv_amx_applicable(const DirectShape& s) {
  const int64_t Cp = (s.Cin_g + 1) / 2;
  return s.groups == 1 && (Cp <= T || Cp % T == 0);
}

void direct_conv_amx(float* out, const float* x, const float* w, const float* bias, bool accumulate, int64_t N,
                     bool parallel, const DirectShape& s, const Epilogue& ep) {
  const AmxPlan d = make_plan(s, w);
  // Pairs of 16-channel blocks on the 2 x 2 kernel; an odd last block (or a single one) on the 1 x 3 kernel.
  const int64_t pairs = d.co_blocks / 2, tasks_n = pairs + d.co_blocks % 2;
  const int64_t in_vol = d.D * d.H * d.W, out_vol = d.Do * d.Ho * d.Wo;
  const amx::TileConfig wide = tile_config(d, true), narrow = tile_config(d, false);
#pragma omp parallel if (parallel)
  {
    const AlignedPairs xp(static_cast<size_t>(d.Cp * d.cstride));
    int64_t padded = -1;
#pragma omp for schedule(static)
    for (int64_t t = 0; t < N * tasks_n; ++t) {
      const int64_t n = t / tasks_n, j = t % tasks_n;
      if (n != padded) pad_sample(xp.p, x + n * d.Cin * in_vol, d), padded = n;
      const bool two = j < pairs;
      run_task(two ? wide : narrow, out + n * d.Cout * out_vol, reinterpret_cast<const uint16_t*>(xp.p), d,
               bias, accumulate, ep, two ? 2 * j : 2 * pairs, two ? 2 : 1);
    }
  }
}

}  // namespace ssmtl::kernels::detail
