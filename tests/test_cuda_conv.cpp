// CUDA 3-D / 2-D convolution (kernels/cuda/conv3d.cu) against the CPU kernels through the autograd op, and
// against cuDNN (loaded at run time, tests/cudnn_reference.h) at the SSMTL++ backbone shapes with a smaller
// batch. Skipped without a GPU; the cuDNN comparison also when libcudnn.so.9 cannot be loaded.
// Tolerances: forward and dx sum Cin/groups * 27 products; dw sums N * Do * Ho * Wo products, so its
// absolute tolerance is relative to the largest gradient entry.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "autograd/conv.h"
#include "autograd/norm.h"
#include "autograd/pool.h"
#include "autograd/elementwise.h"
#include "autograd/upsample_conv.h"
#include "tensor/device.h"
#include "tensor/rng.h"
#include "tests/cuda_compare.h"

using namespace ssmtl;
using test::check_op;
using test::Tol;

namespace {
using Ts = std::vector<Tensor>;

struct ConvCase {
  const char* name;
  Shape x;            // (N, Cin, D, H, W) or (N, Cin, H, W)
  int64_t cout, k[3];
  int stride[3], padding[3], groups;
  bool bias;
};

Tensor run(const ConvCase& c, const Ts& t) {
  const Tensor b = c.bias ? t[2] : Tensor();
  if (c.x.size() == 5) {
    Conv3dOptions o;
    for (int i = 0; i < 3; ++i) o.stride[i] = c.stride[i], o.padding[i] = c.padding[i];
    o.groups = c.groups;
    return conv3d(t[0], t[1], b, o);
  }
  Conv2dOptions o;
  for (int i = 0; i < 2; ++i) o.stride[i] = c.stride[i + 1], o.padding[i] = c.padding[i + 1];
  o.groups = c.groups;
  return conv2d(t[0], t[1], b, o);
}

Shape weight_shape(const ConvCase& c) {
  Shape w{c.cout, c.x[1] / c.groups};
  for (size_t i = 5 - c.x.size(); i < 3; ++i) w.push_back(c.k[i]);
  return w;
}
}  // namespace

TEST_CASE("cuda conv3d and conv2d match the CPU") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  const ConvCase cases[] = {
      {"3x3x3 pad 1", {2, 3, 5, 9, 8}, 6, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, 1, true},
      {"stride (1,2,2) asymmetric pad", {2, 4, 5, 9, 10}, 5, {3, 3, 3}, {1, 2, 2}, {0, 1, 1}, 1, false},
      {"groups 2 stride (2,1,2)", {3, 4, 6, 7, 9}, 6, {3, 2, 3}, {2, 1, 2}, {1, 0, 1}, 2, true},
      {"depthwise 3x3x3", {2, 8, 5, 8, 8}, 8, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, 8, true},
      {"depthwise stride (1,2,2)", {2, 6, 4, 9, 9}, 6, {3, 3, 3}, {1, 2, 2}, {1, 1, 1}, 6, false},
      {"channel multiplier (groups 2, 4 out)", {2, 2, 4, 6, 6}, 4, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, 2, true},
      {"pointwise", {3, 7, 4, 5, 6}, 9, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, 1, true},
      {"pointwise groups 3", {2, 6, 3, 5, 5}, 9, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, 3, false},
      {"valid 2x3x3", {2, 3, 6, 7, 7}, 4, {2, 3, 3}, {1, 1, 1}, {0, 0, 0}, 1, true},
      {"conv2d 3x3 same", {2, 3, 12, 10}, 5, {1, 3, 3}, {1, 1, 1}, {0, 1, 1}, 1, true},
      {"conv2d stride 2 groups 2", {2, 4, 11, 13}, 6, {1, 3, 3}, {1, 2, 2}, {0, 1, 1}, 2, true},
      {"conv2d depthwise stride 2", {2, 3, 9, 9}, 3, {1, 3, 3}, {1, 2, 2}, {0, 1, 1}, 3, true},
  };
  Rng rng(11);
  for (const ConvCase& c : cases) {
    const Tensor x = randn(c.x, rng), w = randn(weight_shape(c), rng, 0.f, 0.3f), b = randn({c.cout}, rng);
    Ts in{x, w};
    if (c.bias) in.push_back(b);
    const Tol tol{2e-4f, 1e-4f};
    check_op({c.name, in, {}, [&](const Ts& t) { return run(c, t); }, tol, tol});
    // First backbone stage: the input is data, only the weights get a gradient.
    std::vector<bool> weights_only(in.size(), true);
    weights_only[0] = false;
    check_op({std::string(c.name) + " weights only", in, weights_only, [&](const Ts& t) { return run(c, t); }, tol,
              tol});
  }
}

