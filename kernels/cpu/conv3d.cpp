// General 3-D convolution on the CPU: vol2col of a chunk of output rows + one GEMM per group.
//
// Work unit = (sample n, output depth slice od, block of output rows). Its column matrix
// col[(ci, kd, kh, kw), (oh, ow)] has at most kColBudget floats, so it stays in the core's cache between being
// written and being read by the GEMM, and memory never grows with the batch. OpenMP threads take whole units
// and call a single-threaded GEMM (kernels/matmul.h), so there is exactly one level of parallelism.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/conv3d.h"
#include "kernels/cpu/aligned.h"
#include "kernels/cpu/conv3d_direct.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "kernels/norm.h"

namespace ssmtl::kernels {

namespace {

// Below this many multiply-adds a convolution runs on one thread (waking a team costs more than it saves).
constexpr double kParallelMacs = 1 << 18;

// Floats per thread for one column chunk (512 KiB: half of a 1 MiB L2, the rest holds weights and output).
constexpr int64_t kColBudget = int64_t{1} << 17;

// How one sample's output is cut into units, and the GEMM sizes.
struct Plan {
  int64_t Cin_g, Cout_g;
  int64_t Kg;        // column rows per group: Cin_g * kD * kH * kW (= GEMM reduction size)
  int64_t K;         // column rows, all groups
  int64_t rows;      // output rows per unit
  int64_t chunks;    // units per output depth slice
  int64_t in_vol;    // D * H * W
  int64_t out_vol;   // Do * Ho * Wo
  bool pointwise;    // 1x1x1 kernel, stride 1, no padding: the input slice is its own column matrix
  bool parallel;     // worth more than one thread
};

Plan make_plan(const Conv3dGeometry& g) {
  Plan p;
  p.Cin_g = g.Cin / g.groups;
  p.Cout_g = g.Cout / g.groups;
  p.Kg = p.Cin_g * g.kD * g.kH * g.kW;
  p.K = p.Kg * g.groups;
  p.in_vol = g.D * g.H * g.W;
  p.out_vol = g.Do * g.Ho * g.Wo;
  p.pointwise = g.kD == 1 && g.kH == 1 && g.kW == 1 && g.sD == 1 && g.sH == 1 && g.sW == 1 && g.pD == 0 &&
                g.pH == 0 && g.pW == 0;
  if (p.pointwise) {
    p.rows = g.Ho;
  } else {
    // Balanced chunks: as few as the budget allows, with equal row counts.
    const int64_t fit = std::max<int64_t>(1, kColBudget / std::max<int64_t>(1, p.K * g.Wo));
    const int64_t n = (g.Ho + fit - 1) / fit;
    p.rows = (g.Ho + n - 1) / n;
  }
  p.chunks = (g.Ho + p.rows - 1) / p.rows;
  p.parallel = static_cast<double>(g.N) * p.out_vol * g.Cout * p.Kg > kParallelMacs && g.N * g.Do * p.chunks > 1;
  return p;
}

// Output positions o in [lo, hi) whose input index o * s - p + k lies inside [0, n).
void valid_range(int64_t n, int64_t out, int64_t s, int64_t p, int64_t k, int64_t& lo, int64_t& hi) {
  lo = k >= p ? 0 : (p - k + s - 1) / s;
  const int64_t last = n - 1 + p - k;   // largest o * s allowed
  hi = last < 0 ? 0 : std::min(out, last / s + 1);
  lo = std::min(lo, hi);
}

// col[(ci, kd, kh, kw), (oh - oh0) * Wo + ow] = x[ci, od*sD - pD + kd, oh*sH - pH + kh, ow*sW - pW + kw] (0 outside)
// for one sample xn (Cin, D, H, W), output depth slice od and output rows [oh0, oh1).
void vol2col(float* col, const float* xn, const Conv3dGeometry& g, int64_t od, int64_t oh0, int64_t oh1) {
  const int64_t P = (oh1 - oh0) * g.Wo;
  float* row = col;
  for (int64_t c = 0; c < g.Cin; ++c)
    for (int64_t kd = 0; kd < g.kD; ++kd) {
      const int64_t id = od * g.sD - g.pD + kd;
      if (id < 0 || id >= g.D) {
        std::fill(row, row + g.kH * g.kW * P, 0.f);
        row += g.kH * g.kW * P;
        continue;
      }
      const float* plane = xn + (c * g.D + id) * g.H * g.W;
      for (int64_t kh = 0; kh < g.kH; ++kh)
        for (int64_t kw = 0; kw < g.kW; ++kw, row += P) {
          int64_t lo, hi;
          valid_range(g.W, g.Wo, g.sW, g.pW, kw, lo, hi);
          for (int64_t oh = oh0; oh < oh1; ++oh) {
            float* dst = row + (oh - oh0) * g.Wo;
            const int64_t ih = oh * g.sH - g.pH + kh;
            if (ih < 0 || ih >= g.H) {
              std::fill(dst, dst + g.Wo, 0.f);
              continue;
            }
            const float* src = plane + ih * g.W + (lo * g.sW - g.pW + kw);   // input of output column lo
            std::fill(dst, dst + lo, 0.f);
            if (g.sW == 1)
              std::memcpy(dst + lo, src, static_cast<size_t>(hi - lo) * sizeof(float));
            else
              for (int64_t j = 0; j < hi - lo; ++j) dst[lo + j] = src[j * g.sW];
            std::fill(dst + hi, dst + g.Wo, 0.f);
          }
        }
    }
}

// The adjoint of vol2col: dxn[ci, id, ih, iw] += col[...] for every in-range position (same indexing).
void col2vol_add(float* dxn, const float* col, const Conv3dGeometry& g, int64_t od, int64_t oh0, int64_t oh1) {
  const int64_t P = (oh1 - oh0) * g.Wo;
  const float* row = col;
  for (int64_t c = 0; c < g.Cin; ++c)
    for (int64_t kd = 0; kd < g.kD; ++kd) {
      const int64_t id = od * g.sD - g.pD + kd;
      if (id < 0 || id >= g.D) {
        row += g.kH * g.kW * P;
        continue;
      }
      float* plane = dxn + (c * g.D + id) * g.H * g.W;
      for (int64_t kh = 0; kh < g.kH; ++kh)
        for (int64_t kw = 0; kw < g.kW; ++kw, row += P) {
          int64_t lo, hi;
          valid_range(g.W, g.Wo, g.sW, g.pW, kw, lo, hi);
          for (int64_t oh = oh0; oh < oh1; ++oh) {
            const int64_t ih = oh * g.sH - g.pH + kh;
            if (ih < 0 || ih >= g.H) continue;
            const float* src = row + (oh - oh0) * g.Wo + lo;
            float* dst = plane + ih * g.W + (lo * g.sW - g.pW + kw);
            if (g.sW == 1)
              for (int64_t j = 0; j < hi - lo; ++j) dst[j] += src[j];
            else
              for (int64_t j = 0; j < hi - lo; ++j) dst[j * g.sW] += src[j];
          }
        }
    }
}

// One unit of work, decoded from its index u in [0, N * Do * chunks).
struct Unit {
  int64_t n, od, oh0, oh1, P;
};

Unit unit(const Conv3dGeometry& g, const Plan& p, int64_t u) {
  Unit r;
  r.n = u / (g.Do * p.chunks);
  r.od = (u / p.chunks) % g.Do;
  r.oh0 = (u % p.chunks) * p.rows;
  r.oh1 = std::min(g.Ho, r.oh0 + p.rows);
  r.P = (r.oh1 - r.oh0) * g.Wo;
  return r;
}

// The column matrix of a unit (rows = Cin * kvol, row stride *ldb): the input itself for a pointwise kernel,
// else vol2col into `col`.
const float* columns(float* col, const float* xn, const Conv3dGeometry& g, const Plan& p, const Unit& u,
                     int64_t* ldb) {
  if (p.pointwise) {
    *ldb = p.in_vol;
    return xn + u.od * g.H * g.W + u.oh0 * g.W;
  }
  vol2col(col, xn, g, u.od, u.oh0, u.oh1);
  *ldb = u.P;
  return col;
}

}  // namespace

void conv3d_forward_cpu(float* out, const float* x, const float* w, const float* bias, const Conv3dGeometry& g) {
  if (detail::conv3d_direct_applicable(g)) return detail::conv3d_direct_forward(out, x, w, bias, g);
  const Plan p = make_plan(g);
  const int64_t units = g.N * g.Do * p.chunks;
#pragma omp parallel if (p.parallel)
  {
    avector<float> col(p.pointwise ? 0 : static_cast<size_t>(p.K * p.rows * g.Wo));
#pragma omp for schedule(static)
    for (int64_t i = 0; i < units; ++i) {
      const Unit u = unit(g, p, i);
      int64_t ldb = 0;
      const float* cols = columns(col.data(), x + u.n * g.Cin * p.in_vol, g, p, u, &ldb);
      // Output block (Cout, P) with row stride out_vol.
      float* o = out + u.n * g.Cout * p.out_vol + (u.od * g.Ho + u.oh0) * g.Wo;
      if (bias)
        for (int64_t co = 0; co < g.Cout; ++co) std::fill(o + co * p.out_vol, o + co * p.out_vol + u.P, bias[co]);
      for (int64_t gr = 0; gr < g.groups; ++gr)
        gemm_serial_cpu(o + gr * p.Cout_g * p.out_vol, w + gr * p.Cout_g * p.Kg, cols + gr * p.Kg * ldb, p.Cout_g,
                        u.P, p.Kg, false, false, 1.f, bias ? 1.f : 0.f, p.Kg, ldb, p.out_vol);
    }
  }
}

void conv3d_bn_relu_forward_cpu(float* out, const float* x, const float* w, const float* bias, const BnRelu& bn,
                                const Conv3dGeometry& g) {
  const bool depthwise = g.groups == g.Cin && g.Cout == g.Cin;
  if (!depthwise && detail::conv3d_direct_applicable(g)) return detail::conv3d_direct_forward(out, x, w, bias, g, &bn);
  // Other paths (strided, 1x1x1, depthwise): the convolution, then batch norm + ReLU in place over its output.
  if (depthwise)
    conv3d_depthwise_forward_cpu(out, x, w, bias, g);
  else
    conv3d_forward_cpu(out, x, w, bias, g);
  batch_norm_relu_forward_cpu(out, out, bn.mean, bn.invstd, bn.gamma, bn.beta, g.N, g.Cout, g.Do * g.Ho * g.Wo);
}

void conv3d_backward_cpu(float* dx, float* dw, float* dbias, const float* dout, const float* x, const float* w,
                         bool add_dx, const Conv3dGeometry& g) {
  const Plan p = make_plan(g);
  if (dbias) channel_sum_backward_cpu(dbias, dout, g.N, g.Cout, p.out_vol);
  if (!dx && !dw) return;
  if (detail::conv3d_direct_applicable(g)) return detail::conv3d_direct_backward(dx, dw, dout, x, w, add_dx, g);
  const int nt = p.parallel ? omp_get_max_threads() : 1;
  const int64_t wsize = g.Cout * p.Kg;
  // Per-thread weight gradients, summed in thread order at the end (deterministic for a fixed thread count).
  avector<float> dw_part(dw ? static_cast<size_t>(nt * wsize) : 0, 0.f);
  // With dx a thread owns whole samples: units of neighbouring depth slices add into the same input slices.
  const int64_t per_task = dx ? g.Do * p.chunks : 1;
  const int64_t tasks = g.N * g.Do * p.chunks / per_task;
  const size_t colsize = p.pointwise ? 0 : static_cast<size_t>(p.K * p.rows * g.Wo);
#pragma omp parallel num_threads(nt)
  {
    avector<float> col(dw ? colsize : 0), dcol(dx ? colsize : 0);
    float* dwp = dw ? dw_part.data() + omp_get_thread_num() * wsize : nullptr;
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      if (dx && !add_dx)   // a new dx: this task's sample zeroed while it is about to be in cache, then added into
        std::fill(dx + t * g.Cin * p.in_vol, dx + (t + 1) * g.Cin * p.in_vol, 0.f);
      for (int64_t i = t * per_task; i < (t + 1) * per_task; ++i) {
        const Unit u = unit(g, p, i);
        const float* xn = x + u.n * g.Cin * p.in_vol;
        const float* go = dout + u.n * g.Cout * p.out_vol + (u.od * g.Ho + u.oh0) * g.Wo;   // (Cout, P)
        if (dwp) {   // dw_g (Cout_g, Kg) += dout_g (Cout_g, P) col_g^T
          int64_t ldb = 0;
          const float* cols = columns(col.data(), xn, g, p, u, &ldb);
          for (int64_t gr = 0; gr < g.groups; ++gr)
            gemm_serial_cpu(dwp + gr * p.Cout_g * p.Kg, go + gr * p.Cout_g * p.out_vol, cols + gr * p.Kg * ldb,
                            p.Cout_g, p.Kg, u.P, false, true, 1.f, 1.f, p.out_vol, ldb, p.Kg);
        }
        if (dx) {   // dcol_g (Kg, P) = w_g^T dout_g, then scattered back onto the input
          float* dxn = dx + u.n * g.Cin * p.in_vol;
          if (p.pointwise) {
            float* d = dxn + u.od * g.H * g.W + u.oh0 * g.W;
            for (int64_t gr = 0; gr < g.groups; ++gr)
              gemm_serial_cpu(d + gr * p.Kg * p.in_vol, w + gr * p.Cout_g * p.Kg, go + gr * p.Cout_g * p.out_vol,
                              p.Kg, u.P, p.Cout_g, true, false, 1.f, 1.f, p.Kg, p.out_vol, p.in_vol);
          } else {
            for (int64_t gr = 0; gr < g.groups; ++gr)
              gemm_serial_cpu(dcol.data() + gr * p.Kg * u.P, w + gr * p.Cout_g * p.Kg,
                              go + gr * p.Cout_g * p.out_vol, p.Kg, u.P, p.Cout_g, true, false, 1.f, 0.f, p.Kg,
                              p.out_vol, u.P);
            col2vol_add(dxn, dcol.data(), g, u.od, u.oh0, u.oh1);
          }
        }
      }
    }
  }
  if (dw) {   // small: not worth another parallel region
    for (int64_t i = 0; i < wsize; ++i) {
      float s = 0.f;
      for (int t = 0; t < nt; ++t) s += dw_part[t * wsize + i];
      dw[i] += s;
    }
  }
}

}  // namespace ssmtl::kernels
