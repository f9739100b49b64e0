// Whole evaluations on the shared ground truth (eval/evaluate.h) and the `ssmtl evaluate` program itself:
// outputs, JSON, plots and the error exits.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "eval/evaluate.h"
#include "eval/io.h"
#include "regions/region_file.h"
#include "eval/plots.h"
#include "tensor/rng.h"
#include "tests/eval_test_util.h"
#include "tests/run_program.h"
#include "util/atomic_file.h"

using namespace ssmtl;
using namespace ssmtl::eval;
using test::TempDir;
namespace fs = std::filesystem;

namespace {
const std::string kData = std::string(SSMTL_SHARED_DIR) + "/data";

// Writes <dir>/<video>.txt for every label file of `labels`, with score(video, frame, label).
template <class Fn>
void write_scores_for(const std::string& labels, const std::string& dir, Fn score) {
  for (const auto& [name, path] : list_video_files(labels)) {
    auto l = load_labels(path);
    std::vector<double> s(l.size());
    for (size_t i = 0; i < l.size(); ++i) s[i] = score(name, i, l[i]);
    save_scores(dir + "/" + name + ".txt", s);
  }
}

using test::RunResult;
using test::run_ssmtl;

// Width and height from a PNG's IHDR chunk (bytes 16..23, big endian); 0x0 when it is not a PNG.
std::pair<int, int> png_size(const std::string& path) {
  std::string b = util::read_file(path);
  if (b.size() < 24 || b.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) return {0, 0};
  auto be = [&](size_t o) {
    return (static_cast<unsigned char>(b[o]) << 24) | (static_cast<unsigned char>(b[o + 1]) << 16) |
           (static_cast<unsigned char>(b[o + 2]) << 8) | static_cast<unsigned char>(b[o + 3]);
  };
  return {static_cast<int>(be(16)), static_cast<int>(be(20))};
}
}  // namespace

TEST_CASE("eval app: ShanghaiTech and Avenue ground truth with constant scores give AUC 0.5") {
  for (const std::string& labels : {kData + "/shanghaitech/testing/gt_frame", kData + "/avenue/testing/gt_frame",
                                   kData + "/avenue/testing/gt_frame_anopred"}) {
    CAPTURE(labels);
    TempDir d;
    write_scores_for(labels, d.path(), [](const std::string&, size_t, int) { return 0.3; });
    EvaluateOptions o;
    o.scores_dir = d.path();
    o.labels_dir = labels;
    o.smooth_sigma = 5;
    o.normalize_video = true;   // constant -> zeros, never NaN
    EvaluationResult r = evaluate(o);
    CHECK(r.micro_auc == 0.5);
    CHECK(r.macro.auc == 0.5);
    for (const auto& v : r.videos)
      for (double s : v.scores) REQUIRE(s == 0.0);
  }
  // Video and frame counts of the shared labels.
  TempDir d;
  const std::string sh = kData + "/shanghaitech/testing/gt_frame";
  write_scores_for(sh, d.path(), [](const std::string&, size_t, int) { return 1.0; });
  EvaluationResult r = evaluate(EvaluateOptions{d.path(), sh, "", "", 0, false, MacroMode::Pad});
  CHECK(r.videos.size() == 107);
  CHECK(r.frames == 40791);
  CHECK(r.macro.skipped.empty());
  // Perfect scores: micro and macro 1; ShanghaiTech has single-class videos that 'skip' names.
  write_scores_for(sh, d.path(), [](const std::string&, size_t, int l) { return 0.2 + 0.5 * l; });
  r = evaluate(EvaluateOptions{d.path(), sh, "", "", 0, false, MacroMode::Skip});
  CHECK(r.micro_auc == 1.0);
  CHECK(r.macro.auc == 1.0);
  CHECK_FALSE(r.macro.skipped.empty());
  CHECK(r.macro.skipped.size() < r.videos.size());
}

