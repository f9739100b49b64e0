#include <doctest/doctest.h>

#include <functional>
#include <stdexcept>
#include <string>

#include "autograd/elementwise.h"
#include "autograd/shape.h"
#include "tests/gradcheck.h"
#include "tests/reference.h"

using namespace ssmtl;
using ssmtl::test::check_close;
using ssmtl::test::gradcheck;

namespace {

// Forward output and input gradient of `f` against PyTorch's, for reference case `name`.
void check_case(const test::RefFile& ref, const std::string& name, const std::function<Tensor(const Tensor&)>& f) {
  INFO("case " << name);
  Tensor x = ref.get(name + "_x").set_requires_grad();
  Tensor y = f(x);
  check_close(y, ref.get(name + "_y"), 0, 0, name + " forward");   // pure copies: exact
  autograd::backward(y, ref.get(name + "_r"));
  check_close(x.grad(), ref.get(name + "_gx"), 0, 0, name + " gradient");
}

void check_concat(const test::RefFile& ref, const std::string& name, int n, int dim) {
  INFO("case " << name);
  std::vector<Tensor> xs;
  for (int i = 0; i < n; ++i) xs.push_back(ref.get(name + "_x" + std::to_string(i)).set_requires_grad());
  Tensor y = concat(xs, dim);
  check_close(y, ref.get(name + "_y"), 0, 0, name + " forward");
  autograd::backward(y, ref.get(name + "_r"));
  for (int i = 0; i < n; ++i)
    check_close(xs[i].grad(), ref.get(name + "_gx" + std::to_string(i)), 0, 0, name + " gradient " + std::to_string(i));
}

}  // namespace

TEST_CASE("shape: forward and gradients match PyTorch") {
  test::RefFile ref("shape");
  check_case(ref, "perm_nhwc", [](const Tensor& x) { return permute(x, {0, 2, 3, 1}); });
  check_case(ref, "perm_heads", [](const Tensor& x) { return permute(x, {0, 2, 1, 3}); });
  check_case(ref, "perm_rank6", [](const Tensor& x) { return permute(x, {-1, 0, 3, 1, -2, 2}); });
  check_case(ref, "perm_tokens", [](const Tensor& x) { return permute(x, {0, 2, 3, 4, 1}); });
  check_concat(ref, "cat_ch", 3, 1);
  check_concat(ref, "cat_last", 2, -1);
  check_concat(ref, "cat_first", 2, 0);
  check_case(ref, "slice_mid", [](const Tensor& x) { return slice(x, 1, 1, 4); });
  check_case(ref, "slice_neg", [](const Tensor& x) { return slice(x, -1, -3, -1); });
  check_case(ref, "slice_first", [](const Tensor& x) { return slice(x, 0, 2, 4); });
}

TEST_CASE("shape: finite-difference gradients (and backward adds into gradients)") {
  Rng rng(3);
  using V = const std::vector<Tensor>&;
  Tensor a = randn({2, 3, 4}, rng).set_requires_grad(), b = randn({2, 1, 4}, rng).set_requires_grad();
  Tensor c = randn({2, 2, 4}, rng);   // no gradient wanted: concat must skip it
  gradcheck([](V v) { return permute(v[0], {2, 0, 1}); }, {a});
  gradcheck([](V v) { return concat({v[0], v[1], v[2]}, 1); }, {a, b, c});
  gradcheck([](V v) { return slice(v[0], 2, 1, 3); }, {a});
  gradcheck([](V v) { return flatten(permute(v[0], {1, 0, 2}), 1); }, {a});
  CHECK_FALSE(c.grad().defined());
}

TEST_CASE("shape: large permutes equal a naive index loop (several threads, block edges)") {
  Rng rng(1);
  Tensor x = randn({3, 40, 50, 7}, rng);
  const std::vector<int> perm{2, 0, 3, 1};
  Tensor y = permute(x, perm);
  CHECK(y.shape() == Shape{50, 3, 7, 40});
  const float* xp = x.data();
  std::vector<float> want;
  for (int i2 = 0; i2 < 50; ++i2)
    for (int i0 = 0; i0 < 3; ++i0)
      for (int i3 = 0; i3 < 7; ++i3)
        for (int i1 = 0; i1 < 40; ++i1) want.push_back(xp[((i0 * 40 + i1) * 50 + i2) * 7 + i3]);
  CHECK(y.to_vector() == want);
  // The backward is the inverse permutation: permuting back restores x exactly.
  CHECK(permute(y, {1, 3, 0, 2}).to_vector() == x.to_vector());
  Tensor xg = x.clone().set_requires_grad();
  autograd::backward(permute(xg, perm), y);
  CHECK(xg.grad().to_vector() == x.to_vector());
  // Head split: whole contiguous rows (the last dimension stays last).
  Tensor h = randn({4, 30, 20, 40}, rng);
  Tensor hp = permute(h, {0, 2, 1, -1});
  std::vector<float> want_h;
  for (int b = 0; b < 4; ++b)
    for (int j = 0; j < 20; ++j)
      for (int i = 0; i < 30; ++i)
        for (int c = 0; c < 40; ++c) want_h.push_back(h.data()[((b * 30 + i) * 20 + j) * 40 + c]);
  CHECK(hp.to_vector() == want_h);
}

