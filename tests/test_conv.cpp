#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/conv.h"
#include "autograd/elementwise.h"
#include "tests/gradcheck.h"
#include "tests/reference.h"

using namespace ssmtl;
using ssmtl::test::check_close;
using ssmtl::test::gradcheck;

namespace {

// The case table of tests/reference/gen_conv.py (shapes come from the reference file).
struct Case {
  const char* name;
  int spatial;           // 3: conv3d, 2: conv2d
  int stride[3], padding[3], groups;
  bool bias;
};
const Case kCases[] = {
    {"c3_basic", 3, {1, 1, 1}, {1, 1, 1}, 1, true},
    {"c3_stride2_asym", 3, {1, 2, 2}, {0, 1, 1}, 1, false},
    {"c3_groups2", 3, {2, 1, 2}, {1, 0, 1}, 2, true},
    {"c3_depthwise", 3, {1, 1, 1}, {1, 1, 1}, 4, true},
    {"c3_depthwise_s122", 3, {1, 2, 2}, {1, 1, 1}, 3, false},
    {"c3_multiplier", 3, {1, 1, 1}, {1, 1, 1}, 2, true},
    {"c3_pointwise", 3, {1, 1, 1}, {0, 0, 0}, 1, true},
    {"c3_valid_2x3x3", 3, {1, 1, 1}, {0, 0, 0}, 1, true},
    {"c3_1x3x3_same", 3, {1, 1, 1}, {0, 1, 1}, 1, false},
    {"c2_same", 2, {1, 1}, {1, 1}, 1, true},
    {"c2_stride2_groups2", 2, {2, 2}, {1, 1}, 2, true},
    {"c2_depthwise_s2", 2, {2, 2}, {1, 1}, 3, true},
    {"c2_pointwise", 2, {1, 1}, {0, 0}, 1, false},
};

Tensor run_case(const Case& c, const Tensor& x, const Tensor& w, const Tensor& b) {
  if (c.spatial == 3) {
    Conv3dOptions o;
    for (int i = 0; i < 3; ++i) o.stride[i] = c.stride[i], o.padding[i] = c.padding[i];
    o.groups = c.groups;
    return conv3d(x, w, b, o);
  }
  Conv2dOptions o;
  for (int i = 0; i < 2; ++i) o.stride[i] = c.stride[i], o.padding[i] = c.padding[i];
  o.groups = c.groups;
  return conv2d(x, w, b, o);
}

// Direct-loop convolution in double (the definition in kernels/conv3d.h), forward and the gradients of
// sum(y * r). 5-D tensors only.
struct Naive {
  std::vector<double> y, gx, gw, gb;
};
Naive naive_conv3d(const Tensor& xt, const Tensor& wt, const Tensor& bt, const Tensor& rt, const Conv3dOptions& o) {
  const Shape& xs = xt.shape();
  const Shape& ws = wt.shape();
  const int64_t N = xs[0], Cin = xs[1], D = xs[2], H = xs[3], W = xs[4];
  const int64_t Cout = ws[0], Cg = ws[1], kD = ws[2], kH = ws[3], kW = ws[4], Og = Cout / o.groups;
  const int64_t Do = (D + 2 * o.padding[0] - kD) / o.stride[0] + 1, Ho = (H + 2 * o.padding[1] - kH) / o.stride[1] + 1,
                Wo = (W + 2 * o.padding[2] - kW) / o.stride[2] + 1;
  const float *x = xt.data(), *w = wt.data(), *r = rt.data();
  Naive res;
  res.y.assign(N * Cout * Do * Ho * Wo, 0.0);
  res.gx.assign(xt.numel(), 0.0);
  res.gw.assign(wt.numel(), 0.0);
  res.gb.assign(Cout, 0.0);
  int64_t oi = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t co = 0; co < Cout; ++co)
      for (int64_t od = 0; od < Do; ++od)
        for (int64_t oh = 0; oh < Ho; ++oh)
          for (int64_t ow = 0; ow < Wo; ++ow, ++oi) {
            double acc = bt.defined() ? bt.data()[co] : 0.0;
            const double g = r[oi];
            res.gb[co] += g;
            for (int64_t cg = 0; cg < Cg; ++cg)
              for (int64_t kd = 0; kd < kD; ++kd)
                for (int64_t kh = 0; kh < kH; ++kh)
                  for (int64_t kw = 0; kw < kW; ++kw) {
                    const int64_t id = od * o.stride[0] - o.padding[0] + kd, ih = oh * o.stride[1] - o.padding[1] + kh,
                                  iw = ow * o.stride[2] - o.padding[2] + kw;
                    if (id < 0 || id >= D || ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                    const int64_t ci = co / Og * Cg + cg;
                    const int64_t xi = (((n * Cin + ci) * D + id) * H + ih) * W + iw;
                    const int64_t wi = (((co * Cg + cg) * kD + kd) * kH + kh) * kW + kw;
                    acc += static_cast<double>(w[wi]) * x[xi];
                    res.gx[xi] += g * w[wi];
                    res.gw[wi] += g * x[xi];
                  }
            res.y[oi] = acc;
          }
  return res;
}

Tensor to_tensor(const Shape& s, const std::vector<double>& v) { return Tensor::from_vector(s, {v.begin(), v.end()}); }

}  // namespace

