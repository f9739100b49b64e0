#include <doctest/doctest.h>

#include <stdexcept>

#include "autograd/elementwise.h"
#include "tests/gradcheck.h"
#include "tests/reference.h"

using namespace ssmtl;
using ssmtl::test::check_close;
using ssmtl::test::gradcheck;

namespace {
Tensor composite(const Tensor& a, const Tensor& b, const Tensor& bias) {
  return add_channel_bias(add_scalar(scale(sub(mul(a, b), a), 0.5f), 1.f), bias);
}
}  // namespace

TEST_CASE("elementwise: forward and backward match PyTorch") {
  test::RefFile ref("elementwise");
  Tensor a = ref.get("a").set_requires_grad(), b = ref.get("b").set_requires_grad();
  Tensor bias = ref.get("bias").set_requires_grad();
  Tensor y = composite(a, b, bias);
  check_close(y, ref.get("y"), 1e-6, 1e-5, "y");
  Tensor loss = add(sum(mul(y, ref.get("r"))), mean(add(a, b)));
  CHECK(loss.item() == doctest::Approx(ref.scalar("loss")).epsilon(1e-5));
  autograd::backward(loss);
  check_close(a.grad(), ref.get("grad_a"), 1e-6, 1e-5, "grad a");
  check_close(b.grad(), ref.get("grad_b"), 1e-6, 1e-5, "grad b");
  check_close(bias.grad(), ref.get("grad_bias"), 1e-5, 1e-5, "grad bias");
}

TEST_CASE("elementwise: finite-difference gradients (and backward adds into gradients)") {
  Rng rng(3);
  Tensor a = randn({2, 3, 4}, rng).set_requires_grad(), b = randn({2, 3, 4}, rng).set_requires_grad();
  Tensor bias = randn({3}, rng).set_requires_grad();
  gradcheck([](const std::vector<Tensor>& in) { return composite(in[0], in[1], in[2]); }, {a, b, bias});
  gradcheck([](const std::vector<Tensor>& in) { return mean(reshape(in[0], {4, -1})); }, {a});
}

TEST_CASE("elementwise: shape mismatch names the op and both shapes") {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({3, 2});
  CHECK_THROWS_WITH_AS(add(a, b), "add: shapes differ, [2, 3] vs [3, 2]", std::invalid_argument);
}

TEST_CASE("autograd: a tensor used twice accumulates both gradients and no-grad records nothing") {
  Tensor x = Tensor::from_vector({2}, {3.f, -1.f}).set_requires_grad();
  Tensor y = sum(mul(x, x));   // d/dx = 2x
  autograd::backward(y);
  CHECK(x.grad().to_vector() == std::vector<float>{6.f, -2.f});
  {
    autograd::NoGradGuard ng;
    Tensor z = mul(x, x);
    CHECK_FALSE(z.requires_grad());
  }
}

TEST_CASE("autograd: a deep chain backpropagates iteratively (no recursion limit)") {
  Tensor x = Tensor::from_vector({1}, {1.f}).set_requires_grad();
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = add_scalar(y, 0.f);
  autograd::backward(y, Tensor::ones({1}));
  CHECK(x.grad().item() == 1.f);
}
