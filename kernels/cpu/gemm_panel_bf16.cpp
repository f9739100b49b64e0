// The bf16 twins of kernels/cpu/gemm_panel.cpp (chosen there when kernels::use_bf16_products()): the same
// blocking and threading, with both factors rounded to bfloat16 and VDPBF16PS summing PAIRS of products into
// float32 lanes. Packing makes the pairs adjacent: op(B) panels hold (k, k+1) of one column side by side, and
// A's rows are bf16 copies (k, k+1 are already adjacent there), so a 32-bit broadcast of A meets a 512-bit
// load of 16 columns x 2 k. For the weight gradient the pairs run over token rows (r, r+1) instead. K (or R)
// is padded to even with zeros. Each element of C is still summed over k in order by one thread.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <vector>

#include "kernels/cpu/aligned.h"
#include "kernels/cpu/bf16.h"
#include "kernels/cpu/gemm_panel.h"

#define SSMTL_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

namespace ssmtl::kernels::detail {
namespace {

// Micro-tiles of 8 rows x 48 columns: 24 accumulators (VDPBF16PS has a longer latency than an FMA, so more
// independent sums are in flight than in the fp32 kernel's 6 x 32), 3 B vectors and one broadcast.
constexpr int kRows = 8;    // rows of C per micro-tile
constexpr int kCols = 48;   // columns per panel (three 16-float vectors)

// dst[2 j + e] = bf16(row_e[j]) for j < n: two float rows interleaved (row1 == nullptr: zeros).
SSMTL_BF16 void interleave_rows(uint16_t* dst, const float* row0, const float* row1, int64_t n) {
  for (int64_t j = 0; j < n; j += 16) {
    const int64_t w = std::min<int64_t>(16, n - j);
    const __mmask16 m = static_cast<__mmask16>((1u << w) - 1);
    const __m512 x0 = _mm512_maskz_loadu_ps(m, row0 + j);
    const __m512 x1 = row1 ? _mm512_maskz_loadu_ps(m, row1 + j) : _mm512_setzero_ps();
    _mm512_mask_storeu_epi32(dst + 2 * j, m, bf16::pairs(x0, x1));
  }
}

SSMTL_BF16 inline __m512i broadcast_pair(const uint16_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm512_set1_epi32(v);
}

// C rows [0, R) x columns [0, 16 V) of one panel: sum over pairs kk of A[r][2kk..2kk+1] . P[kk][:][0..1].
template <int R, int V>
SSMTL_BF16 void tile(float* c, int64_t ldc, const uint16_t* a, int64_t lda, const uint16_t* p, int64_t K2,
                     const float* bias, bool accumulate) {
  __m512 acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) {
      acc[r][v] = _mm512_setzero_ps();
      // C's lines for writing, fetched while the products run: with a short K (96) and a wide C (384 columns,
      // 25 MB at 16384 rows) the stores otherwise wait for their lines (bf16: 275 -> 370 GFLOP/s, RESULTS 45)
      __builtin_prefetch(c + r * ldc + 16 * v, 1, 3);
    }
  for (int64_t kk = 0; kk < K2; ++kk) {
    __m512i bv[V];
    for (int v = 0; v < V; ++v) bv[v] = _mm512_loadu_si512(p + (kk * kCols + 16 * v) * 2);
    for (int r = 0; r < R; ++r) {
      const __m512i av = broadcast_pair(a + r * lda + 2 * kk);
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], (__m512bh)av, (__m512bh)bv[v]);
    }
  }
  store_tile<R, V>(c, ldc, acc, bias, accumulate);
}

template <int V, int R = kRows>
void tile_rows(int rows, float* c, int64_t ldc, const uint16_t* a, int64_t lda, const uint16_t* p, int64_t K2,
               const float* bias, bool accumulate) {
  if constexpr (R > 1) {
    if (rows < R) return tile_rows<V, R - 1>(rows, c, ldc, a, lda, p, K2, bias, accumulate);
  }
  tile<R, V>(c, ldc, a, lda, p, K2, bias, accumulate);
}

