// The CvT block's MLP half at inference: kernels::mlp_residual_forward_cpu (chunks of rows through LayerNorm, the
// two products, GELU and the residual add while in cache) against the composition it replaces (the four kernels
// over all rows in turn, as scoring ran them before), alternating in each iteration so both see the same machine
// load. Shapes: the paper-size SSMTL++v1 (dim 96, MLP 384) on a scoring batch of 64 objects (26624 token rows).
// Argument: 0 fp32, 1 bf16 products (kernels/precision.h; AMX where the CPU has it). Counters: fused_ms,
// composed_ms, speedup = composed / fused, and the composition's least memory traffic as GB/s. Timed: fused.
#include <benchmark/benchmark.h>

#include <chrono>
#include <vector>

#include "bench/aligned_buffers.h"
#include "kernels/activation.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "kernels/norm.h"
#include "kernels/precision.h"
#include "tensor/rng.h"

using namespace ssmtl;

namespace {

using Clock = std::chrono::steady_clock;

void BM_MlpResidual(benchmark::State& state) {
  const bool bf16 = state.range(0) == 1;
  if (bf16 && !kernels::cpu_has_bf16()) {
    state.SkipWithError("this CPU has no AVX512_BF16");
    return;
  }
  kernels::MatmulPrecisionScope scope(bf16 ? kernels::MatmulPrecision::bf16 : kernels::MatmulPrecision::fp32);
  const int64_t M = 26624, D = 96, H = 384;
  Rng rng(3);
  const auto x = bench::aligned(randn({M, D}, rng).to_vector()), g = bench::aligned(randn({D}, rng).to_vector());
  const auto b = bench::aligned(randn({D}, rng).to_vector());
  const auto w1 = bench::aligned(randn({H, D}, rng).to_vector()), b1 = bench::aligned(randn({H}, rng).to_vector());
  const auto w2 = bench::aligned(randn({D, H}, rng).to_vector()), b2 = bench::aligned(randn({D}, rng).to_vector());
  bench::Buffer y(M * D), a(M * D), mean(M), invstd(M), h(M * H), m(M * D), y2(M * D);
  double fused = 0, composed = 0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    kernels::mlp_residual_forward_cpu(y.data(), x.data(), g.data(), b.data(), 1e-5f, w1.data(), b1.data(),
                                      w2.data(), b2.data(), M, D, H);
    const auto t1 = Clock::now();
    kernels::layer_norm_forward_cpu(a.data(), mean.data(), invstd.data(), x.data(), g.data(), b.data(), 1e-5f, M, D);
    kernels::linear_gelu_forward_cpu(h.data(), nullptr, a.data(), w1.data(), b1.data(), M, D, H);
    kernels::linear_forward_cpu(m.data(), h.data(), w2.data(), b2.data(), M, H, D);
    kernels::add_forward_cpu(y2.data(), x.data(), m.data(), 1.f, M * D);
    const auto t2 = Clock::now();
    benchmark::DoNotOptimize(y.data());
    benchmark::DoNotOptimize(y2.data());
    const double f = std::chrono::duration<double>(t1 - t0).count();
    fused += f;
    composed += std::chrono::duration<double>(t2 - t1).count();
    state.SetIterationTime(f);
  }
  if (y != y2) state.SkipWithError("the fused MLP differs from the composition");
  const double n = static_cast<double>(state.iterations());
  // the composition's least traffic: LN r+w, fc1 r + w H, fc2 r H + w, add 2 r + w (floats of 4 bytes)
  const double bytes = 4.0 * M * (2 * D + D + H + H + D + 3 * D);
  state.counters["fused_ms"] = 1e3 * fused / n;
  state.counters["composed_ms"] = 1e3 * composed / n;
  state.counters["speedup"] = composed / fused;
  state.counters["composed_GB/s"] = bytes * n / composed / 1e9;
}

}  // namespace

BENCHMARK(BM_MlpResidual)->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);
