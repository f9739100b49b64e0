// CPU kernels of the tensor-shape ops (see kernels/shape.h).
#include <algorithm>
#include <cstring>

#include "kernels/shape.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace ssmtl::kernels {

namespace {

constexpr int64_t kParallelMin = 32768;

// The permuted copy reduced to its simplest form: output dimensions of size 1 dropped, and output
// neighbours that are also neighbours (in the same order) in the input merged into one. A permute of
// (B, T, heads, d) to (B, heads, T, d) becomes rows of d contiguous floats; NCHW -> NHWC becomes a
// batch of 2-d transposes.
struct PermutePlan {
  int rank = 0;
  int64_t size[kPermuteMaxDims];     // per output dimension
  int64_t stride[kPermuteMaxDims];   // input stride of that dimension, in floats
  int64_t numel = 1;
};

PermutePlan make_plan(const int64_t* in_shape, const int* perm, int rank) {
  int64_t in_stride[kPermuteMaxDims];
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; --d) {
    in_stride[d] = s;
    s *= in_shape[d];
  }
  PermutePlan p;
  p.numel = s;
  for (int k = 0; k < rank; ++k) {
    const int64_t n = in_shape[perm[k]], st = in_stride[perm[k]];
    if (n == 1) continue;
    if (p.rank > 0 && p.stride[p.rank - 1] == st * n) {
      p.size[p.rank - 1] *= n;
      p.stride[p.rank - 1] = st;
    } else {
      p.size[p.rank] = n;
      p.stride[p.rank] = st;
      ++p.rank;
    }
  }
  return p;
}

// Input offset of the first element of batch `b` over the plan's first `dims` dimensions.
int64_t batch_offset(const PermutePlan& p, int dims, int64_t b) {
  int64_t src = 0;
  for (int d = dims - 1; d >= 0; --d) {
    src += (b % p.size[d]) * p.stride[d];
    b /= p.size[d];
  }
  return src;
}

// When the input is contiguous along the second-to-last output dimension (a batch of 2-d transposes:
// NCHW -> NHWC, channels <-> tokens), rows are visited in kTile x kTile tiles so that the cache lines
// read for one output row are reused by the next kTile rows.
constexpr int64_t kTile = 16;

// A whole kTile x kTile tile goes to full_tile(out offset, input offset, input step S, output row stride C)
// when that returns true; other tiles, and tiles it declines, row by row.
template <class RowFn, class TileFn>
void walk_transposed(const PermutePlan& p, RowFn row, TileFn full_tile) {
  const int last = p.rank - 1;
  const int64_t R = p.size[last - 1], C = p.size[last], S = p.stride[last];
  const int64_t tiles = (R + kTile - 1) / kTile, items = p.numel / (R * C) * tiles;
#pragma omp parallel for schedule(static) if (p.numel > kParallelMin)
  for (int64_t it = 0; it < items; ++it) {
    const int64_t b = it / tiles, r0 = it % tiles * kTile, r1 = std::min(R, r0 + kTile);
    const int64_t in_base = batch_offset(p, last - 1, b), out_base = b * R * C;
    for (int64_t c0 = 0; c0 < C; c0 += kTile) {
      if (r1 - r0 == kTile && C - c0 >= kTile && full_tile(out_base + r0 * C + c0, in_base + r0 + c0 * S, S, C))
        continue;
      for (int64_t r = r0; r < r1; ++r)
        row(out_base + r * C + c0, in_base + r + c0 * S, S, std::min(kTile, C - c0));
    }
  }
}

#if defined(__AVX512F__)
// GCC 12's AVX-512 shuffle intrinsics read an "undefined" register it then reports (see gemm_panel_amx.cpp).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// out[k * ldo + i] = in[i * ldi + k] for i, k < 16: 16 rows loaded, transposed in registers (pairs of 32-bit
// elements, then of 64-bit ones, then 128-bit lanes twice), 16 rows stored.
void transpose16(float* out, int64_t ldo, const float* in, int64_t ldi) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(in + i * ldi);
  for (int i = 0; i < 16; i += 2) {   // t[i] = (r_i0 r_(i+1)0 r_i1 r_(i+1)1 | ...4, 5 | ...), t[i + 1]: 2, 3
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  auto pd = [](__m512 v) { return _mm512_castps_pd(v); };
  auto ps = [](__m512d v) { return _mm512_castpd_ps(v); };
  for (int g = 0; g < 16; g += 4) {   // r[g + k]: element k (and k + 4, 8, 12) of rows g..g+3
    r[g] = ps(_mm512_unpacklo_pd(pd(t[g]), pd(t[g + 2])));
    r[g + 1] = ps(_mm512_unpackhi_pd(pd(t[g]), pd(t[g + 2])));
    r[g + 2] = ps(_mm512_unpacklo_pd(pd(t[g + 1]), pd(t[g + 3])));
    r[g + 3] = ps(_mm512_unpackhi_pd(pd(t[g + 1]), pd(t[g + 3])));
  }
  for (int h = 0; h < 16; h += 8)   // rows h..h+7: t[h + 2k] elements k and k + 8, t[h + 2k + 1] k + 4 and k + 12
    for (int k = 0; k < 4; ++k) {
      t[h + 2 * k] = _mm512_shuffle_f32x4(r[h + k], r[h + 4 + k], 0x88);
      t[h + 2 * k + 1] = _mm512_shuffle_f32x4(r[h + k], r[h + 4 + k], 0xdd);
    }
  for (int k = 0; k < 4; ++k) {   // element k of all 16 rows, and k + 8, k + 4, k + 12
    _mm512_storeu_ps(out + k * ldo, _mm512_shuffle_f32x4(t[2 * k], t[8 + 2 * k], 0x88));
    _mm512_storeu_ps(out + (k + 8) * ldo, _mm512_shuffle_f32x4(t[2 * k], t[8 + 2 * k], 0xdd));
    _mm512_storeu_ps(out + (k + 4) * ldo, _mm512_shuffle_f32x4(t[2 * k + 1], t[8 + 2 * k + 1], 0x88));
    _mm512_storeu_ps(out + (k + 12) * ldo, _mm512_shuffle_f32x4(t[2 * k + 1], t[8 + 2 * k + 1], 0xdd));
  }
}
#pragma GCC diagnostic pop
#endif

