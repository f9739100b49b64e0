// The AMX twins of kernels/cpu/gemm_panel_bf16.cpp (chosen in gemm_panel.cpp when kernels::use_amx_products()):
// the same products of bf16-rounded factors (VCVTNEPS2BF16 / VCVTNE2PS2BF16, round to nearest even, as the
// AVX512_BF16 path), summed in float32 by TDPBF16PS on 16 x 16 tiles instead of VDPBF16PS on vectors.
// TDPBF16PS (Intel SDM vol. 2, "TDPBF16PS"; the Intrinsics Guide's _tile_dpbf16ps) does, for every row m and
// column n of C and each pair p of the 32 k of one step:
//   C[m][n] += A[m][2p] * B[p][2n] ; C[m][n] += A[m][2p+1] * B[p][2n+1]     (float32, input denormals as zero)
// so an A tile holds 16 rows of 32 consecutive k and a B tile the "VNNI" layout: 16 pair-rows of 16 columns,
// B[k][n] at row k / 2, element 2 n + k % 2 (kernels/cpu/amx.h).
// Tiles (palette 1, all 16 rows x 64 bytes): C in tmm0-3 as 2 x 2 blocks of 16 x 16 float32 (four independent
// sums keep the unit busy), A in tmm4-5, B in tmm6-7. Every B tile (and the weight gradient's A tiles) is packed
// as 1 KiB in a row: a tile load then reads whole consecutive cache lines, which L2's prefetcher follows (rows
// far apart halve the speed). K (or R) is padded with zeros to a multiple of 32 in BOTH factors (0 x 0 adds
// nothing, while 0 x stale data could make a NaN). Each element of C is summed in a fixed order by one thread,
// so results do not depend on the thread count.

// GCC 12 flags the self-initialised undefined vectors inside its own AVX-512 intrinsics (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "kernels/cpu/aligned.h"
#include "kernels/cpu/amx.h"
#include "kernels/cpu/bf16.h"
#include "kernels/cpu/gemm_panel.h"

