// conv3d_bn_relu_eval / conv3d_bn_relu_forward_cpu (the scoring block conv -> eval-mode batch norm -> ReLU in
// one op): bitwise equal to the unfused kernels (conv3d_forward_cpu then batch_norm_relu_forward_cpu) on every
// CPU convolution path and product precision, the autograd op equal to batch_norm_relu(conv3d(...)), its errors,
// and the model's blocks (Backbone, Decoder) giving the same bits in scoring as the two-op path; the stage ends
// (conv3d_bn_relu_pool_eval: the same and the pooling, one sample per thread).
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/conv.h"
#include "autograd/engine.h"
#include "autograd/norm.h"
#include "autograd/pool.h"
#include "kernels/conv3d.h"
#include "kernels/norm.h"
#include "kernels/pool.h"
#include "kernels/precision.h"
#include "model/backbone.h"
#include "model/heads.h"
#include "tensor/rng.h"

using namespace ssmtl;
using kernels::Conv3dGeometry;

namespace {

// Bit patterns: -0 and +0 count as different.
size_t bits_differ(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return a.size() + b.size();
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return n;
}

std::vector<float> random_vector(size_t n, Rng& rng, float mean, float std) {
  return randn({static_cast<int64_t>(n)}, rng, mean, std).to_vector();
}

Conv3dGeometry geometry(int64_t N, int64_t Cin, int64_t Cout, std::array<int64_t, 3> in, std::array<int64_t, 3> k,
                        std::array<int64_t, 3> s, std::array<int64_t, 3> p, int64_t groups) {
  Conv3dGeometry g{N, Cin, in[0], in[1], in[2], Cout, k[0], k[1], k[2], s[0], s[1], s[2], p[0], p[1], p[2], groups,
                   0, 0, 0};
  g.Do = (in[0] + 2 * p[0] - k[0]) / s[0] + 1;
  g.Ho = (in[1] + 2 * p[1] - k[1]) / s[1] + 1;
  g.Wo = (in[2] + 2 * p[2] - k[2]) / s[2] + 1;
  return g;
}

struct Case {
  const char* name;
  Conv3dGeometry g;
};

// The CPU paths: the direct fp32 / bf16 (by rows and flat) / AMX kernels, the GEMM path (strided, 1x1x1), the
// depthwise kernel, a 2-D convolution (D = 1) and a grouped one.
std::vector<Case> cases() {
  return {
      {"3x3x3 same, 16 -> 48 (direct; AMX 2x2 + 1x3 blocks)", geometry(2, 16, 48, {3, 9, 20}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, 1)},
      {"3x3x3 same, 3 -> 8, narrow rows (bf16 flat mode)", geometry(3, 3, 8, {4, 6, 5}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, 1)},
      {"3x3x3 same, 3 -> 20, rows of 32 (bf16 by rows, AMX row tiles)", geometry(2, 3, 20, {3, 5, 32}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, 1)},
      {"3x3x3 same, 3 -> 12, rows of 30 (bf16 by rows with a 14-lane tail)", geometry(2, 3, 12, {3, 5, 30}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, 1)},
      {"3x3x3 same, 64 -> 20 (AMX 2 channel chunks, a partial block)", geometry(2, 64, 20, {3, 8, 17}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, 1)},
      {"2-D 3x3 same, 24 -> 16", geometry(2, 24, 16, {1, 12, 19}, {1, 3, 3}, {1, 1, 1}, {0, 1, 1}, 1)},
      {"stride 2 (GEMM path)", geometry(2, 6, 10, {4, 9, 11}, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, 1)},
      {"1x1x1 (GEMM on the input)", geometry(2, 12, 7, {2, 5, 6}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, 1)},
      {"depthwise 3x3x3", geometry(2, 9, 9, {3, 7, 8}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, 9)},
      {"grouped 3x3x3, 2 groups", geometry(2, 8, 12, {3, 6, 9}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, 2)},
  };
}

// The precisions this CPU runs: fp32, bf16 on AVX512_BF16, bf16 on AMX tiles.
struct Mode {
  const char* name;
  kernels::MatmulPrecision precision;
  bool amx;
};
std::vector<Mode> modes() {
  std::vector<Mode> m{{"fp32", kernels::MatmulPrecision::fp32, false}};
  if (kernels::cpu_has_bf16()) m.push_back({"bf16", kernels::MatmulPrecision::bf16, false});
  if (kernels::cpu_has_amx_bf16()) m.push_back({"bf16 AMX", kernels::MatmulPrecision::bf16, true});
  return m;
}

struct AmxScope {
  bool before = kernels::amx_enabled();
  explicit AmxScope(bool on) { kernels::set_amx_enabled(on); }
  ~AmxScope() { kernels::set_amx_enabled(before); }
};

}  // namespace

