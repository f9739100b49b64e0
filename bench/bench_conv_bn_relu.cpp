// Scoring's conv -> eval batch norm -> ReLU block fused (conv3d_bn_relu_eval: the batch norm + ReLU applied as
// the convolution writes) against the two ops (conv3d, then batch_norm_relu in eval mode) at the paper-size
// backbone's shapes (configs/ssmtl.txt / ssmtl++v1.txt: scoring batch 64, 7 frames, 64x64 crops, 3x3x3 'same'
// convolutions 3 -> 16, 16 -> 32, 32 -> 32 with a (1,2,2) pool between the stages), no graph (NoGradGuard).
// BM_ConvBnRelu/<case>/<precision> runs the block once each way per iteration, alternating so that both see the
// same machine load, and reports unfused_ms, fused_ms and speedup = unfused time / fused time. The two give the
// same bits (tests/test_conv_bn_relu.cpp). bf16 (and AMX, where the CPU has it) only where the CPU has AVX512_BF16.
// BM_ConvBnReluPool/<case>/<precision>: the stage ends 1 and 2, conv3d_bn_relu_pool_eval (one sample per thread,
// pooled from cache) against conv3d_bn_relu_eval then max_pool3d (the batch's activation through memory).
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>

#include "autograd/conv.h"
#include "autograd/engine.h"
#include "autograd/norm.h"
#include "autograd/pool.h"
#include "kernels/precision.h"
#include "tensor/rng.h"

using namespace ssmtl;

namespace {

struct Case {
  const char* name;
  Shape x;
  int64_t cout;
};
const Case kCases[] = {
    {"stage1_3to16_64x64", {64, 3, 7, 64, 64}, 16},
    {"stage2_16to32_32x32", {64, 16, 7, 32, 32}, 32},
    {"stage3_32to32_16x16", {64, 32, 7, 16, 16}, 32},
};

void fused_vs_unfused(benchmark::State& state, const Case& c, kernels::MatmulPrecision precision, bool pool) {
  kernels::MatmulPrecisionScope scope(precision);
  autograd::NoGradGuard ng;
  Rng rng(0);
  const int64_t C = c.cout;
  const Tensor x = randn(c.x, rng), w = randn({C, c.x[1], 3, 3, 3}, rng, 0.f, 0.2f);
  EvalBatchNorm bn{rand_uniform({C}, rng, 0.5f, 1.5f), randn({C}, rng, 0.f, 0.2f), randn({C}, rng, 0.f, 0.2f),
                   rand_uniform({C}, rng, 0.5f, 2.f)};
  Conv3dOptions o;
  o.padding[0] = o.padding[1] = o.padding[2] = 1;
  auto once = [&](bool fused) {
    const auto t0 = std::chrono::steady_clock::now();
    {
      Tensor rm = bn.running_mean, rv = bn.running_var;   // eval: read, never written
      Tensor y;
      if (pool)
        y = fused ? conv3d_bn_relu_pool_eval(x, w, Tensor(), bn, o)
                  : max_pool3d(conv3d_bn_relu_eval(x, w, Tensor(), bn, o), Pool3dOptions{{1, 2, 2}, {1, 2, 2}, {0, 0, 0}});
      else
        y = fused ? conv3d_bn_relu_eval(x, w, Tensor(), bn, o)
                  : batch_norm_relu(conv3d(x, w, Tensor(), o), bn.gamma, bn.beta, rm, rv, false);
      benchmark::DoNotOptimize(y.data());
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  once(true);   // warm both paths (allocator)
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
  state.counters["speedup"] = t_unfused / t_fused;
}

const bool kRegistered = [] {
  for (const Case& c : kCases)
    for (const auto precision : {kernels::MatmulPrecision::fp32, kernels::MatmulPrecision::bf16}) {
      if (precision == kernels::MatmulPrecision::bf16 && !kernels::cpu_has_bf16()) continue;
      for (const bool pool : {false, true}) {
        if (pool && c.x[3] == 16) continue;   // stage 3 takes the batched pair, as stage 2 (measured there)
        const std::string name = std::string(pool ? "BM_ConvBnReluPool/" : "BM_ConvBnRelu/") + c.name + "/" +
                                 kernels::matmul_precision_name(precision);
        benchmark::RegisterBenchmark(name.c_str(), fused_vs_unfused, c, precision, pool)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
  return true;
}();

}  // namespace
