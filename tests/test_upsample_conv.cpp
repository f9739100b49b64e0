// autograd/upsample_conv.h and kernels/upsample_conv.h: the decoders' nearest 2x up-sampling + 3x3 convolution
// computed on the low-resolution input (one 2x2 kernel per output phase).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/conv.h"
#include "autograd/engine.h"
#include "autograd/norm.h"
#include "autograd/pool.h"
#include "autograd/upsample_conv.h"
#include "kernels/precision.h"
#include "kernels/upsample_conv.h"
#include "model/layers.h"
#include "tensor/rng.h"
#include "tests/gradcheck.h"
#include "tests/reference.h"

using namespace ssmtl;
using ssmtl::test::check_close;
using ssmtl::test::gradcheck;

namespace {

Tensor composed(const Tensor& x, const Tensor& w, const Tensor& b) {
  Conv2dOptions o;
  o.padding[0] = o.padding[1] = 1;
  return conv2d(upsample_nearest2d(x, 2), w, b, o);
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

}  // namespace

TEST_CASE("upsample2x_conv2d: forward and gradients match PyTorch's interpolate then conv2d") {
  test::RefFile ref("upsample_conv");
  for (const std::string c : {"a", "b", "c"}) {
    INFO("case " << c);
    Tensor x = ref.get(c + "_x").set_requires_grad(), w = ref.get(c + "_w").set_requires_grad();
    Tensor b = c == "b" ? Tensor() : ref.get(c + "_b").set_requires_grad();
    Tensor y = upsample2x_conv2d(x, w, b);
    check_close(y, ref.get(c + "_y"), 1e-5, 1e-5, c + " forward");
    autograd::backward(y, ref.get(c + "_r"));
    check_close(x.grad(), ref.get(c + "_gx"), 1e-4, 1e-5, c + " dx");
    check_close(w.grad(), ref.get(c + "_gw"), 1e-4, 1e-5, c + " dw");
    if (b.defined()) check_close(b.grad(), ref.get(c + "_gb"), 1e-4, 1e-5, c + " dbias");
  }
}

TEST_CASE("upsample2x_conv2d: equals the composition at a decoder-like shape in fp32 and bf16") {
  Rng rng(3);
  const Tensor x0 = randn({3, 16, 8, 7}, rng), w0 = randn({24, 16, 3, 3}, rng, 0.f, 0.1f), b0 = randn({24}, rng);
  const Tensor r = randn({3, 24, 16, 14}, rng);
  for (const bool bf16 : {false, true}) {
    if (bf16 && !kernels::cpu_has_bf16()) continue;
    kernels::MatmulPrecisionScope scope(bf16 ? kernels::MatmulPrecision::bf16 : kernels::MatmulPrecision::fp32);
    CAPTURE(bf16);
    // bf16 rounds the folded taps (sums of up to 4 weights) instead of each weight: a few bf16 units apart.
    const double tol = bf16 ? 3e-2 : 2e-5;
    Tensor x1 = x0.clone().set_requires_grad(), w1 = w0.clone().set_requires_grad();
    Tensor x2 = x0.clone().set_requires_grad(), w2 = w0.clone().set_requires_grad();
    Tensor b1 = b0.clone().set_requires_grad(), b2 = b0.clone().set_requires_grad();
    Tensor y1 = upsample2x_conv2d(x1, w1, b1), y2 = composed(x2, w2, b2);
    REQUIRE(y1.shape() == Shape{3, 24, 16, 14});
    check_close(y1, y2, tol, tol, "forward");
    autograd::backward(y1, r);
    autograd::backward(y2, r);
    check_close(x1.grad(), x2.grad(), 10 * tol, tol, "dx");
    check_close(w1.grad(), w2.grad(), 10 * tol, tol, "dw");
    check_close(b1.grad(), b2.grad(), 10 * tol, tol, "dbias");
  }
}

TEST_CASE("upsample2x_conv2d: finite-difference gradients (and backward adds into gradients)") {
  Rng rng(5);
  using V = const std::vector<Tensor>&;
  auto in = [&](const Shape& s) { return randn(s, rng).set_requires_grad(); };
  gradcheck([](V v) { return upsample2x_conv2d(v[0], v[1], v[2]); }, {in({2, 2, 3, 4}), in({3, 2, 3, 3}), in({3})});
  gradcheck([](V v) { return upsample2x_conv2d(v[0], v[1], Tensor()); }, {in({1, 3, 2, 2}), in({2, 3, 3, 3})});
}

TEST_CASE("upsample conv kernels: each backward is the forward's transpose, the fold's adds and the interleave's "
          "writes every element") {
  Rng rng(9);
  const int64_t Cout = 3, Cin = 2, N = 2, C = 3, H = 4, W = 5;
  SUBCASE("fold: <fold(w), g> = <w, fold^T(g)>, and the backward adds into dw") {
    const std::vector<float> w = randn({Cout, Cin, 3, 3}, rng).to_vector();
    const std::vector<float> g = randn({4 * Cout, Cin, 2, 2}, rng).to_vector();
    std::vector<float> w2(g.size()), dw(w.size(), 1.f);
    kernels::upsample_conv_fold_weights_cpu(w2.data(), w.data(), Cout, Cin);
    kernels::upsample_conv_fold_weights_backward_cpu(dw.data(), g.data(), Cout, Cin);
    for (float& v : dw) v -= 1.f;   // the pre-filled 1 was added into
    CHECK(dot(w2, g) == doctest::Approx(dot(w, dw)).epsilon(1e-5));
    // Phase (0, 0), 2x2 tap (1, 1) of (co 0, ci 0) sums the 3x3 taps (1..2, 1..2); phase (1, 1) tap (0, 0) sums
    // (0..1, 0..1).
    CHECK(w2[3] == doctest::Approx(w[4] + w[5] + w[7] + w[8]));
    CHECK(w2[(3 * Cout * Cin) * 4] == doctest::Approx(w[0] + w[1] + w[3] + w[4]));
    // Every 3x3 tap reaches 4 phases x one 2x2 tap each: the fold's transpose of all-ones is 4 everywhere.
    std::vector<float> ones(g.size(), 1.f), d4(w.size(), 0.f);
    kernels::upsample_conv_fold_weights_backward_cpu(d4.data(), ones.data(), Cout, Cin);
    for (float v : d4) CHECK(v == 4.f);
  }
  SUBCASE("interleave: <interleave(y), g> = <y, interleave^T(g)>, the unread border written 0") {
    const std::vector<float> y = randn({N, 4 * C, H + 1, W + 1}, rng).to_vector();
    const std::vector<float> g = randn({N, C, 2 * H, 2 * W}, rng).to_vector();
    std::vector<float> out(g.size()), dy(y.size(), std::numeric_limits<float>::quiet_NaN());
    kernels::upsample_conv_interleave_forward_cpu(out.data(), y.data(), N, C, H, W);
    kernels::upsample_conv_interleave_backward_cpu(dy.data(), g.data(), N, C, H, W);
    CHECK(dot(out, g) == doctest::Approx(dot(y, dy)).epsilon(1e-5));   // (a NaN left anywhere fails)
    int64_t zeros = 0;
    for (float v : dy) zeros += v == 0.f;
    CHECK(zeros == N * 4 * C * (H + W + 1));   // one row and one column per phase plane
    // out (n 1, c 2, row 2 i + a = 5, column 2 j + b = 6) is y (n 1, phase (1, 0), c 2, row i + a = 3, column j = 3).
    CHECK(out[((1 * C + 2) * 2 * H + 5) * 2 * W + 6] == y[(((1 * 4 + 2) * C + 2) * (H + 1) + 3) * (W + 1) + 3]);
  }
}

TEST_CASE("upsample2x_conv2d_bn_relu_eval: bitwise relu(batch_norm(upsample2x_conv2d)) in eval mode") {
  Rng rng(11);
  const Tensor x = randn({2, 4, 5, 6}, rng), w = randn({3, 4, 3, 3}, rng), b = randn({3}, rng);
  Tensor mean = randn({3}, rng), var = Tensor::from_vector({3}, {0.7f, 1.3f, 2.1f});
  const Tensor gamma = randn({3}, rng), beta = randn({3}, rng);
  autograd::NoGradGuard ng;
  const Tensor fused = upsample2x_conv2d_bn_relu_eval(x, w, b, {gamma, beta, mean, var});
  const Tensor ref = batch_norm_relu(upsample2x_conv2d(x, w, b), gamma, beta, mean, var, false);
  CHECK(fused.to_vector() == ref.to_vector());
  // gamma and beta left undefined are 1 and 0.
  const Tensor plain = upsample2x_conv2d_bn_relu_eval(x, w, b, {Tensor(), Tensor(), mean, var});
  const Tensor unit = upsample2x_conv2d_bn_relu_eval(x, w, b, {Tensor::ones({3}), Tensor::zeros({3}), mean, var});
  CHECK(plain.to_vector() == unit.to_vector());
  int64_t zeros = 0;
  for (float v : fused.to_vector()) zeros += v == 0.f;
  CHECK(zeros > 0);   // the ReLU cut something
  CHECK(zeros < fused.numel());
}

TEST_CASE("upsample2x_conv2d: errors name the op and the shapes") {
  const Tensor x = Tensor::zeros({1, 2, 4, 4});
  CHECK_THROWS_WITH_AS(upsample2x_conv2d(x, Tensor::zeros({3, 2, 5, 5}), Tensor()),
                       "upsample2x_conv2d: w must be (Cout, Cin, 3, 3) (x [1, 2, 4, 4], w [3, 2, 5, 5], bias none)",
                       std::invalid_argument);
  CHECK_THROWS_AS(upsample2x_conv2d(Tensor::zeros({2, 4, 4}), Tensor::zeros({3, 2, 3, 3}), Tensor()),
                  std::invalid_argument);
  CHECK_THROWS_AS(upsample2x_conv2d(x, Tensor::zeros({3, 2, 3, 3}), Tensor::zeros({2})), std::invalid_argument);
  CHECK_THROWS_WITH_AS(upsample2x_conv2d(Tensor::zeros({1, 2, 0, 4}), Tensor::zeros({3, 2, 3, 3}), Tensor()),
                       "upsample2x_conv2d: x must have H, W >= 1 (x [1, 2, 0, 4], w [3, 2, 3, 3], bias none)",
                       std::invalid_argument);
  const Tensor w = Tensor::zeros({3, 2, 3, 3});
  const EvalBatchNorm ok{Tensor(), Tensor(), Tensor::zeros({3}), Tensor::ones({3})};
  CHECK_THROWS_AS(upsample2x_conv2d_bn_relu_eval(x, w.clone().set_requires_grad(), Tensor(), ok),
                  std::invalid_argument);
  autograd::NoGradGuard ng;
  CHECK_THROWS_WITH_AS(upsample2x_conv2d_bn_relu_eval(x, w, Tensor(), {Tensor(), Tensor(), Tensor::zeros({5}),
                                                                      Tensor::ones({3})}),
                       "upsample2x_conv2d_bn_relu_eval: bn.running_mean must be (Cout) = (3), got [5]",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(upsample2x_conv2d_bn_relu_eval(x, w, Tensor(),
                                                      {Tensor(), Tensor(), Tensor::zeros({3}), Tensor()}),
                       "upsample2x_conv2d_bn_relu_eval: bn.running_var must be defined", std::invalid_argument);
}

TEST_CASE("upsample2x_conv2d: an empty batch gives an empty result, with and without gradients") {
  Rng rng(13);
  Tensor x = Tensor::zeros({0, 2, 3, 4}).set_requires_grad(), w = randn({5, 2, 3, 3}, rng).set_requires_grad();
  const Tensor y = upsample2x_conv2d(x, w, Tensor());
  CHECK(y.shape() == Shape{0, 5, 6, 8});
  autograd::NoGradGuard ng;
  const Tensor z = upsample2x_conv2d_bn_relu_eval(x.detach(), w.detach(), Tensor(),
                                                  {Tensor(), Tensor(), Tensor::zeros({5}), Tensor::ones({5})});
  CHECK(z.shape() == Shape{0, 5, 6, 8});
}

TEST_CASE("upsample_conv_bn_relu: the decoder's layer in eval mode equals the composition it replaced") {
  Rng rng(15);
  Conv2dLayer conv(4, 6, 3, 1, 1, 1, false, rng);
  BatchNormLayer bn(6);
  bn.running_mean = randn({6}, rng);
  bn.running_var = rand_uniform({6}, rng, 0.5f, 2.f);
  const Tensor x = randn({2, 4, 5, 3}, rng);
  autograd::NoGradGuard ng;
  const Tensor fused = upsample_conv_bn_relu(conv, bn, x, false);   // the fused eval op, gamma 1 and beta 0
  const Tensor ref = conv_bn_relu(conv, bn, upsample_nearest2d(x, 2), false);
  REQUIRE(fused.shape() == ref.shape());
  check_close(fused, ref, 1e-5, 1e-5, "eval");
  Conv2dLayer strided(4, 6, 3, 2, 1, 1, false, rng);
  CHECK_THROWS_WITH_AS(upsample_conv_bn_relu(strided, bn, x, false),
                       "upsample_conv_bn_relu: the convolution must be 3x3 with stride 1, padding 1 and groups 1 "
                       "(weight [6, 4, 3, 3])",
                       std::invalid_argument);
}

TEST_CASE("upsample2x_conv2d_bn_relu_eval: running mean 2 and var 1 map 1 to -0.999995, 3 to 0.999995 (PITFALLS 19)") {
  // gamma 1, beta 0, eps 1e-5; a 3x3 kernel whose only non-zero tap is the centre (weight 1), 1 -> 2 channels, so each
  // output pixel is its up-sampled input pixel before the batch norm: 1 -> -0.999995 -> ReLU 0; 3 -> 0.999995 (1, 3
  // and the weight are exact in bf16, and the centre tap folds alone into each phase's kernel).
  autograd::NoGradGuard ng;
  const EvalBatchNorm bn{Tensor::ones({2}), Tensor::zeros({2}), Tensor::full({2}, 2.f), Tensor::ones({2})};
  std::vector<float> wv(18, 0.f);
  wv[4] = wv[9 + 4] = 1.f;
  const Tensor w = Tensor::from_vector({2, 1, 3, 3}, wv);
  std::vector<float> xv(16), expected(2 * 2 * 32);
  for (int j = 0; j < 16; ++j) xv[j] = j % 2 ? 3.f : 1.f;
  for (size_t i = 0; i < expected.size(); ++i) expected[i] = (i % 32) / 2 % 2 ? 0.999995f : 0.f;
  const Tensor x = Tensor::from_vector({1, 1, 1, 16}, xv);
  for (const bool bf16 : {false, true}) {
    if (bf16 && !kernels::cpu_has_bf16()) continue;
    CAPTURE(bf16);
    kernels::MatmulPrecisionScope scope(bf16 ? kernels::MatmulPrecision::bf16 : kernels::MatmulPrecision::fp32);
    const Tensor y = upsample2x_conv2d_bn_relu_eval(x, w, Tensor(), bn);
    REQUIRE(y.shape() == Shape{1, 2, 2, 32});
    CHECK(y.to_vector() == expected);
  }
  CHECK(bn.running_mean.to_vector() == std::vector<float>{2.f, 2.f});   // inference leaves the statistics as they were
  CHECK(bn.running_var.to_vector() == std::vector<float>{1.f, 1.f});
}
