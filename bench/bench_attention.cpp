// Scaled dot-product attention at the 3D CvT shape of SSMTL++: batch 64, 12 heads, 7x8x8 = 448 query
// tokens, keys/values strided by 2 in space (7x4x4 = 112 tokens); head width E as the argument.
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>

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
      backward_fn(dq.data(), dk.data(), dv.data(), g.data(), q.data(), k.data(), v.data(), out.data(), lse.data(), B,
                  H, Lq, Lk, E, E);
    else
      forward(out.data(), lse.data(), q.data(), k.data(), v.data(), B, H, Lq, Lk, E, E);
  }
  const double flops = 2.0 * B * H * Lq * Lk * (backward ? 5 * E : 2 * E);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9 * state.iterations(), benchmark::Counter::kIsRate);
}

// The AMX kernels (the bf16 path, kernels/cpu/attention_tokens_amx.cpp) against the AVX-512 ones (float32)
// at the paper's CvT shape, alternating in each iteration: forward, then backward, of each. Counters:
// <path>_<part>_GFLOPs (the profiler's flop counts) and amx_over_avx512_<part> (> 1: AMX faster). The timed
// value is the AMX pair.
void BM_AttentionTokensAmx(benchmark::State& state) {
  if (!kernels::cpu_has_amx_bf16()) {
    state.SkipWithError("this CPU (or OS) has no AMX-BF16 tiles");
    return;
  }
  const int64_t B = 64, H = 12, Lq = 448, Lk = 112, E = 8;
  Rng rng(1);
  Tensor q = randn({B, Lq, H * E}, rng), k = randn({B, Lk, H * E}, rng), v = randn({B, Lk, H * E}, rng);
  Tensor g = randn({B, Lq, H * E}, rng);
  Tensor out = Tensor::zeros({B, Lq, H * E}), lse = Tensor::zeros({B, H, Lq});
  Tensor dq = Tensor::zeros(q.shape()), dk = Tensor::zeros(k.shape()), dv = Tensor::zeros(v.shape());
  kernels::MatmulPrecisionScope bf16(kernels::MatmulPrecision::bf16);
  double t[2][2] = {};   // [avx512, amx][forward, backward]
  auto seconds = [](auto&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  auto pass = [&](bool amx) {
    double* r = t[amx ? 1 : 0];
    r[0] += seconds([&] {
      (amx ? kernels::attention_tokens_forward_amx : kernels::attention_tokens_forward_avx512)(
          out.data(), lse.data(), q.data(), k.data(), v.data(), B, H, Lq, Lk, E, E);
    });
    const double b = seconds([&] {
      (amx ? kernels::attention_tokens_backward_amx : kernels::attention_tokens_backward_avx512)(
          dq.data(), dk.data(), dv.data(), g.data(), q.data(), k.data(), v.data(), out.data(), lse.data(), B, H,
          Lq, Lk, E, E);
    });
    r[1] += b;
  };
  pass(false);
  pass(true);
  t[0][0] = t[0][1] = t[1][0] = t[1][1] = 0;
  for (auto _ : state) {
    pass(false);
    const double before = t[1][0] + t[1][1];
    pass(true);
    state.SetIterationTime(t[1][0] + t[1][1] - before);
  }
  const double n = static_cast<double>(state.iterations());
  const double flops[2] = {2.0 * B * H * Lq * Lk * 2 * E, 2.0 * B * H * Lq * Lk * 5 * E};
  const char* part[2] = {"fwd", "bwd"};
  for (int i = 0; i < 2; ++i) {
    state.counters[std::string("avx512_") + part[i] + "_GFLOPs"] = flops[i] * n / t[0][i] * 1e-9;
    state.counters[std::string("amx_") + part[i] + "_GFLOPs"] = flops[i] * n / t[1][i] * 1e-9;
    state.counters[std::string("amx_over_avx512_") + part[i]] = t[0][i] / t[1][i];
  }
}

}  // namespace

BENCHMARK(BM_AttentionTokensAmx)->Unit(benchmark::kMillisecond)->UseManualTime();

BENCHMARK(BM_AttentionTokens)
    ->ArgNames({"new", "backward"})
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_AttentionKernelForward)->Arg(8)->Arg(16)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AttentionKernelBackward)->Arg(8)->Arg(16)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AttentionForward)->Arg(8)->Arg(16)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AttentionForwardBackward)->Arg(8)->Arg(16)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();