// The panel's width (16, 32 or 48 columns) decides the vectors per tile.
void tile_panel(int width, int rows, float* c, int64_t ldc, const uint16_t* a, int64_t lda, const uint16_t* p,
                int64_t K2, const float* bias, bool accumulate) {
  if (width >= 48) tile_rows<3>(rows, c, ldc, a, lda, p, K2, bias, accumulate);
  else if (width >= 32) tile_rows<2>(rows, c, ldc, a, lda, p, K2, bias, accumulate);
  else tile_rows<1>(rows, c, ldc, a, lda, p, K2, bias, accumulate);
}

// C rows [0, Rr) x columns [0, 16 V) += sum over pairs rr < n2 of A2[rr][i][0..1] . B2[rr][:][0..1]; = when
// `overwrite` (C not read).
// pf: the lines this tile fetches for the next chunk, one per pair step.
template <int Rr, int V>
SSMTL_BF16 void tile_at_b(float* c, int64_t ldc, const uint16_t* a2, int64_t Na, const uint16_t* b2, int64_t Nb,
                          int64_t n2, bool overwrite, const RowLines& pf) {
  __m512 acc[Rr][V];
  for (int i = 0; i < Rr; ++i)
    for (int v = 0; v < V; ++v) acc[i][v] = overwrite ? _mm512_setzero_ps() : _mm512_loadu_ps(c + i * ldc + 16 * v);
  for (int64_t rr = 0; rr < n2; ++rr) {
    pf.at(rr);
    __m512i bv[V];
    for (int v = 0; v < V; ++v) bv[v] = _mm512_loadu_si512(b2 + (rr * Nb + 16 * v) * 2);
    for (int i = 0; i < Rr; ++i) {
      const __m512i av = broadcast_pair(a2 + (rr * Na + i) * 2);
      for (int v = 0; v < V; ++v) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], (__m512bh)av, (__m512bh)bv[v]);
    }
  }
  for (int i = 0; i < Rr; ++i)
    for (int v = 0; v < V; ++v) _mm512_storeu_ps(c + i * ldc + 16 * v, acc[i][v]);
}

template <int V, int R = kRows>
void tile_at_b_rows(int rows, float* c, int64_t ldc, const uint16_t* a2, int64_t Na, const uint16_t* b2, int64_t Nb,
                    int64_t n2, bool overwrite, const RowLines& pf) {
  if constexpr (R > 1) {
    if (rows < R) return tile_at_b_rows<V, R - 1>(rows, c, ldc, a2, Na, b2, Nb, n2, overwrite, pf);
  }
  tile_at_b<R, V>(c, ldc, a2, Na, b2, Nb, n2, overwrite, pf);
}

void tile_at_b_panel(int width, int rows, float* c, int64_t ldc, const uint16_t* a2, int64_t Na, const uint16_t* b2,
                     int64_t Nb, int64_t n2, bool overwrite, const RowLines& pf) {
  if (width >= 48) tile_at_b_rows<3>(rows, c, ldc, a2, Na, b2, Nb, n2, overwrite, pf);
  else if (width >= 32) tile_at_b_rows<2>(rows, c, ldc, a2, Na, b2, Nb, n2, overwrite, pf);
  else tile_at_b_rows<1>(rows, c, ldc, a2, Na, b2, Nb, n2, overwrite, pf);
}

}  // namespace