TEST_CASE("shape: batched transposes in whole 16 x 16 tiles and ragged ones equal a naive index loop") {
  // The CvT's tokens <-> volume permutes (96 channels, 7 x 8 x 8 tokens: whole tiles only) and a (3, 37, 45)
  // transpose whose tiles are cut in both dimensions (37 = 2 x 16 + 5 rows, 45 = 2 x 16 + 13 columns).
  Rng rng(4);
  const Tensor v = randn({2, 96, 7, 8, 8}, rng);
  const Tensor t = permute(v, {0, 2, 3, 4, 1});   // (2, 7, 8, 8, 96)
  std::vector<float> want;
  for (int n = 0; n < 2; ++n)
    for (int l = 0; l < 448; ++l)
      for (int c = 0; c < 96; ++c) want.push_back(v.data()[(n * 96 + c) * 448 + l]);
  CHECK(t.to_vector() == want);
  CHECK(permute(t, {0, 4, 1, 2, 3}).to_vector() == v.to_vector());
  const Tensor a = randn({3, 37, 45}, rng);
  const Tensor at = permute(a, {0, 2, 1});
  std::vector<float> want_a;
  for (int n = 0; n < 3; ++n)
    for (int j = 0; j < 45; ++j)
      for (int i = 0; i < 37; ++i) want_a.push_back(a.data()[(n * 37 + i) * 45 + j]);
  CHECK(at.to_vector() == want_a);
  CHECK(permute(at, {0, 2, 1}).to_vector() == a.to_vector());
}

TEST_CASE("shape: flatten, identity permute, empty slices and one-input concat") {
  Tensor x = Tensor::zeros({2, 3, 4, 5});
  CHECK(flatten(x).shape() == Shape{2, 60});
  CHECK(flatten(x, 1, 2).shape() == Shape{2, 12, 5});
  CHECK(flatten(x, 0).shape() == Shape{120});
  CHECK(flatten(x, -2).shape() == Shape{2, 3, 20});
  CHECK(flatten(Tensor::scalar(3.f), 0).shape() == Shape{1});
  Tensor v = Tensor::from_vector({2, 2}, {1, 2, 3, 4});
  CHECK(permute(v, {0, 1}).to_vector() == v.to_vector());
  CHECK(permute(v, {1, 0}).to_vector() == std::vector<float>{1, 3, 2, 4});
  CHECK(slice(v, 1, 1, 1).shape() == Shape{2, 0});
  CHECK(concat({v}, 0).to_vector() == v.to_vector());
  CHECK(concat({v, slice(v, 0, 0, 0)}, 0).to_vector() == v.to_vector());
}

TEST_CASE("shape: bad arguments name the op and the shapes") {
  Tensor x = Tensor::zeros({2, 3, 4});
  CHECK_THROWS_WITH_AS(permute(x, {0, 1}), "permute: dims (0, 1) do not match the rank of input [2, 3, 4]",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(permute(x, {0, 1, -2}), "permute: dims (0, 1, -2) are not a permutation for input [2, 3, 4]",
                       std::invalid_argument);
  CHECK_THROWS_AS(permute(x, {0, 1, 3}), std::invalid_argument);
  CHECK_THROWS_WITH_AS(concat({x, Tensor::zeros({2, 5, 3})}, 1),
                       "concat: input 1 has shape [2, 5, 3], input 0 has [2, 3, 4] (only dimension 1 may differ)",
                       std::invalid_argument);
  CHECK_THROWS_AS(concat({x, Tensor::zeros({2, 3})}, 0), std::invalid_argument);
  CHECK_THROWS_WITH_AS(concat({}, 0), "concat: no input tensors", std::invalid_argument);
  CHECK_THROWS_WITH_AS(concat({x}, 3), "concat: dimension 3 out of range for input [2, 3, 4]", std::invalid_argument);
  CHECK_THROWS_WITH_AS(slice(x, 1, 2, 5), "slice: range [2, 5) is out of bounds for dimension 1 of input [2, 3, 4]",
                       std::invalid_argument);
  CHECK_THROWS_AS(slice(x, 1, 2, 1), std::invalid_argument);
  CHECK_THROWS_AS(slice(x, -4, 0, 1), std::invalid_argument);
  CHECK_THROWS_AS(flatten(x, 2, 1), std::invalid_argument);
}
