// Scaled dot-product attention at the 3D CvT shape of SSMTL++: batch 64, 12 heads, 7x8x8 = 448 query
// tokens, keys/values strided by 2 in space (7x4x4 = 112 tokens); head width E as the argument.
#include <benchmark/benchmark.h>

#include <chrono>

#include "autograd/attention.h"
#include "autograd/engine.h"
#include "kernels/cpu/attention_tokens_avx512.h"
#include "kernels/attention.h"
#include "kernels/precision.h"
#include "tensor/rng.h"

using namespace ssmtl;

namespace {

// The kernels alone on buffers allocated once: the op-level numbers below also pay for first touching
// the fresh (B, H, Lq, Lk) probability buffer (154 MB at batch 64), which glibc maps anew every call.
void BM_AttentionKernelForward(benchmark::State& state) {
  const int64_t E = state.range(0), BH = 64 * 12, Lq = 448, Lk = 112;
  Rng rng(1);
  Tensor q = randn({BH, Lq, E}, rng), k = randn({BH, Lk, E}, rng), v = randn({BH, Lk, E}, rng);
  Tensor out = Tensor::zeros({BH, Lq, E}), probs = Tensor::zeros({BH, Lq, Lk});
  for (auto _ : state)
    kernels::attention_forward_cpu(out.data(), probs.data(), q.data(), k.data(), v.data(), BH, Lq, Lk, E, E);
}

void BM_AttentionKernelBackward(benchmark::State& state) {
  const int64_t E = state.range(0), BH = 64 * 12, Lq = 448, Lk = 112;
  Rng rng(1);
  Tensor q = randn({BH, Lq, E}, rng), k = randn({BH, Lk, E}, rng), v = randn({BH, Lk, E}, rng);
  Tensor out = Tensor::zeros({BH, Lq, E}), probs = Tensor::zeros({BH, Lq, Lk}), g = randn({BH, Lq, E}, rng);
  Tensor dq = Tensor::zeros(q.shape()), dk = Tensor::zeros(k.shape()), dv = Tensor::zeros(v.shape());
  kernels::attention_forward_cpu(out.data(), probs.data(), q.data(), k.data(), v.data(), BH, Lq, Lk, E, E);
  for (auto _ : state)
    kernels::attention_backward_cpu(dq.data(), dk.data(), dv.data(), g.data(), q.data(), k.data(), v.data(),
                                    probs.data(), BH, Lq, Lk, E, E);
}

void BM_AttentionForward(benchmark::State& state) {
  const int64_t E = state.range(0);
  Rng rng(1);
  Tensor q = randn({64, 12, 448, E}, rng), k = randn({64, 12, 112, E}, rng), v = randn({64, 12, 112, E}, rng);
  autograd::NoGradGuard ng;
  for (auto _ : state) benchmark::DoNotOptimize(scaled_dot_product_attention(q, k, v).data());
}

void BM_AttentionForwardBackward(benchmark::State& state) {
  const int64_t E = state.range(0);
  Rng rng(1);
  Tensor q = randn({64, 12, 448, E}, rng).set_requires_grad(), k = randn({64, 12, 112, E}, rng).set_requires_grad();
  Tensor v = randn({64, 12, 112, E}, rng).set_requires_grad();
  Tensor g = randn({64, 12, 448, E}, rng);
  for (auto _ : state) {
    autograd::backward(scaled_dot_product_attention(q, k, v), g);
    q.zero_grad(), k.zero_grad(), v.zero_grad();
  }
}

// A/B of the token-major multi-head kernels (multi_head_attention's), same process: new:0 = the portable
// kernels (kernels/cpu/attention_tokens.cpp; the only ones before the AVX-512 path, then with a natural-log lse),
// new:1 = kernels::attention_tokens_* (AVX-512 where available). The paper's CvT shape: batch 64, 12 heads of width 8, 448 queries, 112 keys. backward:1 times the
// backward alone (each path's own forward ran once before). Counter GFLOP/s: the profiler's flop counts.
void BM_AttentionTokens(benchmark::State& state) {
  const bool fresh = state.range(0) != 0, backward = state.range(1) != 0;
  const int64_t B = 64, H = 12, Lq = 448, Lk = 112, E = 8;
  Rng rng(1);
  Tensor q = randn({B, Lq, H * E}, rng), k = randn({B, Lk, H * E}, rng), v = randn({B, Lk, H * E}, rng);
  Tensor g = randn({B, Lq, H * E}, rng);
  Tensor out = Tensor::zeros({B, Lq, H * E}), lse = Tensor::zeros({B, H, Lq});
  Tensor dq = Tensor::zeros(q.shape()), dk = Tensor::zeros(k.shape()), dv = Tensor::zeros(v.shape());
  auto forward = fresh ? kernels::attention_tokens_forward_cpu : kernels::attention_tokens_forward_portable;
  auto backward_fn = fresh ? kernels::attention_tokens_backward_cpu : kernels::attention_tokens_backward_portable;
  forward(out.data(), lse.data(), q.data(), k.data(), v.data(), B, H, Lq, Lk, E, E);
  for (auto _ : state) {
    if (backward)
      backward_fn(dq.data(), dk.data(), dv.data(), g.data(), q.data(), k.data(), v.data(), out.data(), lse.data(), true,
                  true, true, B, H, Lq, Lk, E, E);
    else
      forward(out.data(), lse.data(), q.data(), k.data(), v.data(), B, H, Lq, Lk, E, E);
  }
  const double flops = 2.0 * B * H * Lq * Lk * (backward ? 5 * E : 2 * E);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9 * state.iterations(), benchmark::Counter::kIsRate);
}

