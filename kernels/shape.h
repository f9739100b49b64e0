// Data movement kernels for the tensor-shape ops (permute, concat, slice) on raw float pointers
// (outputs first, then inputs, then sizes). Semantics: torch.permute(...).contiguous(), torch.cat,
// and a copied torch.narrow. Rows are distributed over OpenMP threads; every output element is written
// by exactly one thread, so results do not depend on the thread count.
// Backward kernels ADD into the gradient buffers they are given (never assign).
#pragma once
#include <cstdint>

#include "kernels/dispatch.h"

namespace ssmtl::kernels {

constexpr int kPermuteMaxDims = 6;

// out = x permuted: out dimension k is input dimension perm[k].
// x: contiguous with shape in_shape[0..rank); out: contiguous with shape in_shape[perm[k]], k < rank.
// perm must be a permutation of 0..rank-1 and rank <= kPermuteMaxDims. in_shape and perm are HOST
// arrays for both the _cpu and the _cuda twin (they are sizes, not data).
void permute_forward_cpu(float* out, const float* x, const int64_t* in_shape, const int* perm, int rank);
// The inverse scatter, adding: dx[i] += dout[position of i in out].  dx: in_shape; dout: permuted shape.
void permute_backward_cpu(float* dx, const float* dout, const int64_t* in_shape, const int* perm, int rank);

// Strided block copy used by concat and slice: for r < rows, c < width:
//   dst[r * dst_stride + c] = src[r * src_stride + c]
void copy_rows_forward_cpu(float* dst, const float* src, int64_t rows, int64_t width, int64_t dst_stride,
                           int64_t src_stride);
// Its backward, adding: dst[r * dst_stride + c] += src[r * src_stride + c]
void copy_rows_backward_cpu(float* dst, const float* src, int64_t rows, int64_t width, int64_t dst_stride,
                            int64_t src_stride);

#ifdef SSMTL_WITH_CUDA
void permute_forward_cuda(float* out, const float* x, const int64_t* in_shape, const int* perm, int rank);
void permute_backward_cuda(float* dx, const float* dout, const int64_t* in_shape, const int* perm, int rank);
void copy_rows_forward_cuda(float* dst, const float* src, int64_t rows, int64_t width, int64_t dst_stride,
                            int64_t src_stride);
void copy_rows_backward_cuda(float* dst, const float* src, int64_t rows, int64_t width, int64_t dst_stride,
                             int64_t src_stride);
#endif

}  // namespace ssmtl::kernels
