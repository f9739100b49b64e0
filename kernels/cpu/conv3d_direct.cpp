// Direct stride-1 3-D convolution on the CPU (see conv3d_direct.h for the idea). Register blocks use the
// vectors of kernels/cpu/simd.h; their sizes follow the number of vector registers of the target.
#include "kernels/cpu/conv3d_direct.h"
#include "kernels/cpu/aligned.h"
#include "kernels/cpu/conv3d_direct_bf16.h"
#include "kernels/cpu/simd.h"
#include "kernels/precision.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace ssmtl::kernels::detail {

namespace {

using simd::loadu;
using simd::storeu;
using simd::hsum;
using simd::vec;
using simd::VL;

// Register blocks: forward = CB output channels x NV position vectors, weight gradient = WB output channels x
// TB (ci, tap) pairs; 24 accumulators with 32 registers, 8-10 with 16.
constexpr int CB = simd::kRegisters >= 32 ? 8 : 4;
constexpr int NV = simd::kRegisters >= 32 ? 3 : 2;
constexpr int WB = simd::kRegisters >= 32 ? 4 : 2;
constexpr int TB = simd::kRegisters >= 32 ? 6 : 5;

// One stride-1 convolution of a padded single-sample input: the forward pass (x -> out), or the input
// gradient (dout -> dx with the kernel flipped and transposed).
// By rows: vectors of VL positions along each output row (the last one masked where VL does not divide Wo).
// Shifted, where that takes >= 10% fewer vectors (rows that are not a multiple of VL: the CvT embedding's 8x8, 4
// vectors a slice instead of 8; rows of 40, 100 instead of 120): the input is staged as the channels (ci, kw), channel (ci, kw) holding the
// padded input shifted left by kw columns in rows of Wq = Wo, and the kernel is (kD, kH, 1) over them; the
// outputs of a slice are then consecutive positions q = (od * Hp + oh) * Wo + ow with no padding between rows,
// tap (kd, kh) of staged channel v reads q + ((v * Dp + kd) * Hp + kh) * Wo, and a vector covers whole rows.
// Each output then sums its products in the order (ci, kw, kd, kh) instead of (ci, kd, kh, kw) (tap_of).
struct Direct {
  int64_t Cin_g, Cout_g, groups, kD, kH, kW, kvol;
  int64_t D, H, W, pD, pH, pW;   // unpadded input and the zeros added around it
  int64_t Do, Ho, Wo;            // output
  int64_t Dp, Hp, Wq;            // padded input; rows long enough for whole output vectors
  int64_t vrow, per_slice, npos;   // position vectors per output row (by rows), per output slice, in all
  bool shifted;
  int64_t KW;                    // staged channels per input channel: kW when shifted, else 1
  int64_t co_blocks;             // blocks of CB output channels per group
  std::vector<int64_t> off;      // reduction step t -> offset in the padded input of a group
  std::vector<int64_t> xbase, obase;   // position vector -> offset of its first input / output element
  std::vector<int> lanes;              // position vector -> valid lanes (< VL at the end of a row or slice)
  avector<float> wpack;            // [group][co block][step t][CB], zeros beyond Cout_g

