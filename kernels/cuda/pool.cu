// CUDA twins of kernels/pool.h (same signatures and semantics, device pointers; argmax buffers are device
// int32 arrays). Forward kernels: one thread per output element, scanning its window in torch's order
// (depth, row, column) with the CPU's rules (padding never wins, NaN wins, first of equal maxima wins).
// Backward kernels GATHER: one thread per input element sums the outputs whose window holds it, so no two
// threads write the same gradient element (no atomics; deterministic) even with overlapping windows.
#include <cfloat>

#include "kernels/cuda/common.cuh"
#include "kernels/pool.h"

namespace ssmtl::kernels {

namespace {

__device__ inline bool beats(float v, float m) { return v > m || isnan(v); }

// Clipped window [lo, hi) along one axis of output position o.
__device__ inline void window(long long o, int stride, int pad, int k, long long n, long long& lo, long long& hi) {
  const long long start = o * stride - pad;
  lo = start > 0 ? start : 0;
  hi = start + k < n ? start + k : n;
}

// Outputs [lo, hi) along one axis whose window contains input position i: o*stride - pad <= i and
// i < o*stride - pad + k, with 0 <= o < n_out.
__device__ inline void covering(long long i, int stride, int pad, int k, long long n_out, long long& lo,
                                long long& hi) {
  const long long first = i + pad - k + 1;   // o*stride >= first
  lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  const long long last = (i + pad) / stride + 1;
  hi = last < n_out ? last : n_out;
}

// Output position decomposed: plane p, od, oh, ow.
struct OutPos {
  long long p, od, oh, ow;
};
__device__ inline OutPos out_pos(long long o, const PoolGeometry& g) {
  OutPos q;
  q.ow = o % g.oW;
  long long t = o / g.oW;
  q.oh = t % g.oH;
  t /= g.oH;
  q.od = t % g.oD;
  q.p = t / g.oD;
  return q;
}

__global__ void max_pool_fw_k(float* out, int32_t* argmax, const float* x, PoolGeometry g, long long n) {
  SSMTL_GRID_LOOP(o, n) {
    const OutPos q = out_pos(o, g);
    long long d0, d1, h0, h1, w0, w1;
    window(q.od, g.sd, g.pd, g.kd, g.D, d0, d1);
    window(q.oh, g.sh, g.ph, g.kh, g.H, h0, h1);
    window(q.ow, g.sw, g.pw, g.kw, g.W, w0, w1);
    const float* xp = x + q.p * g.D * g.H * g.W;
    // Start from -inf at the window's first valid element (an all -inf window reports it), as the CPU.
    float m = -INFINITY;
    long long best = (d0 * g.H + h0) * g.W + w0;
    for (long long d = d0; d < d1; ++d)
      for (long long h = h0; h < h1; ++h)
        for (long long w = w0; w < w1; ++w) {
          const long long i = (d * g.H + h) * g.W + w;
          const float v = xp[i];
          if (beats(v, m)) {
            m = v;
            best = i;
          }
        }
    out[o] = m;
    if (argmax) argmax[o] = static_cast<int32_t>(best);
  }
}

__global__ void max_pool_bw_k(float* dx, const float* dout, const int32_t* argmax, bool add, PoolGeometry g,
                              long long n) {
  SSMTL_GRID_LOOP(j, n) {
    const long long plane = g.D * g.H * g.W;
    const long long p = j / plane, i = j % plane;
    const long long w = i % g.W, h = (i / g.W) % g.H, d = i / (g.W * g.H);
    long long od0, od1, oh0, oh1, ow0, ow1;
    covering(d, g.sd, g.pd, g.kd, g.oD, od0, od1);
    covering(h, g.sh, g.ph, g.kh, g.oH, oh0, oh1);
    covering(w, g.sw, g.pw, g.kw, g.oW, ow0, ow1);
    const long long base = p * g.oD * g.oH * g.oW;
    float acc = 0.f;
    for (long long od = od0; od < od1; ++od)
      for (long long oh = oh0; oh < oh1; ++oh)
        for (long long ow = ow0; ow < ow1; ++ow) {
          const long long o = base + (od * g.oH + oh) * g.oW + ow;
          if (argmax[o] == i) acc += dout[o];
        }
    dx[j] = add ? dx[j] + acc : acc;   // (a new gradient: written)
  }
}

__global__ void avg_pool_fw_k(float* out, const float* x, PoolGeometry g, float divisor, long long n) {
  SSMTL_GRID_LOOP(o, n) {
    const OutPos q = out_pos(o, g);
    long long d0, d1, h0, h1, w0, w1;
    window(q.od, g.sd, g.pd, g.kd, g.D, d0, d1);
    window(q.oh, g.sh, g.ph, g.kh, g.H, h0, h1);
    window(q.ow, g.sw, g.pw, g.kw, g.W, w0, w1);
    const float* xp = x + q.p * g.D * g.H * g.W;
    float s = 0.f;
    for (long long d = d0; d < d1; ++d)
      for (long long h = h0; h < h1; ++h)
        for (long long w = w0; w < w1; ++w) s += xp[(d * g.H + h) * g.W + w];
    out[o] = s / divisor;
  }
}

__global__ void avg_pool_bw_k(float* dx, const float* dout, PoolGeometry g, float inv, long long n) {
  SSMTL_GRID_LOOP(j, n) {
    const long long plane = g.D * g.H * g.W;
    const long long p = j / plane, i = j % plane;
    const long long w = i % g.W, h = (i / g.W) % g.H, d = i / (g.W * g.H);
    long long od0, od1, oh0, oh1, ow0, ow1;
    covering(d, g.sd, g.pd, g.kd, g.oD, od0, od1);
    covering(h, g.sh, g.ph, g.kh, g.oH, oh0, oh1);
    covering(w, g.sw, g.pw, g.kw, g.oW, ow0, ow1);
    const long long base = p * g.oD * g.oH * g.oW;
    float acc = 0.f;
    for (long long od = od0; od < od1; ++od)
      for (long long oh = oh0; oh < oh1; ++oh)
        for (long long ow = ow0; ow < ow1; ++ow) acc += dout[base + (od * g.oH + oh) * g.oW + ow] * inv;
    dx[j] += acc;
  }
}

// ---- pooling over the middle axis of (planes, T, inner) ----

__global__ void temporal_max_fw_k(float* out, int32_t* argmax, const float* x, long long T, long long inner,
                                  long long n) {
  SSMTL_GRID_LOOP(j, n) {   // j = p * inner + i
    const long long p = j / inner, i = j % inner;
    const float* xp = x + p * T * inner + i;
    float m = xp[0];
    int32_t best = 0;
    for (long long t = 1; t < T; ++t) {
      const float v = xp[t * inner];
      if (beats(v, m)) {
        m = v;
        best = static_cast<int32_t>(t);
      }
    }
    out[j] = m;
    if (argmax) argmax[j] = best;
  }
}

// Each (p, i) routes to exactly one t: one thread per (p, i) writes one element.
__global__ void temporal_max_bw_k(float* dx, const float* dout, const int32_t* argmax, long long T, long long inner,
                                  long long n) {
  SSMTL_GRID_LOOP(j, n) {
    const long long p = j / inner, i = j % inner;
    dx[(p * T + argmax[j]) * inner + i] += dout[j];
  }
}

__global__ void temporal_avg_fw_k(float* out, const float* x, long long T, long long inner, float inv, long long n) {
  SSMTL_GRID_LOOP(j, n) {
    const long long p = j / inner, i = j % inner;
    const float* xp = x + p * T * inner + i;
    float s = xp[0];
    for (long long t = 1; t < T; ++t) s += xp[t * inner];
    out[j] = s * inv;
  }
}

__global__ void temporal_avg_bw_k(float* dx, const float* dout, long long T, long long inner, float inv, long long n) {
  SSMTL_GRID_LOOP(j, n) {   // j indexes dx (planes, T, inner)
    const long long i = j % inner, p = j / (T * inner);
    dx[j] += dout[p * inner + i] * inv;
  }
}

// One block per plane, block sum in double.
__global__ void global_avg_fw_k(float* out, const float* x, long long planes, long long inner) {
  __shared__ double shared[32];
  for (long long p = blockIdx.x; p < planes; p += gridDim.x) {
    const float* xp = x + p * inner;
    double s = 0.0;
    for (long long i = threadIdx.x; i < inner; i += blockDim.x) s += xp[i];
    s = cuda::block_sum(s, shared);
    if (threadIdx.x == 0) out[p] = static_cast<float>(s / static_cast<double>(inner));
  }
}

__global__ void global_avg_bw_k(float* dx, const float* dout, long long inner, long long n) {
  SSMTL_GRID_LOOP(j, n) dx[j] += dout[j / inner] / static_cast<float>(inner);
}

// ---- nearest up-sampling ----

__global__ void upsample_fw_k(float* out, const float* x, long long H, long long W, int s, long long n) {
  SSMTL_GRID_LOOP(j, n) {   // j indexes out (planes, s H, s W)
    const long long oW = W * s, oH = H * s;
    const long long c = j % oW, r = (j / oW) % oH, p = j / (oW * oH);
    out[j] = x[(p * H + r / s) * W + c / s];
  }
}

__global__ void upsample_bw_k(float* dx, const float* dout, bool add_dx, long long H, long long W, int s,
                              long long n) {
  SSMTL_GRID_LOOP(j, n) {   // j indexes dx (planes, H, W)
    const long long oW = W * s;
    const long long w = j % W, h = (j / W) % H, p = j / (W * H);
    const float* g = dout + ((p * H + h) * s) * oW + w * s;
    float acc = 0.f;
    for (int r = 0; r < s; ++r)
      for (int c = 0; c < s; ++c) acc += g[r * oW + c];
    dx[j] = (add_dx ? dx[j] : 0.f) + acc;
  }
}

long long out_count(const PoolGeometry& g) { return g.planes * g.oD * g.oH * g.oW; }
long long in_count(const PoolGeometry& g) { return g.planes * g.D * g.H * g.W; }

}  // namespace

void max_pool3d_forward_cuda(float* out, int32_t* argmax, const float* x, const PoolGeometry& g) {
  const long long n = out_count(g);
  SSMTL_LAUNCH(max_pool_fw_k, n, out, argmax, x, g, n);
}
void max_pool3d_backward_cuda(float* dx, const float* dout, const int32_t* argmax, bool add_dx, const PoolGeometry& g) {
  const long long n = in_count(g);
  SSMTL_LAUNCH(max_pool_bw_k, n, dx, dout, argmax, add_dx, g, n);
}
void avg_pool3d_forward_cuda(float* out, const float* x, const PoolGeometry& g) {
  const long long n = out_count(g);
  SSMTL_LAUNCH(avg_pool_fw_k, n, out, x, g, static_cast<float>(g.kd * g.kh * g.kw), n);
}
void avg_pool3d_backward_cuda(float* dx, const float* dout, const PoolGeometry& g) {
  const long long n = in_count(g);
  SSMTL_LAUNCH(avg_pool_bw_k, n, dx, dout, g, 1.f / static_cast<float>(g.kd * g.kh * g.kw), n);
}
void temporal_max_pool_forward_cuda(float* out, int32_t* argmax, const float* x, int64_t planes, int64_t T,
                                    int64_t inner) {
  const long long n = planes * inner;
  SSMTL_LAUNCH(temporal_max_fw_k, n, out, argmax, x, T, inner, n);
}
void temporal_max_pool_backward_cuda(float* dx, const float* dout, const int32_t* argmax, bool add_dx,
                                     int64_t planes, int64_t T, int64_t inner) {
  const long long n = planes * inner;
  if (!add_dx && n > 0) CUDA_CHECK(cudaMemset(dx, 0, static_cast<size_t>(n * T) * sizeof(float)));
  SSMTL_LAUNCH(temporal_max_bw_k, n, dx, dout, argmax, T, inner, n);
}
void temporal_avg_pool_forward_cuda(float* out, const float* x, int64_t planes, int64_t T, int64_t inner) {
  const long long n = planes * inner;
  SSMTL_LAUNCH(temporal_avg_fw_k, n, out, x, T, inner, 1.f / static_cast<float>(T), n);
}
void temporal_avg_pool_backward_cuda(float* dx, const float* dout, int64_t planes, int64_t T, int64_t inner) {
  const long long n = planes * T * inner;
  SSMTL_LAUNCH(temporal_avg_bw_k, n, dx, dout, T, inner, 1.f / static_cast<float>(T), n);
}
void global_avg_pool_forward_cuda(float* out, const float* x, int64_t planes, int64_t inner) {
  if (planes > 0) global_avg_fw_k<<<cuda::blocks_for(planes, 1), cuda::kThreads>>>(out, x, planes, inner);
  CUDA_CHECK_LAST();
}
void global_avg_pool_backward_cuda(float* dx, const float* dout, int64_t planes, int64_t inner) {
  const long long n = planes * inner;
  SSMTL_LAUNCH(global_avg_bw_k, n, dx, dout, inner, n);
}
void upsample_nearest2d_forward_cuda(float* out, const float* x, int64_t planes, int64_t H, int64_t W, int s) {
  const long long n = planes * H * W * s * s;
  SSMTL_LAUNCH(upsample_fw_k, n, out, x, H, W, s, n);
}
void upsample_nearest2d_backward_cuda(float* dx, const float* dout, bool add_dx, int64_t planes, int64_t H, int64_t W,
                                      int s) {
  const long long n = planes * H * W;
  SSMTL_LAUNCH(upsample_bw_k, n, dx, dout, add_dx, H, W, s, n);
}

}  // namespace ssmtl::kernels
