// The Yolo-Fastest detector network on the GPU (DetectorOptions::device, `ssmtl detect --device cuda`)
// against the CPU: raw head outputs of the three Yolo-Fastest 1.1 models on the same noise frames, and
// the decoded boxes. Skipped without a GPU or without ../shared/weights/yolo-fastest.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "data/detect/detector.h"
#include "tensor/device.h"
#include "tensor/rng.h"
#include "tests/cuda_compare.h"

using namespace ssmtl;

TEST_CASE("cuda detector network matches the CPU on the three Yolo-Fastest models") {
  if (!cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  const std::string dir = std::string(SSMTL_SHARED_DIR) + "/weights/yolo-fastest/";
  if (!std::filesystem::is_directory(dir)) { MESSAGE("no " << dir << ": skipped"); return; }
  std::vector<Image> frames;
  Rng rng(3);
  for (int k = 0; k < 3; ++k) {   // Ped2-sized noise frames with a bright block (something to detect)
    Image f;
    f.width = 360, f.height = 240;
    f.rgb.resize(static_cast<size_t>(f.width) * f.height * 3);
    for (auto& px : f.rgb) px = static_cast<uint8_t>(rng.next_u64() % 256);
    for (int y = 60; y < 180; ++y)
      for (int x = 100 + 20 * k; x < 160 + 20 * k; ++x)
        for (int c = 0; c < 3; ++c) f.rgb[(static_cast<size_t>(y) * f.width + x) * 3 + c] = 230;
    frames.push_back(f);
  }
  for (const char* model : {"yolo-fastest-1.1", "yolo-fastest-1.1-xl", "yolo-fastest-1.1_body"}) {
    const std::string cfg = dir + model + ".cfg", weights = dir + model + ".weights";
    if (!std::filesystem::exists(cfg)) { MESSAGE("no " << cfg << ": skipped"); continue; }
    DetectorOptions o;
    o.conf_threshold = 0.05f;
    Detector cpu(cfg, weights, o);
    o.device = Device::CUDA;
    Detector gpu(cfg, weights, o);
    const Tensor x = cpu.preprocess(frames, 0, frames.size());
    const std::vector<Tensor> rc = cpu.raw_outputs(x), rg = gpu.raw_outputs(x);
    REQUIRE(rc.size() == rg.size());
    for (size_t h = 0; h < rc.size(); ++h) {
      CHECK(rg[h].device() == Device::CPU);   // decoding reads host memory
      test::expect_close(rg[h].to_vector(), rc[h].to_vector(), test::Tol{2e-3f, 1e-3f},
                         std::string(model) + " head " + std::to_string(h));
    }
    const auto bc = cpu.detect(frames), bg = gpu.detect(frames);
    for (size_t k = 0; k < frames.size(); ++k) {
      CHECK_MESSAGE(bg[k].size() == bc[k].size(), model << " frame " << k);
      for (size_t i = 0; i < std::min(bc[k].size(), bg[k].size()); ++i) {
        CHECK(bg[k][i].x0 == doctest::Approx(bc[k][i].x0).epsilon(1e-3));
        CHECK(bg[k][i].y1 == doctest::Approx(bc[k][i].y1).epsilon(1e-3));
        CHECK(bg[k][i].score == doctest::Approx(bc[k][i].score).epsilon(1e-3));
      }
    }
  }
}