  int64_t chan() const { return Dp * Hp * Wq; }
  // (shifted: the last vector of the last slice reads up to VL past its channel)
  size_t padded_size() const { return static_cast<size_t>(groups * Cin_g * KW * chan() + VL); }
};

// Reduction step t of the plan (the order of off) -> input channel ci and tap (kd, kh, kw) of the kernel.
void tap_of(const Direct& d, int64_t t, int64_t& ci, int64_t& tap) {
  if (!d.shifted) {
    ci = t / d.kvol, tap = t % d.kvol;
    return;
  }
  const int64_t v = t / (d.kD * d.kH), kdh = t % (d.kD * d.kH);   // t = (v * kD + kd) * kH + kh, v = ci * kW + kw
  ci = v / d.kW, tap = kdh * d.kW + v % d.kW;
}

// weight(grp, co, ci, tap) gives the kernel value of output channel co and input channel ci of group grp.
template <class WeightFn>
Direct make_direct(int64_t Cin_g, int64_t Cout_g, int64_t groups, const int64_t k[3], const int64_t pad[3],
                   const int64_t in[3], const int64_t out[3], WeightFn weight) {
  Direct d;
  d.Cin_g = Cin_g, d.Cout_g = Cout_g, d.groups = groups;
  d.kD = k[0], d.kH = k[1], d.kW = k[2], d.kvol = k[0] * k[1] * k[2];
  d.D = in[0], d.H = in[1], d.W = in[2], d.pD = pad[0], d.pH = pad[1], d.pW = pad[2];
  d.Do = out[0], d.Ho = out[1], d.Wo = out[2];
  d.vrow = (d.Wo + VL - 1) / VL;
  const int64_t vshift = (d.Ho * d.Wo + VL - 1) / VL;
  // >= 10% fewer vectors (staging kW copies costs too: rows of 31, 61 vectors instead of 62, ran slower shifted;
  // rows of 40, 100 instead of 120, 1.07-1.12x faster; rows of 8, 4 instead of 8, 1.9x)
  d.shifted = d.kW > 1 && 10 * vshift <= 9 * d.Ho * d.vrow;
  d.KW = d.shifted ? d.kW : 1;
  d.Dp = d.D + 2 * d.pD, d.Hp = d.H + 2 * d.pH;
  d.Wq = d.shifted ? d.Wo : std::max(d.W + 2 * d.pW, d.vrow * VL + d.kW - 1);
  d.per_slice = d.shifted ? vshift : d.Ho * d.vrow;
  d.npos = d.Do * d.per_slice;
  for (int64_t v = 0; v < Cin_g * d.KW; ++v)
    for (int64_t kd = 0; kd < d.kD; ++kd)
      for (int64_t kh = 0; kh < d.kH; ++kh)
        for (int64_t kw = 0; kw < (d.shifted ? 1 : d.kW); ++kw)
          d.off.push_back(((v * d.Dp + kd) * d.Hp + kh) * d.Wq + kw);
  for (int64_t od = 0; od < d.Do; ++od)
    for (int64_t j = 0; j < d.per_slice; ++j) {
      if (d.shifted) {   // the slice's outputs in order, the last vector masked at the slice's end
        d.xbase.push_back(od * d.Hp * d.Wq + j * VL);
        d.obase.push_back(od * d.Ho * d.Wo + j * VL);
        d.lanes.push_back(static_cast<int>(std::min<int64_t>(VL, d.Ho * d.Wo - j * VL)));
        continue;
      }
      const int64_t oh = j / d.vrow, x0 = j % d.vrow * VL;
      d.xbase.push_back((od * d.Hp + oh) * d.Wq + x0);
      d.obase.push_back((od * d.Ho + oh) * d.Wo + x0);
      d.lanes.push_back(static_cast<int>(std::min<int64_t>(VL, d.Wo - x0)));
    }
  d.co_blocks = (Cout_g + CB - 1) / CB;
  const int64_t taps = Cin_g * d.kvol;
  d.wpack.assign(static_cast<size_t>(groups * d.co_blocks * taps * CB), 0.f);
  for (int64_t gr = 0; gr < groups; ++gr)
    for (int64_t co = 0; co < Cout_g; ++co)
      for (int64_t t = 0; t < taps; ++t) {
        int64_t ci, tap;
        tap_of(d, t, ci, tap);
        d.wpack[((gr * d.co_blocks + co / CB) * taps + t) * CB + co % CB] = weight(gr, co, ci, tap);
      }
  return d;
}

// Copies sample xn (groups * Cin_g, D, H, W) into the interior of xp (shifted: into the kW shifted copies of each
// channel); the border was zeroed once and stays so.
void pad_sample(float* xp, const float* xn, const Direct& d) {
  for (int64_t c = 0; c < d.groups * d.Cin_g; ++c)
    for (int64_t kw = 0; kw < d.KW; ++kw) {
      // column x of the staged row holds input column x + kw - pW (shifted; kw = 0 and x from pW otherwise)
      const int64_t shift = d.shifted ? kw - d.pW : -d.pW;
      const auto [x0, x1] = StagedColumns(d.W, shift, d.Wq);
      if (x1 <= x0) continue;
      for (int64_t z = 0; z < d.D; ++z)
        for (int64_t y = 0; y < d.H; ++y)
          std::memcpy(xp + (c * d.KW + kw) * d.chan() + ((z + d.pD) * d.Hp + y + d.pH) * d.Wq + x0,
                      xn + ((c * d.D + z) * d.H + y) * d.W + x0 + shift, static_cast<size_t>(x1 - x0) * sizeof(float));
    }
}

// out (the first C <= CB channels from oc, row stride ov) (+)= the block of V position vectors starting at p.
template <int C, int V>
void forward_block(float* oc, int64_t nco, int64_t ov, const float* bias, bool accumulate, const Epilogue& ep,
                   const float* xg, const float* wp, const Direct& d, int64_t p) {
  vec acc[C][V];
  for (int c = 0; c < C; ++c)
    for (int v = 0; v < V; ++v) acc[c][v] = vec{};
  const int64_t* xb = d.xbase.data() + p;
  const int64_t taps = d.Cin_g * d.kvol;
  for (int64_t t = 0; t < taps; ++t) {
    const float* xt = xg + d.off[t];
    vec xv[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) xv[v] = loadu(xt + xb[v]);
    const float* wt = wp + t * CB;
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      const float wc = wt[c];
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) acc[c][v] += wc * xv[v];
    }
  }
  for (int64_t c = 0; c < nco; ++c) {
    const float b = bias ? bias[c] : 0.f;
    for (int v = 0; v < V; ++v) {
      float* dst = oc + c * ov + d.obase[p + v];
      const int n = d.lanes[p + v];
      if (n == VL) {
        const vec y = accumulate ? acc[c][v] + loadu(dst) : acc[c][v] + b;
        storeu(dst, ep ? ep.apply_vec(y, c) : y);
      } else {
        for (int i = 0; i < n; ++i) dst[i] = (accumulate ? dst[i] : b) + acc[c][v][i];
        if (ep) ep.apply(dst, n, c);
      }
    }
  }
}

