// Memory-bound ops of the training step against what they replaced, alternating in one process so that both see
// the same machine load. Counters: ref_ms, ms, speedup = ref time / time, GB/s and %bw, the share of the memory
// bandwidth that the program measures (STREAM triad, tensor/profile.h) at its start. The Time column is reference +
// kernel unless a benchmark says its manual time is the kernel's alone.
// BM_GradZeroFill: the zero fill of a new gradient buffer (device_fill: streaming stores from 4 Mi floats) against
// std::fill over the same threads, at the size of a stage-1 activation of the paper-size backbone (64 x 16 x 7 x
// 64 x 64 floats, 117 MB); 4 bytes an element.
// BM_Gelu: GELU at the paper-size CvT's MLP width (configs/ssmtl++v1.txt: dim 96, hidden 4 x 96 = 384; 16384
// token rows, 6.3 M elements): the vector kernels (kernels/cpu/gelu_vec.h) against the formula they replaced (the
// exact erf form through vmath.h's general exp and erf in a `#pragma omp simd` loop). Bytes as the profiler
// counts them: forward 8 an element (x read, y written), backward 16 (x, dy read; dx read and written).
// BM_GeluInCache: the same forward on 4096 elements in the cache, one thread, as it runs fused after a product: the
// table polynomials (AVX-512) against the Abramowitz & Stegun vector form. Counters: ns/vector, ref_ns/vector (per 16
// elements on AVX-512), speedup.
// BM_MaxPool1x2x2/{values,argmax}: the backbone's (1,2,2) max pooling of a stage-1 activation (64 x 16 x 7 x 64 x 64
// floats) on 16-lane vectors against the scalar select loop it replaced (the same results, bit for bit); values
// only (scoring) or with the argmax (training). Bytes: 4 an input element read, 4 an output written (and 4 an
// argmax).
// BM_BatchNormBackwardRows: batch-norm backward on channels-last rows (the paper-size CvT's token rows: 28672 rows x
// 96 channels, batch statistics, dgamma and dbeta, dx written) against the STREAM triad dx = dy + 0.5 x over the same
// buffers, which moves the bytes the profiler counts (dy, x read, dx written: 12 an element) once; the kernel reads
// dy and x twice (sums, then dx: 20 bytes), so speedup = triad time / kernel time is ~0.6 at best from memory (more
// where the cache holds the buffers). Its manual time and bytes_per_second are the kernel's alone.
// BM_BatchNormStatsRows: the batch statistics of the same rows (x read: 4 bytes an element) against a plain sum of
// x, the same way.
// BM_LayerNorm/{forward,backward}: layer norm over the same rows (the CvT's LayerNorm: D = 96) against the
// STREAM-like loop that moves the bytes the profiler counts: forward y = 0.5 x (x read, y written: 8 an element),
// backward dx += dy + 0.5 x (dy, x read, dx read and written: 16; the kernel also writes dgamma, dbeta). speedup =
// reference time / kernel time: 1 is the kernel at the reference's bandwidth.
// BM_PermuteTokens/{to_tokens,to_volume}: the paper-size CvT's volume <-> token rows permutes (model/cvt.cpp: batch
// 64, 96 channels, 7 x 8 x 8 tokens; a batch of 96 x 448 transposes, in 16 x 16 tiles transposed in registers)
// against a plain copy of the same bytes over the same threads (x read, out written: 8 an element), each call on
// the next of 4 buffer pairs (from memory, as in a training step).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "bench/aligned_buffers.h"
#include "kernels/activation.h"
#include "kernels/norm.h"
#include "kernels/pool.h"
#include "kernels/shape.h"
#include "kernels/cpu/gelu_vec.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/vmath.h"
#include "tensor/device.h"
#include "tensor/profile.h"

using namespace ssmtl;