TEST_CASE("cuda conv3d_bn_relu_eval (scoring's conv -> BN -> ReLU) matches the CPU and the unfused ops") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  const ConvCase cases[] = {
      {"3x3x3 pad 1", {2, 3, 5, 9, 8}, 6, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, 1, true},
      {"depthwise 3x3x3", {2, 8, 5, 8, 8}, 8, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, 8, false},
      {"conv2d 3x3 same", {2, 3, 12, 10}, 5, {1, 3, 3}, {1, 1, 1}, {0, 1, 1}, 1, false},
  };
  Rng rng(13);
  for (const ConvCase& c : cases) {
    const Tensor x = randn(c.x, rng), w = randn(weight_shape(c), rng, 0.f, 0.3f), b = randn({c.cout}, rng);
    const Tensor gamma = randn({c.cout}, rng, 1.f, 0.3f), beta = randn({c.cout}, rng);
    const Tensor rm = randn({c.cout}, rng, 0.f, 0.3f), rv = rand_uniform({c.cout}, rng, 0.5f, 2.f);
    Ts in{x, w, gamma, beta, rm, rv};
    if (c.bias) in.push_back(b);
    auto fused = [&](const Ts& t) {
      const EvalBatchNorm bn{t[2], t[3], t[4], t[5]};
      const Tensor bias = c.bias ? t[6] : Tensor();
      if (c.x.size() == 5) {
        Conv3dOptions o;
        for (int i = 0; i < 3; ++i) o.padding[i] = c.padding[i];
        o.groups = c.groups;
        return conv3d_bn_relu_eval(t[0], t[1], bias, bn, o);
      }
      Conv2dOptions o;
      for (int i = 0; i < 2; ++i) o.padding[i] = c.padding[i + 1];
      return conv2d_bn_relu_eval(t[0], t[1], bias, bn, o);
    };
    const Tol tol{2e-4f, 1e-4f};
    check_op({std::string(c.name) + " fused", in, std::vector<bool>(in.size(), false), fused, tol, tol});
    // On the GPU the twin is the two kernels in turn: the same bits as the two autograd ops.
    Ts gpu;
    for (const Tensor& t : in) gpu.push_back(t.to(Device::CUDA));
    Tensor rmg = gpu[4].clone(), rvg = gpu[5].clone();
    const Tensor two_ops = batch_norm_relu(run(c, c.bias ? Ts{gpu[0], gpu[1], gpu[6]} : Ts{gpu[0], gpu[1]}), gpu[2],
                                           gpu[3], rmg, rvg, false);
    test::expect_identical(fused(gpu), two_ops, std::string(c.name) + " fused vs two ops on the GPU");
  }
}

