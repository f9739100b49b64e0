#include "kernels/cpu/gemm_panel.h"
#include "kernels/cpu/aligned.h"

#include "kernels/precision.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

namespace ssmtl::kernels {
namespace {

constexpr int kRows = 6;    // rows of C per micro-tile: 6 x 2 accumulators + 2 B vectors + 1 broadcast
constexpr int kCols = 32;   // columns per panel (two 16-float vectors)

// C rows [0, R) x columns [0, 16 * V) of one panel: acc over k of A[r][k] * P[k][:], P = packed panel (K, 32).
template <int R, int V>
__attribute__((target("avx512f"))) void tile(float* c, int64_t ldc, const float* a, int64_t lda, const float* p,
                                            int64_t K, const float* bias, bool accumulate) {
  __m512 acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) {
      acc[r][v] = _mm512_setzero_ps();
      // C's lines for writing, fetched while the products run: with a short K (96) and a wide C (384 columns,
      // 25 MB at 16384 rows) the stores otherwise wait for their lines (bf16: 275 -> 370 GFLOP/s, RESULTS 45)
      __builtin_prefetch(c + r * ldc + 16 * v, 1, 3);
    }
  for (int64_t k = 0; k < K; ++k) {
    __m512 bv[V];
    for (int v = 0; v < V; ++v) bv[v] = _mm512_loadu_ps(p + k * kCols + 16 * v);
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[r * lda + k]);
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
  detail::store_tile<R, V>(c, ldc, acc, bias, accumulate);
}

template <int V>
void tile_rows(int rows, float* c, int64_t ldc, const float* a, int64_t lda, const float* p, int64_t K,
               const float* bias, bool accumulate) {
  switch (rows) {
    case 6: tile<6, V>(c, ldc, a, lda, p, K, bias, accumulate); break;
    case 5: tile<5, V>(c, ldc, a, lda, p, K, bias, accumulate); break;
    case 4: tile<4, V>(c, ldc, a, lda, p, K, bias, accumulate); break;
    case 3: tile<3, V>(c, ldc, a, lda, p, K, bias, accumulate); break;
    case 2: tile<2, V>(c, ldc, a, lda, p, K, bias, accumulate); break;
    default: tile<1, V>(c, ldc, a, lda, p, K, bias, accumulate); break;
  }
}

// C rows [0, Rr) x columns [0, 16 V) += sum over r in [0, n) of A[r][0..Rr) (outer) B[r][0..16 V).
template <int Rr, int V>
__attribute__((target("avx512f"))) void tile_at_b(float* c, int64_t ldc, const float* a, int64_t lda, const float* b,
                                                 int64_t ldb, int64_t n) {
  __m512 acc[Rr][V];
  for (int i = 0; i < Rr; ++i)
    for (int v = 0; v < V; ++v) acc[i][v] = _mm512_loadu_ps(c + i * ldc + 16 * v);
  for (int64_t r = 0; r < n; ++r) {
    __m512 bv[V];
    for (int v = 0; v < V; ++v) bv[v] = _mm512_loadu_ps(b + r * ldb + 16 * v);
    for (int i = 0; i < Rr; ++i) {
      const __m512 av = _mm512_set1_ps(a[r * lda + i]);
      for (int v = 0; v < V; ++v) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
    }
  }
  for (int i = 0; i < Rr; ++i)
    for (int v = 0; v < V; ++v) _mm512_storeu_ps(c + i * ldc + 16 * v, acc[i][v]);
}

template <int V>
void tile_at_b_rows(int rows, float* c, int64_t ldc, const float* a, int64_t lda, const float* b, int64_t ldb,
                    int64_t n) {
  switch (rows) {
    case 6: tile_at_b<6, V>(c, ldc, a, lda, b, ldb, n); break;
    case 5: tile_at_b<5, V>(c, ldc, a, lda, b, ldb, n); break;
    case 4: tile_at_b<4, V>(c, ldc, a, lda, b, ldb, n); break;
    case 3: tile_at_b<3, V>(c, ldc, a, lda, b, ldb, n); break;
    case 2: tile_at_b<2, V>(c, ldc, a, lda, b, ldb, n); break;
    default: tile_at_b<1, V>(c, ldc, a, lda, b, ldb, n); break;
  }
}

bool avx512_available() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return has;
}

