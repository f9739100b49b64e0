// The CvT projection's depthwise conv of token rows with eval-mode batch norm applied as each row is written
// (kernels/conv3d.h conv3d_depthwise_cl_bn_forward_cpu, autograd/conv.h conv3d_depthwise_tokens_bn_eval).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/conv.h"
#include "autograd/engine.h"
#include "autograd/norm.h"
#include "autograd/elementwise.h"
#include "kernels/conv3d.h"
#include "kernels/norm.h"
#include "tensor/rng.h"

using namespace ssmtl;

namespace {

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

kernels::Conv3dGeometry tokens_geometry(int64_t N, int64_t C, int64_t T, int64_t H, int64_t W, int64_t kD,
                                        int64_t sHW) {
  kernels::Conv3dGeometry g{};
  g.N = N, g.Cin = g.Cout = g.groups = C, g.D = T, g.H = H, g.W = W;
  g.kD = kD, g.kH = g.kW = 3, g.sD = 1, g.sH = g.sW = sHW, g.pD = kD / 2, g.pH = g.pW = 1;
  g.Do = T, g.Ho = (H + 2 - 3) / sHW + 1, g.Wo = (W + 2 - 3) / sHW + 1;
  return g;
}

}  // namespace

TEST_CASE("conv3d_depthwise_cl_bn_forward_cpu: bitwise the depthwise conv then batch norm over the rows") {
  Rng rng(81);
  struct Case {
    int64_t C, kD, sHW;
    bool affine;
  };
  // C 96 and 32: whole vectors (the line kernels on AVX-512, else the register-blocked rows); 19: the generic loop;
  // the CvT's q (stride 1) and k / v (stride 2) projections; with and without gamma / beta.
  for (const Case c : {Case{96, 3, 1, true}, Case{96, 3, 2, false}, Case{32, 1, 2, true}, Case{19, 3, 1, true}}) {
    CAPTURE(c.C);
    CAPTURE(c.sHW);
    const kernels::Conv3dGeometry g = tokens_geometry(2, c.C, 3, 7, 6, c.kD, c.sHW);
    const int64_t rows = g.N * g.Do * g.Ho * g.Wo;
    const std::vector<float> x = randn({g.N * g.D * g.H * g.W, c.C}, rng).to_vector();
    const std::vector<float> w = randn({c.C, c.kD * 9}, rng, 0.f, 0.3f).to_vector(), b = randn({c.C}, rng).to_vector();
    const std::vector<float> mean = randn({c.C}, rng).to_vector(), invstd = rand_uniform({c.C}, rng, 0.5f, 2.f).to_vector();
    const std::vector<float> gamma = randn({c.C}, rng, 1.f, 0.3f).to_vector(), beta = randn({c.C}, rng).to_vector();
    const kernels::BnRelu bn{mean.data(), invstd.data(), c.affine ? gamma.data() : nullptr,
                             c.affine ? beta.data() : nullptr};
    std::vector<float> got(rows * c.C, 7.f), want(rows * c.C);
    kernels::conv3d_depthwise_cl_bn_forward_cpu(got.data(), x.data(), w.data(), b.data(), bn, g);
    kernels::conv3d_depthwise_cl_forward_cpu(want.data(), x.data(), w.data(), b.data(), g);
    std::vector<float> conv = want;
    kernels::batch_norm_forward_cpu(want.data(), want.data(), bn.mean, bn.invstd, bn.gamma, bn.beta, rows, c.C, 1);
    CHECK(same_bits(got, want));
    // and the value: (conv - mean) invstd gamma + beta, in double, for a few elements
    for (int64_t i : {int64_t{0}, rows * c.C / 2 + 3, rows * c.C - 1}) {
      const int64_t ch = i % c.C;
      const double e = (conv[i] - double(mean[ch])) * invstd[ch] * (c.affine ? gamma[ch] : 1.0) + (c.affine ? beta[ch] : 0.0);
      CHECK(got[i] == doctest::Approx(e).epsilon(1e-5));
    }
  }
}