// Panels of op(B): packed[((panel * K2 + kk) * 48 + j) * 2 + e] = bf16(op(B)[2 kk + e][panel * 48 + j]).
avector<uint16_t> pack_panels_bf16(const float* b, int64_t N, int64_t K, bool trans_b) {
  const int64_t panels = (N + kCols - 1) / kCols, K2 = (K + 1) / 2;
  avector<uint16_t> packed(static_cast<size_t>(panels * K2 * kCols * 2), 0);
  avector<float> col(static_cast<size_t>(2 * kCols));
  for (int64_t pn = 0; pn < panels; ++pn) {
    const int64_t c0 = pn * kCols, w = std::min<int64_t>(kCols, N - c0);
    for (int64_t kk = 0; kk < K2; ++kk) {
      std::fill(col.begin(), col.end(), 0.f);
      for (int e = 0; e < 2 && 2 * kk + e < K; ++e)
        for (int64_t j = 0; j < w; ++j)
          col[e * kCols + j] = trans_b ? b[(c0 + j) * K + 2 * kk + e] : b[(2 * kk + e) * N + c0 + j];
      interleave_rows(packed.data() + (pn * K2 + kk) * kCols * 2, col.data(), col.data() + kCols, kCols);
    }
  }
  return packed;
}


void gemm_panel_bf16_rows(float* c, const float* a, const uint16_t* packed, const float* bias, int64_t N, int64_t K,
                          int64_t r0, int64_t r_end, bool accumulate, uint16_t* ab) {
  static_assert(kBf16Block % kRows == 0, "a block is whole micro-tiles");
  assert(r_end - r0 <= kBf16Block);   // the rows of the scratch ab
  const int64_t panels = (N + kCols - 1) / kCols, K2 = (K + 1) / 2, lda = 2 * K2;
  for (int64_t r = r0; r < r_end; ++r) bf16::convert_row(ab + (r - r0) * lda, a + r * K, K);
  // Row tile by row tile, each across all panels, so that C is written row after row: panel by panel, the rows
  // (1536 bytes at 384 columns) were written in pieces of 192 bytes, and the stores waited longer for their
  // lines (57344 rows, K = 96, 384 columns: 290 -> 320 GFLOP/s; the panels stay in L2 either way).
  for (int64_t r = r0; r < r_end; r += kRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kRows, r_end - r));
    for (int64_t pn = 0; pn < panels; ++pn) {
      const int64_t c0 = pn * kCols;
      const uint16_t* p = packed + pn * K2 * kCols * 2;
      const float* bs = bias ? bias + c0 : nullptr;
      const int width = static_cast<int>(std::min<int64_t>(kCols, N - c0));
      tile_panel(width, rows, c + r * N + c0, N, ab + (r - r0) * lda, lda, p, K2, bs, accumulate);
    }
  }
}

void gemm_panel_bf16(float* c, const float* a, const float* b, const float* bias, int64_t M, int64_t N, int64_t K,
                     bool trans_b, bool accumulate, const RowEpilogue* epilogue) {
  const avector<uint16_t> packed = pack_panels_bf16(b, N, K, trans_b);
  const int64_t blocks = (M + kBf16Block - 1) / kBf16Block;
  const bool parallel = 2.0 * M * N * K > 4e6;
#pragma omp parallel if (parallel)
  {
    avector<uint16_t> ab(static_cast<size_t>(kBf16Block * 2 * ((K + 1) / 2)), 0);   // the pad column stays 0
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t r0 = blk * kBf16Block, r_end = std::min(M, r0 + kBf16Block);
      gemm_panel_bf16_rows(c, a, packed.data(), bias, N, K, r0, r_end, accumulate, ab.data());
      if (epilogue) epilogue->fn(epilogue->ctx, r0, r_end);
    }
  }
}