TEST_CASE("conv: forward and all gradients match PyTorch (3-D, 2-D, stride, padding, groups, depthwise)") {
  test::RefFile ref("conv");
  for (const Case& c : kCases) {
    CAPTURE(c.name);
    const std::string k = c.name;
    Tensor x = ref.get(k + "/x").set_requires_grad(), w = ref.get(k + "/w").set_requires_grad();
    Tensor b = c.bias ? ref.get(k + "/b").set_requires_grad() : Tensor();
    Tensor y = run_case(c, x, w, b);
    check_close(y, ref.get(k + "/y"), 1e-4, 1e-4, k + " y");
    autograd::backward(sum(mul(y, ref.get(k + "/r"))));
    check_close(x.grad(), ref.get(k + "/gx"), 1e-4, 1e-4, k + " grad x");
    check_close(w.grad(), ref.get(k + "/gw"), 1e-4, 1e-4, k + " grad w");
    if (c.bias) check_close(b.grad(), ref.get(k + "/gb"), 1e-4, 1e-4, k + " grad bias");
  }
}

TEST_CASE("conv: finite-difference gradients for every case (backward adds into gradients)") {
  test::RefFile ref("conv");
  // The convolution is linear in each input, so the central difference is exact up to rounding for any
  // step: a large step keeps the rounding of the projected loss small relative to it.
  test::GradCheckOptions opt;
  opt.eps = 0.1f;
  for (const Case& c : kCases) {
    CAPTURE(c.name);
    const std::string k = c.name;
    std::vector<Tensor> in = {ref.get(k + "/x").set_requires_grad(), ref.get(k + "/w").set_requires_grad()};
    if (c.bias) in.push_back(ref.get(k + "/b").set_requires_grad());
    gradcheck([&c](const std::vector<Tensor>& t) { return run_case(c, t[0], t[1], t.size() > 2 ? t[2] : Tensor()); },
              in, opt);
  }
}

TEST_CASE("conv3d: larger shapes (several channel blocks or column chunks, two threads) match direct loops") {
  Rng rng(7);
  struct Big {
    Shape x, w;
    Conv3dOptions o;
  };
  Conv3dOptions strided;
  strided.stride[0] = 2, strided.stride[1] = 2, strided.padding[1] = 2, strided.padding[2] = 1, strided.groups = 2;
  Conv3dOptions same;
  same.padding[0] = same.padding[1] = same.padding[2] = 1;
  Conv3dOptions no_w_pad;
  no_w_pad.padding[0] = no_w_pad.padding[1] = 1;
  // Stride 1 (direct path): 10 output channels = more than one register block plus a partial one. Strided
  // (vol2col path): a 144 x 1344 column matrix, split into chunks. Rows that are not a multiple of a vector take
  // the direct path's shifted layout (channels (ci, kw), slices of whole rows) where it saves >= 10% of the vectors:
  // rows of 40 (100 vectors a slice instead of 120), 8x8 slices (the CvT embedding's; 12 channels and 3 samples on
  // two threads), 6 x 10 = 60 outputs (the last vector of a slice partial; the weight gradient copies dout into
  // slices of whole vectors), padding 0 along W (rows of 8 of 10). A 3 x 3 x 1 kernel keeps the rows layout on rows
  // of 40: whole vectors plus a masked one, and the weight gradient's dout copied into rows of whole vectors.
  // Small outputs (< 64 vectors a sample): the fp32 weight gradient takes several samples a chunk, here 8 of 8 x 8
  // x 8 outputs with groups, 11 samples (a partial last chunk), and 5 of 16 x 16 (rows of whole vectors: dout is
  // copied, not read in place); the latter's 3 output channels take the 4-channel blocks of the forward.
  Conv3dOptions same_grouped = same;
  same_grouped.groups = 2;
  Conv3dOptions same_hw;
  same_hw.padding[1] = same_hw.padding[2] = 1;
  const Big cases[] = {{{2, 4, 3, 40, 40}, {10, 4, 3, 3, 3}, same},  {{2, 8, 4, 40, 64}, {4, 4, 2, 3, 3}, strided},
                       {{3, 6, 4, 8, 8}, {12, 6, 3, 3, 3}, same},    {{2, 5, 3, 6, 10}, {7, 5, 3, 3, 3}, same},
                       {{2, 3, 3, 6, 10}, {9, 3, 3, 3, 3}, no_w_pad}, {{2, 4, 3, 12, 40}, {5, 4, 3, 3, 1}, no_w_pad},
                       {{11, 4, 8, 8, 8}, {6, 2, 3, 3, 3}, same_grouped}, {{5, 4, 1, 16, 16}, {3, 4, 1, 3, 3}, same_hw}};
  for (const Big& bc : cases) {
    Tensor x = randn(bc.x, rng).set_requires_grad(), w = randn(bc.w, rng).set_requires_grad();
    Tensor b = randn({bc.w[0]}, rng).set_requires_grad();
    Tensor y = conv3d(x, w, b, bc.o);
    Tensor r = randn(y.shape(), rng);
    Naive ref = naive_conv3d(x, w, b, r, bc.o);
    check_close(y, to_tensor(y.shape(), ref.y), 1e-4, 1e-4, "y");
    autograd::backward(y, r);
    check_close(x.grad(), to_tensor(x.shape(), ref.gx), 1e-4, 1e-4, "grad x");
    check_close(w.grad(), to_tensor(w.shape(), ref.gw), 1e-3, 1e-4, "grad w");
    check_close(b.grad(), to_tensor(b.shape(), ref.gb), 1e-3, 1e-4, "grad bias");
  }
}

