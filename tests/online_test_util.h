// Helpers of the live-pipeline tests (tests/test_online*.cpp): a tiny random-init model, synthetic frames of
// moving squares, a synthetic FrameSource and a temporary folder.
#pragma once
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "model/checkpoint.h"
#include "model/ssmtl.h"
#include "online/source.h"
#include "util/config.h"
#include "util/png.h"

namespace ssmtl::test {

// T1+T2+T3 (no teacher, no pseudo-anomalies at test time) on 32x32 crops, 4/4/8 channels: scores in ms.
inline util::Config tiny_watch_config(const std::string& extra = "") {
  return util::Config::from_string(
      "model.name = ssmtl++v1-cpu\nmodel.backbone.channels = 4, 4, 8\nmodel.cvt.dim = 8\nmodel.cvt.heads = 2\n"
      "model.head_hidden = 4\nmodel.decoder_hidden = 4\n" + extra);
}

// extra: more configuration lines (e.g. "model.tasks.distillation = true\n": T4 on).
inline std::unique_ptr<SSMTLModel> tiny_watch_model(uint64_t seed = 3, const std::string& extra = "") {
  util::Config cfg = tiny_watch_config(extra);
  return std::make_unique<SSMTLModel>(ModelConfig::from_config(cfg), seed);
}

inline void save_tiny_watch_checkpoint(const std::string& path, uint64_t seed = 3) {
  util::Config cfg = tiny_watch_config();
  SSMTLModel m(ModelConfig::from_config(cfg), seed);
  save_checkpoint(path, m, {cfg.resolved_text(), ""});
}

// Frame t of a 96x64 grey scene with two bright squares moving 3 px/frame (right, and down), RGB.
inline Image moving_squares(int t) {
  Image im;
  im.width = 96;
  im.height = 64;
  im.rgb.assign(static_cast<size_t>(im.width) * im.height * 3, 60);
  auto square = [&](int x0, int y0, int side, uint8_t r, uint8_t g, uint8_t b) {
    for (int y = y0; y < y0 + side; ++y)
      for (int x = x0; x < x0 + side; ++x)
        if (x >= 0 && y >= 0 && x < im.width && y < im.height) {
          uint8_t* p = &im.rgb[(static_cast<size_t>(y) * im.width + x) * 3];
          p[0] = r;
          p[1] = g;
          p[2] = b;
        }
  };
  square(5 + 3 * (t % 20), 10, 14, 230, 200, 40);
  square(60, 2 + 3 * (t % 12), 12, 40, 220, 230);
  return im;
}

// A stream of `n` moving_squares frames, as fast as asked.
class SyntheticSource : public online::FrameSource {
 public:
  explicit SyntheticSource(int n) : n_(n) {}
  bool next(Image& out) override {
    if (i_ >= n_) return false;
    out = moving_squares(i_++);
    return true;
  }
  int width() const override { return 96; }
  int height() const override { return 64; }
  double nominal_fps() const override { return 0; }
  std::string describe() const override { return "synthetic"; }

 private:
  int n_, i_ = 0;
};

// A fresh folder under the system temp folder, removed at the end of the scope.
struct TempDir {
  std::string path;
  explicit TempDir(const std::string& tag) {
    path = (std::filesystem::temp_directory_path() / ("ssmtl_" + tag + "_" + std::to_string(getpid()))).string();
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// Writes frames 0..n-1 of moving_squares as <dir>/000.png ...
inline void write_squares_folder(const std::string& dir, int n) {
  std::filesystem::create_directories(dir);
  for (int t = 0; t < n; ++t) {
    char name[32];
    std::snprintf(name, sizeof name, "/%03d.png", t);
    Image im = moving_squares(t);
    util::write_png_rgb(dir + name, im.width, im.height, im.rgb.data());
  }
}

}  // namespace ssmtl::test

#include "data/detect/class_probs.h"
#include "data/detect/detect_video.h"
#include "data/detect/detector.h"
#include "model/sampler.h"
#include "model/teachers.h"
#include "model/scoring.h"
#include "online/pipeline.h"
#include "regions/region_file.h"

namespace ssmtl::test {

// The offline path on <root>/testing/frames/<video>: detect_video_full (as `ssmtl detect`), the region file, an
// ObjectPool and score_video (as `ssmtl score`). Returns the frame scores before smoothing.
inline VideoScores offline_scores(SSMTLModel& model, const Detector* detector, const DetectVideoOptions& d,
                                  const std::string& root, const std::string& video, const ScoreOptions& so) {
  Video v(video_dir(root, "testing", video));
  std::vector<std::vector<Box>> boxes;
  const std::vector<std::vector<Detection>> found = detect_video_full(v, detector, d);
  for (auto& frame : found) {
    boxes.emplace_back();
    for (const Detection& x : frame) boxes.back().push_back(x.box);
  }
  const std::string det_dir = root + "/detections";
  std::filesystem::create_directories(det_dir);
  save_regions(det_dir + "/" + video + ".txt", regions_of(boxes));
  const TeacherSpec spec = TeacherSpec::for_model(model.cfg, det_dir, "");
  if (!spec.class_probs_dir.empty())   // T4: the teacher file, as ssmtl detect writes it
    write_class_probs(spec.class_probs_dir + "/" + video + ".txt", found, detector->num_classes());
  ObjectPool pool = ObjectPool::load(root, "testing", det_dir, 0.0, true, {video}, spec);
  return score_video(model, pool, 0, so);
}

// The live path on a source: every FrameResult, in the order the sink got them.
inline std::vector<online::FrameResult> watch_results(SSMTLModel& model, const Detector* detector,
                                                      online::WatchOptions o, online::StatsSnapshot* stats = nullptr) {
  online::WatchPipeline p(model, detector, o);
  std::vector<online::FrameResult> out;
  p.run([&](const online::FrameResult& r) { out.push_back(r); });
  if (stats) *stats = p.stats();
  return out;
}

}  // namespace ssmtl::test
