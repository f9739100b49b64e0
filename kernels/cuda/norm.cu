// CUDA twins of kernels/norm.h (same signatures and formulas, device pointers). The fused batch norm + ReLU
// shares batch norm's kernels through a template flag (forward) and a gradient reader (backward).
// Batch norm: per-channel sums by the two-stage reductions of kernels/cuda/reduce.cuh (double, fixed
// segments), two passes for the variance (mean first, then centred squares) as the CPU; then elementwise
// kernels (cuda::channel_map: no division per element). Layer norm: one warp per row (double sums over a
// fixed lane order); dgamma / dbeta by the column reductions (64-row partials, added in order).
// Deterministic throughout.
#include "kernels/cuda/reduce.cuh"
#include "kernels/norm.h"
#include "kernels/norm_pool.h"

namespace ssmtl::kernels {

namespace {
using cuda::Sum2;

// ---- batch norm ----

struct ValueTerm {
  const float* x;
  __device__ Sum2 operator()(long long, long long idx) const { return Sum2{x[idx], 0.0}; }
};
struct CentredSquareTerm {
  const float* x;
  const double* mean;
  __device__ Sum2 operator()(long long c, long long idx) const {
    const double d = x[idx] - mean[c];
    return Sum2{d * d, 0.0};
  }
};
// Batch norm's pre-activation, as one explicit fused multiply-add (s = invstd * gamma, b = beta): the fused
// backward recomputes exactly the value the forward wrote.
__device__ inline float bn_affine(float x, float mu, float s, float b) { return fmaf(x - mu, s, b); }
// Whether batch norm's output at x (channel c) is > 0: the ReLU's mask, as the forward's output decides it.
__device__ inline bool bn_positive(float x, long long c, const float* mean, const float* invstd, const float* gamma,
                                   const float* beta) {
  return bn_affine(x, mean[c], invstd[c] * (gamma ? gamma[c] : 1.f), beta ? beta[c] : 0.f) > 0.f;
}

// How the backward reads element i (of channel c) of the output gradient: Grad (batch norm: dy) or ReluGrad
// (batch norm + ReLU: dy where the fused output y > 0, else 0, with y's sign recomputed from x; + 0.f maps -0 to
// +0 as the unfused relu_backward's add into zeros does).
struct Grad {
  const float* dy;
  __device__ float operator()(long long i, long long) const { return dy[i]; }
};
struct ReluGrad {
  const float* dy;
  const float* x;
  const float* mean;
  const float* invstd;
  const float* gamma;
  const float* beta;
  __device__ float operator()(long long i, long long c) const {
    return bn_positive(x[i], c, mean, invstd, gamma, beta) ? dy[i] + 0.f : 0.f;
  }
};

// sum dy and sum dy * (x - mean) (times invstd later: sum dy * xhat)
template <class G>
struct BackwardTerm {
  G dy;
  const float* x;
  const float* mean;
  __device__ Sum2 operator()(long long c, long long idx) const {
    const double mu = mean[c];
    const float g = dy(idx, c);
    return Sum2{g, g * (x[idx] - mu)};
  }
};

__global__ void bn_mean_k(double* mean_d, float* mean, const Sum2* part, int S, long long C, double M) {
  SSMTL_GRID_LOOP(c, C) {
    const double mu = cuda::channel_total(part, c, S).a / M;
    mean_d[c] = mu;
    mean[c] = static_cast<float>(mu);
  }
}

__global__ void bn_var_k(float* var, const Sum2* part, int S, long long C, double M) {
  SSMTL_GRID_LOOP(c, C) var[c] = static_cast<float>(cuda::channel_total(part, c, S).a / M);
}

__global__ void bn_running_k(float* rm, float* rv, const float* mean, const float* var, float momentum,
                             double unbias, long long C) {
  SSMTL_GRID_LOOP(c, C) {
    rm[c] = static_cast<float>((1.0 - momentum) * rm[c] + momentum * static_cast<double>(mean[c]));
    rv[c] = static_cast<float>((1.0 - momentum) * rv[c] + momentum * var[c] * unbias);
  }
}

__global__ void bn_invstd_k(float* invstd, const float* var, float eps, long long C) {
  SSMTL_GRID_LOOP(c, C) invstd[c] = static_cast<float>(1.0 / sqrt(static_cast<double>(var[c]) + eps));
}

// Relu: y = max(0, .) as relu_fw_k writes it (NaN and -0 give +0), for the fused batch norm + ReLU.
template <bool Relu>
struct BnForwardOp {
  float* y;
  const float* x;
  const float* mean;
  const float* invstd;
  const float* gamma;
  const float* beta;
  __device__ void operator()(long long i, long long c) const {
    const float s = invstd[c] * (gamma ? gamma[c] : 1.f);
    const float b = beta ? beta[c] : 0.f;
    const float v = bn_affine(x[i], mean[c], s, b);
    y[i] = Relu ? (v > 0.f ? v : 0.f) : v;
  }
};

// Per channel: dgamma / dbeta, and the coefficients of dx = k (dy - a - (x - mean) b) into coef (3 C).
// part is null when no sums were needed (then a = b = 0).
__global__ void bn_backward_coef_k(float* coef, float* dgamma, float* dbeta, const Sum2* part, int S,
                                   const float* invstd, const float* gamma, bool batch_stats, long long C, double M) {
  SSMTL_GRID_LOOP(c, C) {
    const double is = invstd[c];
    double sdy = 0.0, sdyx = 0.0;
    if (part) {
      const Sum2 t = cuda::channel_total(part, c, S);
      sdy = t.a;
      sdyx = t.b * is;
    }
    if (dgamma) dgamma[c] += static_cast<float>(sdyx);
    if (dbeta) dbeta[c] += static_cast<float>(sdy);
    coef[c] = static_cast<float>(is * (gamma ? gamma[c] : 1.0));
    coef[C + c] = batch_stats ? static_cast<float>(sdy / M) : 0.f;
    coef[2 * C + c] = batch_stats ? static_cast<float>(sdyx * is / M) : 0.f;
  }
}

template <class G>
struct BnDxOp {
  float* dx;
  G dy;
  const float* x;
  const float* mean;
  const float* coef;
  long long C;
  bool add;   // dx += (false: dx =, a new gradient)
  __device__ void operator()(long long i, long long c) const {
    const float v = coef[c] * (dy(i, c) - coef[C + c] - (x[i] - mean[c]) * coef[2 * C + c]);
    dx[i] = add ? dx[i] + v : v;
  }
};

// ---- batch norm + ReLU + (1,2,2) max pooling (kernels/norm_pool.h) ----

// One thread per window: y of its four inputs, the maximum (ties keep the first), its position and x there.
__global__ void bn_relu_pool_fw_k(float* out, uint8_t* idx, float* xmax, const float* x, const float* mean,
                                  const float* invstd, const float* gamma, const float* beta, long long windows,
                                  long long C, long long D, long long H, long long W) {
  const long long oH = H / 2, oW = W / 2;
  SSMTL_GRID_LOOP(o, windows) {
    const long long ow = o % oW, oh = (o / oW) % oH, d = (o / (oW * oH)) % D, p = o / (oW * oH * D), c = p % C;
    const float s = invstd[c] * (gamma ? gamma[c] : 1.f), b = beta ? beta[c] : 0.f;
    const float* x0 = x + ((p * D + d) * H + 2 * oh) * W + 2 * ow;
    const float cand[4] = {x0[0], x0[1], x0[W], x0[W + 1]};
    float m = 0.f;
    int best = 0;
    for (int k = 0; k < 4; ++k) {
      const float v = bn_affine(cand[k], mean[c], s, b);
      const float y = v > 0.f ? v : 0.f;
      if (k == 0 || y > m) m = y, best = k;
    }
    out[o] = m;
    idx[o] = static_cast<uint8_t>(best);
    xmax[o] = cand[best];
  }
}

// Reads element i (of channel c) of y's gradient: dout at its window's winner where y > 0, else 0.
struct PoolReluGrad {
  const float* dout;
  const uint8_t* idx;
  const float* x;
  const float* mean;
  const float* invstd;
  const float* gamma;
  const float* beta;
  long long D, H, W;
  __device__ float operator()(long long i, long long c) const {
    const long long oH = H / 2, oW = W / 2;
    const long long w = i % W, h = (i / W) % H, d = (i / (W * H)) % D, p = i / (W * H * D);
    if (h >= 2 * oH || w >= 2 * oW) return 0.f;
    const long long o = ((p * D + d) * oH + h / 2) * oW + w / 2;
    if (idx[o] != (h & 1) * 2 + (w & 1)) return 0.f;
    return bn_positive(x[i], c, mean, invstd, gamma, beta) ? dout[o] + 0.f : 0.f;
  }
};

// ---- layer norm ----

constexpr int kWarps = cuda::kThreads / 32;
#define SSMTL_ROW_LOOP(r, rows)                                                                  \
  for (long long r = (long long)blockIdx.x * kWarps + (threadIdx.x >> 5); r < (long long)(rows); \
       r += (long long)gridDim.x * kWarps)

__global__ void ln_forward_k(float* y, float* mean, float* invstd, const float* x, const float* gamma,
                             const float* beta, float eps, long long rows, long long D) {
  const int lane = threadIdx.x & 31;
  SSMTL_ROW_LOOP(r, rows) {
    const float* p = x + r * D;
    double s = 0.0;
    for (long long d = lane; d < D; d += 32) s += p[d];
    const double mu = cuda::warp_sum(s) / static_cast<double>(D);
    double q = 0.0;
    for (long long d = lane; d < D; d += 32) {
      const double t = p[d] - mu;
      q += t * t;
    }
    q = cuda::warp_sum(q);
    const float muf = static_cast<float>(mu);
    const float is = static_cast<float>(1.0 / sqrt(q / static_cast<double>(D) + static_cast<double>(eps)));
    if (lane == 0) {
      mean[r] = muf;
      invstd[r] = is;
    }
    float* o = y + r * D;
    for (long long d = lane; d < D; d += 32)
      o[d] = (p[d] - muf) * is * (gamma ? gamma[d] : 1.f) + (beta ? beta[d] : 0.f);
  }
}

__global__ void ln_dx_k(float* dx, const float* dy, const float* x, const float* mean, const float* invstd,
                        const float* gamma, bool add_dx, long long rows, long long D) {
  const int lane = threadIdx.x & 31;
  SSMTL_ROW_LOOP(r, rows) {
    const float* g = dy + r * D;
    const float* p = x + r * D;
    const float mu = mean[r], is = invstd[r];
    double sg = 0.0, sgx = 0.0;
    for (long long d = lane; d < D; d += 32) {
      const float gd = g[d] * (gamma ? gamma[d] : 1.f);
      sg += gd;
      sgx += static_cast<double>(gd) * ((p[d] - mu) * is);
    }
    const float a = static_cast<float>(cuda::warp_sum(sg) / static_cast<double>(D));
    const float b = static_cast<float>(cuda::warp_sum(sgx) / static_cast<double>(D));
    float* o = dx + r * D;
    for (long long d = lane; d < D; d += 32)
      o[d] = (add_dx ? o[d] : 0.f) + is * (g[d] * (gamma ? gamma[d] : 1.f) - a - (p[d] - mu) * is * b);
  }
}
#undef SSMTL_ROW_LOOP

// Column terms of layer-norm backward: (dy * xhat, dy) at (r, d).
struct LnColumnTerm {
  const float* dy;
  const float* x;
  const float* mean;
  const float* invstd;
  long long D;
  __device__ Sum2 operator()(long long r, long long d) const {
    const long long i = r * D + d;
    return Sum2{static_cast<double>(dy[i]) * ((x[i] - mean[r]) * invstd[r]), dy[i]};
  }
};
}  // namespace

void batch_norm_stats_cuda(float* mean, float* var, const float* x, int64_t N, int64_t C, int64_t inner) {
  if (C == 0) return;
  const int S = cuda::channel_segments(N * inner, C);
  const double M = static_cast<double>(N * inner);
  cuda::Scratch<Sum2> part(static_cast<size_t>(C * S));
  cuda::Scratch<double> mean_d(static_cast<size_t>(C));
  cuda::channel_partials(part.get(), N, C, inner, ValueTerm{x});
  bn_mean_k<<<cuda::grid_for(C), cuda::kThreads>>>(mean_d.get(), mean, part.get(), S, C, M);
  CUDA_CHECK_LAST();
  cuda::channel_partials(part.get(), N, C, inner, CentredSquareTerm{x, mean_d.get()});
  bn_var_k<<<cuda::grid_for(C), cuda::kThreads>>>(var, part.get(), S, C, M);
  CUDA_CHECK_LAST();
}

void batch_norm_update_running_cuda(float* running_mean, float* running_var, const float* mean, const float* var,
                                    float momentum, int64_t M, int64_t C) {
  if (C == 0) return;
  const double unbias = static_cast<double>(M) / static_cast<double>(M - 1);
  bn_running_k<<<cuda::grid_for(C), cuda::kThreads>>>(running_mean, running_var, mean, var, momentum, unbias, C);
  CUDA_CHECK_LAST();
}

void batch_norm_invstd_cuda(float* invstd, const float* var, float eps, int64_t C) {
  if (C == 0) return;
  bn_invstd_k<<<cuda::grid_for(C), cuda::kThreads>>>(invstd, var, eps, C);
  CUDA_CHECK_LAST();
}

void batch_norm_forward_cuda(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                             const float* beta, int64_t N, int64_t C, int64_t inner) {
  cuda::channel_map(N, C, inner, BnForwardOp<false>{y, x, mean, invstd, gamma, beta});
}

void batch_norm_relu_forward_cuda(float* y, const float* x, const float* mean, const float* invstd,
                                  const float* gamma, const float* beta, int64_t N, int64_t C, int64_t inner) {
  cuda::channel_map(N, C, inner, BnForwardOp<true>{y, x, mean, invstd, gamma, beta});
}

namespace {
template <class G>
void bn_backward(float* dx, float* dgamma, float* dbeta, G dy, const float* x, const float* mean, const float* invstd,
                 const float* gamma, bool batch_stats, bool add_dx, int64_t N, int64_t C, int64_t inner) {
  if (C == 0 || (!dx && !dgamma && !dbeta)) return;
  const bool need_sums = dgamma || dbeta || (dx && batch_stats);
  const int S = cuda::channel_segments(N * inner, C);
  const double M = static_cast<double>(N * inner);
  cuda::Scratch<Sum2> part(need_sums ? static_cast<size_t>(C * S) : 1);
  cuda::Scratch<float> coef(static_cast<size_t>(3 * C));
  if (need_sums) cuda::channel_partials(part.get(), N, C, inner, BackwardTerm<G>{dy, x, mean});
  bn_backward_coef_k<<<cuda::grid_for(C), cuda::kThreads>>>(coef.get(), dgamma, dbeta, need_sums ? part.get() : nullptr,
                                                            S, invstd, gamma, batch_stats, C, M);
  CUDA_CHECK_LAST();
  if (dx) cuda::channel_map(N, C, inner, BnDxOp<G>{dx, dy, x, mean, coef.get(), C, add_dx});
}
}  // namespace

void batch_norm_backward_cuda(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                              const float* mean, const float* invstd, const float* gamma, bool batch_stats,
                              bool add_dx, int64_t N, int64_t C, int64_t inner) {
  bn_backward(dx, dgamma, dbeta, Grad{dy}, x, mean, invstd, gamma, batch_stats, add_dx, N, C, inner);
}

void batch_norm_relu_backward_cuda(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                                   const float* mean, const float* invstd, const float* gamma, const float* beta,
                                   bool batch_stats, bool add_dx, int64_t N, int64_t C, int64_t inner) {
  bn_backward(dx, dgamma, dbeta, ReluGrad{dy, x, mean, invstd, gamma, beta}, x, mean, invstd, gamma, batch_stats,
              add_dx, N, C, inner);
}

void batch_norm_relu_pool_forward_cuda(float* out, uint8_t* idx, float* xmax, const float* x, const float* mean,
                                       const float* invstd, const float* gamma, const float* beta, int64_t N,
                                       int64_t C, int64_t D, int64_t H, int64_t W) {
  const long long windows = N * C * D * (H / 2) * (W / 2);
  if (windows == 0) return;
  bn_relu_pool_fw_k<<<cuda::grid_for(windows), cuda::kThreads>>>(out, idx, xmax, x, mean, invstd, gamma, beta,
                                                                 windows, C, D, H, W);
  CUDA_CHECK_LAST();
}

// The sums run over every element (the non-winners read 0), as batch norm + ReLU's: xmax is not needed here.
void batch_norm_relu_pool_backward_cuda(float* dx, float* dgamma, float* dbeta, const float* dout,
                                        const uint8_t* idx, const float*, const float* x, const float* mean,
                                        const float* invstd, const float* gamma, const float* beta, bool batch_stats,
                                        bool add_dx, int64_t N, int64_t C, int64_t D, int64_t H, int64_t W) {
  bn_backward(dx, dgamma, dbeta, PoolReluGrad{dout, idx, x, mean, invstd, gamma, beta, D, H, W}, x, mean, invstd,
              gamma, batch_stats, add_dx, N, C, D * H * W);
}

void layer_norm_forward_cuda(float* y, float* mean, float* invstd, const float* x, const float* gamma,
                             const float* beta, float eps, int64_t rows, int64_t D) {
  if (rows == 0 || D == 0) return;
  ln_forward_k<<<cuda::blocks_for(rows, kWarps), cuda::kThreads>>>(y, mean, invstd, x, gamma, beta, eps, rows, D);
  CUDA_CHECK_LAST();
}

void layer_norm_backward_cuda(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                              const float* mean, const float* invstd, const float* gamma, bool add_dx, int64_t rows,
                              int64_t D) {
  if (rows == 0 || D == 0) return;
  if (dx) {
    ln_dx_k<<<cuda::blocks_for(rows, kWarps), cuda::kThreads>>>(dx, dy, x, mean, invstd, gamma, add_dx, rows, D);
    CUDA_CHECK_LAST();
  }
  if (!dgamma && !dbeta) return;
  cuda::Scratch<Sum2> part(static_cast<size_t>(cuda::column_parts(rows) * D));
  cuda::column_partials(part.get(), rows, D, LnColumnTerm{dy, x, mean, invstd, D});
  cuda::column_finish(dgamma, dbeta, part.get(), rows, D);
}

}  // namespace ssmtl::kernels
