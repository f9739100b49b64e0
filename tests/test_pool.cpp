#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>

#include "autograd/engine.h"
#include "autograd/pool.h"
#include "kernels/pool.h"
#include "tests/gradcheck.h"
#include "tests/reference.h"

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace ssmtl;
using ssmtl::test::check_close;
using ssmtl::test::gradcheck;

namespace {

using UnaryOp = std::function<Tensor(const Tensor&)>;

// Forward output and input gradient of `f` against PyTorch's, for reference case `name`.
void check_case(const test::RefFile& ref, const std::string& name, const UnaryOp& f) {
  INFO("case " << name);
  Tensor x = ref.get(name + "_x").set_requires_grad();
  Tensor y = f(x);
  check_close(y, ref.get(name + "_y"), 1e-6, 1e-5, name + " forward");
  autograd::backward(y, ref.get(name + "_r"));
  check_close(x.grad(), ref.get(name + "_gx"), 1e-5, 1e-5, name + " gradient");
}

// Distinct values 0.05 apart in random order: no ties, and a finite-difference step of 0.01 cannot
// change which element of a window is the maximum.
Tensor distinct(const Shape& shape, Rng& rng) {
  const int64_t n = shape_numel(shape);
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = 0.05f * static_cast<float>(i - n / 2);
  for (int64_t i = n - 1; i > 0; --i) std::swap(v[i], v[rng.randint(0, i + 1)]);
  return Tensor::from_vector(shape, v);
}

Tensor pool(const Tensor& x, int kd, int kh, int kw, int sd, int sh, int sw, int pd = 0, int ph = 0, int pw = 0,
            bool max = true) {
  Pool3dOptions o{{kd, kh, kw}, {sd, sh, sw}, {pd, ph, pw}};
  return max ? max_pool3d(x, o) : avg_pool3d(x, o);
}

}  // namespace

TEST_CASE("pool: forward and gradients match PyTorch") {
  test::RefFile ref("pool");
  check_case(ref, "mp3_backbone", [](const Tensor& x) { return pool(x, 1, 2, 2, 1, 2, 2); });
  check_case(ref, "mp3_odd", [](const Tensor& x) { return pool(x, 1, 2, 2, 1, 2, 2); });
  check_case(ref, "mp3_backbone_ties", [](const Tensor& x) { return pool(x, 1, 2, 2, 1, 2, 2); });
  check_case(ref, "mp3_overlap", [](const Tensor& x) { return pool(x, 3, 3, 2, 2, 1, 2, 1, 1, 1); });
  check_case(ref, "mp3_ties", [](const Tensor& x) { return pool(x, 2, 3, 3, 1, 1, 1, 0, 1, 1); });
  check_case(ref, "ap3", [](const Tensor& x) { return pool(x, 2, 3, 3, 1, 2, 2, 1, 1, 1, false); });
  check_case(ref, "ap3_plain", [](const Tensor& x) { return pool(x, 2, 2, 3, 2, 2, 3, 0, 0, 0, false); });
  check_case(ref, "mp2_k3s2p1", [](const Tensor& x) { return max_pool2d(x, 3, 2, 1); });
  check_case(ref, "mp2_k2s2", [](const Tensor& x) { return max_pool2d(x, 2, 2); });
  check_case(ref, "mp2_ties", [](const Tensor& x) { return max_pool2d(x, 3, 1, 1); });
  check_case(ref, "tmax", temporal_max_pool);
  check_case(ref, "tmax_ties", temporal_max_pool);
  check_case(ref, "tavg", temporal_avg_pool);
  check_case(ref, "gap", global_avg_pool);
  check_case(ref, "gap2d", global_avg_pool);
  check_case(ref, "up2", [](const Tensor& x) { return upsample_nearest2d(x, 2); });
  check_case(ref, "up3", [](const Tensor& x) { return upsample_nearest2d(x, 3); });
}