TEST_CASE("eval app: Ped2 tracks used as predictions give RBDC = TBDC = 1, no regions give 0") {
  const std::string labels = kData + "/ped2/testing/gt_frame", tracks = kData + "/ped2/testing/gt_tracks_derived";
  TempDir d;
  write_scores_for(labels, d.path() + "/scores", [](const std::string&, size_t, int l) { return 0.1 * l; });
  for (const auto& [name, path] : list_video_files(tracks)) {
    std::string text;
    for (const auto& t : load_tracks(path))
      text += std::to_string(t.frame) + "," + std::to_string(t.box.x0) + "," + std::to_string(t.box.y0) + "," +
              std::to_string(t.box.x1) + "," + std::to_string(t.box.y1) + ",0.8\n";
    d.write("regions/" + name + ".txt", text);
    d.write("empty/" + name + ".txt", "");
  }
  EvaluateOptions o{d.path() + "/scores", labels, d.path() + "/regions", tracks, 0, false, MacroMode::Skip};
  EvaluationResult r = evaluate(o);
  CHECK(r.has_regions);
  CHECK(r.regions.test_frames == 2010);
  CHECK(r.regions.rbdc == 1.0);
  CHECK(r.regions.tbdc == 1.0);
  o.regions_dir = d.path() + "/empty";
  r = evaluate(o);
  CHECK(r.regions.rbdc == 0.0);
  CHECK(r.regions.tbdc == 0.0);
  o.regions_dir = d.path() + "/missing";
  CHECK_THROWS_WITH_AS(evaluate(o), doctest::Contains("video 01: no region file"), std::runtime_error);
}

TEST_CASE("eval app: ssmtl evaluate on Ped2 labels with random scores (table, JSON, scores, plots)") {
  const std::string labels = kData + "/ped2/testing/gt_frame";
  TempDir d;
  Rng rng(11);
  write_scores_for(labels, d.path() + "/scores", [&](const std::string&, size_t, int) { return rng.uniform(); });
  RunResult run = run_ssmtl("evaluate --scores " + d.path() + "/scores --labels " + labels + " --smooth-sigma 2" +
                            " --normalize video --macro skip --json " + d.path() + "/out/r.json --write-scores " +
                            d.path() + "/evaluated --plots " + d.path() + "/plots");
  INFO(run.output);
  REQUIRE(run.code == 0);
  CHECK(run.output.find("micro AUC") != std::string::npos);
  CHECK(run.output.find("warning: video 08 has a single class") != std::string::npos);
  // The library on the same input gives the same numbers as the JSON.
  EvaluationResult r = evaluate(EvaluateOptions{d.path() + "/scores", labels, "", "", 2, true, MacroMode::Skip});
  const std::string json = util::read_file(d.path() + "/out/r.json");
  CHECK(json == evaluation_json(r));
  char micro[64];
  std::snprintf(micro, sizeof micro, "\"micro_auc\": %.17g,", r.micro_auc);
  CHECK(json.find(micro) != std::string::npos);
  CHECK(json.find("\"format_version\": 1") != std::string::npos);
  CHECK(json.find("\"skipped_videos\": [\"08\", \"09\", \"10\", \"11\"]") != std::string::npos);
  CHECK(json.find("\"normalize\": \"video\"") != std::string::npos);
  CHECK(json.find("\"rbdc\": null") != std::string::npos);
  CHECK(r.micro_auc > 0.4);
  CHECK(r.micro_auc < 0.6);
  MESSAGE("Ped2, uniform random scores (seed 11, sigma 2, per-video normalised): micro " << r.micro_auc << ", macro "
                                                                                        << r.macro.auc);
  // Written scores are the evaluated ones: normalised per video to exactly [0, 1].
  auto s = load_scores(d.path() + "/evaluated/01.txt");
  REQUIRE(s.size() == 180);
  CHECK(*std::min_element(s.begin(), s.end()) == 0.0);
  CHECK(*std::max_element(s.begin(), s.end()) == 1.0);
  CHECK(png_size(d.path() + "/plots/01_scores.png") == std::pair<int, int>{900, 420});
  CHECK(png_size(d.path() + "/plots/12_scores.png") == std::pair<int, int>{900, 420});
  CHECK(png_size(d.path() + "/plots/roc.png") == std::pair<int, int>{640, 600});
}

