// bf16 against fp32 products (kernels/precision.h) on the paper-size CvT's linear layers (dim 96, MLP 384;
// rows = token rows of a batch of 64 objects): each iteration runs the layer's forward and backward once in
// fp32 and once in bf16 (on AMX tiles where the CPU has them, unless SSMTL_AMX=0), alternating, so both see
// the same machine load; counters: the GFLOP/s of each (also of the forward, dx and dw + dbias apart:
// <precision>_<part>_GFLOPs) and `speedup` = fp32 time / bf16 time. The timed value is the bf16 pass.
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>
#include <vector>

#include "bench/aligned_buffers.h"
#include "kernels/activation.h"
#include "kernels/matmul.h"
#include "kernels/precision.h"
#include "tensor/rng.h"

using namespace ssmtl;

namespace {

using Clock = std::chrono::steady_clock;

// An in -> out linear layer on M rows with random data, and one timed training pass over it: forward, dx, then
// dw (with the bias gradient when `dbias`), each part's seconds added to parts[0..2]; returns the pass's seconds.
struct LinearLayerData {
  int64_t M, in, out;
  bench::Buffer x, w, b, dy, y, dx, dw, db;
  LinearLayerData(int64_t M_, int64_t in_, int64_t out_) : M(M_), in(in_), out(out_) {
    Rng rng(1);
    x = bench::aligned(randn({M, in}, rng).to_vector()), w = bench::aligned(randn({out, in}, rng).to_vector());
    b = bench::aligned(randn({out}, rng).to_vector()), dy = bench::aligned(randn({M, out}, rng).to_vector());
    y.resize(M * out), dx.resize(M * in), dw.resize(out * in), db.resize(out);
  }
  double pass(double parts[3], bool dbias) {
    const auto t0 = Clock::now();
    kernels::linear_forward_cpu(y.data(), x.data(), w.data(), b.data(), M, in, out);
    const auto t1 = Clock::now();
    kernels::linear_backward_cpu(dx.data(), nullptr, nullptr, dy.data(), x.data(), w.data(), true, M, in, out);
    const auto t2 = Clock::now();
    kernels::linear_backward_cpu(nullptr, dw.data(), dbias ? db.data() : nullptr, dy.data(), x.data(), w.data(), true,
                                 M, in, out);
    const auto t3 = Clock::now();
    benchmark::DoNotOptimize(dw.data());
    parts[0] += std::chrono::duration<double>(t1 - t0).count();
    parts[1] += std::chrono::duration<double>(t2 - t1).count();
    parts[2] += std::chrono::duration<double>(t3 - t2).count();
    return std::chrono::duration<double>(t3 - t0).count();
  }
};

// in -> out linear layer on M rows: forward, then dx and dw (bias too), as in a training step.
void BM_LinearPrecision(benchmark::State& state) {
  if (!kernels::cpu_has_bf16()) {
    state.SkipWithError("this CPU has no AVX512_BF16");
    return;
  }
  const int64_t M = state.range(0), in = state.range(1), out = state.range(2);
  LinearLayerData layer(M, in, out);
  double parts32[3] = {}, parts16[3] = {};   // forward, dx, dw + dbias
  auto pass = [&](kernels::MatmulPrecision p) {
    kernels::MatmulPrecisionScope scope(p);
    return layer.pass(p == kernels::MatmulPrecision::bf16 ? parts16 : parts32, true);
  };
  pass(kernels::MatmulPrecision::fp32);
  pass(kernels::MatmulPrecision::bf16);
  for (int i = 0; i < 3; ++i) parts32[i] = parts16[i] = 0;
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
  const char* names[3] = {"fwd", "dx", "dw"};
  for (int i = 0; i < 3; ++i) {   // each part is one third of the flops
    state.counters[std::string("bf16_") + names[i] + "_GFLOPs"] = flop / 3 / parts16[i] * 1e-9;
    state.counters[std::string("fp32_") + names[i] + "_GFLOPs"] = flop / 3 / parts32[i] * 1e-9;
  }
}
BENCHMARK(BM_LinearPrecision)
    ->Args({16384, 96, 96})
    ->Args({16384, 96, 384})
    ->Args({16384, 384, 96})
    ->ArgNames({"rows", "in", "out"})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// The same layers with bf16 on AVX512_BF16 (SSMTL_AMX=0's path) and on AMX tiles, against fp32: each iteration
// runs the forward, dx and dw (without the bias gradient, which is no product) once per mode (fp32, avx512, amx),
// in turn. Counters: <mode>_<part>_GFLOPs and the ratios amx_over_avx512_<part>, amx_over_fp32_<part> (> 1: AMX
// faster). The timed value is the AMX pass.
void BM_LinearAmx(benchmark::State& state) {
  if (!kernels::cpu_has_amx_bf16()) {
    state.SkipWithError("this CPU (or OS) has no AMX-BF16 tiles");
    return;
  }
  const int64_t M = state.range(0), in = state.range(1), out = state.range(2);
  LinearLayerData layer(M, in, out);
  const bool amx_before = kernels::amx_enabled();
  double parts[3][3] = {};   // [mode: fp32, avx512, amx][forward, dx, dw]
  auto pass = [&](int mode) {
    kernels::MatmulPrecisionScope scope(mode == 0 ? kernels::MatmulPrecision::fp32 : kernels::MatmulPrecision::bf16);
    kernels::set_amx_enabled(mode == 2);
    return layer.pass(parts[mode], false);
  };
  for (int mode = 0; mode < 3; ++mode) pass(mode);   // warm-up: page in the buffers
  for (auto& p : parts) p[0] = p[1] = p[2] = 0;
  for (auto _ : state) {
    pass(0);
    pass(1);
    state.SetIterationTime(pass(2));
  }
  kernels::set_amx_enabled(amx_before);
  const double flop = 2.0 * M * in * out * static_cast<double>(state.iterations());   // of each part
  const char* modes[3] = {"fp32", "avx512", "amx"};
  const char* names[3] = {"fwd", "dx", "dw"};
  for (int i = 0; i < 3; ++i) {
    for (int mode = 0; mode < 3; ++mode)
      state.counters[std::string(modes[mode]) + "_" + names[i] + "_GFLOPs"] = flop / parts[mode][i] * 1e-9;
    state.counters[std::string("amx_over_avx512_") + names[i]] = parts[1][i] / parts[2][i];
    state.counters[std::string("amx_over_fp32_") + names[i]] = parts[0][i] / parts[2][i];
  }
}
BENCHMARK(BM_LinearAmx)
    ->Args({16384, 96, 96})
    ->Args({16384, 96, 384})
    ->Args({16384, 384, 96})
    ->ArgNames({"rows", "in", "out"})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// The CvT's MLP input layer with its GELU: linear_gelu_forward_cpu (GELU applied to each block of output rows
// while in cache) against linear_forward_cpu then gelu_forward_cpu, alternating in one process; range(1) = 1
// for bf16 products. Counters: unfused_ms, fused_ms, speedup = unfused / fused. The timed value is the fused call.
void BM_LinearGelu(benchmark::State& state) {
  const int64_t M = state.range(0), in = 96, out = 384;
  const bool bf16 = state.range(1) != 0;
  if (bf16 && !kernels::cpu_has_bf16()) {
    state.SkipWithError("this CPU has no AVX512_BF16");
    return;
  }
  kernels::MatmulPrecisionScope scope(bf16 ? kernels::MatmulPrecision::bf16 : kernels::MatmulPrecision::fp32);
  Rng rng(2);
  const bench::Buffer x = bench::aligned(randn({M, in}, rng).to_vector());
  const bench::Buffer w = bench::aligned(randn({out, in}, rng).to_vector());
  const bench::Buffer b = bench::aligned(randn({out}, rng).to_vector());
  bench::Buffer y(M * out), z(M * out);
  auto seconds = [](auto&& f) {
    const auto t0 = Clock::now();
    f();
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  auto fused = [&] { kernels::linear_gelu_forward_cpu(y.data(), z.data(), x.data(), w.data(), b.data(), M, in, out); };
  auto unfused = [&] {
    kernels::linear_forward_cpu(z.data(), x.data(), w.data(), b.data(), M, in, out);
    kernels::gelu_forward_cpu(y.data(), z.data(), M * out);
  };
  fused();
  unfused();
  double tf = 0, tu = 0;
  for (auto _ : state) {
    tu += seconds(unfused);
    const double s = seconds(fused);
    tf += s;
    state.SetIterationTime(s);
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["unfused_ms"] = tu / n * 1e3;
  state.counters["fused_ms"] = tf / n * 1e3;
  state.counters["speedup"] = tu / tf;
}
BENCHMARK(BM_LinearGelu)
    ->Args({16384, 0})
    ->Args({16384, 1})
    ->Args({57344, 1})
    ->ArgNames({"rows", "bf16"})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