TEST_CASE("pool: finite-difference gradients (and backward adds into gradients)") {
  Rng rng(7);
  auto in = [&](const Shape& s) { return std::vector<Tensor>{distinct(s, rng).set_requires_grad()}; };
  using V = const std::vector<Tensor>&;
  gradcheck([](V v) { return pool(v[0], 1, 2, 2, 1, 2, 2); }, in({2, 2, 3, 4, 5}));
  gradcheck([](V v) { return pool(v[0], 3, 3, 2, 2, 1, 2, 1, 1, 1); }, in({1, 2, 4, 5, 5}));
  gradcheck([](V v) { return pool(v[0], 2, 3, 3, 1, 2, 2, 1, 1, 1, false); }, in({1, 2, 4, 5, 5}));
  gradcheck([](V v) { return max_pool2d(v[0], 3, 2, 1); }, in({2, 2, 5, 6}));
  gradcheck([](V v) { return max_pool2d_same(v[0], 2, 1); }, in({1, 2, 5, 4}));
  gradcheck([](V v) { return max_pool2d_same(v[0], 3, 2); }, in({1, 2, 5, 6}));
  gradcheck([](V v) { return temporal_max_pool(v[0]); }, in({2, 2, 7, 3, 2}));
  gradcheck([](V v) { return temporal_avg_pool(v[0]); }, in({2, 2, 7, 3, 2}));
  gradcheck([](V v) { return global_avg_pool(v[0]); }, in({2, 3, 2, 3, 2}));
  gradcheck([](V v) { return upsample_nearest2d(v[0], 2); }, in({2, 2, 3, 4}));
}

// Darknet's maxpool (src/maxpool_layer.c) with its default padding size-1: output (H + size-1 - size)
// / stride + 1, window of output i starting at i*stride - (size-1)/2, positions outside skipped.
TEST_CASE("pool: darknet maxpool by hand") {
  // 1 5 2
  // 4 3 9
  // 7 0 6
  Tensor x = Tensor::from_vector({1, 1, 3, 3}, {1, 5, 2, 4, 3, 9, 7, 0, 6}).set_requires_grad();
  SUBCASE("size 2 stride 1 keeps the size, padding at the bottom/right") {
    Tensor y = max_pool2d_same(x, 2, 1);
    CHECK(y.shape() == Shape{1, 1, 3, 3});
    CHECK(y.to_vector() == std::vector<float>{5, 9, 9, 7, 9, 9, 7, 6, 6});
    autograd::backward(y, Tensor::ones(y.shape()));
    // 5 wins once, 9 four times, 7 twice, 6 twice.
    CHECK(x.grad().to_vector() == std::vector<float>{0, 1, 0, 0, 0, 4, 2, 0, 2});
  }
  SUBCASE("size 2 stride 2 rounds the size up") {
    Tensor y = max_pool2d_same(x, 2, 2);
    CHECK(y.shape() == Shape{1, 1, 2, 2});
    CHECK(y.to_vector() == std::vector<float>{5, 9, 7, 6});
  }
  SUBCASE("size 3 stride 1 pads one on each side") {
    Tensor y = max_pool2d_same(x, 3, 1);
    CHECK(y.to_vector() == std::vector<float>{5, 9, 9, 7, 9, 9, 7, 9, 9});
  }
  CHECK(max_pool2d_same(Tensor::zeros({1, 2, 13, 13}), 2, 1).shape() == Shape{1, 2, 13, 13});
  CHECK(max_pool2d_same(Tensor::zeros({1, 2, 5, 4}), 2, 2).shape() == Shape{1, 2, 3, 2});
}

