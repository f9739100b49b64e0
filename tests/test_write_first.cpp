// Write-first gradients (autograd/engine.h grad_out, pass_grad): the first contribution to a new gradient is
// written (batch norm, batch norm + ReLU, linear, GELU, max pooling, permute, convolutions, layer norm,
// up-sampling, temporal max pooling) or handed over without a copy (reshape, add) instead of being added into
// zeros. A tensor used by several ops must still get the sum of their gradients, whichever op runs first, and a
// gradient shared by add's two inputs must be copied before either is added into.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "autograd/elementwise.h"
#include "autograd/engine.h"
#include "autograd/activation.h"
#include "autograd/conv.h"
#include "autograd/linear.h"
#include "autograd/norm.h"
#include "autograd/pool.h"
#include "autograd/shape.h"
#include "tensor/rng.h"
#include "tests/gradcheck.h"

using namespace ssmtl;

namespace {

using Use = std::function<Tensor(const Tensor&)>;   // one consumer of x (N=4, C=6) -> a scalar

// Each consumer weighs its output with fixed random values so that every gradient element differs.
std::vector<Use> consumers(Rng& rng) {
  auto weigh = [](Tensor y, uint64_t seed) {
    Rng r(seed);
    return sum(mul(y, randn(y.shape(), r)));
  };
  const Tensor gamma = randn({6}, rng).set_requires_grad(), beta = randn({6}, rng).set_requires_grad();
  const Tensor w = randn({5, 6}, rng).set_requires_grad(), b = randn({5}, rng).set_requires_grad();
  const Tensor dw_w = randn({1, 1, 1, 3, 3}, rng).set_requires_grad();
  const Tensor c2_w = randn({3, 2, 3, 3}, rng).set_requires_grad();
  return {
      [=](const Tensor& x) {
        Tensor rm = Tensor::zeros({6}), rv = Tensor::ones({6});
        return weigh(batch_norm(x, gamma, beta, rm, rv, true), 1);
      },
      [=](const Tensor& x) {
        Tensor rm = Tensor::zeros({6}), rv = Tensor::ones({6});
        return weigh(batch_norm_relu(x, gamma, beta, rm, rv, true), 2);
      },
      [=](const Tensor& x) { return weigh(linear(x, w, b), 3); },
      [=](const Tensor& x) { return weigh(linear_gelu(x, w, b), 4); },
      [=](const Tensor& x) { return weigh(reshape(x, {2, 12}), 5); },
      [=](const Tensor& x) { return weigh(add(x, x), 6); },
      [=](const Tensor& x) { return weigh(sub(x, scale(x, 0.5f)), 7); },
      [=](const Tensor& x) {   // (N, C, inner) = (2, 6, 2): the per-channel kernels rather than the row ones
        Tensor rm = Tensor::zeros({6}), rv = Tensor::ones({6});
        return weigh(batch_norm_relu(reshape(x, {2, 6, 2}), gamma, beta, rm, rv, true), 8);
      },
      [=](const Tensor& x) { return weigh(gelu(x), 9); },
      [=](const Tensor& x) {   // (1, 2, 2) max pooling of (N, C, D, H, W) = (1, 1, 2, 4, 3): a column under no window
        const Pool3dOptions o{{1, 2, 2}, {1, 2, 2}};
        return weigh(max_pool3d(reshape(x, {1, 1, 2, 4, 3}), o), 10);
      },
      [=](const Tensor& x) { return weigh(permute(reshape(x, {2, 2, 6}), {2, 0, 1}), 11); },
      [=](const Tensor& x) {   // 1x3x3 stride 2 over tokens (N, T H W, C) = (1, 1 * 4 * 6, 1): a row and a column
        Conv3dOptions o;       // under no window
        o.stride[1] = o.stride[2] = 2;
        o.groups = 1;
        return weigh(conv3d_depthwise_tokens(reshape(x, {1, 24, 1}), dw_w, Tensor(), 1, 4, 6, o), 11);
      },
      [=](const Tensor& x) { return weigh(layer_norm(x, gamma, beta), 13); },
      [=](const Tensor& x) { return weigh(upsample_nearest2d(reshape(x, {1, 4, 2, 3}), 2), 14); },
      [=](const Tensor& x) { return weigh(temporal_max_pool(reshape(x, {1, 2, 3, 2, 2})), 15); },
      [=](const Tensor& x) {   // 3x3 conv, stride 2, padding 1, of (N, C, H, W) = (1, 2, 3, 4)
        Conv2dOptions o;
        o.stride[0] = o.stride[1] = 2;
        o.padding[0] = o.padding[1] = 1;
        return weigh(conv2d(reshape(x, {1, 2, 3, 4}), c2_w, Tensor(), o), 16);
      },
  };
}

std::vector<float> grad_of(const std::vector<Use>& uses, const std::vector<size_t>& which, const Tensor& leaf) {
  Tensor x = scale(leaf, 1.f);   // a non-leaf: its gradient is new when the first consumer's backward runs
  Tensor total;
  for (size_t k : which) total = total.defined() ? add(total, uses[k](x)) : uses[k](x);
  Tensor l = leaf;
  l.zero_grad();
  autograd::backward(total);
  return leaf.grad().to_vector();
}

}  // namespace