namespace {

double bandwidth_gbs() {
  static const double bw = prof::measure_bandwidth_gbs();
  return bw;
}

// Times once(true) (the reference) and once(false) (the kernel) alternately, each returning its seconds; sets the
// counters for `bytes` moved by one call.
// kernel_time: the iteration time is the kernel's alone and bytes_per_second is set (else the time is both's).
template <class F>
void alternate(benchmark::State& state, F once, double bytes, bool kernel_time = false) {
  const double bw = bandwidth_gbs();
  once(true);   // warm both (pages, caches)
  once(false);
  double t_ref = 0, t = 0;
  for (auto _ : state) {
    const double a = once(true), b = once(false);
    t_ref += a, t += b;
    state.SetIterationTime(kernel_time ? b : a + b);
  }
  const double it = static_cast<double>(state.iterations());
  if (kernel_time) state.SetBytesProcessed(static_cast<int64_t>(bytes * it));
  const double gbs = 1e-9 * bytes * it / t;
  state.counters["ref_ms"] = 1e3 * t_ref / it;
  state.counters["ms"] = 1e3 * t / it;
  state.counters["speedup"] = t_ref / t;
  state.counters["GB/s"] = gbs;
  state.counters["%bw"] = 100.0 * gbs / bw;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void BM_GradZeroFill(benchmark::State& state) {
  const int64_t n = int64_t{64} * 16 * 7 * 64 * 64;
  float* p = device_alloc(static_cast<size_t>(n), Device::CPU);
  alternate(
      state,
      [&](bool reference) {
        const auto t0 = std::chrono::steady_clock::now();
        if (reference) {
#pragma omp parallel for schedule(static)
          for (int64_t i = 0; i < n; i += 4096) std::fill(p + i, p + std::min<int64_t>(n, i + 4096), 0.f);
        } else {
          device_fill(p, 0.f, static_cast<size_t>(n), Device::CPU);
        }
        benchmark::DoNotOptimize(p);
        return seconds_since(t0);
      },
      static_cast<double>(n) * 4.0);
  device_free(p, static_cast<size_t>(n), Device::CPU);
}

constexpr int64_t kRows = 16384, kCols = 384, kN = kRows * kCols;

void reference_gelu_forward(float* y, const float* x, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.f + kernels::erf_approx(x[i] * 0.70710678118654752f));
}

void reference_gelu_backward(float* dx, const float* dy, const float* x, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float cdf = 0.5f * (1.f + kernels::erf_approx(x[i] * 0.70710678118654752f));
    const float pdf = 0.39894228040143268f * kernels::exp_approx(-0.5f * x[i] * x[i]);
    dx[i] += dy[i] * (cdf + x[i] * pdf);
  }
}

void BM_Gelu(benchmark::State& state, bool backward) {
  bench::Buffer x(kN), dy(kN), out(kN, 0.f);
  for (int64_t i = 0; i < kN; ++i) {   // pre-activations of a trained MLP lie mostly in [-4, 4]
    x[static_cast<size_t>(i)] = static_cast<float>((i * 7919) % 8001) / 1000.f - 4.f;
    dy[static_cast<size_t>(i)] = static_cast<float>((i * 104729) % 1001) / 1000.f - 0.5f;
  }
  alternate(
      state,
      [&](bool reference) {
        const auto t0 = std::chrono::steady_clock::now();
        if (backward)
          reference ? reference_gelu_backward(out.data(), dy.data(), x.data(), kN)
                    : kernels::gelu_backward_cpu(out.data(), dy.data(), x.data(), true, kN);
        else
          reference ? reference_gelu_forward(out.data(), x.data(), kN)
                    : kernels::gelu_forward_cpu(out.data(), x.data(), kN);
        benchmark::DoNotOptimize(out.data());
        return seconds_since(t0);
      },
      static_cast<double>(kN) * (backward ? 16.0 : 8.0));
}

// GELU where it runs in the step: fused after a product (linear_gelu_forward, the MLP block) on rows still in the
// cache, one thread, so it is compute-bound. 4096 elements (16 KB in, 16 KB out), 256 passes a call: the kernels'
// loop (detail::gelu_rows: the table polynomials on AVX-512) against the Abramowitz & Stegun vector form it
// replaced there (gelu_vec::gelu_as). ns/vector: nanoseconds per 16 (or VL) elements.
void BM_GeluInCache(benchmark::State& state) {
  namespace simd = kernels::simd;
  namespace gelu_vec = kernels::gelu_vec;
  constexpr int64_t VL = simd::VL, n = 4096, passes = 256;
  bench::Buffer x(n), y(n, 0.f);
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<float>((i * 7919) % 8001) / 1000.f - 4.f;
  double t_ref = 0, t = 0;
  auto run = [&](bool reference) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t r = 0; r < passes; ++r) {
      if (reference)
        for (int64_t i = 0; i < n; i += VL) simd::storeu(y.data() + i, gelu_vec::gelu_as(simd::loadu(x.data() + i)));
      else
        kernels::detail::gelu_rows(y.data(), x.data(), n);
      benchmark::ClobberMemory();
    }
    return seconds_since(t0);
  };
  run(true), run(false);
  for (auto _ : state) {
    const double a = run(true), b = run(false);
    t_ref += a, t += b;
    state.SetIterationTime(a + b);
  }
  const double vectors = static_cast<double>(state.iterations()) * passes * n / VL;
  state.counters["ref_ns/vector"] = 1e9 * t_ref / vectors;
  state.counters["ns/vector"] = 1e9 * t / vectors;
  state.counters["speedup"] = t_ref / t;
}

