// conv3d forward and forward+backward at the shapes of the SSMTL narrow backbone (batch 64, input 3x7x64x64,
// 3x3x3 convolutions with padding 1: 3->16 at 64x64, 16->32 at 32x32, 32->32 at 16x16) and of the CvT
// depthwise q/k/v projections (32 channels at 7x8x8, stride 1 and (1,2,2)). No bias: in the model every one of
// these convolutions is followed by BatchNorm. The first stage's input is data, so it gets no gradient, as in
// training. bench/compare_conv3d.py times PyTorch at the same cases; bench/compare_conv3d.sh prints the ratios.
// Names: BM_Conv3d/<case>/forward and BM_Conv3d/<case>/forward_backward.
#include <benchmark/benchmark.h>

#include <string>

#include "autograd/conv.h"
#include "autograd/engine.h"
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
    y.backward(gy);
    benchmark::DoNotOptimize(w.grad().data());
    x.zero_grad();
    w.zero_grad();
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
  }
  return true;
}();

}  // namespace
