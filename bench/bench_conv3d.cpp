// conv3d forward and forward+backward at the shapes of the SSMTL narrow backbone (batch 64, input 3x7x64x64,
// 3x3x3 convolutions with padding 1: 3->16 at 64x64, 16->32 at 32x32, 32->32 at 16x16) and of the CvT
// depthwise q/k/v projections (32 channels at 7x8x8, stride 1 and (1,2,2)). No bias: in the model every one of
// these convolutions is followed by BatchNorm. The first stage's input is data, so it gets no gradient, as in
// training. bench/compare_conv3d.py times PyTorch at the same cases; bench/compare_conv3d.sh prints the ratios.
// Names: BM_Conv3d/<case>/forward and BM_Conv3d/<case>/forward_backward time the differentiable op (output and
// gradient tensors allocated per call, as in training); BM_Conv3dKernels/<case>/... time the same kernels on
// buffers allocated once, which separates the arithmetic from the cost of first-touching fresh memory.
#include <benchmark/benchmark.h>

#include <string>

#include "autograd/conv.h"
#include "autograd/engine.h"
#include "kernels/conv3d.h"
#include "tensor/rng.h"

using namespace ssmtl;

namespace {

struct ConvCase {
  const char* name;
  Shape x;
  int64_t cout;
  int stride[3];
  int groups;
  bool input_grad;
};
const ConvCase kCases[] = {
    {"stage1_3to16_64x64", {64, 3, 7, 64, 64}, 16, {1, 1, 1}, 1, false},
    {"stage2_16to32_32x32", {64, 16, 7, 32, 32}, 32, {1, 1, 1}, 1, true},
    {"stage3_32to32_16x16", {64, 32, 7, 16, 16}, 32, {1, 1, 1}, 1, true},
    {"depthwise_32_7x8x8", {64, 32, 7, 8, 8}, 32, {1, 1, 1}, 32, true},
    {"depthwise_32_7x8x8_s122", {64, 32, 7, 8, 8}, 32, {1, 2, 2}, 32, true},
};

Conv3dOptions options(const ConvCase& c) {
  Conv3dOptions o;
  for (int i = 0; i < 3; ++i) o.stride[i] = c.stride[i], o.padding[i] = 1;
  o.groups = c.groups;
  return o;
}

void forward(benchmark::State& state, const ConvCase& c) {
  Rng rng(0);
  Tensor x = randn(c.x, rng), w = randn({c.cout, c.x[1] / c.groups, 3, 3, 3}, rng, 0.f, 0.1f);
  autograd::NoGradGuard ng;
  for (auto _ : state) {
    Tensor y = conv3d(x, w, Tensor(), options(c));
    benchmark::DoNotOptimize(y.data());
  }
}

void forward_backward(benchmark::State& state, const ConvCase& c) {
  Rng rng(0);
  Tensor x = randn(c.x, rng), w = randn({c.cout, c.x[1] / c.groups, 3, 3, 3}, rng, 0.f, 0.1f);
  if (c.input_grad) x.set_requires_grad();
  w.set_requires_grad();
  Tensor gy;
  {
    autograd::NoGradGuard ng;
    gy = randn(conv3d(x, w, Tensor(), options(c)).shape(), rng);
  }
  for (auto _ : state) {
    Tensor y = conv3d(x, w, Tensor(), options(c));
    autograd::backward(y, gy);
    benchmark::DoNotOptimize(w.grad().data());
    x.zero_grad();
    w.zero_grad();
  }
}

kernels::Conv3dGeometry geometry(const ConvCase& c) {
  kernels::Conv3dGeometry g{};
  g.N = c.x[0], g.Cin = c.x[1], g.D = c.x[2], g.H = c.x[3], g.W = c.x[4];
  g.Cout = c.cout, g.kD = g.kH = g.kW = 3, g.pD = g.pH = g.pW = 1, g.groups = c.groups;
  g.sD = c.stride[0], g.sH = c.stride[1], g.sW = c.stride[2];
  g.Do = (g.D - 1) / g.sD + 1, g.Ho = (g.H - 1) / g.sH + 1, g.Wo = (g.W - 1) / g.sW + 1;
  return g;
}

// The kernels alone on warm buffers: forward, then (forward_backward) the backward kernel as the op calls it.
void kernels_only(benchmark::State& state, const ConvCase& c, bool backward) {
  const kernels::Conv3dGeometry g = geometry(c);
  const bool depthwise = c.groups == c.x[1];
  Rng rng(0);
  Tensor x = randn(c.x, rng), w = randn({c.cout, c.x[1] / c.groups, 3, 3, 3}, rng, 0.f, 0.1f);
  Tensor y = Tensor::zeros({g.N, g.Cout, g.Do, g.Ho, g.Wo}), gy = randn(y.shape(), rng);
  Tensor gx = Tensor::zeros(x.shape()), gw = Tensor::zeros(w.shape());
  float* dx = c.input_grad ? gx.data() : nullptr;
  for (auto _ : state) {
    if (depthwise) {
      kernels::conv3d_depthwise_forward_cpu(y.data(), x.data(), w.data(), nullptr, g);
      if (backward) kernels::conv3d_depthwise_backward_cpu(dx, gw.data(), nullptr, gy.data(), x.data(), w.data(), g);
    } else {
      kernels::conv3d_forward_cpu(y.data(), x.data(), w.data(), nullptr, g);
      if (backward) kernels::conv3d_backward_cpu(dx, gw.data(), nullptr, gy.data(), x.data(), w.data(), true, g);
    }
    benchmark::DoNotOptimize(gw.data());
  }
}

const bool kRegistered = [] {
  for (const ConvCase& c : kCases) {
    const std::string base = std::string("BM_Conv3d/") + c.name;
    benchmark::RegisterBenchmark((base + "/forward").c_str(), forward, c)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark((base + "/forward_backward").c_str(), forward_backward, c)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    const std::string kbase = std::string("BM_Conv3dKernels/") + c.name;
    for (bool bw : {false, true})
      benchmark::RegisterBenchmark((kbase + (bw ? "/forward_backward" : "/forward")).c_str(), kernels_only, c, bw)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
  }
  return true;
}();

}  // namespace