TEST_CASE("pool: darknet maxpool matches a direct transcription of darknet's loop") {
  Rng rng(11);
  Tensor x = randn({2, 3, 7, 8}, rng);
  for (int size : {2, 3, 4})
    for (int stride : {1, 2}) {
      const int pad = size - 1, H = 7, W = 8, oH = (H + pad - size) / stride + 1, oW = (W + pad - size) / stride + 1;
      const int off = -pad / 2;
      std::vector<float> want;
      const float* xp = x.data();
      for (int p = 0; p < 6; ++p)
        for (int i = 0; i < oH; ++i)
          for (int j = 0; j < oW; ++j) {
            float m = -std::numeric_limits<float>::max();
            for (int n = 0; n < size; ++n)
              for (int k = 0; k < size; ++k) {
                const int h = off + i * stride + n, w = off + j * stride + k;
                if (h >= 0 && h < H && w >= 0 && w < W) m = std::max(m, xp[(p * H + h) * W + w]);
              }
            want.push_back(m);
          }
      Tensor y = max_pool2d_same(x, size, stride);
      INFO("size " << size << " stride " << stride);
      CHECK(y.shape() == Shape{2, 3, oH, oW});
      CHECK(y.to_vector() == want);
    }
}

TEST_CASE("pool: max pooling propagates NaN, never picks padding, keeps -inf") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  Tensor x = Tensor::from_vector({1, 1, 1, 2, 4}, {1, nan, 3, 4, -inf, -inf, -5, -6});
  std::vector<float> y = pool(x, 1, 2, 2, 1, 2, 2).to_vector();
  CHECK(std::isnan(y[0]));
  CHECK(y[1] == 4.f);
  // All-negative input with padding: padded cells (-inf) never win.
  Tensor neg = Tensor::full({1, 1, 3, 3}, -2.f);
  CHECK(max_pool2d(neg, 3, 1, 1).to_vector() == std::vector<float>(9, -2.f));
  std::vector<float> t = temporal_max_pool(Tensor::from_vector({1, 1, 3, 1, 2}, {1, 2, nan, 0, 0, 5})).to_vector();
  CHECK(std::isnan(t[0]));
  CHECK(t[1] == 5.f);
  // A window of -inf only reports -inf, and its gradient goes to the first element.
  Tensor all_inf = Tensor::full({1, 1, 1, 2, 2}, -inf).set_requires_grad();
  Tensor m = pool(all_inf, 1, 2, 2, 1, 2, 2);
  CHECK(m.item() == -inf);
  autograd::backward(m, Tensor::ones(m.shape()));
  CHECK(all_inf.grad().to_vector() == std::vector<float>{1, 0, 0, 0});
}

TEST_CASE("pool: backbone-size pooling equals a naive loop, with or without recording gradients") {
  Rng rng(5);
  Tensor x = randn({4, 8, 3, 20, 22}, rng);   // large enough to run on several threads
  Tensor y = pool(x, 1, 2, 2, 1, 2, 2);
  std::vector<float> want;
  const float* xp = x.data();
  for (int p = 0; p < 32; ++p)
    for (int d = 0; d < 3; ++d)
      for (int i = 0; i < 10; ++i)
        for (int j = 0; j < 11; ++j) {
          const float* r = xp + ((p * 3 + d) * 20 + 2 * i) * 22 + 2 * j;
          want.push_back(std::max({r[0], r[1], r[22], r[23]}));
        }
  CHECK(y.to_vector() == want);
  Tensor xg = x.clone().set_requires_grad();
  CHECK(pool(xg, 1, 2, 2, 1, 2, 2).to_vector() == want);
  CHECK(temporal_max_pool(xg).to_vector() == temporal_max_pool(x).to_vector());
}

