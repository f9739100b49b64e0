// BatchNorm statistics per input window (model/bn_window.h, BatchNormLayer::statistics): estimated as the
// cumulative mean of batch statistics, used in eval under their window only, never touching the running
// buffers; training and plain eval unchanged.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autograd/engine.h"
#include "model/bn_window.h"
#include "model/layers.h"

using namespace ssmtl;

namespace {

// (N=2, C=2, inner=3) batches: channel c of sample n holds v[(n * 2 + c) * 3 + i].
Tensor batch(std::vector<float> v) { return Tensor::from_vector({2, 2, 3}, v); }

// Two estimation batches shared by the cases below.
const std::vector<float> kA{1, 2, 3, -1, 0, 4, 5, 6, 9, 2, 2, 8};
const std::vector<float> kB{0, 0, 1, 3, 7, -2, 2, 4, 4, 1, 0, 5};

// Per-channel mean and unbiased variance of a (2, 2, 3) batch.
void stats(const Tensor& x, int c, double& mean, double& var_unbiased) {
  const std::vector<float> v = x.to_vector();
  double s = 0, ss = 0;
  for (int n = 0; n < 2; ++n)
    for (int i = 0; i < 3; ++i) s += v[(n * 2 + c) * 3 + i];
  mean = s / 6;
  for (int n = 0; n < 2; ++n)
    for (int i = 0; i < 3; ++i) ss += (v[(n * 2 + c) * 3 + i] - mean) * (v[(n * 2 + c) * 3 + i] - mean);
  var_unbiased = ss / 5;
}

}  // namespace

TEST_CASE("bn window: estimated statistics are the mean of the batch statistics and serve eval under their window only") {
  BatchNormLayer bn(2);
  const Tensor a = batch(kA), b = batch(kB);
  {
    autograd::NoGradGuard ng;
    bn_window::Estimate estimate;
    bn_window::Scope window(7);
    bn.forward(a, true);
    bn.forward_relu(b, true);   // (forward_relu estimates alike)
  }
  // The running buffers are untouched: zeros and ones as constructed.
  CHECK(bn.running_mean.to_vector() == std::vector<float>{0.f, 0.f});
  CHECK(bn.running_var.to_vector() == std::vector<float>{1.f, 1.f});
  REQUIRE(bn.window_stats.count(7) == 1);
  CHECK(bn.window_stats.count(6) == 0);
  const BatchNormLayer::WindowStats& s = bn.window_stats.at(7);
  CHECK(s.batches == 2);
  for (int c = 0; c < 2; ++c) {
    double ma, va, mb, vb;
    stats(a, c, ma, va);
    stats(b, c, mb, vb);
    CHECK(s.mean.to_vector()[c] == doctest::Approx((ma + mb) / 2).epsilon(1e-6));
    CHECK(s.var.to_vector()[c] == doctest::Approx((va + vb) / 2).epsilon(1e-6));
  }

  // Eval under window 7 normalises with them; under window 6 (none estimated) and outside any window with the
  // running statistics (gamma 1, beta 0).
  autograd::NoGradGuard ng;
  const Tensor x = batch({0.5f, -1, 2, 3, 1, 0, 4, 2, -3, 1, 1, 6});
  const std::vector<float> xv = x.to_vector();
  std::vector<float> in7, in6, outside;
  {
    bn_window::Scope window(7);
    in7 = bn.forward(x, false).to_vector();
  }
  {
    bn_window::Scope window(6);
    in6 = bn.forward(x, false).to_vector();
  }
  outside = bn.forward(x, false).to_vector();
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 2; ++c)
      for (int i = 0; i < 3; ++i) {
        const int k = (n * 2 + c) * 3 + i;
        const double m = s.mean.to_vector()[c], v = s.var.to_vector()[c];
        CHECK(in7[k] == doctest::Approx((xv[k] - m) / std::sqrt(v + 1e-5)).epsilon(1e-5));
        CHECK(in6[k] == doctest::Approx(xv[k] / std::sqrt(1 + 1e-5)).epsilon(1e-6));
        CHECK(outside[k] == in6[k]);
      }
}

