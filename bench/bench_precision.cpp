// bf16 against fp32 products (kernels/precision.h) on the paper-size CvT's linear layers (dim 96, MLP 384;
// rows = token rows of a batch of 64 objects): each iteration runs the layer's forward and backward once in
// fp32 and once in bf16, alternating, so both see the same machine load; counters: the GFLOP/s of each and
// `speedup` = fp32 time / bf16 time. The timed value is the bf16 pass.
#include <benchmark/benchmark.h>

#include <chrono>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/precision.h"
#include "tensor/rng.h"

using namespace ssmtl;

namespace {

using Clock = std::chrono::steady_clock;

// in -> out linear layer on M rows: forward, then dx and dw (bias too), as in a training step.
void BM_LinearPrecision(benchmark::State& state) {
  if (!kernels::cpu_has_bf16()) {
    state.SkipWithError("this CPU has no AVX512_BF16");
    return;
  }
  const int64_t M = state.range(0), in = state.range(1), out = state.range(2);
  Rng rng(1);
  const std::vector<float> x = randn({M, in}, rng).to_vector(), w = randn({out, in}, rng).to_vector();
  const std::vector<float> b = randn({out}, rng).to_vector(), dy = randn({M, out}, rng).to_vector();
  std::vector<float> y(M * out), dx(M * in), dw(out * in), db(out);
  auto pass = [&](kernels::MatmulPrecision p) {
    kernels::MatmulPrecisionScope scope(p);
    const auto t0 = Clock::now();
    kernels::linear_forward_cpu(y.data(), x.data(), w.data(), b.data(), M, in, out);
    kernels::linear_backward_cpu(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), M, in, out);
    benchmark::DoNotOptimize(dw.data());
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  pass(kernels::MatmulPrecision::fp32);
  pass(kernels::MatmulPrecision::bf16);
  double t32 = 0, t16 = 0;
  for (auto _ : state) {
    t32 += pass(kernels::MatmulPrecision::fp32);
    const double s = pass(kernels::MatmulPrecision::bf16);
    t16 += s;
    state.SetIterationTime(s);
  }
  const double flop = 3 * 2.0 * M * in * out * static_cast<double>(state.iterations());
  state.counters["fp32_GFLOPs"] = flop / t32 * 1e-9;
  state.counters["bf16_GFLOPs"] = flop / t16 * 1e-9;
  state.counters["speedup"] = t32 / t16;
}
BENCHMARK(BM_LinearPrecision)
    ->Args({16384, 96, 96})
    ->Args({16384, 96, 384})
    ->Args({16384, 384, 96})
    ->ArgNames({"rows", "in", "out"})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