TEST_CASE("conv3d_bn_relu_forward_cpu: bitwise the convolution then batch_norm_relu_forward_cpu on every path") {
  for (const Mode& mode : modes()) {
    kernels::MatmulPrecisionScope precision(mode.precision);
    AmxScope amx(mode.amx);
    for (const Case& c : cases()) {
      INFO((std::string(mode.name) + ": " + c.name));
      const Conv3dGeometry& g = c.g;
      Rng rng(11);
      const int64_t kvol = g.kD * g.kH * g.kW, out_n = g.N * g.Cout * g.Do * g.Ho * g.Wo;
      const std::vector<float> x = random_vector(g.N * g.Cin * g.D * g.H * g.W, rng, 0.f, 1.f);
      const std::vector<float> w = random_vector(g.Cout * (g.Cin / g.groups) * kvol, rng, 0.f, 0.3f);
      const std::vector<float> bias = random_vector(g.Cout, rng, 0.f, 0.5f);
      const std::vector<float> mean = random_vector(g.Cout, rng, 0.2f, 0.5f);
      std::vector<float> invstd = random_vector(g.Cout, rng, 1.f, 0.3f), gamma = random_vector(g.Cout, rng, 1.f, 0.5f);
      const std::vector<float> beta = random_vector(g.Cout, rng, 0.f, 0.5f);
      for (float& v : invstd) v = std::fabs(v) + 0.1f;
      for (const bool affine : {true, false}) {
        INFO("affine " << affine);
        const float* ga = affine ? gamma.data() : nullptr;
        const float* be = affine ? beta.data() : nullptr;
        std::vector<float> plain(out_n, 7.f), fused(out_n, 7.f);
        const bool depthwise = g.groups == g.Cin && g.Cout == g.Cin;
        if (depthwise)
          kernels::conv3d_depthwise_forward_cpu(plain.data(), x.data(), w.data(), bias.data(), g);
        else
          kernels::conv3d_forward_cpu(plain.data(), x.data(), w.data(), bias.data(), g);
        kernels::batch_norm_relu_forward_cpu(plain.data(), plain.data(), mean.data(), invstd.data(), ga, be, g.N,
                                             g.Cout, g.Do * g.Ho * g.Wo);
        kernels::conv3d_bn_relu_forward_cpu(fused.data(), x.data(), w.data(), bias.data(),
                                            {mean.data(), invstd.data(), ga, be}, g);
        CHECK(bits_differ(fused, plain) == 0);
        size_t zeros = 0;
        for (float v : fused) zeros += v == 0.f;
        CHECK(zeros > fused.size() / 10);   // both sides of the ReLU are exercised
        CHECK(zeros < fused.size() * 9 / 10);
      }
    }
  }
}

