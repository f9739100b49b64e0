// The channels-last depthwise conv3d kernels (kernels/conv3d.h conv3d_depthwise_cl_*) at the paper-size CvT's
// q/k/v projections: 128 sequences (T1 + T2 of a batch of 64) of 7x8x8 tokens of width 96, 3x3x3 kernel with
// padding 1, stride 1 (q) and (1, 2, 2) (k, v). Each pass (forward, dx, dw + dbias) is timed alternating with
// a dense conv3d reference in the same iteration (stage 3 of the backbone, 32 -> 32 channels at 7x16x16,
// forward), so both see the same machine load. Counters: the GFLOP/s of each (2 flops per multiply-add) and
// `conv3d_over_depthwise` = conv3d GFLOP/s / depthwise GFLOP/s (issue 11 asks <= 1.5 for compute-bound ops).
#include <benchmark/benchmark.h>

#include <chrono>
#include <vector>

#include "bench/aligned_buffers.h"
#include "kernels/conv3d.h"
#include "tensor/rng.h"

using namespace ssmtl;

namespace {

using Clock = std::chrono::steady_clock;

kernels::Conv3dGeometry geometry(int64_t N, int64_t C, int64_t D, int64_t H, int64_t W, int64_t Cout, int64_t groups,
                                 int64_t sHW) {
  kernels::Conv3dGeometry g{};
  g.N = N, g.Cin = C, g.D = D, g.H = H, g.W = W, g.Cout = Cout, g.kD = g.kH = g.kW = 3;
  g.sD = 1, g.sH = g.sW = sHW, g.pD = g.pH = g.pW = 1, g.groups = groups;
  g.Do = D, g.Ho = (H + 2 - 3) / sHW + 1, g.Wo = (W + 2 - 3) / sHW + 1;
  return g;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// range(0): stride in H and W (1 = q, 2 = k / v); range(1): 0 forward, 1 dx, 2 dw + dbias.
void BM_DepthwiseTokens(benchmark::State& state) {
  const int64_t s = state.range(0), pass = state.range(1);
  const kernels::Conv3dGeometry g = geometry(128, 96, 7, 8, 8, 96, 96, s);
  const kernels::Conv3dGeometry ref = geometry(4, 32, 7, 16, 16, 32, 1, 1);
  Rng rng(1);
  const bench::Buffer x = bench::aligned(randn({g.N * g.D * g.H * g.W * g.Cin}, rng).to_vector());
  const bench::Buffer w = bench::aligned(randn({g.Cin * 27}, rng, 0.f, 0.1f).to_vector());
  const bench::Buffer dout = bench::aligned(randn({g.N * g.Do * g.Ho * g.Wo * g.Cin}, rng).to_vector());
  bench::Buffer out(dout.size()), dx(x.size()), dw(w.size()), db(g.Cin);
  const bench::Buffer rx = bench::aligned(randn({ref.N * ref.Cin * ref.D * ref.H * ref.W}, rng).to_vector());
  const bench::Buffer rw = bench::aligned(randn({ref.Cout * ref.Cin * 27}, rng, 0.f, 0.1f).to_vector());
  bench::Buffer ry(static_cast<size_t>(ref.N * ref.Cout * ref.Do * ref.Ho * ref.Wo));
  auto depthwise = [&] {
    const auto t0 = Clock::now();
    if (pass == 0) kernels::conv3d_depthwise_cl_forward_cpu(out.data(), x.data(), w.data(), nullptr, g);
    const float *go = dout.data(), *xi = x.data(), *wi = w.data();
    if (pass == 1) kernels::conv3d_depthwise_cl_backward_cpu(dx.data(), nullptr, nullptr, go, xi, wi, true, g);
    if (pass == 2) kernels::conv3d_depthwise_cl_backward_cpu(nullptr, dw.data(), db.data(), go, xi, wi, true, g);
    benchmark::DoNotOptimize(dw.data());
    return seconds_since(t0);
  };
  auto dense = [&] {
    const auto t0 = Clock::now();
    kernels::conv3d_forward_cpu(ry.data(), rx.data(), rw.data(), nullptr, ref);
    benchmark::DoNotOptimize(ry.data());
    return seconds_since(t0);
  };
  depthwise();
  dense();
  double td = 0, tr = 0;
  for (auto _ : state) {
    const double t = depthwise();
    td += t;
    tr += dense();
    state.SetIterationTime(t);
  }
  const double it = static_cast<double>(state.iterations());
  const double flop = 2.0 * 27 * g.Cin * g.N * g.Do * g.Ho * g.Wo * it;
  const double rflop = 2.0 * 27 * ref.Cin * ref.Cout * ref.N * ref.Do * ref.Ho * ref.Wo * it;
  state.counters["depthwise_GFLOPs"] = flop / td * 1e-9;
  state.counters["conv3d_GFLOPs"] = rflop / tr * 1e-9;
  state.counters["conv3d_over_depthwise"] = (rflop / tr) / (flop / td);
  static const char* kPass[] = {"forward", "dx", "dw+dbias"};
  state.SetLabel(std::string(s == 1 ? "q (stride 1) " : "k/v (stride 1,2,2) ") + kPass[pass]);
}
BENCHMARK(BM_DepthwiseTokens)
    ->ArgsProduct({{1, 2}, {0, 1, 2}})
    ->ArgNames({"stride", "pass"})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);


// The backward as the autograd node calls it (dx and dw together, no bias: the CvT's projections have none) at
// each shape of the paper-size SSMTL++v1 step (9 calls of each per step: 3 blocks x q, k, v): 128 sequences of
// 7x8x8 tokens (T1 + T2), 64 of 6x8x8 and 64 of 1x8x8 (the other tasks' inputs), width 96, 3x3x3 kernel, padding
// 1, stride 1 (q) or (1, 2, 2) (k, v). range(2): add_dx (1: into the existing gradient; 0: written, the first
// projection's). Reference, alternating in the same iteration: one pass over the same memory (dx = dout + x
// over the first elements, read x and dout, write dx), the least traffic of the op; `over_memory` = time of the
// backward / time of that pass.
void BM_DepthwiseTokensBackward(benchmark::State& state) {
  const int64_t s = state.range(0), shape = state.range(1);
  const bool add_dx = state.range(2) != 0;
  const int64_t N = shape == 0 ? 128 : 64, D = shape == 0 ? 7 : shape == 1 ? 6 : 1;
  const kernels::Conv3dGeometry g = geometry(N, 96, D, 8, 8, 96, 96, s);
  Rng rng(2);
  const bench::Buffer x = bench::aligned(randn({g.N * g.D * g.H * g.W * g.Cin}, rng).to_vector());
  const bench::Buffer w = bench::aligned(randn({g.Cin * 27}, rng, 0.f, 0.1f).to_vector());
  const bench::Buffer dout = bench::aligned(randn({g.N * g.Do * g.Ho * g.Wo * g.Cin}, rng).to_vector());
  bench::Buffer dx(x.size()), dw(w.size()), mem(x.size());
  auto backward = [&] {
    const auto t0 = Clock::now();
    kernels::conv3d_depthwise_cl_backward_cpu(dx.data(), dw.data(), nullptr, dout.data(), x.data(), w.data(), add_dx,
                                              g);
    benchmark::DoNotOptimize(dw.data());
    return seconds_since(t0);
  };
  auto memory = [&] {
    const auto t0 = Clock::now();
    float* m = mem.data();
    const float *a = x.data(), *b = dout.data();
    const int64_t n = static_cast<int64_t>(x.size()), nb = static_cast<int64_t>(dout.size());
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) m[i] = i < nb ? a[i] + b[i] : a[i];
    benchmark::DoNotOptimize(mem.data());
    return seconds_since(t0);
  };
  backward();
  memory();
  double tb = 0, tm = 0;
  for (auto _ : state) {
    const double t = backward();
    tb += t;
    tm += memory();
    state.SetIterationTime(t);
  }
  const double it = static_cast<double>(state.iterations());
  const double flop = 2 * 2.0 * 27 * g.Cin * g.N * g.Do * g.Ho * g.Wo * it;   // dx and dw, as the profiler counts
  state.counters["GFLOPs"] = flop / tb * 1e-9;
  state.counters["memory_ms"] = tm / it * 1e3;
  state.counters["over_memory"] = tb / tm;
  static const char* kShape[] = {"128x7x8x8", "64x6x8x8", "64x1x8x8"};
  state.SetLabel(std::string(s == 1 ? "q " : "k/v ") + kShape[shape] + (add_dx ? " dx added" : " dx written"));
}
BENCHMARK(BM_DepthwiseTokensBackward)
    ->ArgsProduct({{1, 2}, {0, 1, 2}, {0, 1}})
    ->ArgNames({"stride", "shape", "add_dx"})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
