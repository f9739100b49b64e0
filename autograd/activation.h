// Differentiable activations (any shape, CPU or CUDA tensors), with torch.nn.functional semantics.
// Each returns a new tensor of x's shape. Gradients at kinks follow PyTorch: relu'(0) = 0, leaky_relu'(0) = slope.
#pragma once
#include "tensor/tensor.h"

namespace ssmtl {

Tensor relu(const Tensor& x);                              // max(x, 0)
Tensor leaky_relu(const Tensor& x, float slope = 0.01f);   // x > 0 ? x : slope * x
Tensor gelu(const Tensor& x);                              // erf form x/2 (1 + erf(x/sqrt 2)), torch's default
                                                           // (not the tanh approximation); within 1.5e-7 |x|
                                                           // (3e-7 without AVX-512: kernels/cpu/gelu_vec.h)
Tensor sigmoid(const Tensor& x);                           // 1 / (1 + exp(-x)), stable for large |x|
Tensor tanh_act(const Tensor& x);                          // tanh(x)

// Over the last dimension (size K >= 1) of x (rank >= 1), with the row maximum subtracted first so large
// logits never overflow: softmax rows sum to 1; log_softmax(x) = x - logsumexp(x) (exactly 0 for a
// logit that dominates the others, e.g. [1000, -1000] -> [0, -2000]).
// Throws std::invalid_argument naming the op and the shape for a scalar or K = 0.
Tensor softmax(const Tensor& x);
Tensor log_softmax(const Tensor& x);

}  // namespace ssmtl
