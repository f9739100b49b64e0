// Yolo-Fastest 1.1 detectors on Ped2 test frames (360x240): frames per second (items_per_second) of
// Detector::detect (wall clock), batches of 8 frames, and, as counters, the mean number of boxes per frame at confidence
// thresholds 0.25 and 0.5 over every 20th frame of the 12 Ped2 test videos (counted once, not timed).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "data/detect/detector.h"
#include "data/video/image.h"

namespace {

// The shared data folder: $SSMTL_SHARED_DIR, else <repo>/../shared found from this file's path.
const std::string kShared = [] {
  if (const char* env = std::getenv("SSMTL_SHARED_DIR")) return std::string(env);
  const std::string here = __FILE__;   // <repo>/bench/bench_detector.cpp
  return here.substr(0, here.rfind('/')) + "/../../shared";
}();

std::vector<ssmtl::Image> ped2_frames(int step) {
  std::vector<ssmtl::Image> frames;
  for (int v = 1; v <= 12; ++v) {
    for (int i = 0;; i += step) {
      char path[256];
      std::snprintf(path, sizeof path, "%s/data/ped2/testing/frames/%02d/%03d.jpg", kShared.c_str(), v, i);
      if (std::FILE* f = std::fopen(path, "rb")) {
        std::fclose(f);
        frames.push_back(ssmtl::load_image(path));
      } else {
        break;
      }
    }
  }
  return frames;
}

double boxes_per_frame(const ssmtl::Detector& det, const std::vector<ssmtl::Image>& frames) {
  size_t n = 0;
  for (const auto& boxes : det.detect(frames)) n += boxes.size();
  return static_cast<double>(n) / frames.size();
}

void BM_Detector(benchmark::State& state, const std::string& model) {
  const std::string dir = kShared + "/weights/yolo-fastest/";
  static const std::vector<ssmtl::Image> sample = ped2_frames(20);
  ssmtl::DetectorOptions opt;
  opt.batch_size = 8;
  ssmtl::Detector det(dir + model + ".cfg", dir + model + ".weights", opt);
  const std::vector<ssmtl::Image> batch(sample.begin(), sample.begin() + 8);
  for (auto _ : state) benchmark::DoNotOptimize(det.detect(batch));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch.size()));
  state.counters["boxes@0.25"] = boxes_per_frame(det, sample);
  opt.conf_threshold = 0.5f;
  state.counters["boxes@0.5"] = boxes_per_frame(ssmtl::Detector(dir + model + ".cfg", dir + model + ".weights", opt), sample);
  state.counters["frames"] = static_cast<double>(sample.size());
}

BENCHMARK_CAPTURE(BM_Detector, yolo_fastest_1_1, std::string("yolo-fastest-1.1"))->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Detector, yolo_fastest_1_1_xl, std::string("yolo-fastest-1.1-xl"))->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Detector, yolo_fastest_1_1_body, std::string("yolo-fastest-1.1_body"))->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