TEST_CASE("bn window: training under a window updates the running statistics only, and a new estimate replaces the old") {
  BatchNormLayer bn(2);
  const Tensor a = batch(kA), b = batch(kB);
  autograd::NoGradGuard ng;
  {
    bn_window::Estimate estimate;
    bn_window::Scope window(1);
    bn.forward(a, true);
  }
  const std::vector<float> estimated = bn.window_stats.at(1).mean.to_vector();
  {
    bn_window::Scope window(1);   // training, not estimating: PyTorch's running update, momentum 0.1
    bn.forward(b, true);
  }
  CHECK(bn.window_stats.at(1).mean.to_vector() == estimated);
  for (int c = 0; c < 2; ++c) {
    double mb, vb;
    stats(b, c, mb, vb);
    CHECK(bn.running_mean.to_vector()[c] == doctest::Approx(0.1 * mb).epsilon(1e-6));
    CHECK(bn.running_var.to_vector()[c] == doctest::Approx(0.9 + 0.1 * vb).epsilon(1e-6));
  }
  {
    bn_window::Estimate again;   // replaces window 1's statistics: those of b alone
    bn_window::Scope window(1);
    bn.forward(b, true);
  }
  CHECK(bn.window_stats.at(1).batches == 1);
  for (int c = 0; c < 2; ++c) {
    double mb, vb;
    stats(b, c, mb, vb);
    CHECK(bn.window_stats.at(1).mean.to_vector()[c] == doctest::Approx(mb).epsilon(1e-6));
    CHECK(bn.window_stats.at(1).var.to_vector()[c] == doctest::Approx(vb).epsilon(1e-6));
  }
}

TEST_CASE("bn window: the fused eval convolution uses the window's statistics as the unfused ops do") {
  Rng rng(3);
  Conv3dLayer conv(2, 2, {3, 3, 3}, Conv3dOptions{}, true, rng);
  BatchNormLayer bn(2);
  Tensor x = Tensor::empty({2, 2, 3, 4, 4});
  {
    std::vector<float> v(static_cast<size_t>(x.numel()));
    for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.37f * static_cast<float>(i));
    x = Tensor::from_vector(x.shape(), v);
  }
  autograd::NoGradGuard ng;
  {
    bn_window::Estimate estimate;
    bn_window::Scope window(6);
    conv_bn_relu(conv, bn, x, true);
  }
  bn_window::Scope window(6);
  const std::vector<float> fused = conv_bn_relu(conv, bn, x, false).to_vector();
  const std::vector<float> plain = bn.forward_relu(conv.forward(x), false).to_vector();
  CHECK(fused == plain);
  // ... and differ from what the running statistics (untouched: 0, 1) give.
  bn_window::Scope none(-1);
  CHECK(conv_bn_relu(conv, bn, x, false).to_vector() != fused);
}

TEST_CASE("bn window: PITFALLS 19 with a window's statistics - eval maps x = 1 to -0.999995 alone or in a batch and changes nothing") {
  // Window 7's statistics as a checkpoint loads them (mean 2, var 1); the running ones stay 0 / 1.
  BatchNormLayer bn(1);
  bn.window_stats[7].mean = Tensor::from_vector({1}, {2.f});
  bn.window_stats[7].var = Tensor::from_vector({1}, {1.f});
  autograd::NoGradGuard ng;
  bn_window::Scope window(7);
  const Tensor alone = bn.forward(Tensor::from_vector({1, 1}, {1.f}), false);
  const Tensor pair = bn.forward(Tensor::from_vector({2, 1}, {1.f, 3.f}), false);
  CHECK(std::abs(alone.to_vector()[0] - (-0.999995)) <= 1e-6);
  CHECK(std::abs(pair.to_vector()[0] - (-0.999995)) <= 1e-6);
  CHECK(std::abs(pair.to_vector()[1] - 0.999995) <= 1e-6);
  CHECK(bn.forward(Tensor::from_vector({2, 1}, {1.f, 3.f}), false).to_vector() == pair.to_vector());   // bitwise
  CHECK(bn.window_stats.at(7).mean.to_vector() == std::vector<float>{2.f});
  CHECK(bn.window_stats.at(7).var.to_vector() == std::vector<float>{1.f});
  CHECK(bn.running_mean.to_vector() == std::vector<float>{0.f});
  CHECK(bn.running_var.to_vector() == std::vector<float>{1.f});
}