// Panels of 32 columns (the last may hold 16): packed[(panel * K + k) * 32 + j] = op(B)[k][panel * 32 + j].
avector<float> pack_panels_fp32(const float* b, int64_t N, int64_t K, bool trans_b) {
  const int64_t panels = (N + kCols - 1) / kCols;
  avector<float> packed(static_cast<size_t>(panels * K * kCols), 0.f);
  for (int64_t pn = 0; pn < panels; ++pn) {
    const int64_t c0 = pn * kCols, w = std::min<int64_t>(kCols, N - c0);
    float* dst = packed.data() + pn * K * kCols;
    for (int64_t k = 0; k < K; ++k)
      for (int64_t j = 0; j < w; ++j) dst[k * kCols + j] = trans_b ? b[(c0 + j) * K + k] : b[k * N + c0 + j];
  }
  return packed;
}

// Row blocks of 48 (8 micro-tiles): one block's A rows stay in L1 while every panel passes over them.
constexpr int64_t kFp32Block = 8 * kRows;

// C rows [r0, r_end) (at most one block) = A op(B) (+ bias) (+ C) from the packed panels.
void fp32_rows(float* c, const float* a, const float* packed, const float* bias, int64_t N, int64_t K, int64_t r0,
               int64_t r_end, bool accumulate) {
  const int64_t panels = (N + kCols - 1) / kCols;
  for (int64_t pn = 0; pn < panels; ++pn) {
    const int64_t c0 = pn * kCols;
    const float* p = packed + pn * K * kCols;
    const float* bs = bias ? bias + c0 : nullptr;
    const bool full = N - c0 >= kCols;
    for (int64_t r = r0; r < r_end; r += kRows) {
      const int rows = static_cast<int>(std::min<int64_t>(kRows, r_end - r));
      if (full) tile_rows<2>(rows, c + r * N + c0, N, a + r * K, K, p, K, bs, accumulate);
      else tile_rows<1>(rows, c + r * N + c0, N, a + r * K, K, p, K, bs, accumulate);
    }
  }
}

}  // namespace

bool gemm_panel_at_b_cpu(float* c, const float* a, const float* b, int64_t R, int64_t Na, int64_t Nb) {
  if (!avx512_available() || Nb % 16 != 0 || Nb == 0 || Na == 0 || R == 0 || omp_in_parallel()) return false;
  if (use_amx_products()) {
    detail::gemm_panel_at_b_amx(c, a, b, R, Na, Nb);
    return true;
  }
  if (use_bf16_products()) {
    detail::gemm_panel_at_b_bf16(c, a, b, R, Na, Nb);
    return true;
  }
  constexpr int64_t kChunk = 256;   // token rows per pass: 256 x (Na + Nb) floats stay in L2
  const int64_t tiles = (Na + kRows - 1) / kRows;
  const bool parallel = 2.0 * R * Na * Nb > 4e6;
  // Each thread owns a fixed range of C's tiles (no barriers: a descheduled thread never stalls the other) and
  // walks R in chunks that stay in its L2 while all its tiles pass over them.
  const int parts = parallel ? static_cast<int>(std::min<int64_t>(omp_get_max_threads(), tiles)) : 1;
#pragma omp parallel for num_threads(parts) schedule(static, 1) if (parts > 1)
  for (int part = 0; part < parts; ++part) {
    const int64_t t_lo = tiles * part / parts, t_hi = tiles * (part + 1) / parts;
    for (int64_t r0 = 0; r0 < R; r0 += kChunk) {
      const int64_t n = std::min(kChunk, R - r0);
      for (int64_t t = t_lo; t < t_hi; ++t) {
        const int64_t i0 = t * kRows;
        const int rows = static_cast<int>(std::min<int64_t>(kRows, Na - i0));
        for (int64_t c0 = 0; c0 < Nb; c0 += kCols) {
          float* ct = c + i0 * Nb + c0;
          const float* at = a + r0 * Na + i0;
          const float* bt = b + r0 * Nb + c0;
          if (Nb - c0 >= kCols) tile_at_b_rows<2>(rows, ct, Nb, at, Na, bt, Nb, n);
          else tile_at_b_rows<1>(rows, ct, Nb, at, Na, bt, Nb, n);
        }
      }
    }
  }
  return true;
}

