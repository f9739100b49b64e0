// The decoders' rounds (model/heads.h: nearest 2x up-sampling, 3x3 convolution, then batch norm + ReLU) at the
// paper-size v1 shapes (configs/ssmtl++v1.txt: batch 64, the backbone's 96 x 8 x 8 features, decoder width 32):
// upsample2x_conv2d (autograd/upsample_conv.h: 2x2 kernels per output phase on the low-resolution map) against
// the composition it replaced (upsample_nearest2d, then conv2d on the up-sampled map), alternating in each
// iteration so that both see the same machine load.
// BM_UpsampleConv/<round>/<precision>/train: forward + backward (dx, dw) of the convolution part, as training
//   runs it; counters composed_ms, phases_ms, speedup = composed / phases.
// BM_UpsampleConv/<round>/<precision>/score: the eval-mode block with its batch norm + ReLU (scoring):
//   conv2d_bn_relu_eval(upsample_nearest2d(x)) against upsample2x_conv2d_bn_relu_eval.
#include <benchmark/benchmark.h>

#include <chrono>
#include <functional>
#include <string>

#include "autograd/conv.h"
#include "autograd/engine.h"
#include "autograd/pool.h"
#include "autograd/upsample_conv.h"
#include "kernels/precision.h"
#include "tensor/rng.h"

using namespace ssmtl;

namespace {

struct Round {
  const char* name;
  Shape x;   // the round's low-resolution input (N, Cin, H, W)
};
const Round kRounds[] = {
    {"round1_96to32_8x8", {64, 96, 8, 8}},
    {"round2_32to32_16x16", {64, 32, 16, 16}},
    {"round3_32to32_32x32", {64, 32, 32, 32}},
};
constexpr int64_t kWidth = 32;   // model.decoder_hidden of ssmtl++v1

double seconds_of(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void phases_vs_composed(benchmark::State& state, const Round& r, kernels::MatmulPrecision precision, bool train) {
  kernels::MatmulPrecisionScope scope(precision);
  Rng rng(0);
  const Tensor x0 = randn(r.x, rng), w0 = randn({kWidth, r.x[1], 3, 3}, rng, 0.f, 0.1f);
  const Tensor gout = randn({r.x[0], kWidth, 2 * r.x[2], 2 * r.x[3]}, rng);
  const EvalBatchNorm bn{rand_uniform({kWidth}, rng, 0.5f, 1.5f), randn({kWidth}, rng, 0.f, 0.2f),
                         randn({kWidth}, rng, 0.f, 0.2f), rand_uniform({kWidth}, rng, 0.5f, 2.f)};
  Conv2dOptions o;
  o.padding[0] = o.padding[1] = 1;
  auto once = [&](bool phases) {
    if (!train) {
      autograd::NoGradGuard ng;
      return seconds_of([&] {
        const Tensor y = phases ? upsample2x_conv2d_bn_relu_eval(x0, w0, Tensor(), bn)
                                : conv2d_bn_relu_eval(upsample_nearest2d(x0, 2), w0, Tensor(), bn, o);
        benchmark::DoNotOptimize(y.data());
      });
    }
    Tensor x = x0.clone().set_requires_grad(), w = w0.clone().set_requires_grad();
    return seconds_of([&] {
      const Tensor y = phases ? upsample2x_conv2d(x, w, Tensor()) : conv2d(upsample_nearest2d(x, 2), w, Tensor(), o);
      autograd::backward(y, gout);
      benchmark::DoNotOptimize(x.grad().data());
    });
  };
  once(true);   // warm both paths (allocator)
  once(false);
  double t_phases = 0, t_composed = 0;
  for (auto _ : state) {
    const double a = once(false), b = once(true);
    t_composed += a, t_phases += b;
    state.SetIterationTime(b);
  }
  const double it = static_cast<double>(state.iterations());
  state.counters["composed_ms"] = 1e3 * t_composed / it;
  state.counters["phases_ms"] = 1e3 * t_phases / it;
  state.counters["speedup"] = t_composed / t_phases;
}

const bool kRegistered = [] {
  for (const Round& r : kRounds)
    for (const auto precision : {kernels::MatmulPrecision::fp32, kernels::MatmulPrecision::bf16}) {
      if (precision == kernels::MatmulPrecision::bf16 && !kernels::cpu_has_bf16()) continue;
      for (const bool train : {true, false}) {
        const std::string name = std::string("BM_UpsampleConv/") + r.name + "/" +
                                 kernels::matmul_precision_name(precision) + (train ? "/train" : "/score");
        benchmark::RegisterBenchmark(name.c_str(), phases_vs_composed, r, precision, train)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
  return true;
}();

}  // namespace