TEST_CASE("cuda upsample2x_conv2d (the decoders' up-sampling + conv) matches the CPU and the composition") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  Rng rng(17);
  const Tensor x = randn({2, 5, 6, 7}, rng), w = randn({4, 5, 3, 3}, rng, 0.f, 0.3f), b = randn({4}, rng);
  const Tol tol{2e-4f, 1e-4f};
  check_op({"upsample2x_conv2d", {x, w, b}, {}, [](const Ts& t) { return upsample2x_conv2d(t[0], t[1], t[2]); },
            tol, tol});
  const Ts no_bias{x, w};
  check_op({"upsample2x_conv2d no bias", no_bias, {},
            [](const Ts& t) { return upsample2x_conv2d(t[0], t[1], Tensor()); }, tol, tol});
  const Tensor gamma = randn({4}, rng, 1.f, 0.3f), beta = randn({4}, rng);
  const Tensor rm = randn({4}, rng, 0.f, 0.3f), rv = rand_uniform({4}, rng, 0.5f, 2.f);
  auto fused = [](const Ts& t) { return upsample2x_conv2d_bn_relu_eval(t[0], t[1], t[2], {t[3], t[4], t[5], t[6]}); };
  check_op({"upsample2x_conv2d_bn_relu_eval", {x, w, b, gamma, beta, rm, rv}, std::vector<bool>(7, false), fused, tol,
            tol});
  // On the GPU, against the up-sampled copy then conv2d: the same values up to rounding.
  Ts g;
  for (const Tensor& t : {x, w, b}) g.push_back(t.to(Device::CUDA));
  Conv2dOptions o;
  o.padding[0] = o.padding[1] = 1;
  test::expect_close(upsample2x_conv2d(g[0], g[1], g[2]), conv2d(upsample_nearest2d(g[0], 2), g[1], g[2], o), tol,
                     "upsample2x_conv2d vs the composition on the GPU");
}

TEST_CASE("cuda conv3d_bn_relu_pool_eval (scoring's stage end) matches the CPU and the unfused ops") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  Rng rng(15);
  // 3 -> 8 channels (the CPU's per-sample schedule) and 12 -> 8 (its batched one); odd H and W
  for (const int64_t cin : {int64_t{3}, int64_t{12}}) {
    const Tensor x = randn({2, cin, 3, 9, 11}, rng), w = randn({8, cin, 3, 3, 3}, rng, 0.f, 0.2f), b = randn({8}, rng);
    const Ts in{x, w, b, randn({8}, rng, 1.f, 0.3f), randn({8}, rng), randn({8}, rng, 0.f, 0.3f),
                rand_uniform({8}, rng, 0.5f, 2.f)};
    Conv3dOptions o;
    o.padding[0] = o.padding[1] = o.padding[2] = 1;
    auto bn_of = [](const Ts& t) { return EvalBatchNorm{t[3], t[4], t[5], t[6]}; };
    auto fused = [&](const Ts& t) { return conv3d_bn_relu_pool_eval(t[0], t[1], t[2], bn_of(t), o); };
    const Tol tol{2e-4f, 1e-4f};
    check_op({"conv3d_bn_relu_pool_eval Cin " + std::to_string(cin), in, std::vector<bool>(in.size(), false), fused,
              tol, tol});
    Ts gpu;
    for (const Tensor& t : in) gpu.push_back(t.to(Device::CUDA));
    const Tensor two_ops = max_pool3d(conv3d_bn_relu_eval(gpu[0], gpu[1], gpu[2], bn_of(gpu), o),
                                      Pool3dOptions{{1, 2, 2}, {1, 2, 2}, {0, 0, 0}});
    test::expect_identical(fused(gpu), two_ops, "conv3d_bn_relu_pool_eval vs two ops on the GPU");
  }
}

TEST_CASE("cuda conv3d_depthwise_tokens_bn_eval (scoring's q/k/v projection) matches the CPU and the unfused ops") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  Rng rng(14);
  const int64_t C = 24;
  const Tensor x = randn({2, 3 * 8 * 7, C}, rng), w = randn({C, 1, 3, 3, 3}, rng, 0.f, 0.3f), b = randn({C}, rng);
  const Tensor gamma = randn({C}, rng, 1.f, 0.3f), beta = randn({C}, rng), rm = randn({C}, rng, 0.f, 0.3f);
  const Tensor rv = rand_uniform({C}, rng, 0.5f, 2.f);
  Conv3dOptions o;
  o.padding[0] = o.padding[1] = o.padding[2] = 1;
  o.stride[1] = o.stride[2] = 2;
  o.groups = static_cast<int>(C);
  auto fused = [&](const Ts& t) {
    return conv3d_depthwise_tokens_bn_eval(t[0], t[1], t[2], 3, 8, 7, o, EvalBatchNorm{t[3], t[4], t[5], t[6]});
  };
  const Ts in{x, w, b, gamma, beta, rm, rv};
  const Tol tol{2e-4f, 1e-4f};
  check_op({"depthwise tokens + bn eval", in, std::vector<bool>(in.size(), false), fused, tol, tol});
  Ts gpu;
  for (const Tensor& t : in) gpu.push_back(t.to(Device::CUDA));
  Tensor rmg = gpu[5].clone(), rvg = gpu[6].clone();
  const Tensor y = conv3d_depthwise_tokens(gpu[0], gpu[1], gpu[2], 3, 8, 7, o);
  const Tensor two_ops = reshape(batch_norm(reshape(y, {-1, C}), gpu[3], gpu[4], rmg, rvg, false), y.shape());
  test::expect_identical(fused(gpu), two_ops, "depthwise tokens + bn eval vs two ops on the GPU");
}

