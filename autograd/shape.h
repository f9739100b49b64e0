// Differentiable tensor-shape ops (CPU or CUDA), PyTorch semantics. Each returns a new contiguous
// tensor (a copy), except flatten, which is a view through reshape (autograd/elementwise.h).
// Negative dimension indices count from the end (-1 = last). Bad arguments throw
// std::invalid_argument naming the op and the shapes involved.
// Used by the CvT blocks (split heads and tokens: (B, C, T, H, W) <-> (B, heads, tokens, d)) and by the
// detector's route layers (concatenation along channels).
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace ssmtl {

// out = x.permute(dims).contiguous(): out dimension k is input dimension dims[k].
// dims must be a permutation of 0..rank-1 (negative entries allowed); rank <= 6.
Tensor permute(const Tensor& x, const std::vector<int>& dims);

// torch.cat(xs, dim): all inputs have the same rank, device and sizes except along `dim`.
// Throws on an empty list, a rank-0 input, or mismatching shapes (naming the first offending input).
Tensor concat(const std::vector<Tensor>& xs, int dim);

// A copy of x.narrow(dim, start, end - start), i.e. x[..., start:end, ...] along `dim`.
// Negative start/end count from the end of that dimension (as Python slices); after that,
// 0 <= start <= end <= size(dim) is required: out-of-range bounds throw instead of being clamped,
// because a silently shorter slice hides indexing bugs. start == end gives an empty dimension.
Tensor slice(const Tensor& x, int dim, int64_t start, int64_t end);

// torch.flatten(x, start_dim, end_dim): merges dimensions start_dim..end_dim into one (a view).
// A rank-0 tensor becomes shape [1].
Tensor flatten(const Tensor& x, int start_dim = 1, int end_dim = -1);

}  // namespace ssmtl
