// The fused batch_norm_relu against relu(batch_norm(x)) at the paper-size backbone's conv -> BN -> ReLU shapes
// (configs/ssmtl++v1.txt: batch 64, 7 frames, 64x64 crops, channels 16/32/32 with a (1,2,2) pool between the
// stages): (64, 16, 7, 64, 64), (64, 32, 7, 32, 32), (64, 32, 7, 16, 16), training mode (batch statistics).
// BM_BatchNormRelu/<case>/<pass> runs the pass once fused and once unfused per iteration, alternating so that
// both see the same machine load, and reports unfused_ms, fused_ms and speedup = unfused time / fused time.
// Passes: forward (no graph, as scoring), forward_backward (the differentiable ops as training runs them:
// outputs, the unfused intermediate and gradient buffers allocated per call; x, gamma and beta get gradients).
// fused_GB/s counts the bytes the profiler's add_bytes counts: forward 12 per element (x read for the statistics,
// x read and y written by the normalisation), backward 16 (dy, x read; dx read and written; the ReLU mask is
// recomputed from x).
// BM_BatchNormReluPool/<case>/<pass>: the same for the end of a stage, batch_norm_relu_pool against
// max_pool3d(batch_norm_relu(x), (1,2,2)) (the build before it): unfused_ms, fused_ms and speedup (no fused_GB/s).
#include <benchmark/benchmark.h>

#include <chrono>
#include <optional>
#include <string>

#include "autograd/activation.h"
#include "autograd/engine.h"
#include "autograd/norm.h"
#include "autograd/pool.h"
#include "tensor/rng.h"

using namespace ssmtl;

namespace {

struct Case {
  const char* name;
  Shape x;
};
const Case kCases[] = {
    {"stage1_16ch_64x64", {64, 16, 7, 64, 64}},
    {"stage2_32ch_32x32", {64, 32, 7, 32, 32}},
    {"stage3_32ch_16x16", {64, 32, 7, 16, 16}},
};
enum class Pass { forward, forward_backward };
enum class Op { bn_relu, bn_relu_pool };

void fused_vs_unfused(benchmark::State& state, const Case& c, Pass pass, Op op) {
  Rng rng(0);
  const int64_t C = c.x[1];
  Shape ys = c.x;
  if (op == Op::bn_relu_pool) ys[3] /= 2, ys[4] /= 2;
  Tensor x = randn(c.x, rng, 0.1f, 1.f), gy = randn(ys, rng);
  Tensor gamma = rand_uniform({C}, rng, 0.5f, 1.5f), beta = randn({C}, rng, 0.f, 0.2f);
  Tensor rm = Tensor::zeros({C}), rv = Tensor::ones({C});
  if (pass == Pass::forward_backward) {
    x.set_requires_grad();
    gamma.set_requires_grad();
    beta.set_requires_grad();
  }
  auto once = [&](bool fused) {
    const auto t0 = std::chrono::steady_clock::now();
    {
      std::optional<autograd::NoGradGuard> ng;
      if (pass == Pass::forward) ng.emplace();
      Tensor y;
      if (op == Op::bn_relu)
        y = fused ? batch_norm_relu(x, gamma, beta, rm, rv, true) : relu(batch_norm(x, gamma, beta, rm, rv, true));
      else
        y = fused ? batch_norm_relu_pool(x, gamma, beta, rm, rv, true)
                  : max_pool3d(batch_norm_relu(x, gamma, beta, rm, rv, true), Pool3dOptions{{1, 2, 2}, {1, 2, 2}});
      if (pass == Pass::forward_backward) autograd::backward(y, gy);
      benchmark::DoNotOptimize(y.data());
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  once(true);   // warm both paths (allocator, gradient buffers)
  once(false);
  double t_fused = 0, t_unfused = 0;
  for (auto _ : state) {
    const double a = once(false), b = once(true);
    t_unfused += a, t_fused += b;
    state.SetIterationTime(a + b);
  }
  const double it = static_cast<double>(state.iterations());
  state.counters["unfused_ms"] = 1e3 * t_unfused / it;
  state.counters["fused_ms"] = 1e3 * t_fused / it;
  if (op == Op::bn_relu) {
    const double bytes = static_cast<double>(x.numel()) * (pass == Pass::forward ? 12.0 : 28.0);
    state.counters["fused_GB/s"] = 1e-9 * bytes * it / t_fused;
  }
  state.counters["speedup"] = t_unfused / t_fused;
}

const bool kRegistered = [] {
  for (Op op : {Op::bn_relu, Op::bn_relu_pool})
    for (const Case& c : kCases)
      for (Pass p : {Pass::forward, Pass::forward_backward}) {
        const std::string name = std::string(op == Op::bn_relu ? "BM_BatchNormRelu/" : "BM_BatchNormReluPool/") +
                                 c.name + "/" + (p == Pass::forward ? "forward" : "forward_backward");
        benchmark::RegisterBenchmark(name.c_str(), fused_vs_unfused, c, p, op)
            ->Unit(benchmark::kMillisecond)
            ->UseManualTime();
      }
  return true;
}();

}  // namespace