TEST_CASE("conv3d_bn_relu_pool_forward_cpu: bitwise the batched conv -> BN -> ReLU then the 1x2x2 pooling") {
  // The backbone's stage ends (3 -> 16 and 16 -> 32 channels, the AMX 1x3 and 2x2 tasks), odd H and W (the
  // pooling's floors), a strided conv (GEMM path); one and two threads (whole samples per thread).
  const std::vector<Case> stage_ends = {
      {"stage 1, 3 -> 16", geometry(3, 3, 16, {4, 10, 12}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, 1)},
      {"stage 2, 16 -> 32, odd H and W", geometry(3, 16, 32, {3, 9, 11}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, 1)},
      {"stride 2 (GEMM path)", geometry(2, 6, 10, {4, 9, 11}, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, 1)},
      {"one sample", geometry(1, 5, 8, {2, 6, 8}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, 1)},
  };
  const int threads = omp_get_max_threads();
  for (const Mode& mode : modes()) {
    kernels::MatmulPrecisionScope precision(mode.precision);
    AmxScope amx(mode.amx);
    for (const Case& c : stage_ends) {
      const Conv3dGeometry& g = c.g;
      Rng rng(12);
      const int64_t act_n = g.N * g.Cout * g.Do * g.Ho * g.Wo, out_n = g.N * g.Cout * g.Do * (g.Ho / 2) * (g.Wo / 2);
      const std::vector<float> x = random_vector(g.N * g.Cin * g.D * g.H * g.W, rng, 0.f, 1.f);
      const std::vector<float> w = random_vector(g.Cout * g.Cin * g.kD * g.kH * g.kW, rng, 0.f, 0.3f);
      const std::vector<float> bias = random_vector(g.Cout, rng, 0.f, 0.5f), mean = random_vector(g.Cout, rng, 0.2f, 0.5f);
      std::vector<float> invstd = random_vector(g.Cout, rng, 1.f, 0.3f);
      for (float& v : invstd) v = std::fabs(v) + 0.1f;
      const std::vector<float> gamma = random_vector(g.Cout, rng, 1.f, 0.5f), beta = random_vector(g.Cout, rng, 0.f, 0.5f);
      const kernels::BnRelu bn{mean.data(), invstd.data(), gamma.data(), beta.data()};
      std::vector<float> act(act_n), want(out_n);
      kernels::conv3d_bn_relu_forward_cpu(act.data(), x.data(), w.data(), bias.data(), bn, g);
      kernels::max_pool3d_forward_cpu(want.data(), nullptr, act.data(),
                                      kernels::pool_1x2x2_geometry(g.N * g.Cout, g.Do, g.Ho, g.Wo));
      for (int nt : {1, 2}) {
        INFO((std::string(mode.name) + ": " + c.name + ", threads " + std::to_string(nt)));
        omp_set_num_threads(nt);
        std::vector<float> got(out_n, 7.f);
        kernels::conv3d_bn_relu_pool_forward_cpu(got.data(), x.data(), w.data(), bias.data(), bn, g);
        CHECK(bits_differ(got, want) == 0);
      }
      omp_set_num_threads(threads);
      // the pooling itself: the first window's maximum of the activation
      const float m = std::max(std::max(act[0], act[1]), std::max(act[g.Wo], act[g.Wo + 1]));
      CHECK(want[0] == m);
    }
  }
}

TEST_CASE("conv3d_bn_relu_pool_eval equals max_pool3d(conv3d_bn_relu_eval) and refuses gradient recording") {
  Rng rng(5);
  const Tensor x = randn({2, 3, 3, 9, 10}, rng), w = randn({16, 3, 3, 3, 3}, rng, 0.f, 0.2f), b = randn({16}, rng);
  const EvalBatchNorm bn{randn({16}, rng, 1.f, 0.3f), randn({16}, rng), randn({16}, rng, 0.f, 0.3f),
                         rand_uniform({16}, rng, 0.5f, 2.f)};
  Conv3dOptions o;
  o.padding[0] = o.padding[1] = o.padding[2] = 1;
  {
    autograd::NoGradGuard ng;
    const Tensor want = max_pool3d(conv3d_bn_relu_eval(x, w, b, bn, o), Pool3dOptions{{1, 2, 2}, {1, 2, 2}, {0, 0, 0}});
    const Tensor got = conv3d_bn_relu_pool_eval(x, w, b, bn, o);
    REQUIRE(got.shape() == Shape{2, 16, 3, 4, 5});
    CHECK(bits_differ(got.to_vector(), want.to_vector()) == 0);
    // a heavier convolution (16 x 27 multiply-adds per output: the batched schedule), the same contract
    const Tensor x16 = randn({2, 16, 3, 8, 9}, rng), w16 = randn({16, 16, 3, 3, 3}, rng, 0.f, 0.1f);
    const Tensor want16 = max_pool3d(conv3d_bn_relu_eval(x16, w16, b, bn, o), Pool3dOptions{{1, 2, 2}, {1, 2, 2}, {0, 0, 0}});
    CHECK(bits_differ(conv3d_bn_relu_pool_eval(x16, w16, b, bn, o).to_vector(), want16.to_vector()) == 0);
  }
  const Tensor wg = w.clone().set_requires_grad();
  CHECK_THROWS_WITH_AS(conv3d_bn_relu_pool_eval(x, wg, b, bn, o),
                       doctest::Contains("conv3d_bn_relu_pool_eval: inference only"), std::invalid_argument);
  autograd::NoGradGuard ng;
  EvalBatchNorm short_var = bn;
  short_var.running_var = Tensor::ones({15});
  CHECK_THROWS_WITH_AS(conv3d_bn_relu_pool_eval(x, w, b, short_var, o),
                       doctest::Contains("conv3d_bn_relu_pool_eval: running_var must be (Cout) = (16)"),
                       std::invalid_argument);
}