// All output channels of one (group, channel block) of one sample: out_n (groups * Cout_g, Do, Ho, Wo).
void forward_task(float* out_n, const float* xp, const Direct& d, const float* bias, bool accumulate,
                  const Epilogue& epilogue, int64_t gr, int64_t cb) {
  const int64_t co0 = gr * d.Cout_g + cb * CB, nco = std::min<int64_t>(CB, d.Cout_g - cb * CB);
  const int64_t ov = d.Do * d.Ho * d.Wo;
  float* oc = out_n + co0 * ov;
  const float* b = bias ? bias + co0 : nullptr;
  const Epilogue ep = epilogue.from(co0);
  const float* xg = xp + gr * d.Cin_g * d.KW * d.chan();
  const float* wp = d.wpack.data() + (gr * d.co_blocks + cb) * d.Cin_g * d.kvol * CB;
  int64_t p = 0;
  if (CB == 8 && nco <= 4) {   // e.g. a decoder's 3 output channels: half the block, twice the positions
    for (; p + 6 <= d.npos; p += 6) forward_block<4, 6>(oc, nco, ov, b, accumulate, ep, xg, wp, d, p);
    for (; p < d.npos; ++p) forward_block<4, 1>(oc, nco, ov, b, accumulate, ep, xg, wp, d, p);
    return;
  }
  for (; p + NV <= d.npos; p += NV) forward_block<CB, NV>(oc, nco, ov, b, accumulate, ep, xg, wp, d, p);
  for (; p < d.npos; ++p) forward_block<CB, 1>(oc, nco, ov, b, accumulate, ep, xg, wp, d, p);
}

// out (N, groups * Cout_g, Do, Ho, Wo) (+)= conv(in (N, groups * Cin_g, D, H, W)); threads take
// (sample, group, channel block) tasks and re-pad a sample only when it changes.
void run_direct(float* out, const float* in, const Direct& d, const float* bias, bool accumulate, int64_t N,
                bool parallel, const Epilogue& ep = {}) {
  const int64_t per_n = d.groups * d.co_blocks, in_vol = d.D * d.H * d.W, out_vol = d.Do * d.Ho * d.Wo;
  const int64_t Cin = d.groups * d.Cin_g, Cout = d.groups * d.Cout_g;
#pragma omp parallel if (parallel)
  {
    avector<float> xp(d.padded_size(), 0.f);
    int64_t padded = -1;
#pragma omp for schedule(static)
    for (int64_t t = 0; t < N * per_n; ++t) {
      const int64_t n = t / per_n;
      if (n != padded) pad_sample(xp.data(), in + n * Cin * in_vol, d), padded = n;
      forward_task(out + n * Cout * out_vol, xp.data(), d, bias, accumulate, ep, (t % per_n) / d.co_blocks,
                   t % d.co_blocks);
    }
  }
}

