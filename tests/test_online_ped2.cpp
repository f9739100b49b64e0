// `ssmtl watch`'s pipeline on real video: a 40-frame clip of UCSD Ped2 test video 01 (frames 40-79, 20 normal then
// 20 abnormal) through the live pipeline (Yolo-Fastest + optical flow, as `make demo` detects) and through the
// offline path (detect_video_full, the region file, ObjectPool, score_video). The frame scores must agree frame
// by frame, and the AUC of the causally smoothed scores within 1 point (here: to 1e-6). The model is a tiny
// random-init one (no trained checkpoint in a fresh clone): the test is about the two paths agreeing, not the
// AUC's value. scripts/watch_vs_offline.sh compares the 12 test videos with the trained demo model.
#include <doctest/doctest.h>

#include <filesystem>

#include "data/detect/detector.h"
#include "eval/auc.h"
#include "eval/io.h"
#include "eval/postprocess.h"
#include "tests/online_test_util.h"

using namespace ssmtl;

namespace {
// The comparison on Ped2 test video 01, frames 40-79, for a tiny model with the configuration lines `extra`.
void watch_equals_offline_on_ped2(const std::string& extra) {
  const std::string ped2 = std::string(SSMTL_SHARED_DIR) + "/data/ped2/testing";
  const std::string weights = std::string(SSMTL_SHARED_DIR) + "/weights/yolo-fastest/yolo-fastest-1.1-xl";
  if (!std::filesystem::exists(ped2 + "/frames/01") || !std::filesystem::exists(weights + ".weights")) {
    MESSAGE("skipped: no Ped2 data or Yolo-Fastest weights under " SSMTL_SHARED_DIR);
    return;
  }
  test::TempDir tmp("watch_ped2");
  const std::string clip = tmp.path + "/testing/frames/01c";
  std::filesystem::create_directories(clip);
  const std::vector<std::string> files = list_frame_files(ped2 + "/frames/01");
  const int first = 40, n = 40;
  const std::vector<int> all_labels = eval::load_labels(ped2 + "/gt_frame/01.txt");
  std::vector<int> labels(all_labels.begin() + first, all_labels.begin() + first + n);
  for (int i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "/%03d.jpg", i);
    std::filesystem::create_symlink(std::filesystem::absolute(files[static_cast<size_t>(first + i)]), clip + name);
  }
  DetectorOptions dopt;
  dopt.conf_threshold = 0.5f;   // as scripts/demo.sh detects (ssmtl detect's default)
  dopt.class_probs = true;      // as ssmtl detect and ssmtl watch build it (T4's teacher)
  Detector detector(weights + ".cfg", weights + ".weights", dopt);
  auto model = test::tiny_watch_model(11, extra);
  DetectVideoOptions d;   // hybrid: detector + optical flow
  ScoreOptions so;
  VideoScores off = test::offline_scores(*model, &detector, d, tmp.path, "01c", so);

  online::WatchOptions o;
  o.source.input = clip;
  o.detect = d;
  o.drop = online::DropPolicy::kNone;
  online::StatsSnapshot st;
  auto res = test::watch_results(*model, &detector, o, &st);
  REQUIRE(res.size() == static_cast<size_t>(n));
  std::vector<double> raw;
  size_t objects = 0;
  for (int f = 0; f < n; ++f) {
    CHECK(res[f].frame == f);
    raw.push_back(res[f].raw_score);
    objects += res[f].objects.size();
    CHECK(res[f].raw_score == doctest::Approx(off.frame_scores[f]).epsilon(1e-4));
  }
  CHECK(objects == off.regions.size());
  CHECK(objects > 40);   // people in every frame
  const double auc_watch = eval::roc_auc(eval::half_gaussian_smooth(raw, 3.0), labels);
  const double auc_offline = eval::roc_auc(eval::half_gaussian_smooth(off.frame_scores, 3.0), labels);
  MESSAGE("Ped2 01 frames 40-79, tiny random model: AUC watch " << auc_watch << ", offline " << auc_offline
          << "; watch " << st.fps_out << " FPS");
  CHECK(std::abs(auc_watch - auc_offline) < 0.01);
  for (int f = 0; f < n; ++f) CHECK(res[f].score == doctest::Approx(eval::half_gaussian_smooth(off.frame_scores, 3.0)[f]).epsilon(1e-4));
}
}  // namespace

TEST_CASE("watch on a Ped2 clip: the same frame scores and AUC as the offline detect + score path") {
  watch_equals_offline_on_ped2("");
}

// T4 (distillation): the live path computes each object's teacher class probabilities from the detector as
// `ssmtl detect` writes them to class_probs/ (the demo's model has T4), so the two paths still agree.
TEST_CASE("watch with T4 on a Ped2 clip: live class probabilities give the offline path's frame scores") {
  watch_equals_offline_on_ped2("model.tasks.distillation = true\n");
}


TEST_CASE("watch refuses T4 without the detector's class probabilities - flow detection or a detector without them") {
  auto model = test::tiny_watch_model(11, "model.tasks.distillation = true\n");
  online::WatchOptions o;
  o.detect.method = DetectMethod::kFlow;
  CHECK_THROWS_WITH_AS(online::WatchPipeline(*model, nullptr, o),
                       doctest::Contains("T4 (distillation) needs the detector's class probabilities"),
                       std::invalid_argument);
  const std::string weights = std::string(SSMTL_SHARED_DIR) + "/weights/yolo-fastest/yolo-fastest-1.1-xl";
  if (!std::filesystem::exists(weights + ".weights")) {
    MESSAGE("skipped the detector half: no Yolo-Fastest weights under " SSMTL_SHARED_DIR);
    return;
  }
  Detector plain(weights + ".cfg", weights + ".weights", DetectorOptions{});   // class_probs off
  online::WatchOptions h;   // hybrid
  CHECK_THROWS_WITH_AS(online::WatchPipeline(*model, &plain, h), doctest::Contains("the detector gives none"),
                       std::invalid_argument);
}
