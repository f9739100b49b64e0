// Differentiable normalisation layers (CPU or CUDA tensors), with PyTorch semantics.
#pragma once
#include "tensor/tensor.h"

namespace ssmtl {

// Batch normalisation (Ioffe & Szegedy 2015), as torch.nn.functional.batch_norm.
//   x: (N, C, ...) of rank >= 2: (N, C), (N, C, H, W) or (N, C, D, H, W); statistics per channel C over
//      N and all trailing dimensions.
//   gamma, beta: (C), or undefined Tensors for no affine transform (gamma 1, beta 0).
//   running_mean, running_var: (C) buffers, no gradient.
// training: normalise with the batch mean and biased variance, then update the running statistics in place:
//   running_mean = (1 - momentum) running_mean + momentum mean,
//   running_var  = (1 - momentum) running_var  + momentum var_unbiased   (PyTorch's rule).
// eval: normalise with the running statistics and never modify them; gradients still flow to x, gamma and
//   beta (the statistics are constants then). With running_mean/running_var undefined, batch statistics are
//   always used (PyTorch track_running_stats=False).
// y = (x - mean) / sqrt(var + eps) * gamma + beta. Deterministic: two bitwise-equal eval calls give equal outputs.
// Throws std::invalid_argument (naming "batch_norm" and the shapes) on rank < 2, mismatched (C) buffers,
// only one of the running buffers defined, or training with a single value per channel (N * spatial = 1).
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                  Tensor& running_var, bool training, float momentum = 0.1f, float eps = 1e-5f);

// Layer normalisation over the last dimension (Ba et al. 2016), as torch.nn.functional.layer_norm with
// normalized_shape = (D,): each row of D values is normalised with its mean and biased variance.
//   x: (..., D) of rank >= 1 ; gamma, beta: (D) or undefined (no affine).
// Throws std::invalid_argument naming "layer_norm" and the shapes on a mismatch.
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps = 1e-5f);

}  // namespace ssmtl
