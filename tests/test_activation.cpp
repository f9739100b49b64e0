#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/activation.h"
#include "autograd/elementwise.h"
#include "kernels/activation.h"
#include "kernels/cpu/vmath.h"
#include "tests/gradcheck.h"
#include "tests/reference.h"

using namespace ssmtl;
using ssmtl::test::check_close;
using ssmtl::test::gradcheck;

namespace {

using Op = std::function<Tensor(const Tensor&)>;

const std::vector<std::pair<std::string, Op>>& elementwise_ops() {
  static const std::vector<std::pair<std::string, Op>> ops = {
      {"relu", [](const Tensor& t) { return relu(t); }},
      {"leaky_relu", [](const Tensor& t) { return leaky_relu(t); }},
      {"leaky_relu_02", [](const Tensor& t) { return leaky_relu(t, 0.2f); }},
      {"gelu", [](const Tensor& t) { return gelu(t); }},
      {"sigmoid", [](const Tensor& t) { return sigmoid(t); }},
      {"tanh", [](const Tensor& t) { return tanh_act(t); }},
  };
  return ops;
}

// Random values at least 0.2 away from 0 (the kink of relu and leaky_relu), so central differences are valid.
Tensor away_from_zero(const Shape& shape, Rng& rng) {
  Tensor t = randn(shape, rng);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] += t.data()[i] >= 0.f ? 0.2f : -0.2f;
  return t;
}

}  // namespace

TEST_CASE("activations: forward and gradients match PyTorch (including the gradient at 0 and saturation)") {
  test::RefFile ref("activation");
  for (const auto& [name, op] : elementwise_ops()) {
    INFO("op " << name);
    Tensor x = ref.get("x").set_requires_grad();
    Tensor y = op(x);
    check_close(y, ref.get(name + "/y"), 1e-6, 2e-6, name + " y");
    autograd::backward(sum(mul(y, ref.get("r"))));
    check_close(x.grad(), ref.get(name + "/grad"), 1e-6, 1e-5, name + " grad");
  }
}

TEST_CASE("activations: finite-difference gradients away from kinks") {
  Rng rng(21);
  Tensor x = away_from_zero({3, 4, 5}, rng).set_requires_grad();
  for (const auto& [name, op] : elementwise_ops()) {
    INFO("op " << name);
    gradcheck([op = op](const std::vector<Tensor>& in) { return op(in[0]); }, {x});
  }
}

TEST_CASE("activations: known values and PyTorch's kink conventions") {
  Tensor x = Tensor::from_vector({5}, {-2.f, -0.f, 0.f, 1.5f, 100.f}).set_requires_grad();
  CHECK(relu(x).to_vector() == std::vector<float>{0.f, 0.f, 0.f, 1.5f, 100.f});
  CHECK(leaky_relu(x, 0.1f).to_vector()[0] == doctest::Approx(-0.2f));
  autograd::backward(sum(relu(x)));
  CHECK(x.grad().to_vector() == std::vector<float>{0.f, 0.f, 0.f, 1.f, 1.f});   // relu'(0) = 0
  x.zero_grad();
  autograd::backward(sum(leaky_relu(x, 0.1f)));
  std::vector<float> g = x.grad().to_vector();
  CHECK(g[2] == doctest::Approx(0.1f));   // leaky_relu'(0) = slope, as PyTorch
  // gelu exact form: gelu(1) = 0.5 (1 + erf(1/sqrt 2)) = 0.8413447
  CHECK(gelu(Tensor::from_vector({1}, {1.f})).item() == doctest::Approx(0.8413447).epsilon(1e-6));
  // sigmoid and tanh do not overflow for large |x|
  std::vector<float> s = sigmoid(Tensor::from_vector({2}, {-1000.f, 1000.f})).to_vector();
  CHECK(s == std::vector<float>{0.f, 1.f});
  std::vector<float> t = tanh_act(Tensor::from_vector({2}, {-1000.f, 1000.f})).to_vector();
  CHECK(t == std::vector<float>{-1.f, 1.f});
}

