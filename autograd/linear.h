// Differentiable matrix products: linear (fully connected layer) and matmul (batched matrix product).
// CPU through OpenBLAS (see kernels/matmul.h for the threading policy), CUDA through the kernels' twins.
#pragma once
#include "tensor/tensor.h"

namespace ssmtl {

// PyTorch torch.nn.functional.linear: y = x w^T + bias.
// x: (..., in) with any number of leading dimensions (also none: x (in) gives y (out));
// w: (out, in); bias: (out), or an undefined Tensor() for none. Returns y: (..., out).
// Gradients for x, w and bias. Throws std::invalid_argument naming "linear" and the shapes when w is not 2-D,
// x.size(-1) != in, or bias is not (out); and when the tensors are on different devices.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias);

// gelu(linear(x, w, bias)) (GELU's erf form, torch.nn.functional.gelu's default) as one op: the product's output
// rows are passed through GELU while still in cache (kernels/matmul.h linear_gelu_forward_cpu), and the op keeps
// the pre-activation for the backward instead of a second node. Values and gradients are bitwise those of the
// composition. Shapes, gradients and errors as linear (messages name "linear_gelu").
Tensor linear_gelu(const Tensor& x, const Tensor& w, const Tensor& bias);

// Inference only (scoring, validation): the MLP half of a CvT block (model/cvt.cpp),
//   x + linear(linear_gelu(layer_norm(x, ln_gamma, ln_beta, eps), w1, b1), w2, b2)
// as one op: chunks of rows go through all of it while in cache (kernels/matmul.h mlp_residual_forward_cpu),
// bitwise equal to that composition on the CPU. x: (..., D); ln_gamma, ln_beta: (D) or undefined (1, 0);
// w1: (H, D), b1: (H) or undefined; w2: (D, H), b2: (D) or undefined. Returns (..., D). Records no gradient:
// throws std::invalid_argument naming "mlp_residual_eval" when gradients are being recorded for an input (run it
// under autograd::NoGradGuard), for shapes that do not fit together (named with the shapes), or tensors on
// different devices.
Tensor mlp_residual_eval(const Tensor& x, const Tensor& ln_gamma, const Tensor& ln_beta, float eps, const Tensor& w1,
                         const Tensor& b1, const Tensor& w2, const Tensor& b2);

// Batched matrix product (torch.matmul for these cases): a (..., M, K) @ b (..., K, N) -> (..., M, N),
// where b has the same leading (batch) dimensions as a, or b is 2-D (K, N) and shared by every batch item.
// Gradients for a and b (summed over the batch for a shared b). Throws std::invalid_argument naming "matmul"
// and both shapes when a or b has fewer than 2 dimensions, the inner sizes differ, or the batch dimensions
// differ (no other broadcasting).
Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace ssmtl