// dw rows (WB channels from the first, row stride Kg) += sum over positions of g[c] * shifted x, for T taps.
template <int T>
void weight_block(float* dwr, int64_t Kg, int64_t nco, const float* const* g, const float* xg, const int64_t* toff,
                  const int64_t* gpos, const int64_t* xpos, int64_t np) {
  vec acc[WB][T];
  for (int c = 0; c < WB; ++c)
    for (int t = 0; t < T; ++t) acc[c][t] = vec{};
  for (int64_t p = 0; p < np; ++p) {
    vec gv[WB];
#pragma GCC unroll 8
    for (int c = 0; c < WB; ++c) gv[c] = loadu(g[c] + gpos[p]);
    const float* xq = xg + xpos[p];
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const vec xv = loadu(xq + toff[t]);
#pragma GCC unroll 8
      for (int c = 0; c < WB; ++c) acc[c][t] += gv[c] * xv;
    }
  }
  for (int64_t c = 0; c < nco; ++c)
    for (int t = 0; t < T; ++t) dwr[c * Kg + t] += hsum(acc[c][t]);
}

template <int T>
void weight_block_upto(int n, float* dwr, int64_t Kg, int64_t nco, const float* const* g, const float* xg,
                       const int64_t* toff, const int64_t* gpos, const int64_t* xpos, int64_t np) {
  if constexpr (T > 1) {
    if (n < T) return weight_block_upto<T - 1>(n, dwr, Kg, nco, g, xg, toff, gpos, xpos, np);
  }
  weight_block<T>(dwr, Kg, nco, g, xg, toff, gpos, xpos, np);
}

}  // namespace

bool conv3d_direct_applicable(const Conv3dGeometry& g) {
  const bool unit_stride = g.sD == 1 && g.sH == 1 && g.sW == 1;
  const bool pointwise = g.kD == 1 && g.kH == 1 && g.kW == 1;
  return unit_stride && !pointwise && g.pD < g.kD && g.pH < g.kH && g.pW < g.kW;
}

namespace {
// out (+)= one stride-1 convolution (the arguments of make_direct, then those of run_direct) in the process's
// product precision: bf16 products (conv3d_direct_bf16.cpp) or the fp32 kernels above.
template <class WeightFn>
void convolve(float* out, const float* in, int64_t Cin_g, int64_t Cout_g, int64_t groups, const int64_t k[3],
              const int64_t pad[3], const int64_t insz[3], const int64_t outsz[3], WeightFn weight, const float* bias,
              bool accumulate, int64_t N, bool parallel, const Epilogue& ep = {}) {
  if (!use_bf16_products())
    return run_direct(out, in, make_direct(Cin_g, Cout_g, groups, k, pad, insz, outsz, weight), bias, accumulate, N,
                      parallel, ep);
  DirectShape s{Cin_g, Cout_g, groups, {k[0], k[1], k[2]}, {pad[0], pad[1], pad[2]},
                {insz[0], insz[1], insz[2]}, {outsz[0], outsz[1], outsz[2]}};
  const int64_t kvol = k[0] * k[1] * k[2];
  avector<float> w(static_cast<size_t>(groups * Cout_g * Cin_g * kvol));   // (groups * Cout_g, Cin_g, kvol)
  for (int64_t gr = 0; gr < groups; ++gr)
    for (int64_t co = 0; co < Cout_g; ++co)
      for (int64_t ci = 0; ci < Cin_g; ++ci)
        for (int64_t t = 0; t < kvol; ++t) w[((gr * Cout_g + co) * Cin_g + ci) * kvol + t] = weight(gr, co, ci, t);
  direct_conv_bf16(out, in, w.data(), bias, accumulate, N, parallel, s, ep);
}

Direct forward_plan(const Conv3dGeometry& g, const float* w) {
  const int64_t k[3] = {g.kD, g.kH, g.kW}, pad[3] = {g.pD, g.pH, g.pW}, in[3] = {g.D, g.H, g.W},
                out[3] = {g.Do, g.Ho, g.Wo};
  const int64_t Cin_g = g.Cin / g.groups, Cout_g = g.Cout / g.groups, kvol = g.kD * g.kH * g.kW;
  return make_direct(Cin_g, Cout_g, g.groups, k, pad, in, out, [&](int64_t gr, int64_t co, int64_t ci, int64_t t) {
    return w[((gr * Cout_g + co) * Cin_g + ci) * kvol + t];
  });
}
bool worth_threads(const Conv3dGeometry& g) {
  return static_cast<double>(g.N) * g.Cout * g.Do * g.Ho * g.Wo * (g.Cin / g.groups) * g.kD * g.kH * g.kW >
         (1 << 18);
}
}  // namespace