TEST_CASE("cuda conv3d_depthwise_tokens (channels-last depthwise) matches the CPU") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  struct TokCase {
    const char* name;
    int64_t N, T, H, W, C;
    int k[3], stride[3], padding[3];
    bool bias;
  };
  const TokCase cases[] = {
      {"q 3x3x3", 2, 3, 8, 8, 24, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, false},
      {"k/v stride (1,2,2) odd sizes", 3, 4, 7, 9, 19, {3, 3, 3}, {1, 2, 2}, {1, 1, 1}, true},
      {"2-D CvT 1x3x3", 2, 1, 8, 8, 12, {1, 3, 3}, {1, 2, 2}, {0, 1, 1}, false},
  };
  Rng rng(12);
  for (const TokCase& c : cases) {
    const Tensor x = randn({c.N, c.T * c.H * c.W, c.C}, rng), w = randn({c.C, 1, c.k[0], c.k[1], c.k[2]}, rng, 0.f, 0.3f);
    Ts in{x, w, c.bias ? randn({c.C}, rng) : Tensor()};
    if (!c.bias) in.pop_back();   // (not push_back onto {x, w}: GCC 12 then warns of array bounds in its vector)
    Conv3dOptions o;
    for (int i = 0; i < 3; ++i) o.stride[i] = c.stride[i], o.padding[i] = c.padding[i];
    o.groups = static_cast<int>(c.C);
    const Tol tol{2e-4f, 1e-4f};
    check_op({c.name, in, {},
              [&](const Ts& t) {
                return conv3d_depthwise_tokens(t[0], t[1], t.size() > 2 ? t[2] : Tensor(), static_cast<int>(c.T),
                                               static_cast<int>(c.H), static_cast<int>(c.W), o);
              },
              tol, tol});
  }
}

#ifdef SSMTL_WITH_CUDA
#include "kernels/conv3d.h"
#include "tests/cudnn_reference.h"

namespace {
kernels::Conv3dGeometry geometry(Shape x, int64_t cout, int k, const int stride[3], int pad, int groups) {
  kernels::Conv3dGeometry g{};
  g.N = x[0], g.Cin = x[1], g.D = x[2], g.H = x[3], g.W = x[4];
  g.Cout = cout, g.kD = g.kH = g.kW = k;
  g.sD = stride[0], g.sH = stride[1], g.sW = stride[2];
  g.pD = g.pH = g.pW = pad;
  g.groups = groups;
  g.Do = (g.D + 2 * pad - k) / g.sD + 1;
  g.Ho = (g.H + 2 * pad - k) / g.sH + 1;
  g.Wo = (g.W + 2 * pad - k) / g.sW + 1;
  return g;
}

float max_abs(const Tensor& t) {
  float m = 0.f;
  for (float v : t.to_vector()) m = std::max(m, std::fabs(v));
  return m;
}
}  // namespace

