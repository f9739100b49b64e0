// Speed of dense_flow (data/detect/flow.h) per frame pair, and the driver that bench/compare_flow.py calls.
//
// Without settings: BM_dense_flow/<W>/<H> on a smooth random texture shifted by (1.5, 0.7) pixels, at
// the Ped2 (360x240) and Avenue (640x360) frame sizes. Run on one core with OMP_NUM_THREADS=1.
//
// With SSMTL_FLOW_PAIRS=<dir>: one benchmark per <dir>/<name>.pair file, which holds int32 H, int32 W,
// then prev and next as float32 (H, W) each; the computed flow is written to <dir>/<name>.flow as
// float32 (2, H, W) (dx plane, then dy plane).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/detect/flow.h"
#include "tensor/rng.h"

namespace {

// Smooth random texture in [0, 255] sampled at (x - sx, y - sy): a sum of random plane waves, so a
// sub-pixel shift is exact (no interpolation).
std::vector<float> texture(int H, int W, float sx, float sy) {
  ssmtl::Rng rng(7);
  struct Wave { float kx, ky, phase, amp; };
  std::vector<Wave> waves;
  for (int i = 0; i < 40; ++i)
    waves.push_back({rng.uniform(-0.6f, 0.6f), rng.uniform(-0.6f, 0.6f), rng.uniform(0.f, 6.28f), rng.uniform(2.f, 6.f)});
  std::vector<float> img(size_t(H) * W);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      float v = 128.f;
      for (const Wave& w : waves) v += w.amp * std::sin(w.kx * (x - sx) + w.ky * (y - sy) + w.phase);
      img[size_t(y) * W + x] = v;
    }
  return img;
}

void BM_dense_flow(benchmark::State& state) {
  const int W = int(state.range(0)), H = int(state.range(1));
  const std::vector<float> a = texture(H, W, 0.f, 0.f), b = texture(H, W, 1.5f, 0.7f);
  std::vector<float> flow(2 * size_t(H) * W);
  for (auto _ : state) {
    ssmtl::dense_flow(flow.data(), a.data(), b.data(), H, W);
    benchmark::DoNotOptimize(flow.data());
  }
  state.SetItemsProcessed(state.iterations());  // frame pairs
}
BENCHMARK(BM_dense_flow)->Args({360, 240})->Args({640, 360})->Unit(benchmark::kMillisecond);

// One frame pair from a .pair file; writes the flow next to it before timing.
void run_pair(benchmark::State& state, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  int32_t hw[2] = {0, 0};
  in.read(reinterpret_cast<char*>(hw), sizeof hw);
  if (!in || hw[0] < 1 || hw[1] < 1) throw std::runtime_error("bench_flow: bad pair header in " + path);
  const int H = hw[0], W = hw[1];
  std::vector<float> a(size_t(H) * W), b(size_t(H) * W), flow(2 * size_t(H) * W);
  in.read(reinterpret_cast<char*>(a.data()), std::streamsize(a.size() * sizeof(float)));
  in.read(reinterpret_cast<char*>(b.data()), std::streamsize(b.size() * sizeof(float)));
  if (!in) throw std::runtime_error("bench_flow: " + path + " is shorter than its " + std::to_string(H) + "x" +
                                    std::to_string(W) + " header says");
  ssmtl::dense_flow(flow.data(), a.data(), b.data(), H, W);
  const std::string out_path = path.substr(0, path.size() - 5) + ".flow";
  std::ofstream out(out_path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(flow.data()), std::streamsize(flow.size() * sizeof(float)));
  if (!out) throw std::runtime_error("bench_flow: cannot write " + out_path);
  for (auto _ : state) {
    ssmtl::dense_flow(flow.data(), a.data(), b.data(), H, W);
    benchmark::DoNotOptimize(flow.data());
  }
}

int register_pairs() {
  const char* dir = std::getenv("SSMTL_FLOW_PAIRS");
  if (!dir) return 0;
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".pair") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  for (const std::string& f : files)
    benchmark::RegisterBenchmark(("pair/" + std::filesystem::path(f).stem().string()).c_str(),
                                 [f](benchmark::State& s) { run_pair(s, f); })
        ->Unit(benchmark::kMillisecond);
  return int(files.size());
}
const int registered_pairs = register_pairs();

}  // namespace