TEST_CASE("softmax / log_softmax: forward and gradients match PyTorch over the last dimension") {
  test::RefFile ref("activation");
  Tensor s = ref.get("s").set_requires_grad();
  Tensor y = softmax(s);
  check_close(y, ref.get("softmax/y"), 1e-7, 1e-5, "softmax y");
  autograd::backward(sum(mul(y, ref.get("rs"))));
  check_close(s.grad(), ref.get("softmax/grad"), 1e-6, 1e-5, "softmax grad");
  Tensor s2 = ref.get("s").set_requires_grad();
  Tensor ly = log_softmax(s2);
  check_close(ly, ref.get("log_softmax/y"), 1e-5, 1e-6, "log_softmax y");
  autograd::backward(sum(mul(ly, ref.get("rs"))));
  check_close(s2.grad(), ref.get("log_softmax/grad"), 1e-5, 1e-5, "log_softmax grad");
}

TEST_CASE("softmax / log_softmax: finite-difference gradients") {
  Rng rng(22);
  Tensor x = randn({2, 3, 4}, rng).set_requires_grad();
  gradcheck([](const std::vector<Tensor>& in) { return softmax(in[0]); }, {x});
  gradcheck([](const std::vector<Tensor>& in) { return log_softmax(in[0]); }, {x});
}

