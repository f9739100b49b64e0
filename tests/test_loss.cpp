#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "autograd/elementwise.h"
#include "autograd/loss.h"
#include "tests/gradcheck.h"
#include "tests/reference.h"

using namespace ssmtl;
using ssmtl::test::check_close;
using ssmtl::test::gradcheck;

namespace {

std::vector<int> as_targets(const Tensor& t) {
  std::vector<int> v;
  for (float f : t.to_vector()) v.push_back(static_cast<int>(f));
  return v;
}

// b with every element at least 0.1 away from a (the L1 kink), so central differences are valid.
Tensor apart_from(const Tensor& a, Rng& rng) {
  Tensor b = randn(a.shape(), rng);
  for (int64_t i = 0; i < b.numel(); ++i)
    if (std::fabs(b.data()[i] - a.data()[i]) < 0.1f) b.data()[i] = a.data()[i] + 0.3f;
  return b;
}

}  // namespace

TEST_CASE("cross_entropy: loss and gradient match PyTorch (one row with logits +-1000)") {
  test::RefFile ref("loss");
  Tensor logits = ref.get("ce/logits").set_requires_grad();
  Tensor loss = cross_entropy(logits, as_targets(ref.get("ce/targets")));
  CHECK(loss.shape().empty());
  CHECK(loss.item() == doctest::Approx(ref.scalar("ce/loss")).epsilon(1e-6));
  autograd::backward(loss);
  check_close(logits.grad(), ref.get("ce/grad"), 1e-7, 1e-5, "ce grad");
}

TEST_CASE("cross_entropy: PITFALLS 18 - logits (1000 -1000) with target 1 give exactly 2000 - finite when extreme") {
  Tensor x = Tensor::from_vector({1, 2}, {1000.f, -1000.f}).set_requires_grad();
  Tensor loss = cross_entropy(x, {1});
  CHECK(loss.item() == 2000.f);
  CHECK(cross_entropy(x, {0}).item() == 0.f);
  autograd::backward(loss);
  CHECK(x.grad().to_vector() == std::vector<float>{1.f, -1.f});   // softmax - one_hot, exactly
  // Far beyond exp's range: the loss is the (finite) logit gap, the gradient stays bounded.
  Tensor e = Tensor::from_vector({2, 3}, {1e37f, -1e37f, 0.f, 3e38f, 3e38f, -3e38f}).set_requires_grad();
  Tensor le = cross_entropy(e, {1, 0});
  CHECK(std::isfinite(le.item()));
  CHECK(le.item() == doctest::Approx((2e37 + std::log(2.0)) / 2).epsilon(1e-6));
  autograd::backward(le);
  for (float g : e.grad().to_vector()) {
    CHECK(std::isfinite(g));
    CHECK(std::fabs(g) <= 0.5f);
  }
}

