// CUDA twins of kernels/conv3d.h (same signatures and semantics, device pointers).
//
// General path, per chunk of nc samples (nc chosen so the column matrix stays under kColBudget floats):
//   vol2col: col[(ci, kd, kh, kw), (n, od, oh, ow)] = x[n, ci, od sD - pD + kd, ...] (0 outside), so the
//     columns of all the chunk's samples sit side by side (row length nc * P, P = Do Ho Wo);
//   forward:  out_n[group] (Cout_g, P) = W_g (Cout_g, Kg) col_n[group] (Kg, P), one strided-batched GEMM
//     per group over the chunk's samples, written straight into out (no copy);
//   dx:       dcol_n = W_g^T dout_n (strided-batched GEMM), then col2vol as a GATHER: one thread per input
//     element adds the dcol entries it was copied to (fixed order, no atomics);
//   dw:       part_n = dout_n[group] col_n[group]^T per sample (strided-batched GEMM: one product per sample
//     keeps the GPU busy where a single product with a reduction length of nc * P would not), then the
//     samples' parts added to dw in sample order (no atomics).
// A 1x1x1 convolution with stride 1 and no padding uses x itself as its column matrix (forward, dx).
// Depthwise path (groups == Cin == Cout): direct kernels, one thread per output (forward) or input (dx)
// element; dw in two stages (one pass over each channel's outputs keeping every tap's sum in registers,
// then the per-block partials added in order; see depthwise_dw).
// Index arithmetic inside a chunk is 32-bit (checked on the host); sample offsets are 64-bit.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/conv3d.h"
#include "kernels/cuda/reduce.cuh"
#include "kernels/elementwise.h"
#include "kernels/norm.h"
#include "kernels/pool.h"