namespace {

// C (Na, Nb) += A^T B over the rows [r0, r1) (the pairs of a group), walking them in chunks of 256 rows whose
// bf16 pairs stay in L2 while every tile passes over them; C = A^T B when `overwrite` (C not read).
// Rows up to r_next (>= r1: those of the group that follows, on this thread under a static schedule) are fetched
// ahead.
void at_b_rows(float* c, const float* a, const float* b, int64_t r0, int64_t r1, int64_t r_next, int64_t Na,
               int64_t Nb, avector<uint16_t>& a2, avector<uint16_t>& b2, bool overwrite) {
  constexpr int64_t kChunk = 256;   // token rows per pass (even)
  a2.resize(static_cast<size_t>(kChunk * Na));
  b2.resize(static_cast<size_t>(kChunk * Nb));
  for (int64_t q0 = r0; q0 < r1; q0 += kChunk) {
    const int64_t n = std::min(kChunk, r1 - q0), n2 = (n + 1) / 2;
    for (int64_t rr = 0; rr < n2; ++rr) {   // rows q0 + 2 rr and q0 + 2 rr + 1 (a zero partner past r1)
      const int64_t r = q0 + 2 * rr;
      const bool two = 2 * rr + 1 < n;
      interleave_rows(a2.data() + rr * Na * 2, a + r * Na, two ? a + (r + 1) * Na : nullptr, Na);
      interleave_rows(b2.data() + rr * Nb * 2, b + r * Nb, two ? b + (r + 1) * Nb : nullptr, Nb);
    }
    // The next chunk's rows of A and B (float32, from memory: 196 KB at 96 + 96 columns) are fetched while the
    // tiles run (RowLines): converted right after them, they would otherwise stall the core once per chunk.
    const int64_t n_next = std::min(kChunk, r_next - q0 - n);
    const int64_t tiles = (Nb + kCols - 1) / kCols * ((Na + kRows - 1) / kRows);
    int64_t tile_no = 0;
    // One 48-column panel of B's pairs (n2 x 192 bytes) stays in L1 while the tiles pass over it.
    for (int64_t c0 = 0; c0 < Nb; c0 += kCols) {
      const int width = static_cast<int>(std::min<int64_t>(kCols, Nb - c0));
      for (int64_t i0 = 0; i0 < Na; i0 += kRows, ++tile_no) {
        const RowLines pf = RowLines::share(a + (q0 + n) * Na, Na, b + (q0 + n) * Nb, Nb, n_next, tile_no, tiles);
        const int rows = static_cast<int>(std::min<int64_t>(kRows, Na - i0));
        tile_at_b_panel(width, rows, c + i0 * Nb + c0, Nb, a2.data() + i0 * 2, Na, b2.data() + c0 * 2, Nb, n2,
                        overwrite && q0 == r0, pf);
      }
    }
  }
}

}  // namespace

void gemm_panel_at_b_bf16(float* c, const float* a, const float* b, int64_t R, int64_t Na, int64_t Nb) {
  // The rows are cut into fixed groups of 2048 (not one share per thread): each group's sum goes to its own
  // partial C, and the partials are added to C in group order, so the result does not depend on the number of
  // threads, and each thread converts only its own rows (a split of C's rows would convert all of A and B
  // on every thread and read them from memory twice).
  constexpr int64_t kGroup = 2048;
  const int64_t groups = (R + kGroup - 1) / kGroup;
  avector<uint16_t> a2, b2;
  if (groups == 1) {
    at_b_rows(c, a, b, 0, R, R, Na, Nb, a2, b2, false);
    return;
  }
  const int64_t csize = Na * Nb;
  // Each group's first chunk writes its partial (no zeroing pass). The buffer is kept between calls up to 64 MB
  // (the CvT's largest, 57344 rows x 384 x 96, needs 4.1 MB), so that steady training steps take no fresh pages.
  constexpr size_t kKeepFloats = size_t(16) << 20;
  static thread_local avector<float> kept;
  avector<float> once;
  const size_t need = static_cast<size_t>(groups * csize);
  avector<float>& partial = need <= kKeepFloats ? kept : once;
  if (partial.size() < need) partial.resize(need);
  float* part = partial.data();
#pragma omp parallel for schedule(static) firstprivate(a2, b2)
  for (int64_t g = 0; g < groups; ++g)
    at_b_rows(part + g * csize, a, b, g * kGroup, std::min(R, (g + 1) * kGroup), R, Na, Nb, a2, b2, true);
  add_group_partials(c, part, groups, csize, csize);
}

}  // namespace ssmtl::kernels::detail
