#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "autograd/dropout.h"
#include "autograd/elementwise.h"
#include "tests/gradcheck.h"

using namespace ssmtl;
using ssmtl::test::gradcheck;

TEST_CASE("dropout: eval and p = 0 are the identity and draw nothing from the Rng") {
  Rng rng(1), fresh(1);
  Tensor x = Tensor::from_vector({2, 2}, {1.f, -2.f, 3.f, 4.f});
  Tensor y = dropout(x, 0.5f, false, rng);
  CHECK(y.impl() == x.impl());
  CHECK(dropout(x, 0.f, true, rng).impl() == x.impl());
  CHECK(rng.next_u64() == fresh.next_u64());
}

TEST_CASE("dropout: inverted scaling - drop rate close to p - expectation preserved") {
  Rng rng(2);
  const float p = 0.3f;
  Tensor x = Tensor::ones({200000});
  std::vector<float> y = dropout(x, p, true, rng).to_vector();
  const float kept = 1.f / (1.f - p);
  int64_t dropped = 0, other = 0;
  double total = 0;
  for (float v : y) {
    dropped += v == 0.f;
    other += v != 0.f && v != kept;
    total += v;
  }
  CHECK(other == 0);   // every element is 0 or 1 / (1 - p)
  // Binomial(200000, 0.3): standard deviation ~205, so +-0.005 is ~5 sigma.
  CHECK(std::fabs(static_cast<double>(dropped) / y.size() - p) < 0.005);
  CHECK(total / y.size() == doctest::Approx(1.0).epsilon(0.01));
  CHECK(dropout(x, 1.f, true, rng).to_vector() == std::vector<float>(200000, 0.f));
}

TEST_CASE("dropout: deterministic for a given Rng state - different states give different masks") {
  Rng r1(7), r2(7), r3(8);
  Rng noise(0);
  Tensor x = randn({1000}, noise);
  Tensor a = dropout(x, 0.5f, true, r1), b = dropout(x, 0.5f, true, r2), c = dropout(x, 0.5f, true, r3);
  CHECK(a.to_vector() == b.to_vector());
  CHECK(a.to_vector() != c.to_vector());
  // The next call draws a new mask.
  CHECK(dropout(x, 0.5f, true, r1).to_vector() != a.to_vector());
}

TEST_CASE("dropout: the gradient is the mask - finite differences with a fixed mask") {
  Rng rng(4);
  Tensor x = rand_uniform({50}, rng, 0.5f, 1.5f).set_requires_grad();
  Rng mask_rng(9);
  Tensor y = dropout(x, 0.4f, true, mask_rng);
  autograd::backward(sum(y));
  std::vector<float> g = x.grad().to_vector(), yv = y.to_vector(), xv = x.to_vector();
  for (size_t i = 0; i < g.size(); ++i) CHECK(g[i] == doctest::Approx(yv[i] / xv[i]).epsilon(1e-6));
  x.zero_grad();
  gradcheck([](const std::vector<Tensor>& in) {
    Rng fixed(9);   // the same mask on every evaluation
    return dropout(in[0], 0.4f, true, fixed);
  }, {x});
}

TEST_CASE("dropout: p outside 0..1 throws std::invalid_argument") {
  Rng rng(0);
  Tensor x = Tensor::ones({3});
  CHECK_THROWS_AS(dropout(x, -0.1f, true, rng), std::invalid_argument);
  CHECK_THROWS_AS(dropout(x, 1.5f, false, rng), std::invalid_argument);
  CHECK_THROWS_AS(dropout(x, std::nanf(""), true, rng), std::invalid_argument);
}