TEST_CASE("cuda conv3d matches cuDNN at the backbone shapes") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  if (!test::CudnnApi::get().ok) {
    MESSAGE("cuDNN unavailable (" << test::CudnnApi::get().why << "): skipped");
    return;
  }
  struct Case {
    const char* name;
    Shape x;
    int64_t cout;
    int stride[3];
    int groups;
  };
  const Case cases[] = {
      {"stage1 3to16 64x64", {4, 3, 7, 64, 64}, 16, {1, 1, 1}, 1},
      {"stage2 16to32 32x32", {4, 16, 7, 32, 32}, 32, {1, 1, 1}, 1},
      {"stage3 32to32 16x16", {4, 32, 7, 16, 16}, 32, {1, 1, 1}, 1},
      {"stride (1,2,2) groups 2", {3, 8, 7, 17, 15}, 12, {1, 2, 2}, 2},
      {"depthwise 32 7x8x8", {4, 32, 7, 8, 8}, 32, {1, 1, 1}, 32},
      {"depthwise 32 7x8x8 stride (1,2,2)", {4, 32, 7, 8, 8}, 32, {1, 2, 2}, 32},
  };
  Rng rng(12);
  for (const Case& c : cases) {
    INFO("case " << c.name);
    const kernels::Conv3dGeometry g = geometry(c.x, c.cout, 3, c.stride, 1, c.groups);
    const bool depthwise = g.groups == g.Cin && g.Cout == g.Cin;
    const Shape ws{g.Cout, g.Cin / g.groups, 3, 3, 3}, ys{g.N, g.Cout, g.Do, g.Ho, g.Wo};
    const Tensor x = randn(c.x, rng).to(Device::CUDA), w = randn(ws, rng, 0.f, 0.2f).to(Device::CUDA);
    const Tensor dy = randn(ys, rng).to(Device::CUDA);
    Tensor y = Tensor::empty(ys, Device::CUDA), y_ref = Tensor::empty(ys, Device::CUDA);
    Tensor dx = Tensor::zeros(c.x, Device::CUDA), dx_ref = Tensor::empty(c.x, Device::CUDA);
    Tensor dw = Tensor::zeros(ws, Device::CUDA), dw_ref = Tensor::empty(ws, Device::CUDA);
    if (depthwise) {
      kernels::conv3d_depthwise_forward_cuda(y.data(), x.data(), w.data(), nullptr, g);
      kernels::conv3d_depthwise_backward_cuda(dx.data(), dw.data(), nullptr, dy.data(), x.data(), w.data(), g);
    } else {
      kernels::conv3d_forward_cuda(y.data(), x.data(), w.data(), nullptr, g);
      kernels::conv3d_backward_cuda(dx.data(), dw.data(), nullptr, dy.data(), x.data(), w.data(), true, g);
    }
    const test::CudnnConv3d ref(g);
    ref.forward(y_ref.data(), x.data(), w.data());
    ref.backward_data(dx_ref.data(), dy.data(), w.data());
    ref.backward_filter(dw_ref.data(), x.data(), dy.data());
    MESSAGE(c.name << ": cuDNN algorithms " << ref.algorithms());
    test::expect_close(y, y_ref, Tol{1e-5f * max_abs(y_ref), 1e-4f}, std::string(c.name) + " forward");
    test::expect_close(dx, dx_ref, Tol{1e-5f * max_abs(dx_ref), 1e-4f}, std::string(c.name) + " dx");
    test::expect_close(dw, dw_ref, Tol{1e-5f * max_abs(dw_ref), 1e-4f}, std::string(c.name) + " dw");
  }
}

