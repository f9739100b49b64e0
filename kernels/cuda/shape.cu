// CUDA twins of kernels/shape.h (same signatures, device data pointers; in_shape and perm stay HOST
// arrays, copied into a kernel argument). One thread per element of the written buffer, so every
// gradient element is added by exactly one thread (no atomics).
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

PermuteDims make_dims(const int64_t* in_shape, const int* perm, int rank, const char* op) {
  if (rank < 0 || rank > kPermuteMaxDims)
    throw std::invalid_argument(std::string(op) + ": rank " + std::to_string(rank) + " exceeds " +
                                std::to_string(kPermuteMaxDims));
  PermuteDims p{};
  p.rank = rank;
  long long in_stride[kPermuteMaxDims] = {}, s = 1;
  for (int d = rank - 1; d >= 0; --d) {
    p.in_shape[d] = in_shape[d];
    in_stride[d] = s;
    s *= in_shape[d];
  }
  s = 1;
  for (int k = rank - 1; k >= 0; --k) {
    p.out_shape[k] = in_shape[perm[k]];
    p.in_stride_of_out[k] = in_stride[perm[k]];
    p.out_stride_of_in[perm[k]] = s;
    s *= p.out_shape[k];
  }
  return p;
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
  const PermuteDims p = make_dims(in_shape, perm, rank, "permute_forward_cuda");
  const long long n = numel(p);
  if (n > 0) permute_fw_k<<<cuda::grid_for(n), cuda::kThreads>>>(out, x, p, n);
  CUDA_CHECK_LAST();
}

void permute_backward_cuda(float* dx, const float* dout, const int64_t* in_shape, const int* perm, int rank) {
  const PermuteDims p = make_dims(in_shape, perm, rank, "permute_backward_cuda");
  const long long n = numel(p);
  if (n > 0) permute_bw_k<<<cuda::grid_for(n), cuda::kThreads>>>(dx, dout, p, n);
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
