// The paper-size 3D CNN's 3x3x3 convolutions (crop 64, 7 frames; stages 3 -> 16 at 64x64, 16 -> 32 at 32x32,
// 32 -> 32 at 16x16; batch 16 objects) in three product modes, run in turn in each iteration so that all see the
// same machine load: fp32, bf16 on AVX512_BF16, bf16 on AMX tiles (kernels/precision.h). Counters: GFLOP/s of
// the forward, the input gradient (dx) and the weight gradient (dw) of each mode, and the ratios amx / fp32 and
// amx / avx512 of the three together. The timed value is the AMX pass. Skips without AVX512_BF16; without AMX
// the AMX columns are those of AVX512_BF16 (the switch falls back).
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>
#include <vector>

#include "bench/aligned_buffers.h"
#include "kernels/conv3d.h"
#include "kernels/precision.h"
#include "tensor/rng.h"

using namespace ssmtl;

namespace {

using Clock = std::chrono::steady_clock;

struct Times {
  double fwd = 0, dx = 0, dw = 0;
};

Times run_once(const kernels::Conv3dGeometry& g, bench::Buffer& out, bench::Buffer& dx,
               bench::Buffer& dw, const bench::Buffer& x, const bench::Buffer& w,
               const bench::Buffer& dout) {
  Times t;
  auto t0 = Clock::now();
  kernels::conv3d_forward_cpu(out.data(), x.data(), w.data(), nullptr, g);
  auto t1 = Clock::now();
  kernels::conv3d_backward_cpu(dx.data(), nullptr, nullptr, dout.data(), x.data(), w.data(), true, g);
  auto t2 = Clock::now();
  kernels::conv3d_backward_cpu(nullptr, dw.data(), nullptr, dout.data(), x.data(), w.data(), true, g);
  auto t3 = Clock::now();
  t.fwd = std::chrono::duration<double>(t1 - t0).count();
  t.dx = std::chrono::duration<double>(t2 - t1).count();
  t.dw = std::chrono::duration<double>(t3 - t2).count();
  return t;
}

void BM_Conv3dAmx(benchmark::State& state) {
  if (!kernels::cpu_has_bf16()) {
    state.SkipWithError("this CPU has no AVX512_BF16");
    return;
  }
  const int64_t cin = state.range(0), cout = state.range(1), side = state.range(2), N = 16, D = 7;
  kernels::Conv3dGeometry g{N, cin, D, side, side, cout, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, D, side, side};
  Rng rng(3);
  auto uniform = [&](size_t n) {
    bench::Buffer v(n);
    for (float& f : v) f = rng.uniform(-1.f, 1.f);
    return v;
  };
  const int64_t in_n = N * cin * D * side * side, out_n = N * cout * D * side * side;
  const bench::Buffer x = uniform(in_n), w = uniform(cout * cin * 27), dout = uniform(out_n);
  bench::Buffer out(out_n), dx(in_n), dw(w.size());
  const double gflop = 2.0 * out_n * cin * 27 / 1e9;   // each of forward, dx, dw
  Times sum[3];
  const bool amx_before = kernels::amx_enabled();
  for (auto _ : state) {
    Times t[3];
    {
      kernels::MatmulPrecisionScope p(kernels::MatmulPrecision::fp32);
      t[0] = run_once(g, out, dx, dw, x, w, dout);
    }
    kernels::MatmulPrecisionScope p(kernels::MatmulPrecision::bf16);
    kernels::set_amx_enabled(false);
    t[1] = run_once(g, out, dx, dw, x, w, dout);
    kernels::set_amx_enabled(true);
    t[2] = run_once(g, out, dx, dw, x, w, dout);
    for (int m = 0; m < 3; ++m) sum[m].fwd += t[m].fwd, sum[m].dx += t[m].dx, sum[m].dw += t[m].dw;
    state.SetIterationTime(t[2].fwd + t[2].dx + t[2].dw);
  }
  kernels::set_amx_enabled(amx_before);
  const double it = static_cast<double>(state.iterations());
  const char* names[3] = {"fp32", "avx512", "amx"};
  for (int m = 0; m < 3; ++m) {
    state.counters[std::string(names[m]) + "_fwd_GFLOPs"] = gflop * it / sum[m].fwd;
    state.counters[std::string(names[m]) + "_dx_GFLOPs"] = gflop * it / sum[m].dx;
    state.counters[std::string(names[m]) + "_dw_GFLOPs"] = gflop * it / sum[m].dw;
  }
  auto total = [](const Times& t) { return t.fwd + t.dx + t.dw; };
  state.counters["amx_vs_fp32"] = total(sum[0]) / total(sum[2]);
  state.counters["amx_vs_avx512"] = total(sum[1]) / total(sum[2]);
}

}  // namespace

BENCHMARK(BM_Conv3dAmx)
    ->Args({3, 16, 64})
    ->Args({16, 32, 32})
    ->Args({32, 32, 16})
    ->ArgNames({"cin", "cout", "side"})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);
