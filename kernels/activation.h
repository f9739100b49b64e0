// Activation kernels with PyTorch semantics (torch.nn.functional): relu, leaky_relu, gelu (exact erf form,
// Hendrycks & Gimpel 2016), sigmoid, tanh, and softmax / log_softmax over the last dimension.
// Outputs first, then inputs, then sizes. All buffers of an elementwise op have n elements.
// Backward kernels ADD into the gradient buffer dx (never assign).
// Gradients at kinks follow PyTorch: relu'(0) = 0, leaky_relu'(0) = slope.
// exp and erf come from kernels/cpu/vmath.h (vectorisable; exp within 2 ulp, erf within 3.5e-7 absolute,
// as PyTorch's own vectorised CPU kernels approximate them), GELU's from kernels/cpu/gelu_vec.h (with AVX-512:
// piecewise polynomials of Phi and GELU' made by scripts/gen_gelu_tables.py, |gelu error| <= 1.5e-7 |x|; without:
// the Abramowitz & Stegun 7.1.26 erf on whole vectors, <= 3e-7 |x|); tanh uses libm.
#pragma once
#include <cstdint>

#include "kernels/dispatch.h"

namespace ssmtl::kernels {

// y = max(x, 0)
void relu_forward_cpu(float* y, const float* x, int64_t n);
// dx += y > 0 ? dy : 0   (y: the forward output; y > 0 exactly when x > 0)
void relu_backward_cpu(float* dx, const float* dy, const float* y, int64_t n);
// y = x > 0 ? x : slope * x
void leaky_relu_forward_cpu(float* y, const float* x, float slope, int64_t n);
// dx += x > 0 ? dy : slope * dy
void leaky_relu_backward_cpu(float* dx, const float* dy, const float* x, float slope, int64_t n);
// y = x / 2 * (1 + erf(x / sqrt 2))
void gelu_forward_cpu(float* y, const float* x, int64_t n);
namespace detail {
// The loop behind gelu_forward_cpu on the calling thread (no OpenMP region), for kernels that fuse GELU into
// their own output loops (linear_gelu_forward_cpu): one compiled loop for both, so both give the same bits
// (GCC contracts the formula's multiply-adds differently in different loops: 1-ulp differences otherwise).
// The bits of an element depend only on its value (tails go through the same vector code, masked).
void gelu_rows(float* y, const float* x, int64_t n);
}  // namespace detail
// dx += dy * (Phi(x) + x phi(x)), Phi / phi: standard normal cdf / pdf; add_dx false: dx = ... (a new
// gradient, need not be initialised: autograd/engine.h grad_out).
void gelu_backward_cpu(float* dx, const float* dy, const float* x, bool add_dx, int64_t n);
// y = 1 / (1 + exp(-x)), without overflow for large |x|
void sigmoid_forward_cpu(float* y, const float* x, int64_t n);
// dx += dy * y * (1 - y)   (y: the forward output)
void sigmoid_backward_cpu(float* dx, const float* dy, const float* y, int64_t n);
// y = tanh(x)
void tanh_forward_cpu(float* y, const float* x, int64_t n);
// dx += dy * (1 - y^2)   (y: the forward output)
void tanh_backward_cpu(float* dx, const float* dy, const float* y, int64_t n);

// Over the last dimension of x viewed as (rows, K), with the row maximum subtracted first (no overflow):
// y[r, k] = exp(x[r, k] - m) / sum_j exp(x[r, j] - m), m = max_j x[r, j].   y, x: (rows, K)
void softmax_forward_cpu(float* y, const float* x, int64_t rows, int64_t K);
// dx += y * (dy - sum_k dy y)   (y: the forward output)   dx, dy, y: (rows, K)
void softmax_backward_cpu(float* dx, const float* dy, const float* y, int64_t rows, int64_t K);
// y[r, k] = x[r, k] - m - log sum_j exp(x[r, j] - m)   y, x: (rows, K)
void log_softmax_forward_cpu(float* y, const float* x, int64_t rows, int64_t K);
// dx += dy - exp(y) * sum_k dy   (y: the forward output)   dx, dy, y: (rows, K)
void log_softmax_backward_cpu(float* dx, const float* dy, const float* y, int64_t rows, int64_t K);

#ifdef SSMTL_WITH_CUDA
void relu_forward_cuda(float* y, const float* x, int64_t n);
void relu_backward_cuda(float* dx, const float* dy, const float* y, int64_t n);
void leaky_relu_forward_cuda(float* y, const float* x, float slope, int64_t n);
void leaky_relu_backward_cuda(float* dx, const float* dy, const float* x, float slope, int64_t n);
void gelu_forward_cuda(float* y, const float* x, int64_t n);
void gelu_backward_cuda(float* dx, const float* dy, const float* x, bool add_dx, int64_t n);
void sigmoid_forward_cuda(float* y, const float* x, int64_t n);
void sigmoid_backward_cuda(float* dx, const float* dy, const float* y, int64_t n);
void tanh_forward_cuda(float* y, const float* x, int64_t n);
void tanh_backward_cuda(float* dx, const float* dy, const float* y, int64_t n);
void softmax_forward_cuda(float* y, const float* x, int64_t rows, int64_t K);
void softmax_backward_cuda(float* dx, const float* dy, const float* y, int64_t rows, int64_t K);
void log_softmax_forward_cuda(float* y, const float* x, int64_t rows, int64_t K);
void log_softmax_backward_cuda(float* dx, const float* dy, const float* y, int64_t rows, int64_t K);
#endif

}  // namespace ssmtl::kernels