TEST_CASE("autograd write-first: a tensor used by several ops gets the sum of their gradients in any order") {
  Rng rng(5);
  const std::vector<Use> uses = consumers(rng);
  const Tensor leaf = randn({4, 6}, rng).set_requires_grad();
  std::vector<std::vector<float>> alone;
  for (size_t k = 0; k < uses.size(); ++k) alone.push_back(grad_of(uses, {k}, leaf));
  // Every pair in both orders, and all of them, forwards and backwards.
  std::vector<std::vector<size_t>> sets;
  for (size_t a = 0; a < uses.size(); ++a)
    for (size_t b = 0; b < uses.size(); ++b)
      if (a != b) sets.push_back({a, b});
  std::vector<size_t> all(uses.size());
  for (size_t k = 0; k < all.size(); ++k) all[k] = k;
  sets.push_back(all);
  sets.push_back(std::vector<size_t>(all.rbegin(), all.rend()));
  for (const auto& set : sets) {
    const std::vector<float> got = grad_of(uses, set, leaf);
    std::vector<double> want(got.size(), 0.0);
    for (size_t k : set)
      for (size_t i = 0; i < got.size(); ++i) want[i] += alone[k][i];
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]) / (1 + std::fabs(want[i])));
    CAPTURE(set.size());
    CAPTURE(set[0]);
    CAPTURE(set[1]);
    CHECK(worst < 1e-5);
  }
}

TEST_CASE("autograd write-first: a gradient handed over by reshape or add belongs to one tensor only") {
  // y = reshape(a) + b: add gives g to b (handed over) and shares it with reshape's output, whose gradient
  // reshape hands to a. Adding more into a's gradient later (a is also used by mul) must leave b's untouched.
  Tensor a = Tensor::from_vector({2, 2}, {1, 2, 3, 4}).set_requires_grad();
  Tensor b = Tensor::from_vector({4}, {5, 6, 7, 8}).set_requires_grad();
  Tensor y = add(sum(add(reshape(a, {4}), b)), sum(mul(a, a)));   // da = 1 + 2a, db = 1
  autograd::backward(y);
  CHECK(a.grad().to_vector() == std::vector<float>{3, 5, 7, 9});
  CHECK(b.grad().to_vector() == std::vector<float>{1, 1, 1, 1});
  // Leaves keep accumulating over backward calls (no zero_grad between).
  Tensor y2 = sum(add(reshape(a, {4}), b));
  autograd::backward(y2);
  CHECK(a.grad().to_vector() == std::vector<float>{4, 6, 8, 10});
  CHECK(b.grad().to_vector() == std::vector<float>{2, 2, 2, 2});
}

TEST_CASE("autograd write-first: a second backward through add adds the same gradient again") {
  // backward(y, grad_output) with y = a + b, twice: each leaf's gradient is then exactly 2 x grad_output (the
  // first backward handed b the root's own gradient buffer, which must not be the second root's).
  Tensor a = Tensor::from_vector({3}, {1, 2, 3}).set_requires_grad();
  Tensor b = Tensor::from_vector({3}, {4, 5, 6}).set_requires_grad();
  const Tensor gout = Tensor::from_vector({3}, {0.5f, -1.f, 2.f});
  autograd::backward(add(a, b), gout);
  CHECK(a.grad().to_vector() == gout.to_vector());
  CHECK(b.grad().to_vector() == gout.to_vector());
  autograd::backward(add(a, b), gout);
  CHECK(a.grad().to_vector() == std::vector<float>{1, -2, 4});
  CHECK(b.grad().to_vector() == std::vector<float>{1, -2, 4});
  CHECK(gout.to_vector() == std::vector<float>{0.5f, -1.f, 2.f});   // the caller's gradient is never written
}