// The scalar loop of kernels/cpu/pool.cpp before its vector path: torch's scan order with selects.
template <bool kIndex>
void reference_max_pool_1x2x2(float* out, int32_t* argmax, const float* x, int64_t planes, int64_t D, int64_t H,
                              int64_t W) {
  const int64_t oH = H / 2, oW = W / 2, in_plane = D * H * W, out_plane = D * oH * oW;
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t r = 0; r < D * oH; ++r) {
      const int64_t row0 = (r / oH * H + 2 * (r % oH)) * W;
      const float* x0 = x + p * in_plane + row0;
      const float* x1 = x0 + W;
      float* o = out + p * out_plane + r * oW;
      for (int64_t j = 0; j < oW; ++j) {
        const float v[4] = {x0[2 * j], x0[2 * j + 1], x1[2 * j], x1[2 * j + 1]};
        float m = v[0];
        int32_t best = 0;
        for (int k = 1; k < 4; ++k) {
          const bool b = v[k] > m || v[k] != v[k];
          m = b ? v[k] : m;
          best = b ? k : best;
        }
        o[j] = m;
        if (kIndex) argmax[p * out_plane + r * oW + j] = static_cast<int32_t>(row0 + 2 * j + (best & 1) + (best >> 1) * W);
      }
    }
}

void BM_MaxPool1x2x2(benchmark::State& state, bool with_argmax) {
  const int64_t planes = 64 * 16, D = 7, H = 64, W = 64, n = planes * D * H * W, on = n / 4;
  bench::Buffer x(static_cast<size_t>(n)), out(static_cast<size_t>(on));
  std::vector<int32_t> idx(static_cast<size_t>(on));
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<float>((i * 7919) % 1001) / 100.f - 5.f;
  const kernels::PoolGeometry g{planes, D, H, W, D, H / 2, W / 2, 1, 2, 2, 1, 2, 2, 0, 0, 0};
  alternate(
      state,
      [&](bool reference) {
        const auto t0 = std::chrono::steady_clock::now();
        int32_t* a = with_argmax ? idx.data() : nullptr;
        if (reference)
          with_argmax ? reference_max_pool_1x2x2<true>(out.data(), a, x.data(), planes, D, H, W)
                      : reference_max_pool_1x2x2<false>(out.data(), a, x.data(), planes, D, H, W);
        else
          kernels::max_pool3d_forward_cpu(out.data(), a, x.data(), g);
        benchmark::DoNotOptimize(out.data());
        return seconds_since(t0);
      },
      static_cast<double>(n) * 4.0 + static_cast<double>(on) * (with_argmax ? 8.0 : 4.0));
}

void BM_BatchNormBackwardRows(benchmark::State& state) {
  const int64_t N = 28672, C = 96, n = N * C;
  bench::Buffer x(static_cast<size_t>(n)), dy(x.size()), dx(x.size()), gamma(static_cast<size_t>(C));
  bench::Buffer mean(gamma.size()), var(gamma.size()), invstd(gamma.size()), dg(gamma.size()), db(gamma.size());
  for (int64_t i = 0; i < n; ++i) {
    x[static_cast<size_t>(i)] = static_cast<float>((i * 7919) % 8001) / 1000.f - 4.f;
    dy[static_cast<size_t>(i)] = static_cast<float>((i * 104729) % 1001) / 1000.f - 0.5f;
  }
  for (int64_t c = 0; c < C; ++c) gamma[static_cast<size_t>(c)] = 0.5f + static_cast<float>(c) / C;
  kernels::batch_norm_stats_cpu(mean.data(), var.data(), x.data(), N, C, 1);
  kernels::batch_norm_invstd_cpu(invstd.data(), var.data(), 1e-5f, C);
  alternate(
      state,
      [&](bool reference) {
        const auto t0 = std::chrono::steady_clock::now();
        if (reference) {
          float* o = dx.data();
          const float *a = dy.data(), *b = x.data();
#pragma omp parallel for schedule(static)
          for (int64_t i = 0; i < n; ++i) o[i] = a[i] + 0.5f * b[i];
        } else {
          kernels::batch_norm_backward_cpu(dx.data(), dg.data(), db.data(), dy.data(), x.data(), mean.data(),
                                           invstd.data(), gamma.data(), true, false, N, C, 1);
        }
        benchmark::DoNotOptimize(dx.data());
        return seconds_since(t0);
      },
      static_cast<double>(n) * 12.0, true);
}

void BM_BatchNormStatsRows(benchmark::State& state) {
  const int64_t N = 28672, C = 96, n = N * C;
  bench::Buffer x(static_cast<size_t>(n)), mean(static_cast<size_t>(C)), var(mean.size());
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<float>((i * 7919) % 8001) / 1000.f - 4.f;
  alternate(
      state,
      [&](bool reference) {
        const auto t0 = std::chrono::steady_clock::now();
        if (reference) {
          const float* p = x.data();
          float s = 0.f;
#pragma omp parallel for simd schedule(static) reduction(+ : s)
          for (int64_t i = 0; i < n; ++i) s += p[i];
          benchmark::DoNotOptimize(s);
        } else {
          kernels::batch_norm_stats_cpu(mean.data(), var.data(), x.data(), N, C, 1);
          benchmark::DoNotOptimize(mean.data());
        }
        return seconds_since(t0);
      },
      static_cast<double>(n) * 4.0, true);
}

