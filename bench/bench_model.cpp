// The whole training step and scoring step of the paper-size models (batch 64 objects, random data): objects/s,
// each next to references measured in the same run, between the timed iterations (so under the same machine
// load): the machine's fp32 FMA peak (tensor/profile.h) as `pct_peak` (the step's counted GFLOP x steps/s over
// the peak) and OpenBLAS sgemm (512^3 on all threads) as `obj_per_sgemm_GFLOP` (objects/s divided by sgemm
// GFLOP/s: a throughput comparable across runs on a busy machine, where both move together).
// Cases: ssmtl++v1 (with T5, as in epochs >= pseudo_start_epoch), ssmtl++v1 without its CvT, ssmtl++v2, ssmtl.
// bench/compare_profile.sh compares two builds (before / after a change) the same way.
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>
#include <vector>

#include "apps/model_step.h"
#include "bench/aligned_buffers.h"
#include "kernels/matmul.h"
#include "tensor/profile.h"

using namespace ssmtl;

namespace {

ModelConfig config_named(const std::string& name) {
  if (name == "ssmtl++v1-no-cvt") {
    ModelConfig c = ModelConfig::preset("ssmtl++v1");
    c.backbone.transformer = "none";
    return c;
  }
  return ModelConfig::preset(name);
}

double sgemm_gflops() {
  const int64_t n = 512;
  bench::Buffer a(n * n, 0.5f), b(n * n, 0.25f), c(n * n);
  kernels::gemm_cpu(c.data(), a.data(), b.data(), n, n, n, false, false, 1.f, 0.f, n, n, n);   // warm-up
  const int reps = 4;
  auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < reps; ++r)
    kernels::gemm_cpu(c.data(), a.data(), b.data(), n, n, n, false, false, 1.f, 0.f, n, n, n);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  benchmark::DoNotOptimize(c.data());
  return 2.0 * n * n * n * reps / s * 1e-9;
}

// Counted floating-point operations of one call of f (profiler on for that call only).
template <class F>
double counted_flops(F f) {
  prof::reset();
  prof::set_enabled(true);
  f();
  prof::set_enabled(false);
  double total = 0;
  for (const prof::Record& r : prof::records()) total += r.flops;
  prof::reset();
  return total;
}

// Means of the reference probes run after each timed iteration (timing paused).
struct References {
  double peak = 0, sgemm = 0;
  int n = 0;
  void sample(benchmark::State& state) {
    state.PauseTiming();
    peak += prof::measure_peak_gflops_fp32(0.05);
    sgemm += sgemm_gflops();
    ++n;
    state.ResumeTiming();
  }
};

void report(benchmark::State& state, int B, double step_flops, const References& ref) {
  const double peak = ref.peak / ref.n, sgemm = ref.sgemm / ref.n;
  state.counters["objects/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * B, benchmark::Counter::kIsRate);
  state.counters["step_GFLOP"] = step_flops * 1e-9;
  state.counters["peak_GFLOPs"] = peak;
  state.counters["sgemm_GFLOPs"] = sgemm;
  // rate counters are divided by the elapsed time after the run; these ratios need it now
  state.counters["pct_peak"] = benchmark::Counter(static_cast<double>(state.iterations()) * step_flops * 1e-9 / peak * 100,
                                                  benchmark::Counter::kIsRate);
  state.counters["obj_per_sgemm_GFLOP"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * B / sgemm, benchmark::Counter::kIsRate);
}

void train(benchmark::State& state, std::string name) {
  const int B = static_cast<int>(state.range(0));
  ModelConfig cfg = config_named(name);
  SSMTLModel model(cfg, 1);
  app::TrainStep step(model);
  const TaskBatch batch = random_batch(cfg, B, 2);
  const double flops = counted_flops([&] { step(batch); });   // also the warm-up
  References ref;
  for (auto _ : state) {
    benchmark::DoNotOptimize(step(batch));
    ref.sample(state);
  }
  report(state, B, flops, ref);
}

void score(benchmark::State& state, std::string name) {
  const int B = static_cast<int>(state.range(0));
  ModelConfig cfg = config_named(name);
  SSMTLModel model(cfg, 1);
  const app::ScoreInputs in = app::synthetic_score_inputs(cfg, B, 3);
  const double flops = counted_flops([&] { app::score_step(model, in); });
  References ref;
  for (auto _ : state) {
    app::score_step(model, in);
    ref.sample(state);
  }
  report(state, B, flops, ref);
}

const bool kRegistered = [] {
  for (const char* name : {"ssmtl++v1", "ssmtl++v1-no-cvt", "ssmtl++v2", "ssmtl"}) {
    benchmark::RegisterBenchmark((std::string("BM_TrainStep/") + name).c_str(), train, std::string(name))
        ->Arg(64)->ArgName("batch")->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark((std::string("BM_ScoreStep/") + name).c_str(), score, std::string(name))
        ->Arg(64)->ArgName("batch")->Iterations(5)->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  return true;
}();

}  // namespace