TEST_CASE("conv3d_depthwise_tokens_bn_eval: bitwise batch_norm(conv3d_depthwise_tokens) in eval mode and its errors") {
  Rng rng(82);
  const int64_t N = 2, C = 32, T = 3, H = 6, W = 5;
  const Tensor x = randn({N, T * H * W, C}, rng), w = randn({C, 1, 3, 3, 3}, rng, 0.f, 0.3f), b = randn({C}, rng);
  const EvalBatchNorm bn{randn({C}, rng, 1.f, 0.3f), randn({C}, rng), randn({C}, rng, 0.f, 0.3f),
                         rand_uniform({C}, rng, 0.5f, 2.f)};
  Conv3dOptions o;
  o.padding[0] = o.padding[1] = o.padding[2] = 1;
  o.stride[1] = o.stride[2] = 2;
  o.groups = static_cast<int>(C);
  {
    autograd::NoGradGuard ng;
    Tensor rm = bn.running_mean.clone(), rv = bn.running_var.clone();
    const Tensor y = conv3d_depthwise_tokens(x, w, b, T, H, W, o);
    const Tensor want = reshape(batch_norm(reshape(y, {-1, C}), bn.gamma, bn.beta, rm, rv, false), y.shape());
    const Tensor got = conv3d_depthwise_tokens_bn_eval(x, w, b, T, H, W, o, bn);
    REQUIRE(got.shape() == want.shape());
    CHECK(same_bits(got.to_vector(), want.to_vector()));
  }
  const Tensor wg = w.clone().set_requires_grad();
  CHECK_THROWS_WITH_AS(conv3d_depthwise_tokens_bn_eval(x, wg, b, T, H, W, o, bn),
                       doctest::Contains("conv3d_depthwise_tokens_bn_eval: inference only"), std::invalid_argument);
  autograd::NoGradGuard ng;
  EvalBatchNorm no_var = bn;
  no_var.running_var = Tensor();
  CHECK_THROWS_WITH_AS(conv3d_depthwise_tokens_bn_eval(x, w, b, T, H, W, o, no_var),
                       doctest::Contains("running_var must be defined"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv3d_depthwise_tokens_bn_eval(x, w, b, T, H + 1, W, o, bn),
                       doctest::Contains("conv3d_depthwise_tokens_bn_eval: x.size(1) must be T*H*W"),
                       std::invalid_argument);
}

TEST_CASE("the eval ops' batch norm: running mean 2 and var 1 map 1 to -0.999995 alone or in a batch (PITFALLS 19)") {
  // gamma 1, beta 0, eps 1e-5; the identity convolution (one tap of weight 1, no bias) in front of it
  autograd::NoGradGuard ng;
  const EvalBatchNorm bn{Tensor::ones({1}), Tensor::zeros({1}), Tensor::full({1}, 2.f), Tensor::ones({1})};
  Conv3dOptions o;
  o.groups = 1;
  const Tensor w = Tensor::ones({1, 1, 1, 1, 1});
  // token rows: alone (one row) and in a batch [1, 3]
  const Tensor alone = conv3d_depthwise_tokens_bn_eval(Tensor::ones({1, 1, 1}), w, Tensor(), 1, 1, 1, o, bn);
  CHECK(alone.to_vector()[0] == -0.999995f);
  const Tensor batch = conv3d_depthwise_tokens_bn_eval(Tensor::from_vector({1, 2, 1}, {1.f, 3.f}), w, Tensor(), 1, 1,
                                                       2, o, bn);
  CHECK(batch.to_vector() == std::vector<float>{-0.999995f, 0.999995f});
  // the stage end (ReLU, then the 2 x 2 window): the window [1, 3, 1, 1] pools to 0.999995, an all-1 one to 0;
  // two samples (the per-sample schedule)
  const Tensor x = Tensor::from_vector({2, 1, 1, 2, 2}, {1.f, 3.f, 1.f, 1.f, 1.f, 1.f, 1.f, 1.f});
  CHECK(conv3d_bn_relu_pool_eval(x, w, Tensor(), bn).to_vector() == std::vector<float>{0.999995f, 0.f});
  // the CvT's projections: 16 channels, a 3x3x3 kernel (padding 1) whose centre tap is 1, stride 1 and (1, 2, 2)
  // along the token map: the AVX-512 line kernels (conv3d_depthwise_cl_lines.cpp) on a 1 x 2 x 8 map of 1s and 3s
  {
    const int64_t C = 16;
    std::vector<float> wv(static_cast<size_t>(C * 27), 0.f);
    for (int64_t c = 0; c < C; ++c) wv[c * 27 + 13] = 1.f;
    const Tensor wc = Tensor::from_vector({C, 1, 3, 3, 3}, wv);
    std::vector<float> xv(static_cast<size_t>(16 * C));
    for (int64_t t = 0; t < 16; ++t)
      for (int64_t c = 0; c < C; ++c) xv[t * C + c] = t % 2 ? 3.f : 1.f;
    const EvalBatchNorm bnc{Tensor::ones({C}), Tensor::zeros({C}), Tensor::full({C}, 2.f), Tensor::ones({C})};
    for (int s : {1, 2}) {
      CAPTURE(s);
      Conv3dOptions oc;
      oc.groups = static_cast<int>(C);
      oc.padding[0] = oc.padding[1] = oc.padding[2] = 1;
      oc.stride[1] = oc.stride[2] = s;
      const std::vector<float> y =
          conv3d_depthwise_tokens_bn_eval(Tensor::from_vector({1, 16, C}, xv), wc, Tensor(), 1, 2, 8, oc, bnc)
              .to_vector();
      REQUIRE(y.size() == static_cast<size_t>((s == 1 ? 16 : 4) * C));
      for (size_t i = 0; i < y.size(); ++i) {   // stride 2 keeps the even tokens: all 1s
        const bool three = s == 1 && (i / C) % 2 == 1;
        CHECK(y[i] == (three ? 0.999995f : -0.999995f));
      }
    }
  }
  // inference leaves the running statistics as they were
  CHECK(bn.running_mean.to_vector()[0] == 2.f);
  CHECK(bn.running_var.to_vector()[0] == 1.f);
}