TEST_CASE("pool: the (1,2,2) fast path keeps torch's scan order for ties and signed zeros and NaN (vector lanes and tails)") {
  // Values from a small set, so that windows hold ties, -0 next to +0, NaN and -inf; W = 70 gives 35 outputs per
  // row: two 16-lane vectors and a scalar tail.
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const float values[] = {-0.f, 0.f, 1.f, 1.f, -1.f, nan, -inf, 2.f};
  const int64_t P = 6, D = 2, H = 6, W = 70, oH = 3, oW = 35;
  Rng rng(21);
  const std::vector<float> u = rand_uniform({P * D * H * W}, rng, 0.f, 8.f).to_vector();
  std::vector<float> xs(u.size());
  for (size_t i = 0; i < u.size(); ++i) xs[i] = values[std::min(7, static_cast<int>(u[i]))];
  std::vector<float> want;
  std::vector<float> want_grad(xs.size(), 0.f);
  for (int64_t p = 0; p < P * D; ++p)
    for (int64_t i = 0; i < oH; ++i)
      for (int64_t j = 0; j < oW; ++j) {
        const int64_t at[4] = {(p * H + 2 * i) * W + 2 * j, (p * H + 2 * i) * W + 2 * j + 1,
                               (p * H + 2 * i + 1) * W + 2 * j, (p * H + 2 * i + 1) * W + 2 * j + 1};
        int64_t best = at[0];
        for (int k = 1; k < 4; ++k)   // torch: a larger value or a NaN replaces the running maximum
          if (xs[at[k]] > xs[best] || std::isnan(xs[at[k]])) best = at[k];
        want.push_back(xs[best]);
        want_grad[best] += 1.f;
      }
  Tensor x = Tensor::from_vector({2, 3, D, H, W}, xs).set_requires_grad();
  Tensor y = pool(x, 1, 2, 2, 1, 2, 2);
  const std::vector<float> got = y.to_vector();
  REQUIRE(got.size() == want.size());
  size_t differ = 0;
  for (size_t i = 0; i < got.size(); ++i) differ += std::memcmp(&got[i], &want[i], sizeof(float)) != 0;
  CHECK(differ == 0);
  autograd::backward(y, Tensor::ones(y.shape()));   // the gradient lands on each window's chosen input
  CHECK(x.grad().to_vector() == want_grad);
  autograd::NoGradGuard ng;   // the path without argmax
  const std::vector<float> plain = pool(x, 1, 2, 2, 1, 2, 2).to_vector();
  differ = 0;
  for (size_t i = 0; i < plain.size(); ++i) differ += std::memcmp(&plain[i], &want[i], sizeof(float)) != 0;
  CHECK(differ == 0);
}

TEST_CASE("pool: results do not depend on the thread count") {
#ifdef _OPENMP
  Rng rng(9);
  Tensor x = randn({8, 16, 4, 16, 16}, rng).set_requires_grad();
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    x.zero_grad();
    Tensor y = pool(x, 2, 3, 3, 1, 1, 1, 1, 1, 1, false);   // overlapping windows: many adds per element
    autograd::backward(y, Tensor::ones(y.shape()));
    return std::make_pair(y.to_vector(), x.grad().to_vector());
  };
  const int keep = omp_get_max_threads();
  auto one = run(1), two = run(3);
  omp_set_num_threads(keep);
  CHECK(one.first == two.first);
  CHECK(one.second == two.second);
#endif
}