namespace ssmtl::kernels::detail {
namespace {

constexpr int kT = 16;          // rows of a tile; float32 columns of a C tile; pair-rows of a B tile
constexpr int kStep = 32;       // k values per TDPBF16PS (one 64-byte row of an A tile)
constexpr int kTile = 512;      // bf16 values in one A or B tile (16 x 32)
constexpr int64_t kBlock = 32;  // rows of C per forward block: two tile rows; the epilogue's granularity

// ---- packing ------------------------------------------------------------------------------------------------

// One VNNI pair-row in every 16-column tile of a B operand: dst + jb * block gets the pairs (row0[16 jb + j],
// row1[16 jb + j]), j < 16, for each jb < n / 16 (n a multiple of 16; a null row reads as zeros).
SSMTL_AMX_TARGET void pair_row(uint16_t* dst, int64_t block, const float* row0, const float* row1, int64_t n) {
  for (int64_t j0 = 0; j0 < n; j0 += kT) {
    const __m512 x0 = row0 ? _mm512_loadu_ps(row0 + j0) : _mm512_setzero_ps();
    const __m512 x1 = row1 ? _mm512_loadu_ps(row1 + j0) : _mm512_setzero_ps();
    _mm512_storeu_si512(dst + j0 / kT * block, bf16::pairs(x0, x1));
  }
}

// A 16 x 16 block of 32-bit values (rows `stride` apart) transposed into 16 consecutive rows of 64 bytes.
SSMTL_AMX_TARGET void transpose_pairs(uint16_t* dst, const uint16_t* src, int64_t stride) {
  __m512i r[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512(src + i * stride);
  amx::transpose16(r);
  for (int i = 0; i < 16; ++i) _mm512_storeu_si512(dst + i * kStep, r[i]);
}

// op(B) as B tiles: for each 16-column block nb, Kp / 2 pair-rows, packed[((nb Kp / 2 + kk) 16 + j) 2 + e] =
// bf16(op(B)[2 kk + e][16 nb + j]), zero for k >= K. B (K, N), or (N, K) when trans_b: then each row of B is
// converted once (its pairs of k are adjacent) and 16 x 16 blocks of pairs are transposed into pair-rows.
avector<uint16_t> pack_b(const float* b, int64_t N, int64_t K, int64_t Kp, bool trans_b) {
  avector<uint16_t> packed(static_cast<size_t>(N * Kp), 0);
  const int64_t block = kT * Kp;   // bf16 values per 16-column block
  if (!trans_b) {
    for (int64_t kk = 0; 2 * kk < K; ++kk)
      pair_row(packed.data() + kk * 2 * kT, block, b + 2 * kk * N, 2 * kk + 1 < K ? b + (2 * kk + 1) * N : nullptr, N);
    return packed;
  }
  avector<uint16_t> rows(static_cast<size_t>(N * Kp), 0);
  for (int64_t n = 0; n < N; ++n) bf16::convert_row(rows.data() + n * Kp, b + n * K, K);
  for (int64_t n0 = 0; n0 < N; n0 += kT)
    for (int64_t k0 = 0; k0 < Kp; k0 += kStep)
      transpose_pairs(packed.data() + n0 * Kp + k0 * kT, rows.data() + n0 * Kp + k0, Kp);
  return packed;
}

// ---- the tile product ---------------------------------------------------------------------------------------

// ---- forward: C (M, N) = A (M, K) op(B) + bias (+ C) ----------------------------------------------------------

// C rows [0, rows) x columns [0, 16 nv) = out (rows 32 floats apart) (+ bias) (+ the old C): the order of
// additions of the AVX512_BF16 path's store_tile.
SSMTL_AMX_TARGET void finish_rows(float* c, int64_t ldc, const float* out, int rows, int nv, const float* bias,
                                  bool accumulate) {
  for (int r = 0; r < rows; ++r)
    for (int v = 0; v < nv; ++v) {
      float* cp = c + r * ldc + kT * v;
      __m512 x = _mm512_loadu_ps(out + r * 2 * kT + kT * v);
      if (bias) x = _mm512_add_ps(x, _mm512_loadu_ps(bias + kT * v));
      if (accumulate) x = _mm512_add_ps(x, _mm512_loadu_ps(cp));
      _mm512_storeu_ps(cp, x);
    }
}

struct Forward {
  float* c;
  const float* a;
  const float* bias;
  const uint16_t* packed;
  int64_t M, N, K, Kp;
  bool accumulate;
  const RowEpilogue* epilogue;
};

// Rows [r0, r0 + 32) of C (fewer at the end): A's rows to bf16 in ab (32 x Kp, row-major: its rows are the A
// tiles' rows; the pad columns stay zero, rows past M keep stale values whose results are never written), then
// every pair of 16-column blocks through the float32 scratch `out` (32 x 32).
void forward_block(const Forward& f, int64_t r0, uint16_t* ab, float* out) {
  const int64_t r1 = std::min(f.M, r0 + kBlock);
  const int rows = static_cast<int>(r1 - r0);
  for (int64_t r = r0; r < r1; ++r) bf16::convert_row(ab + (r - r0) * f.Kp, f.a + r * f.K, f.K);
  for (int64_t n0 = 0; n0 < f.N; n0 += 2 * kT) {
    const int nj = f.N - n0 > kT ? 2 : 1;
    const amx::Operands o{ab, kStep, f.Kp * 2, kT * f.Kp, f.packed + n0 * f.Kp, kTile, 64, kT * f.Kp, f.Kp / kStep};
    amx::block_product(rows > kT ? 2 : 1, nj, out, 2 * kT, false, o);
    finish_rows(f.c + r0 * f.N + n0, f.N, out, rows, nj, f.bias ? f.bias + n0 : nullptr, f.accumulate);
  }
  if (f.epilogue) f.epilogue->fn(f.epilogue->ctx, r0, r1);
}

}  // namespace

avector<uint16_t> pack_panels_amx(const float* b, int64_t N, int64_t K, bool trans_b) {
  return pack_b(b, N, K, (K + kStep - 1) / kStep * kStep, trans_b);
}

void gemm_panel_amx_rows(float* c, const float* a, const uint16_t* packed, const float* bias, int64_t M, int64_t N,
                         int64_t K, bool accumulate, const RowEpilogue* epilogue) {
  const int64_t Kp = (K + kStep - 1) / kStep * kStep;
  const Forward f{c, a, bias, packed, M, N, K, Kp, accumulate, epilogue};
  const amx::AmxTiles tiles(amx::full_tiles());
  avector<uint16_t> ab(static_cast<size_t>(kBlock * Kp), 0);
  avector<float> out(static_cast<size_t>(kBlock * 2 * kT));
  for (int64_t r0 = 0; r0 < M; r0 += kBlock) forward_block(f, r0, ab.data(), out.data());
}

void gemm_panel_amx(float* c, const float* a, const float* b, const float* bias, int64_t M, int64_t N, int64_t K,
                    bool trans_b, bool accumulate, const RowEpilogue* epilogue) {
  const avector<uint16_t> packed = pack_panels_amx(b, N, K, trans_b);
  const int64_t Kp = (K + kStep - 1) / kStep * kStep;
  const Forward f{c, a, bias, packed.data(), M, N, K, Kp, accumulate, epilogue};
  const amx::TileConfig cfg = amx::full_tiles();
  const int64_t blocks = (M + kBlock - 1) / kBlock;
  const bool parallel = 2.0 * M * N * K > 4e6;
#pragma omp parallel if (parallel)
  {
    const amx::AmxTiles tiles(cfg);   // each thread configures its own tiles
    avector<uint16_t> ab(static_cast<size_t>(kBlock * Kp), 0);
    avector<float> out(static_cast<size_t>(kBlock * 2 * kT));
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk) forward_block(f, blk * kBlock, ab.data(), out.data());
  }
}

namespace {

// ---- weight gradient: C (Na, Nb) += A^T B over R token rows --------------------------------------------------
// A^T's rows (C's rows) are A's columns: A is converted into A^T tiles (16 columns of A x 32 token rows) by
// transposing pairs of rows, B into tiles of pair-rows (its natural VNNI layout). Na is padded to a multiple of
// 16 with zero columns of A (their rows of C are scratch), R to a multiple of 32 with zero rows.

struct AtB {
  const float* a;
  const float* b;
  int64_t Na, Na16, Nb;
  int64_t chunk;   // token rows converted at a time (a multiple of 32)
};

// One A^T tile: dst (16 x 32 bf16) row i, element q = bf16(a[q lda + i]) for q < valid and i < width, else 0.
SSMTL_AMX_TARGET void transpose_tile(uint16_t* dst, const float* a, int64_t lda, int64_t valid, int64_t width) {
  const __mmask16 m = static_cast<__mmask16>((1u << width) - 1);
  __m512i p[kT];   // p[q] lane i = the pair (row 2 q, row 2 q + 1) of column i
  for (int q = 0; q < kT; ++q) {
    const __m512 x0 = 2 * q < valid ? _mm512_maskz_loadu_ps(m, a + 2 * q * lda) : _mm512_setzero_ps();
    const __m512 x1 = 2 * q + 1 < valid ? _mm512_maskz_loadu_ps(m, a + (2 * q + 1) * lda) : _mm512_setzero_ps();
    p[q] = bf16::pairs(x0, x1);
  }
  amx::transpose16(p);
  for (int i = 0; i < kT; ++i) _mm512_storeu_si512(dst + i * kStep, p[i]);
}

// Token rows [q0, q0 + n) into tiles: at holds, per 16-row block of C, `steps` A^T tiles in a row; b2, per
// 16-column block of C, `steps` B tiles in a row (zero past n).
void convert_chunk(const AtB& g, int64_t q0, int64_t n, int64_t steps, uint16_t* at, uint16_t* b2) {
  for (int64_t s = 0; s < steps; ++s)   // 32 whole rows of A at a time: sequential reads
    for (int64_t i0 = 0; i0 < g.Na16; i0 += kT)
      transpose_tile(at + (i0 / kT * steps + s) * kTile, g.a + (q0 + s * kStep) * g.Na + i0, g.Na,
                     std::min<int64_t>(kStep, n - s * kStep), std::min<int64_t>(kT, g.Na - i0));
  for (int64_t rr = 0; rr < steps * kT; ++rr) {   // pair-row rr: row rr % 16 of step rr / 16's tiles
    const float* row0 = 2 * rr < n ? g.b + (q0 + 2 * rr) * g.Nb : nullptr;
    pair_row(b2 + rr * 2 * kT, steps * kTile, row0, 2 * rr + 1 < n ? row0 + g.Nb : nullptr, g.Nb);
  }
}

// cpad (Na16 x Nb, rows Nb apart) += A^T B over the token rows [r0, r1), one chunk at a time: each element's
// sum runs over the rows in order, continuing from its value in cpad.
void at_b_group(const AtB& g, float* cpad, int64_t r0, int64_t r1, avector<uint16_t>& at,
                avector<uint16_t>& b2) {
  at.resize(static_cast<size_t>(g.Na16 * g.chunk));
  b2.resize(static_cast<size_t>(g.chunk * g.Nb));
  for (int64_t q0 = r0; q0 < r1; q0 += g.chunk) {
    const int64_t n = std::min(g.chunk, r1 - q0), steps = (n + kStep - 1) / kStep;
    convert_chunk(g, q0, n, steps, at.data(), b2.data());
    for (int64_t i0 = 0; i0 < g.Na16; i0 += 2 * kT)
      for (int64_t j0 = 0; j0 < g.Nb; j0 += 2 * kT) {
        const amx::Operands o{at.data() + i0 / kT * steps * kTile, kTile, 64, steps * kTile,
                              b2.data() + j0 / kT * steps * kTile, kTile, 64, steps * kTile, steps};
        amx::block_product(g.Na16 - i0 > kT ? 2 : 1, g.Nb - j0 > kT ? 2 : 1, cpad + i0 * g.Nb + j0, g.Nb, true, o);
      }
  }
}

}  // namespace

void gemm_panel_at_b_amx(float* c, const float* a, const float* b, int64_t R, int64_t Na, int64_t Nb) {
  // As in gemm_panel_at_b_bf16: fixed groups of 2048 rows, each summed into its own partial C, the partials
  // added to C in group order, so the result does not depend on the number of threads.
  constexpr int64_t kGroup = 2048;
  const int64_t Na16 = (Na + kT - 1) / kT * kT, csize = Na16 * Nb, groups = (R + kGroup - 1) / kGroup;
  int64_t chunk = kGroup;   // a chunk's tiles of A^T and B (2 bytes a value) stay in L2 (<= 1 MiB)
  while (chunk > kStep && (Na16 + Nb) * chunk * 2 > (int64_t{1} << 20)) chunk /= 2;
  const AtB g{a, b, Na, Na16, Nb, chunk};
  const amx::TileConfig cfg = amx::full_tiles();
  if (groups == 1) {   // one thread, straight into C (through a padded copy when Na is not a multiple of 16)
    avector<float> pad;
    float* cp = c;
    if (Na16 != Na) {
      pad.assign(static_cast<size_t>(csize), 0.f);
      std::copy(c, c + Na * Nb, pad.data());
      cp = pad.data();
    }
    avector<uint16_t> at, b2;
    {
      const amx::AmxTiles tiles(cfg);
      at_b_group(g, cp, 0, R, at, b2);
    }
    if (cp != c) std::copy(pad.data(), pad.data() + Na * Nb, c);
    return;
  }
  avector<float> partial(static_cast<size_t>(groups * csize), 0.f);
#pragma omp parallel
  {
    const amx::AmxTiles tiles(cfg);   // each thread configures its own tiles
    avector<uint16_t> at, b2;
#pragma omp for schedule(static)
    for (int64_t gi = 0; gi < groups; ++gi)
      at_b_group(g, partial.data() + gi * csize, gi * kGroup, std::min(R, (gi + 1) * kGroup), at, b2);
  }
  // C is the first Na rows of each partial (rows Nb apart in both)
  add_group_partials(c, partial.data(), groups, csize, Na * Nb);
}

}  // namespace ssmtl::kernels::detail