TEST_CASE("softmax / log_softmax: stable for extreme logits - bad shapes throw") {
  Tensor x = Tensor::from_vector({1, 2}, {1000.f, -1000.f});
  CHECK(softmax(x).to_vector() == std::vector<float>{1.f, 0.f});
  CHECK(log_softmax(x).to_vector() == std::vector<float>{0.f, -2000.f});   // exact
  Tensor big = Tensor::from_vector({3}, {1e30f, -1e30f, 3e38f});
  for (float v : softmax(big).to_vector()) CHECK(std::isfinite(v));
  std::vector<float> rows = softmax(Tensor::from_vector({2, 3}, {1.f, 2.f, 3.f, 1.f, 2.f, 3.f})).to_vector();
  double total = 0;
  for (int k = 0; k < 3; ++k) total += rows[k];
  CHECK(total == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(rows[0] == rows[3]);
  CHECK_THROWS_WITH_AS(softmax(Tensor::scalar(1.f)), "softmax: needs a non-empty last dimension, got []",
                       std::invalid_argument);
  CHECK_THROWS_AS(log_softmax(Tensor::zeros({2, 0})), std::invalid_argument);
}

TEST_CASE("vmath: exp_approx within 2 ulp of exp and erf_approx within 3.5e-7 of erf - exact special values") {
  double worst_exp = 0, worst_erf = 0;
  int not_odd = 0;
  for (double x = -87.0; x <= 88.72; x += 1e-3) {
    const float xf = static_cast<float>(x);
    const double ref = std::exp(static_cast<double>(xf));
    worst_exp = std::max(worst_exp, std::fabs(kernels::exp_approx(xf) - ref) / ref);
  }
  for (double x = -6.0; x <= 6.0; x += 1e-4) {
    const float xf = static_cast<float>(x);
    worst_erf = std::max(worst_erf, std::fabs(kernels::erf_approx(xf) - std::erf(static_cast<double>(xf))));
    not_odd += kernels::erf_approx(-xf) != -kernels::erf_approx(xf);
  }
  CHECK(not_odd == 0);
  CHECK(worst_exp < 2 * 5.97e-8);
  CHECK(worst_erf < 3.5e-7);
  CHECK(kernels::exp_approx(0.f) == 1.f);
  CHECK(kernels::exp_approx(-2000.f) == 0.f);
  CHECK(std::isinf(kernels::exp_approx(89.f)));
  CHECK(std::fabs(kernels::exp_approx(-100.f) - std::exp(-100.0)) < 1e-44);   // subnormal result
  CHECK(kernels::erf_approx(5.f) == 1.f);
  CHECK(kernels::erf_approx(0.f) == 0.f);
}

TEST_CASE("gelu kernels: GELU within 1.5e-7 |x| and GELU' within 1.5e-7 (3e-7 and 4e-7 without AVX-512) of the exact erf form - tails - interval ends - NaN and infinities") {
  std::vector<float> x = {5.f};   // also the last element: the masked tail must give the vector lanes' bits
  for (double v = -12.0; v <= 12.0; v += 3.1e-4) x.push_back(static_cast<float>(v));
  for (float v : {0.f, -0.f, 1e-30f, -1e-30f, 1e-6f, 50.f, -50.f, 1e4f, -1e4f}) x.push_back(v);
  // the ends of the AVX-512 tables' 32 intervals of [-6, 6) (x_j = -6 + 3j/8) and their neighbours
  for (int j = 0; j <= 32; ++j) {
    const float xj = -6.f + 0.375f * static_cast<float>(j);
    for (float v : {std::nextafter(xj, -1e9f), xj, std::nextafter(xj, 1e9f)}) x.push_back(v);
  }
  x.push_back(5.f);   // an odd count: the last elements go through the masked tail
  const int64_t n = static_cast<int64_t>(x.size());
  REQUIRE(n % 16 != 0);
  std::vector<float> y(x.size()), dx(x.size(), 0.5f), dy(x.size(), 2.f);
  kernels::gelu_forward_cpu(y.data(), x.data(), n);
  kernels::gelu_backward_cpu(dx.data(), dy.data(), x.data(), true, n);   // adds: dx = 0.5 + 2 gelu'(x)
  std::vector<float> written(x.size(), std::numeric_limits<float>::quiet_NaN()), into_zeros(x.size(), 0.f);
  kernels::gelu_backward_cpu(written.data(), dy.data(), x.data(), false, n);   // writes: 2 gelu'(x)
  kernels::gelu_backward_cpu(into_zeros.data(), dy.data(), x.data(), true, n);
  CHECK(written == into_zeros);   // (a NaN left anywhere fails)
  double worst = 0, worst_d = 0, worst_add = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double X = x[i], cdf = 0.5 * std::erfc(-X / std::sqrt(2.0));
    const double ref = X * cdf, dref = cdf + X * std::exp(-0.5 * X * X) / std::sqrt(2.0 * M_PI);
    worst = std::max(worst, std::fabs(y[i] - ref) / std::max(std::fabs(X), 1e-30));
    worst_d = std::max(worst_d, std::fabs(written[i] / 2.0 - dref));   // 2 gelu'(x) / 2: exact
    worst_add = std::max(worst_add, std::fabs(dx[i] - (0.5 + static_cast<double>(written[i]))));
  }
#if defined(__AVX512F__)
  // the piecewise polynomials of kernels/cpu/gelu_tables.h (measured 1.1e-7 |x| and 1.2e-7: the tables' 3e-8 and
  // 6e-8 plus float rounding of x Phi and of Horner's steps)
  CHECK(worst < 1.5e-7);
  CHECK(worst_d < 1.5e-7);
#else
  CHECK(worst < 3e-7);   // Abramowitz & Stegun 7.1.26
  CHECK(worst_d < 4e-7);
#endif
  CHECK(worst_add <= 2.4e-7);   // adding into dx: one rounding of 0.5 + 2 gelu'(x) (half an ulp of values < 4)
  CHECK(y.back() == y.front());   // the masked tail's 5 has the bits of the first vector's
  CHECK(written.back() == written.front());
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> sx = {inf, nan, -2.f, -inf};
  std::vector<float> sy(4), sd(4, 0.f), ones(4, 1.f);
  kernels::gelu_forward_cpu(sy.data(), sx.data(), 4);
  kernels::gelu_backward_cpu(sd.data(), ones.data(), sx.data(), true, 4);
  CHECK(std::isinf(sy[0]));
  CHECK(sy[0] > 0.f);
  CHECK(sd[0] == doctest::Approx(1.0).epsilon(1e-7));
  CHECK(std::isnan(sy[1]));
  CHECK(std::isnan(sd[1]));
  CHECK(sy[2] == doctest::Approx(-2.0 * 0.5 * std::erfc(std::sqrt(2.0))).epsilon(2e-4));   // the negative tail
  CHECK(std::isnan(sy[3]));   // -inf * Phi(-inf) = -inf * 0, as the exact form (and PyTorch) give
  CHECK(sd[3] == 0.f);
}