void BM_PermuteTokens(benchmark::State& state, bool to_tokens) {
  const int64_t N = 64, C = 96, L = 7 * 8 * 8, n = N * C * L;
  // 4 pairs of buffers in turn (88 MB): each call reads and writes memory, not the last level cache, as in a step.
  constexpr int kPairs = 4;
  bench::Buffer xs(static_cast<size_t>(kPairs * n)), outs(xs.size());
  for (int64_t i = 0; i < kPairs * n; ++i) xs[static_cast<size_t>(i)] = static_cast<float>(i % 1009);
  int turn = 0;
  const int64_t volume[5] = {N, C, 7, 8, 8}, tokens[5] = {N, 7, 8, 8, C};
  const int to_tokens_perm[5] = {0, 2, 3, 4, 1}, to_volume_perm[5] = {0, 4, 1, 2, 3};
  alternate(
      state,
      [&](bool reference) {
        const float* x = xs.data() + turn * n;
        float* out = outs.data() + turn * n;
        turn = (turn + 1) % kPairs;
        const auto t0 = std::chrono::steady_clock::now();
        if (reference) {
#pragma omp parallel for schedule(static)
          for (int64_t i = 0; i < n; i += 4096) std::copy(x + i, x + std::min(n, i + 4096), out + i);
        } else {
          kernels::permute_forward_cpu(out, x, to_tokens ? volume : tokens, to_tokens ? to_tokens_perm : to_volume_perm,
                                       5);
        }
        benchmark::DoNotOptimize(out);
        return seconds_since(t0);
      },
      static_cast<double>(n) * 8.0, true);
}

void BM_LayerNorm(benchmark::State& state, bool backward) {
  const int64_t rows = 28672, D = 96, n = rows * D;
  bench::Buffer x(static_cast<size_t>(n)), dy(x.size()), y(x.size()), gamma(static_cast<size_t>(D));
  bench::Buffer beta(gamma.size(), 0.25f), dg(gamma.size()), db(gamma.size());
  bench::Buffer mean(static_cast<size_t>(rows)), invstd(mean.size());
  for (int64_t i = 0; i < n; ++i) {
    x[static_cast<size_t>(i)] = static_cast<float>((i * 7919) % 8001) / 1000.f - 4.f;
    dy[static_cast<size_t>(i)] = static_cast<float>((i * 104729) % 1001) / 1000.f - 0.5f;
  }
  for (int64_t d = 0; d < D; ++d) gamma[static_cast<size_t>(d)] = 0.5f + static_cast<float>(d) / D;
  kernels::layer_norm_forward_cpu(y.data(), mean.data(), invstd.data(), x.data(), gamma.data(), beta.data(), 1e-5f,
                                  rows, D);
  alternate(
      state,
      [&](bool reference) {
        const auto t0 = std::chrono::steady_clock::now();
        float* o = y.data();
        const float *a = dy.data(), *b = x.data();
        if (reference && backward) {
#pragma omp parallel for schedule(static)
          for (int64_t i = 0; i < n; ++i) o[i] += a[i] + 0.5f * b[i];
        } else if (reference) {
#pragma omp parallel for schedule(static)
          for (int64_t i = 0; i < n; ++i) o[i] = 0.5f * b[i];
        } else if (backward) {   // dx (in y's buffer) added into, as the autograd node does
          kernels::layer_norm_backward_cpu(o, dg.data(), db.data(), a, b, mean.data(), invstd.data(), gamma.data(),
                                           true, rows, D);
        } else {
          kernels::layer_norm_forward_cpu(o, mean.data(), invstd.data(), b, gamma.data(), beta.data(), 1e-5f, rows,
                                          D);
        }
        benchmark::DoNotOptimize(o);
        return seconds_since(t0);
      },
      static_cast<double>(n) * (backward ? 16.0 : 8.0), true);
}

BENCHMARK(BM_GradZeroFill)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK_CAPTURE(BM_Gelu, forward, false)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK_CAPTURE(BM_Gelu, backward, true)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_GeluInCache)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK_CAPTURE(BM_MaxPool1x2x2, values, false)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK_CAPTURE(BM_MaxPool1x2x2, argmax, true)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_BatchNormBackwardRows)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_BatchNormStatsRows)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK_CAPTURE(BM_PermuteTokens, to_tokens, true)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK_CAPTURE(BM_PermuteTokens, to_volume, false)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);

}  // namespace
BENCHMARK_CAPTURE(BM_LayerNorm, forward, false)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK_CAPTURE(BM_LayerNorm, backward, true)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