TEST_CASE("cross_entropy: bad targets throw std::invalid_argument naming the index") {
  Tensor x = Tensor::zeros({3, 3});
  CHECK_THROWS_WITH_AS(cross_entropy(x, {0, 3, 1}), "cross_entropy: target 3 at index 1 is out of range [0, 3)",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(cross_entropy(x, {0, 1, -1}), "cross_entropy: target -1 at index 2 is out of range [0, 3)",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(cross_entropy(x, {0, 1}), "cross_entropy: 2 targets for logits [3, 3]", std::invalid_argument);
  CHECK_THROWS_AS(cross_entropy(Tensor::zeros({3}), {0}), std::invalid_argument);
}

TEST_CASE("cross_entropy_soft: loss and both gradients match PyTorch - one-hot probabilities equal hard targets") {
  test::RefFile ref("loss");
  Tensor logits = ref.get("sce/logits").set_requires_grad(), probs = ref.get("sce/probs").set_requires_grad();
  Tensor loss = cross_entropy_soft(logits, probs);
  CHECK(loss.item() == doctest::Approx(ref.scalar("sce/loss")).epsilon(1e-6));
  autograd::backward(loss);
  check_close(logits.grad(), ref.get("sce/grad_logits"), 1e-7, 1e-5, "soft ce grad logits");
  check_close(probs.grad(), ref.get("sce/grad_probs"), 1e-6, 1e-5, "soft ce grad probs");
  Tensor x = Tensor::from_vector({2, 3}, {0.5f, -1.f, 2.f, 3.f, 0.f, 1.f});
  Tensor onehot = Tensor::from_vector({2, 3}, {0.f, 0.f, 1.f, 0.f, 1.f, 0.f});
  CHECK(cross_entropy_soft(x, onehot).item() == doctest::Approx(cross_entropy(x, {2, 1}).item()).epsilon(1e-6));
  CHECK_THROWS_AS(cross_entropy_soft(x, Tensor::zeros({3, 2})), std::invalid_argument);
}

TEST_CASE("cross_entropy: finite-difference gradients (hard and soft targets)") {
  Rng rng(31);
  Tensor logits = randn({4, 5}, rng).set_requires_grad();
  gradcheck([](const std::vector<Tensor>& in) { return cross_entropy(in[0], {0, 4, 2, 2}); }, {logits});
  Tensor probs = rand_uniform({4, 5}, rng, 0.f, 0.4f).set_requires_grad();
  gradcheck([](const std::vector<Tensor>& in) { return cross_entropy_soft(in[0], in[1]); }, {logits, probs});
}

TEST_CASE("l1 / mse: mean and per-sample losses and gradients match PyTorch (L1 subgradient 0 at a == b)") {
  test::RefFile ref("loss");
  for (const std::string name : {"l1", "mse"}) {
    INFO("loss " << name);
    const bool l1 = name == "l1";
    Tensor a = ref.get("a").set_requires_grad(), b = ref.get("b").set_requires_grad();
    Tensor loss = l1 ? l1_loss(a, b) : mse_loss(a, b);
    CHECK(loss.shape().empty());
    CHECK(loss.item() == doctest::Approx(ref.scalar(name + "/loss")).epsilon(1e-6));
    autograd::backward(loss);
    check_close(a.grad(), ref.get(name + "/grad_a"), 1e-7, 1e-5, name + " grad a");
    check_close(b.grad(), ref.get(name + "/grad_b"), 1e-7, 1e-5, name + " grad b");
    if (l1) CHECK(a.grad().to_vector()[0] == 0.f);   // a == b there

    Tensor pa = ref.get("a").set_requires_grad(), pb = ref.get("b").set_requires_grad();
    Tensor per = l1 ? l1_per_sample(pa, pb) : mse_per_sample(pa, pb);
    check_close(per, ref.get(name + "_ps/loss"), 1e-6, 1e-6, name + " per-sample");
    autograd::backward(sum(mul(per, ref.get("r"))));
    check_close(pa.grad(), ref.get(name + "_ps/grad_a"), 1e-7, 1e-5, name + " per-sample grad a");
    check_close(pb.grad(), ref.get(name + "_ps/grad_b"), 1e-7, 1e-5, name + " per-sample grad b");
  }
}

TEST_CASE("l1 / mse: known values - per-sample means over all but dim 0") {
  Tensor a = Tensor::from_vector({2, 2}, {1.f, 2.f, 3.f, 4.f});
  Tensor b = Tensor::from_vector({2, 2}, {1.f, 0.f, 0.f, 8.f});
  CHECK(l1_loss(a, b).item() == doctest::Approx((0 + 2 + 3 + 4) / 4.0));
  CHECK(mse_loss(a, b).item() == doctest::Approx((0 + 4 + 9 + 16) / 4.0));
  CHECK(l1_per_sample(a, b).to_vector() == std::vector<float>{1.f, 3.5f});
  CHECK(mse_per_sample(a, b).to_vector() == std::vector<float>{2.f, 12.5f});
  CHECK_THROWS_WITH_AS(l1_loss(a, Tensor::zeros({4})), "l1_loss: shapes differ, [2, 2] vs [4]", std::invalid_argument);
  CHECK_THROWS_AS(mse_per_sample(Tensor::zeros({2, 0}), Tensor::zeros({2, 0})), std::invalid_argument);
}

TEST_CASE("l1 / mse: finite-difference gradients (mean and per-sample)") {
  Rng rng(32);
  Tensor a = randn({3, 2, 4}, rng).set_requires_grad();
  Tensor b = apart_from(a, rng).set_requires_grad();
  gradcheck([](const std::vector<Tensor>& in) { return l1_loss(in[0], in[1]); }, {a, b});
  gradcheck([](const std::vector<Tensor>& in) { return mse_loss(in[0], in[1]); }, {a, b});
  gradcheck([](const std::vector<Tensor>& in) { return l1_per_sample(in[0], in[1]); }, {a, b});
  gradcheck([](const std::vector<Tensor>& in) { return mse_per_sample(in[0], in[1]); }, {a, b});
}

TEST_CASE("l1 / mse: large inputs reduce deterministically and accurately (double accumulation)") {
  Rng rng(33);
  Tensor a = randn({2, 300000}, rng), b = randn({2, 300000}, rng);
  double s = 0;
  const float *pa = a.data(), *pb = b.data();
  for (int64_t i = 0; i < a.numel(); ++i) s += std::fabs(static_cast<double>(pa[i]) - pb[i]);
  Tensor l = l1_loss(a, b);
  CHECK(l.item() == doctest::Approx(s / a.numel()).epsilon(1e-7));
  CHECK(l1_loss(a, b).item() == l.item());
  std::vector<float> per = l1_per_sample(a, b).to_vector();
  CHECK((per[0] + per[1]) / 2 == doctest::Approx(l.item()).epsilon(1e-6));
}

#ifdef _OPENMP
TEST_CASE("losses: values and gradients do not depend on the number of threads") {
  Rng rng(34);
  Tensor a = randn({4, 3, 64, 64}, rng), b = randn({4, 3, 64, 64}, rng), logits = randn({3000, 30}, rng, 0.f, 4.f);
  std::vector<int> t(3000);
  for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<int>(i % 30);
  auto run = [&](int threads) {
    const int prev = omp_get_max_threads();
    omp_set_num_threads(threads);
    Tensor ag = a.clone().set_requires_grad(), lg = logits.clone().set_requires_grad();
    Tensor l1 = l1_loss(ag, b), ms = mse_loss(ag, b), ps = mse_per_sample(ag, b), ce = cross_entropy(lg, t);
    autograd::backward(add(add(l1, ms), add(sum(ps), ce)));
    omp_set_num_threads(prev);
    return std::vector<Tensor>{l1, ms, ps, ce, ag.grad(), lg.grad()};
  };
  std::vector<Tensor> one = run(1), four = run(4);
  for (size_t i = 0; i < one.size(); ++i) CHECK_MESSAGE(one[i].to_vector() == four[i].to_vector(), "result " << i);
}
#endif