TEST_CASE("eval app: ssmtl evaluate with the rbdc_toy regions and tracks reports RBDC = TBDC = 1") {
  // rbdc_toy has no frame labels: 5 frames per video, made up here (two classes so that the AUCs exist).
  TempDir d;
  for (const char* v : {"01", "02"}) {
    d.write(std::string("labels/") + v + ".txt", "0\n1\n1\n1\n1");
    d.write(std::string("scores/") + v + ".txt", "0.1\n0.5\n0.5\n0.5\n0.5\n");
  }
  const std::string toy = kData + "/rbdc_toy";
  RunResult run = run_ssmtl("evaluate --scores " + d.path() + "/scores --labels " + d.path() + "/labels --regions " +
                            toy + "/toy_anomalies --tracks " + toy + "/toy_tracks --macro pad --json " + d.path() +
                            "/r.json");
  INFO(run.output);
  REQUIRE(run.code == 0);
  CHECK(run.output.find("RBDC        100.00%") != std::string::npos);
  CHECK(run.output.find("TBDC        100.00%") != std::string::npos);
  const std::string json = util::read_file(d.path() + "/r.json");
  CHECK(json.find("\"rbdc\": 1,") != std::string::npos);
  CHECK(json.find("\"tbdc\": 1,") != std::string::npos);
  CHECK(json.find("\"test_frames\": 10, \"gt_regions\": 10, \"gt_tracks\": 2, \"predicted_regions\": 12") !=
        std::string::npos);
  CHECK(json.find("\"macro\": \"pad\"") != std::string::npos);
  CHECK(json.find("\"micro_auc\": 1,") != std::string::npos);
  // A region beyond the video's last frame is an input error naming the video.
  d.write("regions/01.txt", "5,10,10,20,20,0.5\n");
  d.write("regions/02.txt", "");
  run = run_ssmtl("evaluate --scores " + d.path() + "/scores --labels " + d.path() + "/labels --regions " + d.path() +
                  "/regions --tracks " + toy + "/toy_tracks");
  CHECK(run.code == 1);
  CHECK(run.output.find("video 01: predicted region in frame 5, but the video has 5 frames") != std::string::npos);
}

TEST_CASE("eval app: input errors exit non-zero and name the video") {
  const std::string labels = kData + "/ped2/testing/gt_frame";
  TempDir d;
  write_scores_for(labels, d.path() + "/scores", [](const std::string&, size_t, int) { return 0.5; });
  const std::string base = "evaluate --labels " + labels + " --scores " + d.path() + "/scores";
  CHECK(run_ssmtl(base).code == 0);

  fs::remove(d.path() + "/scores/05.txt");
  RunResult r = run_ssmtl(base);
  CHECK(r.code == 1);
  CHECK(r.output.find("video 05: no score file") != std::string::npos);

  d.write("scores/05.txt", test::lines_of(std::vector<int>(149, 0)));   // Ped2 05 has 150 frames
  r = run_ssmtl(base);
  CHECK(r.code == 1);
  CHECK(r.output.find("video 05: 149 scores in") != std::string::npos);
  CHECK(r.output.find("but 150 labels") != std::string::npos);

  std::string text = test::lines_of(std::vector<int>(150, 0));
  text.replace(text.find("0\n0\n0\n") + 2, 1, "nan");   // line 2 -> frame 1
  d.write("scores/05.txt", text);
  r = run_ssmtl(base);
  CHECK(r.code == 1);
  CHECK(r.output.find("video 05: " + d.path() + "/scores/05.txt:2: score is NaN (frame 1)") != std::string::npos);

  d.write("scores/05.txt", test::lines_of(std::vector<int>(150, 0)));
  CHECK(run_ssmtl(base + " --regions " + d.path() + "/scores").code == 2);   // --regions without --tracks
  CHECK(run_ssmtl(base + " --macro both").code == 2);
  CHECK(run_ssmtl(base + " --bogus 1").code == 2);
  CHECK(run_ssmtl("evaluate --labels " + labels).code == 2);
  r = run_ssmtl("evaluate --help");
  CHECK(r.code == 0);
  CHECK(r.output.find("usage: ssmtl evaluate --scores DIR --labels DIR") != std::string::npos);
  r = run_ssmtl(base + " --labels " + d.path() + "/nowhere");
  CHECK(r.code == 1);
  CHECK(r.output.find("nowhere: not a folder") != std::string::npos);
}