// fp32 against bf16 products (kernels/cpu/attention_tokens_bf16.cpp, switched on for the benchmark in the mode
// `always`: in training it is opt-in, SSMTL_BF16_ATTENTION=1; scoring takes it by default) at the same shape, alternating inside each
// iteration so that both see the same machine load; manual time = the bf16 call. Counters: fp32_ms, bf16_ms and
// speedup = fp32 / bf16. backward:1 times the backward alone (each precision's own forward ran once before).
void BM_AttentionTokensPrecision(benchmark::State& state) {
  const bool backward = state.range(0) != 0;
  if (!kernels::cpu_has_bf16()) {
    state.SkipWithError("this CPU has no AVX512_BF16");
    return;
  }
  const int64_t B = 64, H = 12, Lq = 448, Lk = 112, E = 8;
  Rng rng(1);
  Tensor q = randn({B, Lq, H * E}, rng), k = randn({B, Lk, H * E}, rng), v = randn({B, Lk, H * E}, rng);
  Tensor g = randn({B, Lq, H * E}, rng);
  Tensor out[2] = {Tensor::zeros({B, Lq, H * E}), Tensor::zeros({B, Lq, H * E})};
  Tensor lse[2] = {Tensor::zeros({B, H, Lq}), Tensor::zeros({B, H, Lq})};
  Tensor dq = Tensor::zeros(q.shape()), dk = Tensor::zeros(k.shape()), dv = Tensor::zeros(v.shape());
  const kernels::MatmulPrecision precision[2] = {kernels::MatmulPrecision::fp32, kernels::MatmulPrecision::bf16};
  const kernels::Bf16Attention attention_before = kernels::bf16_attention();
  kernels::set_bf16_attention(kernels::Bf16Attention::always);   // training's opt-in (kernels/precision.h); restored below
  auto call = [&](int p, bool bwd) {
    kernels::MatmulPrecisionScope scope(precision[p]);
    const auto t0 = std::chrono::steady_clock::now();
    if (bwd)
      kernels::attention_tokens_backward_cpu(dq.data(), dk.data(), dv.data(), g.data(), q.data(), k.data(), v.data(),
                                             out[p].data(), lse[p].data(), true, true, true, B, H, Lq, Lk, E, E);
    else
      kernels::attention_tokens_forward_cpu(out[p].data(), lse[p].data(), q.data(), k.data(), v.data(), B, H, Lq, Lk,
                                            E, E);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  call(0, false), call(1, false);
  double total[2] = {0, 0};
  for (auto _ : state) {
    total[0] += call(0, backward);
    const double t = call(1, backward);
    total[1] += t;
    state.SetIterationTime(t);
  }
  kernels::set_bf16_attention(attention_before);
  const double n = static_cast<double>(state.iterations());
  state.counters["fp32_ms"] = total[0] / n * 1e3;
  state.counters["bf16_ms"] = total[1] / n * 1e3;
  state.counters["speedup"] = total[0] / total[1];
}

}  // namespace

BENCHMARK(BM_AttentionTokensPrecision)
    ->ArgName("backward")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime();
BENCHMARK(BM_AttentionTokens)
    ->ArgNames({"new", "backward"})
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_AttentionKernelForward)->Arg(8)->Arg(16)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AttentionKernelBackward)->Arg(8)->Arg(16)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AttentionForward)->Arg(8)->Arg(16)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AttentionForwardBackward)->Arg(8)->Arg(16)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();
