// The CvT block's MLP half at inference on AMX tiles (kernels/matmul.h mlp_residual_forward_cpu when
// kernels::use_amx_products()), with the hidden layer never stored in float32: per block of 32 token rows,
// LayerNorm into a float32 scratch, its rows to bf16 as the first product's A tiles, each 32 x 32 result tile of
// the first product + bias through GELU and straight to bf16 as the second product's A tiles (32 x H, 24 KiB for
// H = 384: the whole hidden block stays in L1), then y = (second product + bias) + x.
// Against running the chunks through PackedPanelB::rows (as mlp_block.cpp still does on the fp32 and AVX512_BF16
// paths) this drops, per hidden value, a float32 store, GELU's separate read and write, and the second product's
// float32 read and conversion.
// Bits: the same as that path and as the composition of the four kernels. Each hidden value is the same float32
// (the first product's sum over k in tile order, + bias, as finish_rows adds it), GELU is detail::gelu_rows
// (an element's bits depend only on its value), and the second product rounds it to bf16 with VCVTNEPS2BF16 as
// its own conversion would; the residual is added as (acc + b2) + x, add's x + (acc + b2).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"   // GCC 12's AVX-512 intrinsics (see gemm_panel_amx.cpp)
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels/activation.h"
#include "kernels/cpu/aligned.h"
#include "kernels/cpu/amx.h"
#include "kernels/cpu/bf16.h"
#include "kernels/cpu/gemm_panel.h"
#include "kernels/norm.h"

namespace ssmtl::kernels::detail {
namespace {

constexpr int kT = 16;          // rows of a tile; float32 columns of a C tile
constexpr int kStep = 32;       // k values per TDPBF16PS
constexpr int kTile = 512;      // bf16 values in one A or B tile
constexpr int64_t kBlock = 32;  // token rows per block: two tile rows

int64_t padded(int64_t k) { return (k + kStep - 1) / kStep * kStep; }

// The operands of result columns [n0, n0 + 32) for A = ab (32 rows of Kp bf16) and B packed by pack_panels_amx.
amx::Operands operands(const uint16_t* ab, const uint16_t* packed, int64_t n0, int64_t Kp) {
  return amx::Operands{ab, kStep, Kp * 2, kT * Kp, packed + n0 * Kp, kTile, 64, kT * Kp, Kp / kStep};
}

// out (rows x 16 nv, rows 32 floats apart) += bias, in place, in finish_rows' order (acc + bias); none when
// bias is null.
SSMTL_AMX_TARGET void add_bias(float* out, int rows, int nv, const float* bias) {
  if (!bias) return;
  for (int r = 0; r < rows; ++r)
    for (int v = 0; v < nv; ++v) {
      float* p = out + r * 2 * kT + kT * v;
      _mm512_storeu_ps(p, _mm512_add_ps(_mm512_loadu_ps(p), _mm512_loadu_ps(bias + kT * v)));
    }
}

// y rows [0, rows) x columns [0, 16 nv) (rows ldy apart) = (out + bias) + x (rows of x ldy apart too; no bias
// when null).
SSMTL_AMX_TARGET void residual_rows(float* y, const float* x, int64_t ldy, const float* out, int rows, int nv,
                                    const float* bias) {
  for (int r = 0; r < rows; ++r)
    for (int v = 0; v < nv; ++v) {
      __m512 acc = _mm512_loadu_ps(out + r * 2 * kT + kT * v);
      if (bias) acc = _mm512_add_ps(acc, _mm512_loadu_ps(bias + kT * v));
      _mm512_storeu_ps(y + r * ldy + kT * v, _mm512_add_ps(acc, _mm512_loadu_ps(x + r * ldy + kT * v)));
    }
}

}  // namespace

void mlp_residual_amx_rows(float* y, const float* x, const float* ln_gamma, const float* ln_beta, float eps,
                           const uint16_t* packed1, const float* b1, const uint16_t* packed2, const float* b2,
                           int64_t M, int64_t D, int64_t H) {
  const int64_t Kp1 = padded(D), Kp2 = padded(H);
  // Pad columns of both A blocks stay zero (B's pad rows are zero too: 0 x 0 adds nothing). Rows past the last
  // block's end keep earlier (finite) values whose results are never written.
  avector<uint16_t> a16(static_cast<size_t>(kBlock * Kp1), 0), h16(static_cast<size_t>(kBlock * Kp2), 0);
  avector<float> a(static_cast<size_t>(kBlock * D)), mean(kBlock), invstd(kBlock);
  avector<float> out(static_cast<size_t>(kBlock * 2 * kT), 0.f);
  const amx::AmxTiles tiles(amx::full_tiles());
  for (int64_t r0 = 0; r0 < M; r0 += kBlock) {
    const int rows = static_cast<int>(std::min(kBlock, M - r0)), mi = rows > kT ? 2 : 1;
    layer_norm_forward_cpu(a.data(), mean.data(), invstd.data(), x + r0 * D, ln_gamma, ln_beta, eps, rows, D);
    for (int r = 0; r < rows; ++r) bf16::convert_row(a16.data() + r * Kp1, a.data() + r * D, D);
    for (int64_t n0 = 0; n0 < H; n0 += 2 * kT) {   // hidden columns [n0, n0 + 32): GELU, then to bf16
      const int nj = H - n0 > kT ? 2 : 1;
      amx::block_product(mi, nj, out.data(), 2 * kT, false, operands(a16.data(), packed1, n0, Kp1));
      add_bias(out.data(), rows, nj, b1 ? b1 + n0 : nullptr);
      gelu_rows(out.data(), out.data(), rows * 2 * kT);   // columns past 16 nj: stale finite values, unused
      for (int r = 0; r < rows; ++r) bf16::convert_row(h16.data() + r * Kp2 + n0, out.data() + r * 2 * kT, kT * nj);
    }
    for (int64_t n0 = 0; n0 < D; n0 += 2 * kT) {   // output columns [n0, n0 + 32), with the residual
      const int nj = D - n0 > kT ? 2 : 1;
      amx::block_product(mi, nj, out.data(), 2 * kT, false, operands(h16.data(), packed2, n0, Kp2));
      residual_rows(y + r0 * D + n0, x + r0 * D + n0, D, out.data(), rows, nj, b2 ? b2 + n0 : nullptr);
    }
  }
}

}  // namespace ssmtl::kernels::detail