TEST_CASE("the direct convolutions' batch norm: running mean 2 and var 1 map 1 to -0.999995, 3 to 0.999995 (PITFALLS 19)") {
  // gamma 1, beta 0, eps 1e-5; a 3x3x3 kernel whose only non-zero tap is the centre (weight 1), 1 -> 2 channels (one
  // channel in and out would be the depthwise path): the direct kernels with the BN + ReLU epilogue in registers,
  // in every precision this CPU runs, on one row of 32 (fp32 by rows of full vectors; bf16 shifted, its one channel
  // paired over (ci, kw)) and on 4 rows of 8 (both shifted: vectors across row ends). 1 -> -0.999995 -> ReLU 0;
  // 3 -> 0.999995 (1, 3 and the weight are exact in bf16).
  autograd::NoGradGuard ng;
  const EvalBatchNorm bn{Tensor::ones({2}), Tensor::zeros({2}), Tensor::full({2}, 2.f), Tensor::ones({2})};
  std::vector<float> wv(54, 0.f);
  wv[13] = wv[27 + 13] = 1.f;
  const Tensor w = Tensor::from_vector({2, 1, 3, 3, 3}, wv);
  std::vector<float> xv(32), expected(64);
  for (int i = 0; i < 64; ++i) expected[i] = i % 2 ? 0.999995f : 0.f;
  for (int i = 0; i < 32; ++i) xv[i] = i % 2 ? 3.f : 1.f;
  Conv3dOptions o;
  o.padding[0] = o.padding[1] = o.padding[2] = 1;
  for (const Shape& shape : {Shape{1, 1, 1, 1, 32}, Shape{1, 1, 1, 4, 8}}) {
    const Tensor x = Tensor::from_vector(shape, xv);
    for (const Mode& mode : modes()) {
      INFO((std::string(mode.name)));
      INFO(shape[3]);
      kernels::MatmulPrecisionScope precision(mode.precision);
      AmxScope amx(mode.amx);
      CHECK(conv3d_bn_relu_eval(x, w, Tensor(), bn, o).to_vector() == expected);
    }
  }
  CHECK(bn.running_mean.to_vector() == std::vector<float>{2.f, 2.f});   // inference leaves the statistics as they were
  CHECK(bn.running_var.to_vector() == std::vector<float>{1.f, 1.f});
}

TEST_CASE("conv3d_bn_relu_eval equals batch_norm_relu(conv3d) in eval mode and refuses gradient recording") {
  Rng rng(3);
  const Tensor x = randn({2, 5, 3, 7, 9}, rng), w = randn({6, 5, 3, 3, 3}, rng, 0.f, 0.2f), b = randn({6}, rng);
  EvalBatchNorm bn{randn({6}, rng, 1.f, 0.3f), randn({6}, rng), randn({6}, rng, 0.f, 0.3f),
                   rand_uniform({6}, rng, 0.5f, 2.f), 1e-3f};
  Conv3dOptions o;
  o.padding[0] = o.padding[1] = o.padding[2] = 1;
  Tensor rm = bn.running_mean.clone(), rv = bn.running_var.clone();
  autograd::NoGradGuard ng;
  const Tensor want = batch_norm_relu(conv3d(x, w, b, o), bn.gamma, bn.beta, rm, rv, false, 0.1f, 1e-3f);
  const Tensor got = conv3d_bn_relu_eval(x, w, b, bn, o);
  REQUIRE(got.shape() == want.shape());
  CHECK(bits_differ(got.to_vector(), want.to_vector()) == 0);
  // The 2-D form on a (N, C, H, W) input.
  const Tensor x2 = randn({3, 5, 8, 6}, rng), w2 = randn({6, 5, 3, 3}, rng, 0.f, 0.2f);
  Conv2dOptions o2;
  o2.padding[0] = o2.padding[1] = 1;
  const Tensor want2 = batch_norm_relu(conv2d(x2, w2, Tensor(), o2), bn.gamma, bn.beta, rm, rv, false, 0.1f, 1e-3f);
  CHECK(bits_differ(conv2d_bn_relu_eval(x2, w2, Tensor(), bn, o2).to_vector(), want2.to_vector()) == 0);
}

