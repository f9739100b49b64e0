// conv3d_depthwise_tokens (channels-last depthwise conv3d of token rows) and batch_norm on (rows, C) token rows:
// PyTorch reference values (tests/reference/gen_conv_tokens.py), finite differences with pre-filled gradients,
// equality with the NCDHW path (permute + conv3d + permute), independence of the thread count, bad shapes.
#include <doctest/doctest.h>
#include <omp.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "autograd/conv.h"
#include "autograd/elementwise.h"
#include "autograd/engine.h"
#include "autograd/norm.h"
#include "autograd/shape.h"
#include "tests/gradcheck.h"
#include "tests/reference.h"

using namespace ssmtl;
using ssmtl::test::check_close;
using ssmtl::test::gradcheck;

namespace {

// The depthwise case table of tests/reference/gen_conv_tokens.py.
struct Case {
  const char* name;
  int T, H, W;
  int stride[3], padding[3];
  bool bias;
};
const Case kCases[] = {
    {"q_3x3x3", 3, 4, 5, {1, 1, 1}, {1, 1, 1}, false},
    {"kv_s122_bias", 3, 5, 6, {1, 2, 2}, {1, 1, 1}, true},
    {"2d_1x3x3_s2", 1, 6, 4, {1, 2, 2}, {0, 1, 1}, true},
};

Conv3dOptions options(const Case& c, int64_t C) {
  Conv3dOptions o;
  for (int a = 0; a < 3; ++a) o.stride[a] = c.stride[a], o.padding[a] = c.padding[a];
  o.groups = static_cast<int>(C);
  return o;
}

// The same convolution through the NCDHW kernels: tokens -> volume, conv3d, volume -> tokens.
Tensor via_volume(const Tensor& x, const Tensor& w, const Tensor& b, int T, int H, int W, const Conv3dOptions& o) {
  const int64_t N = x.size(0), C = x.size(2);
  Tensor y = conv3d(permute(reshape(x, {N, T, H, W, C}), {0, 4, 1, 2, 3}), w, b, o);
  return reshape(permute(y, {0, 2, 3, 4, 1}), {N, -1, C});
}

std::vector<float> values(const Tensor& t) { return t.to_vector(); }

}  // namespace

TEST_CASE("conv3d_depthwise_tokens: forward and all gradients match PyTorch") {
  test::RefFile ref("conv_tokens");
  for (const Case& c : kCases) {
    CAPTURE(c.name);
    const std::string k = c.name;
    Tensor x = ref.get(k + "/x").set_requires_grad(), w = ref.get(k + "/w").set_requires_grad();
    Tensor b = c.bias ? ref.get(k + "/b").set_requires_grad() : Tensor();
    Tensor y = conv3d_depthwise_tokens(x, w, b, c.T, c.H, c.W, options(c, x.size(2)));
    check_close(y, ref.get(k + "/y"), 1e-5, 1e-4, k + " y");
    autograd::backward(sum(mul(y, ref.get(k + "/r"))));
    check_close(x.grad(), ref.get(k + "/gx"), 1e-4, 1e-4, k + " grad x");
    check_close(w.grad(), ref.get(k + "/gw"), 1e-4, 1e-4, k + " grad w");
    if (c.bias) check_close(b.grad(), ref.get(k + "/gb"), 1e-4, 1e-4, k + " grad bias");
  }
}

TEST_CASE("conv3d_depthwise_tokens: finite differences (backward adds into pre-filled gradients)") {
  test::RefFile ref("conv_tokens");
  test::GradCheckOptions opt;
  opt.eps = 0.1f;   // linear in each input: the central difference is exact up to rounding
  for (const Case& c : kCases) {
    CAPTURE(c.name);
    const std::string k = c.name;
    std::vector<Tensor> in = {ref.get(k + "/x").set_requires_grad(), ref.get(k + "/w").set_requires_grad()};
    if (c.bias) in.push_back(ref.get(k + "/b").set_requires_grad());
    gradcheck([&c](const std::vector<Tensor>& t) {
                return conv3d_depthwise_tokens(t[0], t[1], t.size() > 2 ? t[2] : Tensor(), c.T, c.H, c.W,
                                               options(c, t[0].size(2)));
              },
              in, opt);
  }
  // 32 channels = whole vectors: the register-blocked kernels (forward, dx, dw per tap, dbias)
  Rng rng(5);
  Conv3dOptions o;
  o.stride[1] = o.stride[2] = 2;
  o.padding[0] = o.padding[1] = o.padding[2] = 1;
  o.groups = 32;
  gradcheck([&o](const std::vector<Tensor>& t) { return conv3d_depthwise_tokens(t[0], t[1], t[2], 2, 3, 5, o); },
            {randn({2, 30, 32}, rng).set_requires_grad(), randn({32, 1, 3, 3, 3}, rng).set_requires_grad(),
             randn({32}, rng).set_requires_grad()},
            opt);
}

