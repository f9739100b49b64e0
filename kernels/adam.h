// Adam update kernels (Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Algorithm 1),
// with the arithmetic of PyTorch's torch.optim.Adam (single-tensor path, amsgrad off):
//   g  = grad + weight_decay * param                 (L2 penalty added to the gradient)
//   m  = beta1 * m + (1 - beta1) * g
//   v  = beta2 * v + (1 - beta2) * g * g
//   param -= step_size * m / (sqrt(v) / bias_correction2_sqrt + eps)     (eps outside the square root)
// where the caller computes, in double, for the parameter's step count t >= 1:
//   step_size = lr / (1 - beta1^t),  bias_correction2_sqrt = sqrt(1 - beta2^t).
// A negative lr (so a negative step_size) moves the parameter up the gradient (gradient ascent).
// The _cpu function is in kernels/cpu/adam.cpp; the _cuda twin (a fused kernel) has the same signature.
#pragma once
#include <cstdint>

#include "kernels/dispatch.h"

namespace ssmtl::kernels {

struct AdamCoefficients {
  float beta1, beta2, eps, weight_decay;
  float step_size;               // lr / (1 - beta1^t)
  float bias_correction2_sqrt;   // sqrt(1 - beta2^t)
};

// param, exp_avg (m), exp_avg_sq (v): (n) updated in place ; grad: (n)
void adam_step_cpu(float* param, float* exp_avg, float* exp_avg_sq, const float* grad, AdamCoefficients c, int64_t n);

#ifdef SSMTL_WITH_CUDA
void adam_step_cuda(float* param, float* exp_avg, float* exp_avg_sq, const float* grad, AdamCoefficients c, int64_t n);
#endif

}  // namespace ssmtl::kernels