// Walks the output in memory order as rows of the innermost plan dimension and calls
// row(out offset, input offset, input step, length) for each (every output element exactly once).
// Rows are split into fixed blocks handled in parallel; each block finds its first input offset
// once and then steps an odometer.
template <class RowFn, class TileFn>
void walk_permuted(const int64_t* in_shape, const int* perm, int rank, RowFn row, TileFn full_tile) {
  const PermutePlan p = make_plan(in_shape, perm, rank);
  if (p.numel == 0) return;
  if (p.rank == 0) {   // a single element
    row(0, 0, 1, 1);
    return;
  }
  const int outer = p.rank - 1;
  if (p.rank >= 2 && p.stride[outer] != 1 && p.stride[outer - 1] == 1) return walk_transposed(p, row, full_tile);
  const int64_t inner = p.size[outer], step = p.stride[outer], rows = p.numel / inner;
  const int64_t block = std::max<int64_t>(1, 4096 / inner), blocks = (rows + block - 1) / block;
#pragma omp parallel for schedule(static) if (p.numel > kParallelMin)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t r0 = b * block, r1 = std::min(rows, r0 + block);
    int64_t idx[kPermuteMaxDims] = {0};
    int64_t src = 0, rem = r0;
    for (int d = outer - 1; d >= 0; --d) {
      idx[d] = rem % p.size[d];
      rem /= p.size[d];
      src += idx[d] * p.stride[d];
    }
    for (int64_t r = r0; r < r1; ++r) {
      row(r * inner, src, step, inner);
      if (outer == 0) continue;
      src += p.stride[outer - 1];
      if (++idx[outer - 1] < p.size[outer - 1]) continue;
      src -= p.stride[outer - 1] * p.size[outer - 1];
      idx[outer - 1] = 0;
      for (int d = outer - 2; d >= 0; --d) {
        src += p.stride[d];
        if (++idx[d] < p.size[d]) break;
        src -= p.stride[d] * p.size[d];
        idx[d] = 0;
      }
    }
  }
}

}  // namespace

void permute_forward_cpu(float* out, const float* x, const int64_t* in_shape, const int* perm, int rank) {
  walk_permuted(in_shape, perm, rank, [&](int64_t o, int64_t src, int64_t step, int64_t n) {
    if (step == 1) {
      if (n >= 32) std::memcpy(out + o, x + src, sizeof(float) * n);
      else for (int64_t i = 0; i < n; ++i) out[o + i] = x[src + i];   // a head's few channels
    } else {
      for (int64_t i = 0; i < n; ++i) out[o + i] = x[src + i * step];
    }
  }, [&](int64_t o, int64_t src, int64_t step, int64_t ldo) {
#if defined(__AVX512F__)
    transpose16(out + o, ldo, x + src, step);   // (the row loop's element-by-element copy, in registers)
    return true;
#else
    (void)o, (void)src, (void)step, (void)ldo;
    return false;
#endif
  });
}

void permute_backward_cpu(float* dx, const float* dout, const int64_t* in_shape, const int* perm, int rank) {
  // A permutation is a bijection: every dx element receives exactly one addend, from one thread.
  walk_permuted(in_shape, perm, rank, [&](int64_t o, int64_t src, int64_t step, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dx[src + i * step] += dout[o + i];
  }, [](int64_t, int64_t, int64_t, int64_t) { return false; });
}

void copy_rows_forward_cpu(float* dst, const float* src, int64_t rows, int64_t width, int64_t dst_stride,
                           int64_t src_stride) {
#pragma omp parallel for schedule(static) if (rows * width > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * dst_stride, src + r * src_stride, sizeof(float) * width);
}

void copy_rows_backward_cpu(float* dst, const float* src, int64_t rows, int64_t width, int64_t dst_stride,
                            int64_t src_stride) {
#pragma omp parallel for schedule(static) if (rows * width > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    float* d = dst + r * dst_stride;
    const float* s = src + r * src_stride;
    for (int64_t c = 0; c < width; ++c) d[c] += s[c];
  }
}

}  // namespace ssmtl::kernels
