#include "kernels/adam.h"

#include <cmath>

namespace ssmtl::kernels {

void adam_step_cpu(float* param, float* exp_avg, float* exp_avg_sq, const float* grad, AdamCoefficients c, int64_t n) {
  const float one_minus_beta1 = 1.f - c.beta1, one_minus_beta2 = 1.f - c.beta2;
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i] + c.weight_decay * param[i];
    const float m = c.beta1 * exp_avg[i] + one_minus_beta1 * g;
    const float v = c.beta2 * exp_avg_sq[i] + one_minus_beta2 * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    param[i] -= c.step_size * (m / (std::sqrt(v) / c.bias_correction2_sqrt + c.eps));
  }
}

}  // namespace ssmtl::kernels