TEST_CASE("conv3d: without an input gradient only w and bias get one and results are reproducible") {
  Rng rng(11);
  Tensor x = randn({3, 3, 7, 16, 16}, rng);   // data: needs no gradient
  Tensor w = randn({8, 3, 3, 3, 3}, rng).set_requires_grad(), b = randn({8}, rng).set_requires_grad();
  Conv3dOptions o;
  o.padding[0] = o.padding[1] = o.padding[2] = 1;
  std::vector<float> first_y, first_gw;
  for (int run = 0; run < 2; ++run) {
    Tensor y = conv3d(x, w, b, o);
    autograd::backward(sum(y));
    CHECK_FALSE(x.grad().defined());
    if (run == 0) {
      first_y = y.to_vector(), first_gw = w.grad().to_vector();
      Tensor r = Tensor::ones(y.shape());
      Naive ref = naive_conv3d(x, w, b, r, o);
      check_close(w.grad(), to_tensor(w.shape(), ref.gw), 1e-2, 1e-4, "grad w");
    } else {
      CHECK(y.to_vector() == first_y);
      CHECK(w.grad().to_vector() == first_gw);
    }
    w.zero_grad(), b.zero_grad();
  }
}

TEST_CASE("conv: wrong shapes and options throw, naming the op and the shapes") {
  Tensor x = Tensor::zeros({1, 3, 4, 4, 4}), w = Tensor::zeros({2, 3, 3, 3, 3});
  CHECK_THROWS_WITH_AS(conv3d(Tensor::zeros({1, 3, 4, 4}), w, Tensor()),
                       "conv3d: x must have 5 dimensions (x [1, 3, 4, 4], w [2, 3, 3, 3, 3], bias none)",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv3d(x, Tensor::zeros({2, 4, 3, 3, 3}), Tensor()),
                       "conv3d: w.size(1) must be Cin / groups = 3 (x [1, 3, 4, 4, 4], w [2, 4, 3, 3, 3], bias none)",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv3d(x, w, Tensor::zeros({3})),
                       "conv3d: bias must be (Cout) (x [1, 3, 4, 4, 4], w [2, 3, 3, 3, 3], bias [3])",
                       std::invalid_argument);
  Conv3dOptions g2;
  g2.groups = 2;
  CHECK_THROWS_AS(conv3d(x, w, Tensor(), g2), std::invalid_argument);   // 2 does not divide Cin = 3
  Conv3dOptions s0;
  s0.stride[1] = 0;
  CHECK_THROWS_AS(conv3d(x, w, Tensor(), s0), std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv3d(Tensor::zeros({1, 3, 2, 4, 4}), w, Tensor()),
                       "conv3d: kernel larger than the padded input (x [1, 3, 2, 4, 4], w [2, 3, 3, 3, 3], bias none)",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv2d(Tensor::zeros({1, 3, 4, 4}), Tensor::zeros({2, 3, 3}), Tensor()),
                       "conv2d: w must have 4 dimensions (x [1, 3, 4, 4], w [2, 3, 3], bias none)",
                       std::invalid_argument);
}