bool gemm_panel_cpu(float* c, const float* a, const float* b, const float* bias, int64_t M, int64_t N, int64_t K,
                    bool trans_b, bool accumulate, const RowEpilogue* epilogue) {
  if (!avx512_available() || N % 16 != 0 || N == 0 || M == 0 || K == 0 || omp_in_parallel()) return false;
  if (use_amx_products()) {
    detail::gemm_panel_amx(c, a, b, bias, M, N, K, trans_b, accumulate, epilogue);
    return true;
  }
  if (use_bf16_products()) {
    detail::gemm_panel_bf16(c, a, b, bias, M, N, K, trans_b, accumulate, epilogue);
    return true;
  }
  const avector<float> packed = pack_panels_fp32(b, N, K, trans_b);
  const int64_t blocks = (M + kFp32Block - 1) / kFp32Block;
  const bool parallel = 2.0 * M * N * K > 4e6;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t r0 = blk * kFp32Block, r_end = std::min(M, r0 + kFp32Block);
    fp32_rows(c, a, packed.data(), bias, N, K, r0, r_end, accumulate);
    if (epilogue) epilogue->fn(epilogue->ctx, r0, r_end);
  }
  return true;
}

bool panel_path_applies(int64_t N) { return avx512_available() && N % 16 == 0 && N > 0; }

PackedPanelB::PackedPanelB(const float* b, int64_t N, int64_t K, bool trans_b) : N_(N), K_(K) {
  if (!panel_path_applies(N) || K <= 0)
    throw std::invalid_argument("PackedPanelB: the panel product does not apply to N = " + std::to_string(N) +
                                ", K = " + std::to_string(K) + " on this CPU (panel_path_applies)");
  if (use_amx_products()) {
    path_ = Path::amx;
    b16_ = detail::pack_panels_amx(b, N, K, trans_b);
  } else if (use_bf16_products()) {
    path_ = Path::bf16;
    b16_ = detail::pack_panels_bf16(b, N, K, trans_b);
  } else {
    path_ = Path::fp32;
    f32_ = pack_panels_fp32(b, N, K, trans_b);
  }
}

void PackedPanelB::rows(float* c, const float* a, const float* bias, int64_t M, bool accumulate,
                        const RowEpilogue* epilogue) const {
  if (M <= 0) return;
  if (path_ == Path::amx) {
    detail::gemm_panel_amx_rows(c, a, b16_.data(), bias, M, N_, K_, accumulate, epilogue);
    return;
  }
  const int64_t block = path_ == Path::bf16 ? detail::kBf16Block : kFp32Block;
  avector<uint16_t> ab(path_ == Path::bf16 ? static_cast<size_t>(block * 2 * ((K_ + 1) / 2)) : 0, 0);
  for (int64_t r0 = 0; r0 < M; r0 += block) {
    const int64_t r_end = std::min(M, r0 + block);
    if (path_ == Path::bf16)
      detail::gemm_panel_bf16_rows(c, a, b16_.data(), bias, N_, K_, r0, r_end, accumulate, ab.data());
    else
      fp32_rows(c, a, f32_.data(), bias, N_, K_, r0, r_end, accumulate);
    if (epilogue) epilogue->fn(epilogue->ctx, r0, r_end);
  }
}

}  // namespace ssmtl::kernels
