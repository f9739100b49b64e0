// CPU kernels of the tensor-shape ops (see kernels/shape.h).
#include <algorithm>
#include <cstring>

#include "kernels/shape.h"

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

template <class RowFn>
void walk_transposed(const PermutePlan& p, RowFn row) {
  const int last = p.rank - 1;
  const int64_t R = p.size[last - 1], C = p.size[last], S = p.stride[last];
  const int64_t tiles = (R + kTile - 1) / kTile, items = p.numel / (R * C) * tiles;
#pragma omp parallel for schedule(static) if (p.numel > kParallelMin)
  for (int64_t it = 0; it < items; ++it) {
    const int64_t b = it / tiles, r0 = it % tiles * kTile, r1 = std::min(R, r0 + kTile);
    const int64_t in_base = batch_offset(p, last - 1, b), out_base = b * R * C;
    for (int64_t c0 = 0; c0 < C; c0 += kTile)
      for (int64_t r = r0; r < r1; ++r)
        row(out_base + r * C + c0, in_base + r + c0 * S, S, std::min(kTile, C - c0));
  }
}

// Walks the output in memory order as rows of the innermost plan dimension and calls
// row(out offset, input offset, input step, length) for each (every output element exactly once).
// Rows are split into fixed blocks handled in parallel; each block finds its first input offset
// once and then steps an odometer.
template <class RowFn>
void walk_permuted(const int64_t* in_shape, const int* perm, int rank, RowFn row) {
  const PermutePlan p = make_plan(in_shape, perm, rank);
  if (p.numel == 0) return;
  if (p.rank == 0) {   // a single element
    row(0, 0, 1, 1);
    return;
  }
  const int outer = p.rank - 1;
  if (p.rank >= 2 && p.stride[outer] != 1 && p.stride[outer - 1] == 1) return walk_transposed(p, row);
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
  });
}

void permute_backward_cpu(float* dx, const float* dout, const int64_t* in_shape, const int* perm, int rank) {
  // A permutation is a bijection: every dx element receives exactly one addend, from one thread.
  walk_permuted(in_shape, perm, rank, [&](int64_t o, int64_t src, int64_t step, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dx[src + i * step] += dout[o + i];
  });
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