void conv3d_direct_forward(float* out, const float* x, const float* w, const float* bias, const Conv3dGeometry& g,
                           const BnRelu* bn) {
  const EpilogueTables epilogue(bn, g.Cout);
  const int64_t k[3] = {g.kD, g.kH, g.kW}, pad[3] = {g.pD, g.pH, g.pW}, in[3] = {g.D, g.H, g.W},
                out_[3] = {g.Do, g.Ho, g.Wo};
  const int64_t Cin_g = g.Cin / g.groups, Cout_g = g.Cout / g.groups, kvol = g.kD * g.kH * g.kW;
  convolve(out, x, Cin_g, Cout_g, g.groups, k, pad, in, out_,
           [&](int64_t gr, int64_t co, int64_t ci, int64_t t) {
             return w[((gr * Cout_g + co) * Cin_g + ci) * kvol + t];
           },
           bias, false, g.N, worth_threads(g), epilogue.view());
}

void conv3d_direct_backward(float* dx, float* dw, const float* dout, const float* x, const float* w, bool add_dx,
                            const Conv3dGeometry& g) {
  const int64_t Cin_g = g.Cin / g.groups, Cout_g = g.Cout / g.groups, kvol = g.kD * g.kH * g.kW;
  const bool parallel = worth_threads(g);
  if (dx) {
    // dx[ci, z] = sum_{co, tap} w[co, ci, tap] dout[co, z + p - tap]: a stride-1 convolution of dout padded by
    // k - 1 - p with the kernel flipped (tap -> kvol - 1 - tap) and its channel axes swapped.
    const int64_t k[3] = {g.kD, g.kH, g.kW}, pad[3] = {g.kD - 1 - g.pD, g.kH - 1 - g.pH, g.kW - 1 - g.pW},
                  in[3] = {g.Do, g.Ho, g.Wo}, out[3] = {g.D, g.H, g.W};
    convolve(dx, dout, Cout_g, Cin_g, g.groups, k, pad, in, out,
             [&](int64_t gr, int64_t ci, int64_t co, int64_t tap) {
               return w[((gr * Cout_g + co) * Cin_g + ci) * kvol + (kvol - 1 - tap)];
             },
             nullptr, add_dx, g.N, parallel);   // (a new dx is written, as the forward writes its output)
  }
  if (!dw) return;
  if (use_bf16_products()) {
    const DirectShape s{Cin_g, Cout_g, g.groups, {g.kD, g.kH, g.kW}, {g.pD, g.pH, g.pW}, {g.D, g.H, g.W},
                        {g.Do, g.Ho, g.Wo}};
    if (use_amx_products() && direct_weight_grad_amx_applicable(s))
      return direct_weight_grad_amx(dw, dout, x, g.N, parallel, s);
    if (use_amx_products() && direct_weight_grad_amx_few_applicable(s))
      return direct_weight_grad_amx_few(dw, dout, x, g.N, parallel, s);
    return direct_weight_grad_bf16(dw, dout, x, g.N, parallel, s);
  }
  const Direct d = forward_plan(g, w);
  const int64_t Kg = Cin_g * kvol, wsize = g.Cout * Kg;
  const int64_t in_vol = g.D * g.H * g.W, out_vol = g.Do * g.Ho * g.Wo, slice = d.per_slice;
  // dout in slices of whole vectors (sg floats, zeros past the outputs): rows of vrow vectors, or (shifted) the
  // slice's outputs in order; dout itself where that is its own layout.
  const int64_t Wv = d.vrow * VL, sg = slice * VL;
  const bool own_layout = d.shifted ? sg == g.Ho * g.Wo : Wv == g.Wo;
  // Positions in chunks of whole output slices, about 256 vectors: the chunk's dout and input stay in cache
  // while every (channel block, tap block) passes over it, and the vector sums are reduced once per chunk.
  const int64_t slices = std::max<int64_t>(1, (256 + slice - 1) / slice);
  // Small outputs (fewer than 64 vectors a sample: the CvT's 8x8 maps, the upsampling's 9x9) take B samples a
  // chunk, side by side in the buffers: one sample's few vectors per chunk left the per-chunk lane sums of every
  // (channel block, tap block) costing more than their products (64x96->128, k 1x2x2 at 9x9: 55 GFLOP/s).
  const int64_t per_sample = static_cast<int64_t>(d.padded_size()) + g.Cout * g.Do * sg;   // floats
  const int64_t B = d.npos >= 64 || d.npos <= 0 || g.N <= 1
                        ? 1
                        : std::clamp<int64_t>(std::min(256 / d.npos, (int64_t{512} << 10) / per_sample), 1, g.N);
  const bool own = B == 1 && own_layout;
  const int64_t xstride = static_cast<int64_t>(d.padded_size()), bstride = g.Do * sg, cstride = B * bstride;
  std::vector<int64_t> gpos(static_cast<size_t>(B * d.npos)), xpos(static_cast<size_t>(B * d.npos));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t p = 0; p < d.npos; ++p) {   // (sample b, slice p / slice, vector p % slice)
      gpos[b * d.npos + p] = b * bstride + p * VL;
      xpos[b * d.npos + p] = b * xstride + d.xbase[p];
    }
  const int nt = parallel ? omp_get_max_threads() : 1;
  avector<float> part(static_cast<size_t>(nt * wsize), 0.f);   // [thread][co][reduction step t of the plan]
