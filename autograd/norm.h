// Differentiable normalisation layers (CPU or CUDA tensors), with PyTorch semantics.
#pragma once
#include <functional>

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

// relu(batch_norm(x, ...)) as one op (the model's conv -> BN -> ReLU blocks): y = max(0, batch_norm(x)).
// Arguments, shapes, statistics, running-statistics update, eval semantics and errors as batch_norm (messages
// name "batch_norm_relu"); formula: Ioffe & Szegedy 2015 followed by torch.nn.functional.relu (relu'(0) = 0).
// One node (BatchNormReluBackward) instead of two and no intermediate tensor: the forward writes y in the
// normalisation pass, the backward reads y for the ReLU mask in batch norm's backward pass. On the CPU the
// output and every gradient are bitwise those of relu(batch_norm(x)). While a BatchNormSync is active, a
// training call is exactly that composition (synchronised statistics).
Tensor batch_norm_relu(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                       Tensor& running_var, bool training, float momentum = 0.1f, float eps = 1e-5f);

// max_pool3d(relu(batch_norm(x)), window (1,2,2), stride (1,2,2), no padding) as one op: the end of each stage of
// the backbone's 3D CNN (conv -> BN -> ReLU -> pool). x: (N, C, D, H, W) with H, W >= 2; returns
// (N, C, D, H / 2, W / 2) (floor, as torch: an odd last row or column is not pooled). Arguments, statistics,
// running-statistics update, eval semantics and errors as batch_norm (messages name "batch_norm_relu_pool");
// formula: Ioffe & Szegedy 2015, then torch.nn.functional.relu and max_pool3d (ties keep the first in scan order).
// One node (BatchNormReluPoolBackward); the ReLU's full-size output and its gradient are never stored: the node
// keeps the winners' positions and x values (a quarter of x's size). The output is bitwise that of the
// composition, the gradients equal it up to the order of batch norm's per-channel sums (kernels/norm_pool.h).
// While a BatchNormSync is active a training call is the composition (synchronised statistics).
// Throws std::invalid_argument (naming "batch_norm_relu_pool" and the shape) for a rank other than 5 or H, W < 2.
Tensor batch_norm_relu_pool(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                            Tensor& running_var, bool training, float momentum = 0.1f, float eps = 1e-5f);

// Synchronised batch statistics across the processes of a data-parallel job (SyncBatchNorm; the trainer's
// train.sync_bn). While a BatchNormSync lives on this thread, every training-mode batch_norm computes its
// per-channel mean and biased variance over the samples of ALL processes: `sum` must replace buf[0..n) by
// its element-wise sum over the processes (dist::Communicator::sum), and every process must make the same
// batch_norm calls in the same order. Forward: the local (M_r, mean_r, var_r) combine as
//   M = sum M_r, mean = sum M_r mean_r / M, var = sum M_r (var_r + (mean_r - mean)^2) / M  (Chan et al. 1979),
// the running statistics are updated with the global M. Backward (the graph keeps `sum`): sum dy and
// sum dy xhat are summed over the processes and dx uses them with the global M (as torch SyncBatchNorm);
// gamma / beta receive this process's own sums (the data-parallel gradient sum adds the others).
// CPU tensors only: std::invalid_argument for a CUDA tensor while a BatchNormSync is active.
using ProcessSum = std::function<void(double* buf, int64_t n)>;
class BatchNormSync {
 public:
  explicit BatchNormSync(ProcessSum sum);
  ~BatchNormSync();
  BatchNormSync(const BatchNormSync&) = delete;
  BatchNormSync& operator=(const BatchNormSync&) = delete;

 private:
  ProcessSum prev_;
};

// Layer normalisation over the last dimension (Ba et al. 2016), as torch.nn.functional.layer_norm with
// normalized_shape = (D,): each row of D values is normalised with its mean and biased variance.
//   x: (..., D) of rank >= 1 ; gamma, beta: (D) or undefined (no affine).
// Throws std::invalid_argument naming "layer_norm" and the shapes on a mismatch.
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps = 1e-5f);

}  // namespace ssmtl