TEST_CASE("pool: bad arguments name the op and the input shape") {
  Tensor x5 = Tensor::zeros({1, 2, 3, 4, 4}), x4 = Tensor::zeros({1, 2, 4, 4});
  CHECK_THROWS_WITH_AS(max_pool3d(x4, {{1, 2, 2}, {1, 2, 2}}),
                       "max_pool3d: input [1, 2, 4, 4]: expected a 5-d tensor (N, C, D, H, W)", std::invalid_argument);
  CHECK_THROWS_WITH_AS(avg_pool3d(x5, {{1, 2, 2}, {1, 0, 2}}),
                       "avg_pool3d: input [1, 2, 3, 4, 4]: kernel (1,2,2), stride (1,0,2), padding (0,0,0): "
                       "kernel and stride must be positive",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(max_pool3d(x5, {{1, 2, 2}, {1, 2, 2}, {0, 2, 0}}),
                       "max_pool3d: input [1, 2, 3, 4, 4]: kernel (1,2,2), stride (1,2,2), padding (0,2,0): "
                       "padding must be between 0 and half the kernel",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(max_pool3d(x5, {{5, 2, 2}, {1, 2, 2}}),
                       "max_pool3d: input [1, 2, 3, 4, 4]: kernel (5,2,2), stride (1,2,2), padding (0,0,0): "
                       "the window is larger than the padded input",
                       std::invalid_argument);
  CHECK_THROWS_AS(max_pool2d(x5, 2, 2), std::invalid_argument);
  CHECK_THROWS_WITH_AS(max_pool2d(x4, 3, 1, 2),
                       "max_pool2d: input [1, 2, 4, 4]: kernel 3, stride 1, padding 2: "
                       "padding must be between 0 and half the kernel",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(max_pool2d(x4, 5, 1),
                       "max_pool2d: input [1, 2, 4, 4]: kernel 5, stride 1, padding 0: "
                       "the window is larger than the padded input",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(max_pool2d_same(x4, 0, 1),
                       "max_pool2d_same: input [1, 2, 4, 4]: size 0, stride 1: must be positive", std::invalid_argument);
  CHECK_THROWS_WITH_AS(max_pool2d_same(Tensor::zeros({1, 2, 0, 4}), 2, 1),
                       "max_pool2d_same: input [1, 2, 0, 4]: empty dimension 2", std::invalid_argument);
  CHECK_THROWS_WITH_AS(temporal_max_pool(x4),
                       "temporal_max_pool: input [1, 2, 4, 4]: expected a 5-d tensor (N, C, T, H, W)",
                       std::invalid_argument);
  CHECK_THROWS_AS(temporal_avg_pool(Tensor::zeros({1, 2, 0, 4, 4})), std::invalid_argument);
  CHECK_THROWS_AS(global_avg_pool(Tensor::zeros({2, 3})), std::invalid_argument);
  CHECK_THROWS_WITH_AS(upsample_nearest2d(x4, 0),
                       "upsample_nearest2d: input [1, 2, 4, 4]: scale 0 must be at least 1", std::invalid_argument);
}

TEST_CASE("pool: max pooling backward with add_dx false writes every input gradient (NaN-filled) as adding into zeros") {
  // Overlapping padded windows (3, stride 2, pad 1: inputs under several windows or none) and the backbone's
  // (1, 2, 2) on an odd width (a column under no window).
  Rng rng(8);
  for (int k : {3, 2}) {
    const int64_t planes = 6, D = 3, H = 9, W = 11;
    kernels::PoolGeometry g{planes, D, H, W, 0, 0, 0, k == 3 ? 3 : 1, k, k, k == 3 ? 2 : 1, 2, 2,
                            k == 3 ? 1 : 0, k == 3 ? 1 : 0, k == 3 ? 1 : 0};
    g.oD = (D + 2 * g.pd - g.kd) / g.sd + 1;
    g.oH = (H + 2 * g.ph - g.kh) / g.sh + 1;
    g.oW = (W + 2 * g.pw - g.kw) / g.sw + 1;
    const int64_t n_in = planes * D * H * W, n_out = planes * g.oD * g.oH * g.oW;
    const std::vector<float> x = randn({n_in}, rng).to_vector(), dy = randn({n_out}, rng).to_vector();
    std::vector<float> y(static_cast<size_t>(n_out));
    std::vector<int32_t> argmax(static_cast<size_t>(n_out));
    kernels::max_pool3d_forward_cpu(y.data(), argmax.data(), x.data(), g);
    std::vector<float> written(static_cast<size_t>(n_in), std::numeric_limits<float>::quiet_NaN());
    std::vector<float> added(static_cast<size_t>(n_in), 0.f);
    kernels::max_pool3d_backward_cpu(written.data(), dy.data(), argmax.data(), false, g);
    kernels::max_pool3d_backward_cpu(added.data(), dy.data(), argmax.data(), true, g);
    CAPTURE(k);
    CHECK(written == added);   // (a NaN left anywhere fails)
    size_t zeros = 0;
    for (float v : written) zeros += v == 0.f;
    CHECK(zeros > 0);          // inputs that won no window: written as 0
  }
}