TEST_CASE("conv3d_depthwise_tokens: CvT shapes equal the NCDHW path, bitwise the same for 1 and 2 threads") {
  Rng rng(3);
  const int T = 7, H = 8, W = 8;
  // C 96: the paper's CvT (whole vectors: the register-blocked kernels); 24: the demo's (the generic loops)
  for (auto [stride, C] : {std::pair{1, 96}, std::pair{2, 96}, std::pair{1, 24}, std::pair{2, 24}}) {
    CAPTURE(stride);
    CAPTURE(C);
    Tensor x = randn({3, T * H * W, C}, rng).set_requires_grad(), w = randn({C, 1, 3, 3, 3}, rng).set_requires_grad();
    Conv3dOptions o;
    o.stride[1] = o.stride[2] = stride;
    o.padding[0] = o.padding[1] = o.padding[2] = 1;
    o.groups = C;
    Tensor ya = via_volume(x, w, Tensor(), T, H, W, o);
    Tensor r = randn(ya.shape(), rng);
    autograd::backward(ya, r);
    const Tensor gxa = x.grad().clone(), gwa = w.grad().clone();
    std::vector<std::vector<float>> runs;
    const int before = omp_get_max_threads();
    for (int threads : {1, 2}) {
      omp_set_num_threads(threads);
      x.zero_grad(), w.zero_grad();
      Tensor y = conv3d_depthwise_tokens(x, w, Tensor(), T, H, W, o);
      autograd::backward(y, r);
      check_close(y, ya, 1e-5, 1e-5, "y");
      check_close(x.grad(), gxa, 1e-5, 1e-5, "grad x");
      check_close(w.grad(), gwa, 1e-3, 1e-5, "grad w");
      std::vector<float> all = values(y);
      for (float v : values(x.grad())) all.push_back(v);
      for (float v : values(w.grad())) all.push_back(v);
      runs.push_back(all);
    }
    omp_set_num_threads(before);
    CHECK(runs[0] == runs[1]);
  }
}

TEST_CASE("conv3d_depthwise_tokens: bad shapes throw naming the op") {
  Tensor x = Tensor::zeros({2, 3 * 4 * 4, 8}), w = Tensor::zeros({8, 1, 3, 3, 3});
  Conv3dOptions o;
  o.padding[0] = o.padding[1] = o.padding[2] = 1;
  o.groups = 8;
  CHECK(conv3d_depthwise_tokens(x, w, Tensor(), 3, 4, 4, o).shape() == Shape{2, 48, 8});
  CHECK_THROWS_WITH_AS(conv3d_depthwise_tokens(x, w, Tensor(), 3, 4, 5, o), doctest::Contains("conv3d_depthwise_tokens"),
                       std::invalid_argument);
  CHECK_THROWS_AS(conv3d_depthwise_tokens(x, Tensor::zeros({8, 2, 3, 3, 3}), Tensor(), 3, 4, 4, o), std::invalid_argument);
  CHECK_THROWS_AS(conv3d_depthwise_tokens(x, w, Tensor::zeros({7}), 3, 4, 4, o), std::invalid_argument);
  Conv3dOptions g = o;
  g.groups = 4;
  CHECK_THROWS_AS(conv3d_depthwise_tokens(x, w, Tensor(), 3, 4, 4, g), std::invalid_argument);
  Conv3dOptions big;
  big.groups = 8;
  CHECK_THROWS_AS(conv3d_depthwise_tokens(Tensor::zeros({2, 4, 8}), w, Tensor(), 1, 2, 2, big), std::invalid_argument);
}

TEST_CASE("batch_norm on token rows (rows, C): PyTorch values, running statistics, finite differences") {
  test::RefFile ref("conv_tokens");
  for (const char* name : {"bn_rows_37x21", "bn_rows_9x3"}) {
    CAPTURE(name);
    const std::string k = name;
    Tensor x = ref.get(k + "/x").set_requires_grad(), gamma = ref.get(k + "/gamma").set_requires_grad(),
           beta = ref.get(k + "/beta").set_requires_grad();
    const int64_t C = x.size(1);
    Tensor rm = Tensor::zeros({C}), rv = Tensor::full({C}, 1.f);
    Tensor y = batch_norm(x, gamma, beta, rm, rv, true);
    check_close(y, ref.get(k + "/y"), 1e-5, 1e-4, k + " y");
    check_close(rm, ref.get(k + "/rmean"), 1e-6, 1e-5, k + " running mean");
    check_close(rv, ref.get(k + "/rvar"), 1e-6, 1e-5, k + " running var");
    autograd::backward(sum(mul(y, ref.get(k + "/r"))));
    check_close(x.grad(), ref.get(k + "/gx"), 1e-4, 1e-4, k + " grad x");
    check_close(gamma.grad(), ref.get(k + "/ggamma"), 1e-4, 1e-4, k + " grad gamma");
    check_close(beta.grad(), ref.get(k + "/gbeta"), 1e-4, 1e-4, k + " grad beta");
    for (bool training : {true, false}) {
      CAPTURE(training);
      test::GradCheckOptions opt;
      opt.eps = 1e-2f;
      std::vector<Tensor> in = {ref.get(k + "/x").set_requires_grad(), ref.get(k + "/gamma").set_requires_grad(),
                                ref.get(k + "/beta").set_requires_grad()};
      gradcheck([&](const std::vector<Tensor>& t) {
                  Tensor m = Tensor::full({C}, 0.5f), v = Tensor::full({C}, 2.f);
                  return batch_norm(t[0], t[1], t[2], m, v, training);
                },
                in, opt);
    }
  }
}
