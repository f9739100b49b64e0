// CUDA twin of kernels/adam.h: one fused elementwise launch per parameter (reads param, grad, m, v once,
// writes param, m, v once), with the CPU kernel's arithmetic in the same order. sqrtf and division are
// IEEE-rounded in CUDA (no fast-math), so the two differ only where either compiler contracts a*b+c.
#include "kernels/adam.h"
#include "kernels/cuda/common.cuh"

namespace ssmtl::kernels {

namespace {
__global__ void adam_k(float* param, float* exp_avg, float* exp_avg_sq, const float* grad, AdamCoefficients c,
                       long long n) {
  const float one_minus_beta1 = 1.f - c.beta1, one_minus_beta2 = 1.f - c.beta2;
  SSMTL_GRID_LOOP(i, n) {
    const float g = grad[i] + c.weight_decay * param[i];
    const float m = c.beta1 * exp_avg[i] + one_minus_beta1 * g;
    const float v = c.beta2 * exp_avg_sq[i] + one_minus_beta2 * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    param[i] -= c.step_size * (m / (sqrtf(v) / c.bias_correction2_sqrt + c.eps));
  }
}
}  // namespace

void adam_step_cuda(float* param, float* exp_avg, float* exp_avg_sq, const float* grad, AdamCoefficients c, int64_t n) {
  if (n > 0) adam_k<<<cuda::grid_for(n), cuda::kThreads>>>(param, exp_avg, exp_avg_sq, grad, c, n);
  CUDA_CHECK_LAST();
}

}  // namespace ssmtl::kernels
