// Differentiable losses (CPU or CUDA tensors), with torch.nn.functional semantics and mean reduction.
// The mean losses return a scalar tensor (shape []); the per-sample variants return (N).
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace ssmtl {

// Cross-entropy of class logits, as F.cross_entropy(logits, targets) (reduction "mean"):
//   mean_n [ logsumexp(logits[n, :]) - logits[n, targets[n]] ].
// logits: (N, K), N >= 1, K >= 1 ; targets: N class indices in [0, K).
// Computed stably (row maximum subtracted): logits [1000, -1000] with target 1 give exactly 2000, and the loss
// stays finite for any finite logits (needed when a task ascends it, PITFALLS item 18).
// Throws std::invalid_argument naming "cross_entropy": logits not 2-D or empty, targets.size() != N, or a target
// out of range (naming its index and value).
Tensor cross_entropy(const Tensor& logits, const std::vector<int>& targets);

// Cross-entropy with soft targets (class probabilities), as F.cross_entropy(logits, probs) in PyTorch >= 1.10:
//   mean_n sum_k -probs[n, k] * log_softmax(logits)[n, k].   logits, probs: (N, K), same shape.
// Differentiable in both arguments. Throws std::invalid_argument naming "cross_entropy_soft" and the shapes.
Tensor cross_entropy_soft(const Tensor& logits, const Tensor& probs);

// mean |a - b| over all elements, as F.l1_loss; the gradient at a == b is 0 (PyTorch's sign(0) = 0).
// a, b: same shape, non-empty. Throws std::invalid_argument naming the op and both shapes.
Tensor l1_loss(const Tensor& a, const Tensor& b);
// mean (a - b)^2 over all elements, as F.mse_loss. Same shapes and errors as l1_loss.
Tensor mse_loss(const Tensor& a, const Tensor& b);

// Per-sample losses for per-object anomaly scores: a, b (N, ...) of the same shape, rank >= 1, at least one
// element per sample; out[n] = mean over all dimensions but the first of |a - b| (resp. (a - b)^2).
// Equals F.l1_loss(a, b, reduction="none").flatten(1).mean(1) (resp. mse). Returns (N).
Tensor l1_per_sample(const Tensor& a, const Tensor& b);
Tensor mse_per_sample(const Tensor& a, const Tensor& b);

}  // namespace ssmtl
