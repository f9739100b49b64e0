// Differentiable elementwise ops, reductions and reshape (any shape, CPU or CUDA).
// Shapes: a and b must have identical shapes (no implicit broadcasting: explicit is easier to read);
// mismatches throw std::invalid_argument naming the op and both shapes.
#pragma once
#include "tensor/tensor.h"

namespace ssmtl {

Tensor add(const Tensor& a, const Tensor& b);            // a + b
Tensor sub(const Tensor& a, const Tensor& b);            // a - b
Tensor mul(const Tensor& a, const Tensor& b);            // a * b (Hadamard)
Tensor scale(const Tensor& a, float s);                  // s * a
Tensor add_scalar(const Tensor& a, float c);             // a + c
Tensor sum(const Tensor& a);                             // scalar (shape []), sum of all elements
Tensor mean(const Tensor& a);                            // scalar, sum / numel
// x: (N, C, ...) ; bias: (C) ; out[n, c, ...] = x[n, c, ...] + bias[c]
Tensor add_channel_bias(const Tensor& x, const Tensor& bias);
// Same data, new shape (one dimension may be -1); the gradient is reshaped back.
Tensor reshape(const Tensor& a, const Shape& shape);

}  // namespace ssmtl
