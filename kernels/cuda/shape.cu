// CUDA twins of kernels/shape.h (same signatures, device data pointers; in_shape and perm stay HOST
// arrays, copied into a kernel argument). Every element of the written buffer is written by exactly one
// thread, so every gradient element is added once (no atomics).
// Permute: the permutation is first simplified (size-1 dimensions dropped, dimensions that stay adjacent
// merged); a batched 2-D transpose (e.g. {0, 2, 3, 4, 1} or {0, 4, 1, 2, 3}) then goes through shared-memory
// tiles, anything else through a general kernel (one thread per element, index decomposed per dimension).
#include <stdexcept>
#include <string>

#include "kernels/cuda/common.cuh"
#include "kernels/shape.h"

namespace ssmtl::kernels {

namespace {

// Sizes of a permutation, passed by value to the kernels.
struct PermuteDims {
  int rank;
  long long out_shape[kPermuteMaxDims];   // out dimension k = input dimension perm[k]
  long long in_shape[kPermuteMaxDims];
  long long in_stride_of_out[kPermuteMaxDims];   // input stride of out dimension k
  long long out_stride_of_in[kPermuteMaxDims];   // output stride of input dimension d
};

// A permutation with size-1 dimensions dropped and runs of input dimensions that stay adjacent and in order
// in the output merged into one: the same data movement over fewer dimensions (often 2 or 3).
struct Canonical {
  int rank = 0;
  long long shape[kPermuteMaxDims] = {};   // input shape
  int perm[kPermuteMaxDims] = {};          // out dimension k = input dimension perm[k]
};

Canonical canonical(const int64_t* in_shape, const int* perm, int rank) {
  // Drop size-1 dimensions, renumbering the rest.
  int newid[kPermuteMaxDims], kept = 0;
  for (int d = 0; d < rank; ++d) newid[d] = in_shape[d] == 1 ? -1 : kept++;
  long long shape[kPermuteMaxDims];
  int order[kPermuteMaxDims], n = 0;   // kept input dims in output order
  for (int d = 0; d < rank; ++d)
    if (newid[d] >= 0) shape[newid[d]] = in_shape[d];
  for (int k = 0; k < rank; ++k)
    if (newid[perm[k]] >= 0) order[n++] = newid[perm[k]];
  // Merge: input dim d joins the group of d - 1 when it directly follows d - 1 in the output.
  bool joins[kPermuteMaxDims] = {};
  for (int k = 1; k < n; ++k) joins[order[k]] = order[k] == order[k - 1] + 1;
  int group[kPermuteMaxDims];
  Canonical c;
  for (int d = 0; d < n; ++d) {
    if (d == 0 || !joins[d]) c.shape[c.rank++] = 1;
    group[d] = c.rank - 1;
    c.shape[c.rank - 1] *= shape[d];
  }
  int k = 0;
  for (int j = 0; j < n; ++j)
    if (j == 0 || !joins[order[j]]) c.perm[k++] = group[order[j]];
  return c;
}

PermuteDims make_dims(const Canonical& c) {
  PermuteDims p{};
  p.rank = c.rank;
  long long in_stride[kPermuteMaxDims] = {}, s = 1;
  for (int d = c.rank - 1; d >= 0; --d) {
    p.in_shape[d] = c.shape[d];
    in_stride[d] = s;
    s *= c.shape[d];
  }
  s = 1;
  for (int k = c.rank - 1; k >= 0; --k) {
    p.out_shape[k] = c.shape[c.perm[k]];
    p.in_stride_of_out[k] = in_stride[c.perm[k]];
    p.out_stride_of_in[c.perm[k]] = s;
    s *= p.out_shape[k];
  }
  return p;
}

Canonical checked_canonical(const int64_t* in_shape, const int* perm, int rank, const char* op) {
  if (rank < 0 || rank > kPermuteMaxDims)
    throw std::invalid_argument(std::string(op) + ": rank " + std::to_string(rank) + " exceeds " +
                                std::to_string(kPermuteMaxDims));
  return canonical(in_shape, perm, rank);
}

// A batched 2-D transpose: x (batch, rows, cols) -> (batch, cols, rows). After canonical(), exactly the
// permutations {1, 0} and {0, 2, 1}. Taken by the tiled kernel only when both sides are at least 8 long:
// a tile would be mostly idle for a narrower matrix (e.g. 3 channels), which the general kernel moves well.
struct Transpose {
  long long batch = 0, rows = 0, cols = 0;
};

bool as_transpose(const Canonical& c, Transpose& t) {
  if (c.rank == 2 && c.perm[0] == 1) t = Transpose{1, c.shape[0], c.shape[1]};
  else if (c.rank == 3 && c.perm[0] == 0 && c.perm[1] == 2) t = Transpose{c.shape[0], c.shape[1], c.shape[2]};
  else return false;
  return t.rows >= 8 && t.cols >= 8;
}

constexpr int kTile = 32, kTileRows = 8;   // blocks of 32 x 8 threads move 32 x 32 tiles

// dst (batch, cols, rows) = (kAdd: +=) the transpose of src (batch, rows, cols), through a 32 x 33 shared
// tile (the extra column keeps the column reads free of bank conflicts), so reads and writes are both
// coalesced. Grid (ceil(cols / 32), tiles of rows, batches), grid-stride over rows and batches (gridDim.y
// and gridDim.z are at most 65535). Each dst element is written by one thread.
template <bool kAdd>
__global__ void transpose_k(float* dst, const float* src, long long batch, long long rows, long long cols) {
  __shared__ float tile[kTile * (kTile + 1)];   // row i at i * (kTile + 1): flat, so the emulator poisons it
  const long long plane = rows * cols, c0 = static_cast<long long>(blockIdx.x) * kTile;
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (long long b = blockIdx.z; b < batch; b += gridDim.z) {
    const float* s = src + b * plane;
    float* d = dst + b * plane;
    for (long long r0 = static_cast<long long>(blockIdx.y) * kTile; r0 < rows; r0 += (long long)gridDim.y * kTile) {
      for (int i = ty; i < kTile; i += kTileRows) {
        const long long r = r0 + i, c = c0 + tx;
        if (r < rows && c < cols) tile[i * (kTile + 1) + tx] = s[r * cols + c];
      }
      __syncthreads();
      for (int i = ty; i < kTile; i += kTileRows) {
        const long long c = c0 + i, r = r0 + tx;
        if (c < cols && r < rows) {
          const float v = tile[tx * (kTile + 1) + i];
          if (kAdd) d[c * rows + r] += v;
          else d[c * rows + r] = v;
        }
      }
      __syncthreads();   // the tile is refilled next
    }
  }
}

template <bool kAdd>
void transpose(float* dst, const float* src, long long batch, long long rows, long long cols) {
  auto cap = [](long long v) { return static_cast<unsigned>(v < 65535 ? v : 65535); };
  const dim3 grid(static_cast<unsigned>((cols + kTile - 1) / kTile), cap((rows + kTile - 1) / kTile), cap(batch));
  transpose_k<kAdd><<<grid, dim3(kTile, kTileRows)>>>(dst, src, batch, rows, cols);
  CUDA_CHECK_LAST();
}

// out[j] = x[source of j]: j decomposed over the output shape (last dimension fastest).
__global__ void permute_fw_k(float* out, const float* x, PermuteDims p, long long n) {
  SSMTL_GRID_LOOP(j, n) {
    long long rest = j, src = 0;
    for (int k = p.rank - 1; k >= 0; --k) {
      const long long c = rest % p.out_shape[k];
      rest /= p.out_shape[k];
      src += c * p.in_stride_of_out[k];
    }
    out[j] = x[src];
  }
}

// dx[i] += dout[position of i]: i decomposed over the input shape.
__global__ void permute_bw_k(float* dx, const float* dout, PermuteDims p, long long n) {
  SSMTL_GRID_LOOP(i, n) {
    long long rest = i, dst = 0;
    for (int d = p.rank - 1; d >= 0; --d) {
      const long long c = rest % p.in_shape[d];
      rest /= p.in_shape[d];
      dst += c * p.out_stride_of_in[d];
    }
    dx[i] += dout[dst];
  }
}

template <bool kAdd>
__global__ void copy_rows_k(float* dst, const float* src, long long width, long long dst_stride, long long src_stride,
                            long long n) {
  SSMTL_GRID_LOOP(j, n) {
    const long long r = j / width, c = j - r * width;
    if (kAdd) dst[r * dst_stride + c] += src[r * src_stride + c];
    else dst[r * dst_stride + c] = src[r * src_stride + c];
  }
}

long long numel(const PermuteDims& p) {
  long long n = 1;
  for (int d = 0; d < p.rank; ++d) n *= p.in_shape[d];
  return n;
}

}  // namespace

void permute_forward_cuda(float* out, const float* x, const int64_t* in_shape, const int* perm, int rank) {
  const Canonical c = checked_canonical(in_shape, perm, rank, "permute_forward_cuda");
  const PermuteDims p = make_dims(c);
  const long long n = numel(p);
  if (n == 0) return;
  Transpose t;
  if (as_transpose(c, t)) {
    transpose<false>(out, x, t.batch, t.rows, t.cols);
    return;
  }
  permute_fw_k<<<cuda::grid_for(n), cuda::kThreads>>>(out, x, p, n);
  CUDA_CHECK_LAST();
}

// The inverse transpose: dx (batch, rows, cols) += dout (batch, cols, rows)^T.
void permute_backward_cuda(float* dx, const float* dout, const int64_t* in_shape, const int* perm, int rank) {
  const Canonical c = checked_canonical(in_shape, perm, rank, "permute_backward_cuda");
  const PermuteDims p = make_dims(c);
  const long long n = numel(p);
  if (n == 0) return;
  Transpose t;
  if (as_transpose(c, t)) {
    transpose<true>(dx, dout, t.batch, t.cols, t.rows);
    return;
  }
  permute_bw_k<<<cuda::grid_for(n), cuda::kThreads>>>(dx, dout, p, n);
  CUDA_CHECK_LAST();
}

void copy_rows_forward_cuda(float* dst, const float* src, int64_t rows, int64_t width, int64_t dst_stride,
                            int64_t src_stride) {
  const long long n = rows * width;
  if (n > 0) copy_rows_k<false><<<cuda::grid_for(n), cuda::kThreads>>>(dst, src, width, dst_stride, src_stride, n);
  CUDA_CHECK_LAST();
}

void copy_rows_backward_cuda(float* dst, const float* src, int64_t rows, int64_t width, int64_t dst_stride,
                             int64_t src_stride) {
  const long long n = rows * width;
  if (n > 0) copy_rows_k<true><<<cuda::grid_for(n), cuda::kThreads>>>(dst, src, width, dst_stride, src_stride, n);
  CUDA_CHECK_LAST();
}

}  // namespace ssmtl::kernels
