// Scoring's end of a backbone stage in one op (kernels/conv3d.h conv3d_bn_relu_pool_forward_cpu): each thread
// takes whole samples, runs conv -> BN -> ReLU of one sample into its own scratch (one sample's activation: 1.8 MB
// at stage 1 of the paper-size model, mostly in the thread's L2) and pools it from there, so the full-resolution
// activation never goes to memory and back (the stage-1 output of a batch of 64 objects is 117 MB).
// Bits: every convolution path computes each sample on its own (per-sample tasks, sums in a fixed order), the
// pooling is per plane, so the result is bitwise the batched composition.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "kernels/conv3d.h"
#include "kernels/cpu/aligned.h"
#include "kernels/pool.h"

namespace ssmtl::kernels {

bool conv3d_bn_relu_pool_per_sample_pays(const Conv3dGeometry& g) {
  return g.N > 1 && (g.Cin / g.groups) * g.kD * g.kH * g.kW <= 128;
}

void conv3d_bn_relu_pool_forward_cpu(float* out, const float* x, const float* w, const float* bias,
                                     const BnRelu& bn, const Conv3dGeometry& g) {
  if (g.N <= 0) return;
  Conv3dGeometry one = g;
  one.N = 1;
  const PoolGeometry pg = pool_1x2x2_geometry(g.Cout, g.Do, g.Ho, g.Wo);
  const int64_t in_size = g.Cin * g.D * g.H * g.W, act_size = g.Cout * g.Do * g.Ho * g.Wo;
  const int64_t out_size = pg.planes * pg.oD * pg.oH * pg.oW;
  // Inside this region the convolution's and the pooling's own regions run on the calling thread (nested).
#pragma omp parallel if (g.N > 1 && !omp_in_parallel())
  {
    avector<float> act(static_cast<size_t>(act_size));
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.N; ++n) {
      conv3d_bn_relu_forward_cpu(act.data(), x + n * in_size, w, bias, bn, one);
      max_pool3d_forward_cpu(out + n * out_size, nullptr, act.data(), pg);
    }
  }
}

}  // namespace ssmtl::kernels