namespace ssmtl::kernels {

namespace {

constexpr int64_t kColBudget = int64_t{1} << 28;   // floats of column matrix per chunk (1 GiB)
constexpr int64_t kMaxIndex = (int64_t{1} << 31) - 1;

// Sizes of one chunk, as 32-bit integers for the kernels.
struct Dims {
  int Cin, D, H, W;
  int kD, kH, kW, sD, sH, sW, pD, pH, pW;
  int Do, Ho, Wo;
  int kvol, P;      // kD kH kW ; Do Ho Wo
  int nc, rowlen;   // samples in the chunk ; nc * P
};

struct Plan {
  int64_t Cin_g, Cout_g, Kg, Krows, P, in_vol, nc;
  bool pointwise;
};

Plan make_plan(const Conv3dGeometry& g) {
  Plan p;
  p.Cin_g = g.Cin / g.groups;
  p.Cout_g = g.Cout / g.groups;
  const int64_t kvol = g.kD * g.kH * g.kW;
  p.Kg = p.Cin_g * kvol;
  p.Krows = g.Cin * kvol;
  p.P = g.Do * g.Ho * g.Wo;
  p.in_vol = g.D * g.H * g.W;
  p.pointwise = kvol == 1 && g.sD == 1 && g.sH == 1 && g.sW == 1 && g.pD == 0 && g.pH == 0 && g.pW == 0;
  // Per sample: column matrix rows Krows of P columns; the kernels index a chunk's column matrix and input
  // volume with 32-bit integers.
  const int64_t biggest = std::max({p.Krows * p.P, g.Cin * p.in_vol, int64_t{1}});
  if (biggest > kMaxIndex)
    throw std::runtime_error("conv3d (CUDA): one sample needs " + std::to_string(biggest) +
                             " column or volume elements; the kernels index at most 2^31 per chunk");
  p.nc = std::max<int64_t>(1, std::min({g.N, kColBudget / std::max<int64_t>(1, p.Krows * p.P), kMaxIndex / biggest}));
  return p;
}

Dims make_dims(const Conv3dGeometry& g, const Plan& p, int64_t nc) {
  auto i32 = [](int64_t v) { return static_cast<int>(v); };
  return Dims{i32(g.Cin), i32(g.D), i32(g.H), i32(g.W), i32(g.kD), i32(g.kH), i32(g.kW), i32(g.sD), i32(g.sH),
              i32(g.sW), i32(g.pD), i32(g.pH), i32(g.pW), i32(g.Do), i32(g.Ho), i32(g.Wo),
              i32(g.kD * g.kH * g.kW), i32(p.P), i32(nc), i32(nc * p.P)};
}

// col (Cin kvol, nc P) from x (nc, Cin, D, H, W) of the chunk.
__global__ void vol2col_k(float* col, const float* x, Dims m) {
  const long long total = (long long)m.Cin * m.kvol * m.rowlen;
  SSMTL_GRID_LOOP(idx, total) {
    const int i = static_cast<int>(idx);
    const int r = i / m.rowlen, cpos = i - r * m.rowlen;
    const int n = cpos / m.P, p = cpos - n * m.P;
    const int ci = r / m.kvol, kk = r - ci * m.kvol;
    const int kw = kk % m.kW, kh = (kk / m.kW) % m.kH, kd = kk / (m.kW * m.kH);
    const int ow = p % m.Wo, oh = (p / m.Wo) % m.Ho, od = p / (m.Wo * m.Ho);
    const int d = od * m.sD - m.pD + kd, h = oh * m.sH - m.pH + kh, w = ow * m.sW - m.pW + kw;
    float v = 0.f;
    if (d >= 0 && d < m.D && h >= 0 && h < m.H && w >= 0 && w < m.W)
      v = x[((static_cast<long long>(n) * m.Cin + ci) * m.D + d) * m.H * m.W + h * m.W + w];
    col[i] = v;
  }
}

// Output positions (od, oh, ow) fed by input position (d, h, w) through tap (kd, kh, kw) along one axis:
// o = (i + pad - k) / stride when that divides exactly and 0 <= o < n_out; -1 otherwise.
__device__ inline int source_of(int i, int pad, int k, int stride, int n_out) {
  const int t = i + pad - k;
  if (t < 0 || t % stride != 0) return -1;
  const int o = t / stride;
  return o < n_out ? o : -1;
}

// dx (nc, Cin, D, H, W) += col2vol(dcol): each input element gathers its taps in (kd, kh, kw) order.
__global__ void col2vol_add_k(float* dx, const float* dcol, Dims m) {
  const long long total = (long long)m.nc * m.Cin * m.D * m.H * m.W;
  SSMTL_GRID_LOOP(idx, total) {
    const int i = static_cast<int>(idx);
    const int w = i % m.W, h = (i / m.W) % m.H, d = (i / (m.W * m.H)) % m.D;
    const int nci = i / (m.W * m.H * m.D), ci = nci % m.Cin, n = nci / m.Cin;
    float acc = 0.f;
    for (int kd = 0; kd < m.kD; ++kd) {
      const int od = source_of(d, m.pD, kd, m.sD, m.Do);
      if (od < 0) continue;
      for (int kh = 0; kh < m.kH; ++kh) {
        const int oh = source_of(h, m.pH, kh, m.sH, m.Ho);
        if (oh < 0) continue;
        for (int kw = 0; kw < m.kW; ++kw) {
          const int ow = source_of(w, m.pW, kw, m.sW, m.Wo);
          if (ow < 0) continue;
          const int r = ci * m.kvol + (kd * m.kH + kh) * m.kW + kw;
          acc += dcol[static_cast<long long>(r) * m.rowlen + n * m.P + (od * m.Ho + oh) * m.Wo + ow];
        }
      }
    }
    dx[i] += acc;
  }
}

// dw[i] += sum over the chunk's samples n of part[n * count + i], in sample order.
__global__ void sum_samples_add_k(float* dw, const float* part, long long count, int nc) {
  SSMTL_GRID_LOOP(i, count) {
    float s = 0.f;
    for (int n = 0; n < nc; ++n) s += part[n * count + i];
    dw[i] += s;
  }
}

// ---- depthwise (groups == Cin == Cout): w (C, 1, kD, kH, kW) ----

struct DwDims {
  long long N, C, D, H, W, Do, Ho, Wo;
  int kD, kH, kW, sD, sH, sW, pD, pH, pW;
};

DwDims dw_dims(const Conv3dGeometry& g) {
  return DwDims{g.N, g.Cin, g.D, g.H, g.W, g.Do, g.Ho, g.Wo, static_cast<int>(g.kD), static_cast<int>(g.kH),
                static_cast<int>(g.kW), static_cast<int>(g.sD), static_cast<int>(g.sH), static_cast<int>(g.sW),
                static_cast<int>(g.pD), static_cast<int>(g.pH), static_cast<int>(g.pW)};
}

__global__ void dw_forward_k(float* out, const float* x, const float* w, const float* bias, DwDims m) {
  const long long total = m.N * m.C * m.Do * m.Ho * m.Wo;
  const int kvol = m.kD * m.kH * m.kW;
  SSMTL_GRID_LOOP(o, total) {
    const long long ow = o % m.Wo, oh = (o / m.Wo) % m.Ho, od = (o / (m.Wo * m.Ho)) % m.Do;
    const long long t = o / (m.Wo * m.Ho * m.Do), c = t % m.C;   // t = n C + c
    const float* xc = x + t * m.D * m.H * m.W;
    const float* wc = w + c * kvol;
    float s = 0.f;
    for (int kd = 0; kd < m.kD; ++kd) {
      const long long d = od * m.sD - m.pD + kd;
      if (d < 0 || d >= m.D) continue;
      for (int kh = 0; kh < m.kH; ++kh) {
        const long long h = oh * m.sH - m.pH + kh;
        if (h < 0 || h >= m.H) continue;
        for (int kw = 0; kw < m.kW; ++kw) {
          const long long ww = ow * m.sW - m.pW + kw;
          if (ww < 0 || ww >= m.W) continue;
          s += wc[(kd * m.kH + kh) * m.kW + kw] * xc[(d * m.H + h) * m.W + ww];
        }
      }
    }
    out[o] = s + (bias ? bias[c] : 0.f);
  }
}

__global__ void dw_dx_k(float* dx, const float* dout, const float* w, DwDims m) {
  const long long total = m.N * m.C * m.D * m.H * m.W;
  const int kvol = m.kD * m.kH * m.kW;
  SSMTL_GRID_LOOP(i, total) {
    const int wi = static_cast<int>(i % m.W), h = static_cast<int>((i / m.W) % m.H),
              d = static_cast<int>((i / (m.W * m.H)) % m.D);
    const long long t = i / (m.W * m.H * m.D), c = t % m.C;
    const float* gc = dout + t * m.Do * m.Ho * m.Wo;
    const float* wc = w + c * kvol;
    float acc = 0.f;
    for (int kd = 0; kd < m.kD; ++kd) {
      const int od = source_of(d, m.pD, kd, m.sD, static_cast<int>(m.Do));
      if (od < 0) continue;
      for (int kh = 0; kh < m.kH; ++kh) {
        const int oh = source_of(h, m.pH, kh, m.sH, static_cast<int>(m.Ho));
        if (oh < 0) continue;
        for (int kw = 0; kw < m.kW; ++kw) {
          const int ow = source_of(wi, m.pW, kw, m.sW, static_cast<int>(m.Wo));
          if (ow < 0) continue;
          acc += wc[(kd * m.kH + kh) * m.kW + kw] * gc[(od * m.Ho + oh) * m.Wo + ow];
        }
      }
    }
    dx[i] += acc;
  }
}

// ---- depthwise dw: two stages ----
// Stage one: block (s, c) handles channel c over segment s of the samples (ns samples, ns * P output
// positions; grid (S, min(C, 65535))). Each thread walks its output positions once, reads dout there once
// and keeps one float sum per weight tap in registers (the x values under the kernel window come from
// L1 / L2); the block then adds each tap's thread sums in double (warp trees, then the warps in order)
// into part[(c K + k) S + s].
// Stage two adds a tap's S partials in segment order into dw. Fixed order throughout, no atomics.
// KD, KH, KW > 0 fix the kernel size at compile time (loops unrolled, sums in registers); 0 reads it from m
// and handles the taps [tap0, tap0 + kDwMaxTaps) of the flat tap index in one launch.
constexpr int kDwMaxTaps = 27;
constexpr int kDwSegment = 4096;   // output positions per block, about

template <int KD, int KH, int KW>
__global__ void __launch_bounds__(cuda::kThreads) dw_dw_partials_k(double* part, const float* dout, const float* x,
                                                                    DwDims m, int ns, int S, int tap0) {
  constexpr bool kFixed = KD > 0;
  constexpr int kTaps = kFixed ? KD * KH * KW : kDwMaxTaps;
  const int kD = kFixed ? KD : m.kD, kH = kFixed ? KH : m.kH, kW = kFixed ? KW : m.kW, K = kD * kH * kW;
  constexpr int kWarps = cuda::kThreads / 32;
  __shared__ double warp_sums[kTaps * kWarps];   // [tap][warp], flat (the emulator poisons flat arrays)
  // Within a sample, positions and input offsets fit in 32 bits (checked on the host).
  const int Do = static_cast<int>(m.Do), Ho = static_cast<int>(m.Ho), Wo = static_cast<int>(m.Wo);
  const int D = static_cast<int>(m.D), H = static_cast<int>(m.H), W = static_cast<int>(m.W);
  const int P = Do * Ho * Wo;
  const long long in_vol = m.D * m.H * m.W, n0 = static_cast<long long>(blockIdx.x) * ns;
  const int len = static_cast<int>((m.N - n0 < ns ? m.N - n0 : ns) * P);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (long long c = blockIdx.y; c < m.C; c += gridDim.y) {
    float acc[kTaps];
#pragma unroll
    for (int k = 0; k < kTaps; ++k) acc[k] = 0.f;
    for (int j = threadIdx.x; j < len; j += blockDim.x) {
      const int nl = j / P, p = j - nl * P;
      const int ow = p % Wo, oh = (p / Wo) % Ho, od = p / (Wo * Ho);
      const long long t = (n0 + nl) * m.C + c;   // (sample, channel) plane
      const float g = dout[t * P + p];
      const float* xc = x + t * in_vol;
      const int d0 = od * m.sD - m.pD, h0 = oh * m.sH - m.pH, w0 = ow * m.sW - m.pW;
#pragma unroll
      for (int kd = 0; kd < kD; ++kd) {
        const int d = d0 + kd;
        if (d < 0 || d >= D) continue;
#pragma unroll
        for (int kh = 0; kh < kH; ++kh) {
          const int h = h0 + kh;
          if (h < 0 || h >= H) continue;
#pragma unroll
          for (int kw = 0; kw < kW; ++kw) {
            // k is a compile-time constant when the size is fixed: acc stays in registers
            const int w = w0 + kw, k = (kd * kH + kh) * kW + kw - (kFixed ? 0 : tap0);
            if (w < 0 || w >= W || (!kFixed && (k < 0 || k >= kTaps))) continue;
            acc[k] += g * xc[(d * H + h) * W + w];
          }
        }
      }
    }
    const int taps = kFixed ? kTaps : (K - tap0 < kTaps ? K - tap0 : kTaps);
#pragma unroll
    for (int k = 0; k < kTaps; ++k) {
      if (k >= taps) break;
      const double v = cuda::warp_sum(static_cast<double>(acc[k]));
      if (lane == 0) warp_sums[k * kWarps + warp] = v;
    }
    __syncthreads();
    const int tid = static_cast<int>(threadIdx.x), warps = static_cast<int>(blockDim.x >> 5);
    if (tid < taps) {
      double v = 0.0;
      for (int wp = 0; wp < warps; ++wp) v += warp_sums[tid * kWarps + wp];
      part[(c * K + tap0 + tid) * S + blockIdx.x] = v;
    }
    __syncthreads();   // warp_sums is reused for the next channel
  }
}

// dw[i] += sum over s of part[i S + s], in segment order; i = c K + k.
__global__ void dw_dw_finish_k(float* dw, const double* part, long long count, int S) {
  SSMTL_GRID_LOOP(i, count) {
    double v = 0.0;
    for (int s = 0; s < S; ++s) v += part[i * S + s];
    dw[i] += static_cast<float>(v);
  }
}

void depthwise_dw(float* dw, const float* dout, const float* x, const DwDims& m) {
  const long long P = m.Do * m.Ho * m.Wo, in_vol = m.D * m.H * m.W;
  if (P > kMaxIndex || in_vol > kMaxIndex)
    throw std::runtime_error("conv3d depthwise (CUDA): " + std::to_string(std::max(P, in_vol)) +
                             " positions per sample; the weight-gradient kernel indexes at most 2^31");
  // Samples per segment: about kDwSegment positions (one sample when a sample has more), so a segment's
  // positions fit in 32 bits.
  const long long ns = std::max<long long>(1, kDwSegment / std::max<long long>(1, P)), S = (m.N + ns - 1) / ns;
  const int K = m.kD * m.kH * m.kW;
  cuda::Scratch<double> part(static_cast<size_t>(m.C * K * S));
  const dim3 grid(static_cast<unsigned>(S), static_cast<unsigned>(std::min<long long>(m.C, 65535)));
  const int ins = static_cast<int>(ns), iS = static_cast<int>(S);
  if (m.kD == 3 && m.kH == 3 && m.kW == 3)
    dw_dw_partials_k<3, 3, 3><<<grid, cuda::kThreads>>>(part.get(), dout, x, m, ins, iS, 0);
  else if (m.kD == 1 && m.kH == 3 && m.kW == 3)
    dw_dw_partials_k<1, 3, 3><<<grid, cuda::kThreads>>>(part.get(), dout, x, m, ins, iS, 0);
  else
    for (int tap0 = 0; tap0 < K; tap0 += kDwMaxTaps)
      dw_dw_partials_k<0, 0, 0><<<grid, cuda::kThreads>>>(part.get(), dout, x, m, ins, iS, tap0);
  CUDA_CHECK_LAST();
  dw_dw_finish_k<<<cuda::grid_for(m.C * K), cuda::kThreads>>>(dw, part.get(), m.C * K, iS);
  CUDA_CHECK_LAST();
}

}  // namespace

void conv3d_forward_cuda(float* out, const float* x, const float* w, const float* bias, const Conv3dGeometry& g) {
  const Plan p = make_plan(g);
  if (g.N * g.Cout * p.P == 0) return;
  cuda::Scratch<float> col(p.pointwise ? 1 : static_cast<size_t>(p.Krows * p.nc * p.P));
  for (int64_t n0 = 0; n0 < g.N; n0 += p.nc) {
    const int64_t nc = std::min(p.nc, g.N - n0);
    const Dims m = make_dims(g, p, nc);
    const float* xc = x + n0 * g.Cin * p.in_vol;
    float* oc = out + n0 * g.Cout * p.P;
    // Column matrix of the chunk: its row stride and the offset from one sample's columns to the next.
    const float* cm = xc;
    int64_t ld = p.P, sample_stride = g.Cin * p.P;
    if (!p.pointwise) {
      vol2col_k<<<cuda::grid_for(p.Krows * m.rowlen), cuda::kThreads>>>(col.get(), xc, m);
      CUDA_CHECK_LAST();
      cm = col.get();
      ld = m.rowlen;
      sample_stride = p.P;
    }
    for (int64_t gr = 0; gr < g.groups; ++gr)
      cuda::gemm_rm_batched(false, false, p.Cout_g, p.P, p.Kg, 1.f, w + gr * p.Cout_g * p.Kg, p.Kg, 0,
                            cm + gr * p.Kg * ld, ld, sample_stride, 0.f, oc + gr * p.Cout_g * p.P, p.P, g.Cout * p.P,
                            nc);
  }
  if (bias) add_channel_bias_cuda(out, out, bias, g.N, g.Cout, p.P);
}

void conv3d_backward_cuda(float* dx, float* dw, float* dbias, const float* dout, const float* x, const float* w,
                          bool add_dx, const Conv3dGeometry& g) {
  const Plan p = make_plan(g);
  // A new dx (add_dx false) is zeroed here and added into as before (the GPU's products write through beta = 1).
  if (dx && !add_dx)
    CUDA_CHECK(cudaMemset(dx, 0, static_cast<size_t>(g.N * g.Cin * p.in_vol) * sizeof(float)));
  if (dbias) cuda::channel_sums_add(dbias, dout, g.N, g.Cout, p.P);
  if ((!dx && !dw) || g.N * p.P == 0) return;
  const bool need_col = dw || (dx && !p.pointwise);
  cuda::Scratch<float> col(need_col ? static_cast<size_t>(p.Krows * p.nc * p.P) : 1);
  cuda::Scratch<float> part(dw ? static_cast<size_t>(p.nc * g.Cout * p.Kg) : 1);   // per-sample dw
  for (int64_t n0 = 0; n0 < g.N; n0 += p.nc) {
    const int64_t nc = std::min(p.nc, g.N - n0);
    const Dims m = make_dims(g, p, nc);
    const float* xc = x + n0 * g.Cin * p.in_vol;
    const float* gc = dout + n0 * g.Cout * p.P;
    if (dw) {   // part_n (Cout_g, Kg) = dout_n[group] (Cout_g, P) col_n[group]^T, then summed over n
      vol2col_k<<<cuda::grid_for(p.Krows * m.rowlen), cuda::kThreads>>>(col.get(), xc, m);
      CUDA_CHECK_LAST();
      for (int64_t gr = 0; gr < g.groups; ++gr)
        cuda::gemm_rm_batched(false, true, p.Cout_g, p.Kg, p.P, 1.f, gc + gr * p.Cout_g * p.P, p.P, g.Cout * p.P,
                              col.get() + gr * p.Kg * m.rowlen, m.rowlen, p.P, 0.f, part.get() + gr * p.Cout_g * p.Kg,
                              p.Kg, g.Cout * p.Kg, nc);
      sum_samples_add_k<<<cuda::grid_for(g.Cout * p.Kg), cuda::kThreads>>>(dw, part.get(), g.Cout * p.Kg,
                                                                           static_cast<int>(nc));
      CUDA_CHECK_LAST();
    }
    if (!dx) continue;
    float* dxc = dx + n0 * g.Cin * p.in_vol;
    if (p.pointwise) {   // dx_n (Cin_g, P) += W_g^T dout_n, straight into dx
      for (int64_t gr = 0; gr < g.groups; ++gr)
        cuda::gemm_rm_batched(true, false, p.Kg, p.P, p.Cout_g, 1.f, w + gr * p.Cout_g * p.Kg, p.Kg, 0,
                              gc + gr * p.Cout_g * p.P, p.P, g.Cout * p.P, 1.f, dxc + gr * p.Kg * p.P, p.P,
                              g.Cin * p.P, nc);
      continue;
    }
    // dcol_n (Kg, P) = W_g^T (Kg, Cout_g) dout_n (Cout_g, P), into col (the dw product above was queued first)
    for (int64_t gr = 0; gr < g.groups; ++gr)
      cuda::gemm_rm_batched(true, false, p.Kg, p.P, p.Cout_g, 1.f, w + gr * p.Cout_g * p.Kg, p.Kg, 0,
                            gc + gr * p.Cout_g * p.P, p.P, g.Cout * p.P, 0.f, col.get() + gr * p.Kg * m.rowlen,
                            m.rowlen, p.P, nc);
    col2vol_add_k<<<cuda::grid_for(nc * g.Cin * p.in_vol), cuda::kThreads>>>(dxc, col.get(), m);
    CUDA_CHECK_LAST();
  }
}

void conv3d_depthwise_forward_cuda(float* out, const float* x, const float* w, const float* bias,
                                   const Conv3dGeometry& g) {
  const DwDims m = dw_dims(g);
  const long long n = m.N * m.C * m.Do * m.Ho * m.Wo;
  if (n > 0) dw_forward_k<<<cuda::grid_for(n), cuda::kThreads>>>(out, x, w, bias, m);
  CUDA_CHECK_LAST();
}

void conv3d_depthwise_backward_cuda(float* dx, float* dw, float* dbias, const float* dout, const float* x,
                                    const float* w, const Conv3dGeometry& g) {
  const DwDims m = dw_dims(g);
  if (dbias) cuda::channel_sums_add(dbias, dout, g.N, g.Cout, g.Do * g.Ho * g.Wo);
  const long long n_in = m.N * m.C * m.D * m.H * m.W;
  if (dx && n_in > 0) dw_dx_k<<<cuda::grid_for(n_in), cuda::kThreads>>>(dx, dout, w, m);
  CUDA_CHECK_LAST();
  if (dw && m.N > 0 && m.C * g.kD * g.kH * g.kW > 0) depthwise_dw(dw, dout, x, m);
}

void conv3d_bn_relu_forward_cuda(float* out, const float* x, const float* w, const float* bias, const BnRelu& bn,
                                 const Conv3dGeometry& g) {
  if (g.groups == g.Cin && g.Cout == g.Cin)
    conv3d_depthwise_forward_cuda(out, x, w, bias, g);
  else
    conv3d_forward_cuda(out, x, w, bias, g);
  batch_norm_relu_forward_cuda(out, out, bn.mean, bn.invstd, bn.gamma, bn.beta, g.N, g.Cout, g.Do * g.Ho * g.Wo);
}

void conv3d_bn_relu_pool_forward_cuda(float* out, const float* x, const float* w, const float* bias,
                                      const BnRelu& bn, const Conv3dGeometry& g) {
  // The two kernels in turn on a scratch activation: on the GPU the whole batch is one launch each.
  cuda::Scratch<float> act(static_cast<size_t>(g.N * g.Cout * g.Do * g.Ho * g.Wo));
  conv3d_bn_relu_forward_cuda(act.get(), x, w, bias, bn, g);
  max_pool3d_forward_cuda(out, nullptr, act.get(), pool_1x2x2_geometry(g.N * g.Cout, g.Do, g.Ho, g.Wo));
}

}  // namespace ssmtl::kernels