TEST_CASE("autograd write-first: add shares its gradient - a branch that adds into it while the other still reads it gets a copy") {
  // out = u + transpose(u), u = 3 x: add hands g to transpose's output and shares it with u; transpose's
  // backward then adds g^T into u's gradient while reading g itself. Without a private copy first the in-place
  // transposed add would read elements it has already changed. du = g + g^T, dx = 3 (g + g^T).
  Rng rng(11);
  Tensor x = randn({4, 4}, rng).set_requires_grad();
  const Tensor w = randn({4, 4}, rng);
  Tensor u = scale(x, 3.f);
  autograd::backward(sum(mul(add(u, permute(u, {1, 0})), w)));
  const std::vector<float> g = w.to_vector(), dx = x.grad().to_vector();
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) CHECK(dx[i * 4 + j] == doctest::Approx(3.f * (g[i * 4 + j] + g[j * 4 + i])));
}

TEST_CASE("autograd write-first: leaves never share a gradient buffer after backward") {
  // y = reshape(a) + b: a and b get the same gradient, handed on by add and reshape without a copy; after
  // backward each leaf owns its buffer, so changing one in place (as a sum across ranks does) leaves the other.
  Tensor a = Tensor::from_vector({2, 2}, {1, 2, 3, 4}).set_requires_grad();
  Tensor b = Tensor::from_vector({4}, {5, 6, 7, 8}).set_requires_grad();
  autograd::backward(add(reshape(a, {4}), b), Tensor::from_vector({4}, {1, 2, 3, 4}));
  CHECK(a.grad().to_vector() == std::vector<float>{1, 2, 3, 4});
  CHECK(b.grad().to_vector() == std::vector<float>{1, 2, 3, 4});
  a.grad().data()[0] = 100.f;
  CHECK(b.grad().to_vector() == std::vector<float>{1, 2, 3, 4});
  CHECK(a.grad().to_vector() == std::vector<float>{100, 2, 3, 4});
}

namespace {
// y = 3 x + 2 w elementwise, whose backward adds w's share first and then writes (or adds) x's, as a kernel may.
struct ThreeTwoNode : Node {
  const char* name() const override { return "ThreeTwoBackward"; }
  void backward(const Tensor& g) override {
    const autograd::GradOut dx = autograd::grad_out(inputs[0], inputs);
    float* dw = autograd::grad_buffer(inputs[1]);
    const float* gd = g.data();
    for (int64_t i = 0; i < g.numel(); ++i) dw[i] += 2.f * gd[i];
    for (int64_t i = 0; i < g.numel(); ++i) dx.data[i] = (dx.add ? dx.data[i] : 0.f) + 3.f * gd[i];
  }
};
Tensor three_two(const Tensor& x, const Tensor& w) {
  Tensor y = add(scale(x, 3.f), scale(w, 2.f));
  y = Tensor::from_vector(y.shape(), y.to_vector());
  auto n = std::make_shared<ThreeTwoNode>();
  n->inputs = {x, w};
  autograd::attach(y, n);
  return y;
}
}  // namespace

TEST_CASE("autograd write-first: an input that is also the weight gets both shares of its gradient") {
  // grad_out(x, inputs) must not hand out a buffer to write when x is also the node's weight: the weight's
  // share, added first, would be overwritten (3 g instead of 5 g).
  Tensor x = Tensor::from_vector({3}, {1.f, 2.f, 3.f}).set_requires_grad();
  autograd::backward(three_two(x, x), Tensor::from_vector({3}, {1.f, -1.f, 0.5f}));
  CHECK(x.grad().to_vector() == std::vector<float>{5.f, -5.f, 2.5f});
  // End to end through ops whose input can be their weight: finite differences.
  Rng rng(21);
  Tensor m = randn({3, 3}, rng).set_requires_grad();
  test::gradcheck([](const std::vector<Tensor>& in) { return linear(in[0], in[0], Tensor()); }, {m});
  Tensor v = randn({5}, rng).set_requires_grad(), b = randn({5}, rng).set_requires_grad();
  test::gradcheck([](const std::vector<Tensor>& in) { return layer_norm(in[0], in[0], in[1]); }, {v, b});
}