#pragma omp parallel num_threads(nt)
  {
    avector<float> xp(static_cast<size_t>(B * xstride), 0.f);
    avector<float> gq(own ? 0 : static_cast<size_t>(g.Cout * cstride), 0.f);
    float* dwp = part.data() + omp_get_thread_num() * wsize;
#pragma omp for schedule(static)
    for (int64_t n0 = 0; n0 < g.N; n0 += B) {
      const int64_t nb = std::min(B, g.N - n0);
      const float* gn = dout + n0 * g.Cout * out_vol;
      for (int64_t b = 0; b < nb; ++b) {
        pad_sample(xp.data() + b * xstride, x + (n0 + b) * g.Cin * in_vol, d);
        if (own) continue;
        const float* gb = dout + (n0 + b) * g.Cout * out_vol;
        for (int64_t r = 0; r < g.Cout * g.Do; ++r) {   // slice r of channel r / Do
          float* dst = gq.data() + r / g.Do * cstride + b * bstride + r % g.Do * sg;
          if (d.shifted) {
            std::memcpy(dst, gb + r * g.Ho * g.Wo, static_cast<size_t>(g.Ho * g.Wo) * sizeof(float));
            continue;
          }
          for (int64_t oh = 0; oh < g.Ho; ++oh)
            std::memcpy(dst + oh * Wv, gb + (r * g.Ho + oh) * g.Wo, static_cast<size_t>(g.Wo) * sizeof(float));
        }
      }
      if (!own) gn = gq.data();
      const int64_t npos = nb * d.npos, chunk = B > 1 ? npos : slices * slice;
      for (int64_t p0 = 0; p0 < npos; p0 += chunk) {
        const int64_t np = std::min(npos - p0, chunk);
        for (int64_t gr = 0; gr < g.groups; ++gr) {
          const float* xg = xp.data() + gr * Cin_g * d.KW * d.chan();
          for (int64_t c0 = 0; c0 < Cout_g; c0 += WB) {
            const int64_t nco = std::min<int64_t>(WB, Cout_g - c0);
            const float* gch[WB];
            for (int c = 0; c < WB; ++c)   // past the last channel: repeat it (results discarded)
              gch[c] = gn + (gr * Cout_g + c0 + std::min<int64_t>(c, nco - 1)) * cstride;
            float* dwr = dwp + (gr * Cout_g + c0) * Kg;
            for (int64_t t0 = 0; t0 < Kg; t0 += TB)
              weight_block_upto<TB>(static_cast<int>(std::min<int64_t>(TB, Kg - t0)), dwr + t0, Kg, nco, gch, xg,
                                    d.off.data() + t0, gpos.data() + p0, xpos.data() + p0, np);
          }
        }
      }
    }
  }
  // dw (Cout, Cin_g, kvol) += the threads' sums in thread order, step t of the plan at its (ci, tap)
  std::vector<int64_t> at(static_cast<size_t>(Kg));
  for (int64_t t = 0; t < Kg; ++t) {
    int64_t ci, tap;
    tap_of(d, t, ci, tap);
    at[t] = ci * kvol + tap;
  }
  for (int64_t i = 0; i < wsize; ++i) {
    float s = 0.f;
    for (int t = 0; t < nt; ++t) s += part[t * wsize + i];
    dw[i / Kg * Kg + at[i % Kg]] += s;
  }
}

}  // namespace ssmtl::kernels::detail