TEST_CASE("conv3d_bn_relu_eval errors name the op and the argument") {
  Rng rng(4);
  const Tensor x = randn({1, 2, 3, 4, 4}, rng), w = randn({3, 2, 3, 3, 3}, rng);
  const EvalBatchNorm ok{Tensor(), Tensor(), Tensor::zeros({3}), Tensor::ones({3})};
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  {
    const Tensor wg = w.clone().set_requires_grad();   // gradients are being recorded for w
    const std::string m = message([&] { conv3d_bn_relu_eval(x, wg, Tensor(), ok); });
    CHECK(m.find("conv3d_bn_relu_eval: inference only") != std::string::npos);
  }
  autograd::NoGradGuard ng;
  const Tensor wg = w.clone().set_requires_grad();   // no recording: accepted
  CHECK(conv3d_bn_relu_eval(x, wg, Tensor(), ok).shape() == Shape{1, 3, 1, 2, 2});
  EvalBatchNorm short_mean = ok;
  short_mean.running_mean = Tensor::zeros({2});
  CHECK(message([&] { conv3d_bn_relu_eval(x, w, Tensor(), short_mean); }).find("running_mean must be (Cout) = (3)") !=
        std::string::npos);
  EvalBatchNorm no_var = ok;
  no_var.running_var = Tensor();
  CHECK(message([&] { conv3d_bn_relu_eval(x, w, Tensor(), no_var); }).find("running_var must be defined") !=
        std::string::npos);
  CHECK(message([&] { conv2d_bn_relu_eval(x, w, Tensor(), ok); }).find("conv2d_bn_relu_eval") != std::string::npos);
}

TEST_CASE("the model's conv -> BN -> ReLU blocks give the same bits fused (no gradient recorded) and unfused") {
  Rng rng(9);
  BackboneConfig cfg;
  cfg.channels = {4, 8, 8};
  cfg.transformer = "none";
  Backbone net(cfg, rng);
  Decoder dec(net.out_channels(), 8, rng);
  // Running statistics away from their initial 0 / 1, so the eval batch norm does something.
  std::vector<NamedTensor> params;
  net.visit("", params);
  dec.visit("dec.", params);
  for (auto& p : params)
    if (p.name.find("running_mean") != std::string::npos) *p.tensor = randn(p.tensor->shape(), rng, 0.f, 0.2f);
    else if (p.name.find("running_var") != std::string::npos) *p.tensor = rand_uniform(p.tensor->shape(), rng, 0.5f, 2.f);
  const Tensor x = randn({3, 3, 3, 16, 16}, rng);
  for (const Mode& mode : modes()) {
    INFO(std::string(mode.name));
    kernels::MatmulPrecisionScope precision(mode.precision);
    AmxScope amx(mode.amx);
    const Tensor f_rec = net.forward(x, false), d_rec = dec.forward(f_rec, false);   // recording: two ops
    CHECK(f_rec.requires_grad());
    autograd::NoGradGuard ng;
    const Tensor f = net.forward(x, false), d = dec.forward(f, false);
    CHECK(bits_differ(f.to_vector(), f_rec.to_vector()) == 0);
    CHECK(bits_differ(d.to_vector(), d_rec.to_vector()) == 0);
  }
}
