// Write-first input gradients of the kernels the autograd nodes call through grad_out (autograd/engine.h): with
// add_dx false a kernel must write every element of dx (here: a NaN-filled buffer) and give what adding into
// zeros gives, bit for bit; with add_dx true it adds into what is there. CPU kernels, and their CUDA twins
// (through the emulator where there is no GPU).
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "kernels/conv3d.h"
#include "kernels/norm.h"
#include "kernels/pool.h"
#include "tensor/device.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

using namespace ssmtl;

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();

// One backward kernel call into dx on `dev` with the given add flag.
using Call = std::function<void(float* dx, bool add)>;

// written (add false into NaN) == added (add true into zeros), and add true into `pre` == pre + added.
void check_write_first(const Shape& shape, Device dev, const Call& call) {
  Rng rng(7);
  const std::vector<float> p = randn(shape, rng).to_vector();
  Tensor written = Tensor::full(shape, kNaN, dev), added = Tensor::zeros(shape, dev);
  Tensor sum = Tensor::from_vector(shape, p).to(dev);
  call(written.data(), false);
  call(added.data(), true);
  call(sum.data(), true);
  const std::vector<float> w = written.to_vector(), a = added.to_vector(), s = sum.to_vector();
  CHECK(w == a);   // (a NaN left anywhere fails: NaN != NaN)
  double norm = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    norm += std::fabs(a[i]);
    CHECK(s[i] == doctest::Approx(p[i] + a[i]).epsilon(1e-6));
  }
  CHECK(norm > 0);
}

// The ops on `dev`: a 3x3x3 convolution (stride 1 and 2), layer norm (rows of 96 and of 5), nearest up-sampling
// x2, temporal max pooling.
void check_ops(Device dev) {
  Rng rng(3);
  for (const int s : {1, 2}) {
    CAPTURE(s);
    kernels::Conv3dGeometry g{};
    g.N = 2, g.Cin = 5, g.Cout = 4, g.groups = 1, g.D = 3, g.H = 7, g.W = 6, g.kD = g.kH = g.kW = 3;
    g.sD = 1, g.sH = g.sW = s, g.pD = g.pH = g.pW = 1;
    g.Do = 3, g.Ho = (7 + 2 - 3) / s + 1, g.Wo = (6 + 2 - 3) / s + 1;
    const Tensor x = randn({2, 5, 3, 7, 6}, rng).to(dev), w = randn({4, 5, 3, 3, 3}, rng).to(dev);
    const Tensor dout = randn({2, 4, g.Do, g.Ho, g.Wo}, rng).to(dev);
    check_write_first({2, 5, 3, 7, 6}, dev, [&](float* dx, bool add) {
      SSMTL_DISPATCH(dev, kernels::conv3d_backward, dx, nullptr, nullptr, dout.data(), x.data(), w.data(), add, g);
    });
  }
  for (const int64_t D : {96, 5}) {
    CAPTURE(D);
    const int64_t rows = 37;
    const Tensor x = randn({rows, D}, rng).to(dev), dy = randn({rows, D}, rng).to(dev);
    const Tensor gamma = randn({D}, rng).to(dev), beta = randn({D}, rng).to(dev);
    Tensor y = Tensor::empty({rows, D}, dev), mean = Tensor::empty({rows}, dev), invstd = Tensor::empty({rows}, dev);
    SSMTL_DISPATCH(dev, kernels::layer_norm_forward, y.data(), mean.data(), invstd.data(), x.data(), gamma.data(),
                   beta.data(), 1e-5f, rows, D);
    check_write_first({rows, D}, dev, [&](float* dx, bool add) {
      SSMTL_DISPATCH(dev, kernels::layer_norm_backward, dx, nullptr, nullptr, dy.data(), x.data(), mean.data(),
                     invstd.data(), gamma.data(), add, rows, D);
    });
  }
  {
    const int64_t planes = 6, H = 5, W = 7;
    const Tensor dout = randn({planes, 2 * H, 2 * W}, rng).to(dev);
    check_write_first({planes, H, W}, dev, [&](float* dx, bool add) {
      SSMTL_DISPATCH(dev, kernels::upsample_nearest2d_backward, dx, dout.data(), add, planes, H, W, 2);
    });
  }
  {
    const int64_t planes = 4, T = 3, inner = 10;
    const Tensor x = randn({planes, T, inner}, rng).to(dev), dout = randn({planes, inner}, rng).to(dev);
    Tensor out = Tensor::empty({planes, inner}, dev), argmax = Tensor::empty({planes, inner}, dev);
    int32_t* am = reinterpret_cast<int32_t*>(argmax.data());   // (one int32 per float slot)
    SSMTL_DISPATCH(dev, kernels::temporal_max_pool_forward, out.data(), am, x.data(), planes, T, inner);
    check_write_first({planes, T, inner}, dev, [&](float* dx, bool add) {
      SSMTL_DISPATCH(dev, kernels::temporal_max_pool_backward, dx, dout.data(), am, add, planes, T, inner);
    });
  }
}

}  // namespace

TEST_CASE("write-first kernels: conv3d - layer norm - up-sampling - temporal max pooling write every element of a new dx") {
  check_ops(Device::CPU);
}

#ifdef SSMTL_WITH_CUDA
TEST_CASE("cuda write-first kernels: conv3d - layer norm - up-sampling - temporal max pooling write every element of a new dx") {
  if (!cuda_available()) {
    MESSAGE("no CUDA device: skipped");
    return;
  }
  check_ops(Device::CUDA);
}
#endif
