// The MLP half of a CvT block at inference in one op (kernels/matmul.h mlp_residual_forward_cpu). Each thread
// takes chunks of rows and runs the whole half on one chunk before the next: LayerNorm into a scratch, the first
// product with GELU as its epilogue, the second product added onto a copy of x (the residual). The chunk's
// LayerNorm output and hidden layer (4 x the token width, the block's widest activation) never leave the
// thread's L2, and the weights are packed once per call (PackedPanelB) instead of once per product. On AMX tiles
// the chunks go through kernels/cpu/mlp_block_amx.cpp instead, whose hidden layer is bf16 in L1.
// Bits: every kernel computes each row on its own (LayerNorm's row sums; products summed over k in a fixed order
// per row: kernels/cpu/gemm_panel.h), so the chunking changes none; the epilogue order (acc + b2) + x is the bits
// of add's x + (acc + b2).
#include <omp.h>

#include <algorithm>
#include <vector>

#include "kernels/activation.h"
#include "kernels/cpu/aligned.h"
#include "kernels/cpu/gemm_panel.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "kernels/norm.h"
#include "kernels/precision.h"

namespace ssmtl::kernels {
namespace {

// The four kernels over all rows in turn: CPUs without the panel path (no AVX-512, widths not multiples of 16),
// or a caller already inside a parallel region.
void composed(float* y, const float* x, const float* ln_gamma, const float* ln_beta, float eps, const float* w1,
              const float* b1, const float* w2, const float* b2, int64_t M, int64_t D, int64_t H) {
  avector<float> a(static_cast<size_t>(M * D)), mean(static_cast<size_t>(M)), invstd(static_cast<size_t>(M));
  avector<float> h(static_cast<size_t>(M * H)), m(static_cast<size_t>(M * D));
  layer_norm_forward_cpu(a.data(), mean.data(), invstd.data(), x, ln_gamma, ln_beta, eps, M, D);
  linear_gelu_forward_cpu(h.data(), nullptr, a.data(), w1, b1, M, D, H);
  linear_forward_cpu(m.data(), h.data(), w2, b2, M, H, D);
  add_forward_cpu(y, x, m.data(), 1.f, M * D);
}

}  // namespace

void mlp_residual_forward_cpu(float* y, const float* x, const float* ln_gamma, const float* ln_beta, float eps,
                              const float* w1, const float* b1, const float* w2, const float* b2, int64_t M,
                              int64_t D, int64_t H) {
  if (M <= 0 || D <= 0) return;
  if (!panel_path_applies(H) || !panel_path_applies(D) || omp_in_parallel()) {
    composed(y, x, ln_gamma, ln_beta, eps, w1, b1, w2, b2, M, D, H);
    return;
  }
  const int64_t chunks = (M + kMlpChunkRows - 1) / kMlpChunkRows;
  if (use_amx_products()) {   // the hidden layer in bf16 only (kernels/cpu/mlp_block_amx.cpp)
    const avector<uint16_t> p1 = detail::pack_panels_amx(w1, H, D, true), p2 = detail::pack_panels_amx(w2, D, H, true);
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t r0 = c * kMlpChunkRows, R = std::min(kMlpChunkRows, M - r0);
      detail::mlp_residual_amx_rows(y + r0 * D, x + r0 * D, ln_gamma, ln_beta, eps, p1.data(), b1, p2.data(), b2, R,
                                    D, H);
    }
    return;
  }
  const PackedPanelB fc1(w1, H, D, true), fc2(w2, D, H, true);
#pragma omp parallel if (chunks > 1)
  {
    avector<float> a(static_cast<size_t>(kMlpChunkRows * D)), h(static_cast<size_t>(kMlpChunkRows * H));
    avector<float> mean(static_cast<size_t>(kMlpChunkRows)), invstd(static_cast<size_t>(kMlpChunkRows));
    const detail::GeluRows gelu{h.data(), h.data(), H};   // in place, as linear_gelu_forward_cpu without z
    const RowEpilogue epilogue{&detail::GeluRows::run, &gelu};
#pragma omp for schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t r0 = c * kMlpChunkRows, R = std::min(kMlpChunkRows, M - r0);
      const float* xr = x + r0 * D;
      float* yr = y + r0 * D;
      layer_norm_forward_cpu(a.data(), mean.data(), invstd.data(), xr, ln_gamma, ln_beta, eps, R, D);
      fc1.rows(h.data(), a.data(), b1, R, false, &epilogue);
      std::copy(xr, xr + R * D, yr);
      fc2.rows(yr, h.data(), b2, R, true);
    }
  }
}

}  // namespace ssmtl::kernels