TEST_CASE("cuda depthwise channels-last dx: add_dx false writes every element (NaN-filled) as adding into zeros") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  Rng rng(14);
  // (N, C, T, H, W) tokens, stride (1, s, s), padding (1, p, p): padding 0 leaves a row and a column under no window
  struct Case {
    int64_t N, C, T, H, W, s, p;
  };
  for (const Case& c : {Case{2, 24, 3, 8, 8, 1, 1}, Case{2, 19, 4, 7, 9, 2, 1}, Case{2, 8, 3, 6, 6, 2, 0}}) {
    CAPTURE(c.s);
    CAPTURE(c.p);
    kernels::Conv3dGeometry g{};
    g.N = c.N, g.Cin = g.Cout = g.groups = c.C, g.D = c.T, g.H = c.H, g.W = c.W, g.kD = g.kH = g.kW = 3;
    g.sD = 1, g.sH = g.sW = c.s, g.pD = 1, g.pH = g.pW = c.p;
    g.Do = c.T, g.Ho = (c.H + 2 * c.p - 3) / c.s + 1, g.Wo = (c.W + 2 * c.p - 3) / c.s + 1;
    const Shape xs{c.N, c.T * c.H * c.W, c.C}, ys{c.N, g.Do * g.Ho * g.Wo, c.C};
    const Tensor x = randn(xs, rng), w = randn({c.C, 1, 3, 3, 3}, rng, 0.f, 0.3f), dy = randn(ys, rng);
    const Tensor pre = randn(xs, rng);
    Tensor cpu = Tensor::zeros(xs);
    kernels::conv3d_depthwise_cl_backward_cpu(cpu.data(), nullptr, nullptr, dy.data(), x.data(), w.data(), true, g);
    const Tensor xg = x.to(Device::CUDA), wg = w.to(Device::CUDA), dyg = dy.to(Device::CUDA);
    Tensor written = Tensor::full(xs, std::numeric_limits<float>::quiet_NaN(), Device::CUDA);
    Tensor added = Tensor::zeros(xs, Device::CUDA), sum = pre.to(Device::CUDA);
    for (auto [buf, add] : {std::pair{&written, false}, std::pair{&added, true}, std::pair{&sum, true}})
      kernels::conv3d_depthwise_cl_backward_cuda(buf->data(), nullptr, nullptr, dyg.data(), xg.data(), wg.data(), add,
                                                 g);
    CHECK(written.to_vector() == added.to_vector());   // (a NaN left anywhere fails: NaN != NaN)
    test::expect_close(written, cpu, Tol{2e-4f, 1e-4f}, "written vs CPU");
    const std::vector<float> s = sum.to_vector(), p = pre.to_vector(), a = added.to_vector();
    double worst = 0;
    for (size_t i = 0; i < s.size(); ++i) worst = std::max(worst, std::fabs(double(s[i]) - p[i] - a[i]));
    CHECK(worst < 1e-4);   // add_dx true still adds
  }
}
#endif

// The depthwise weight gradient runs in two stages over segments of about 4096 output positions per
// channel (kernels/cuda/conv3d.cu, depthwise_dw): these batches give several segments per channel, the last
// one partial, for the compiled 3x3x3 and 1x3x3 kernels (CvT q at stride 1, k / v at stride (1,2,2)) and the
// generic one (2x3x3: 18 taps in one pass; 3x3x4: 36 taps in two passes of at most 27).
TEST_CASE("cuda depthwise conv3d weight gradient over several segments") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  const ConvCase cases[] = {
      {"depthwise 3x3x3 CvT q 7x8x8 batch 21", {21, 5, 7, 8, 8}, 5, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, 5, true},
      {"depthwise 3x3x3 CvT k/v stride (1,2,2) batch 83", {83, 3, 7, 8, 8}, 3, {3, 3, 3}, {1, 2, 2}, {1, 1, 1}, 3,
       false},
      {"depthwise 1x3x3 batch 30", {30, 4, 7, 8, 8}, 4, {1, 3, 3}, {1, 1, 1}, {0, 1, 1}, 4, false},
      {"depthwise 2x3x3 generic batch 25", {25, 3, 6, 8, 7}, 3, {2, 3, 3}, {1, 1, 1}, {1, 1, 1}, 3, false},
      {"depthwise 3x3x4 two tap passes", {30, 2, 5, 9, 10}, 2, {3, 3, 4}, {1, 2, 1}, {1, 1, 2}, 2, true},
  };
  Rng rng(13);
  for (const ConvCase& c : cases) {
    const Tensor x = randn(c.x, rng), w = randn(weight_shape(c), rng, 0.f, 0.3f), b = randn({c.cout}, rng);
    Ts in{x, w};
    if (c.bias) in.push_back(b);
    // dw sums up to 21 * 448 products of unit-variance values: entries up to a few hundred
    const Tol tol{2e-4f, 1e-4f}, dw_tol{1e-3f, 1e-4f};
    check_op({c.name, in, {}, [&](const Ts& t) { return run(c, t); }, tol, dw_tol});
    std::vector<bool> weights_only(in.size(), true);
    weights_only[0] = false;
    check_op({std::string(c.name) + " weights only", in, weights_only, [&](const Ts& t) { return run(c, t); }, tol,
              dw_tol});
  }
}
