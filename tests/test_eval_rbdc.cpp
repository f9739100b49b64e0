// RBDC / TBDC (eval/rbdc.h): PITFALLS.md items 8-10, the shared rbdc_toy case and hand-made cases whose
// values are worked out in the comments.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "eval/rbdc.h"
#include "regions/region_file.h"

using namespace ssmtl;
using namespace ssmtl::eval;

namespace {
double box_iou(const RegionBox& a, const RegionBox& b) { return iou(a, b); }   // regions/box.h, in double
Region reg(int64_t f, double x0, double y0, double x1, double y1, double s) { return {f, {x0, y0, x1, y1}, s}; }
TrackBox gt(int64_t id, int64_t f, double x0, double y0, double x1, double y1) { return {id, f, {x0, y0, x1, y1}}; }
}  // namespace

TEST_CASE("eval rbdc: pitfall 8, inclusive-pixel IoU") {
  CHECK(box_iou({10, 10, 19, 19}, {10, 10, 20, 20}) == doctest::Approx(100.0 / 121.0).epsilon(1e-15));
  CHECK(box_iou({0, 0, 9, 9}, {0, 0, 0, 9}) == 0.1);   // exactly 10 / 100: a match at beta = 0.1
  CHECK(box_iou({5, 5, 5, 5}, {5, 5, 5, 5}) == 1.0);   // one-pixel boxes, never 0/0
  CHECK(box_iou({0, 0, 4, 4}, {5, 0, 9, 4}) == 0.0);   // touching, no shared pixel
  CHECK(box_iou({0, 0, 9, 9}, {5, 0, 14, 9}) == doctest::Approx(50.0 / 150.0).epsilon(1e-15));
  // The 0.1 boundary decides a detection: [0,0,0,9] detects GT [0,0,9,9]; [0,0,0,8] (IoU 0.09) does not.
  VideoRegions v{"b", 1, {reg(0, 0, 0, 0, 9, 0.5)}, {gt(0, 0, 0, 0, 9, 9)}};
  CHECK(region_track_metrics({v}).rbdc == 1.0);
  v.regions = {reg(0, 0, 0, 0, 8, 0.5)};
  auto m = region_track_metrics({v});
  CHECK(m.rbdc == 0.0);   // one false positive per frame, nothing detected
  CHECK(m.curve.back().fpr == 1.0);
}

TEST_CASE("eval rbdc: pitfall 10, one region over two ground-truth regions detects both") {
  VideoRegions v{"x", 1, {reg(0, 0, 0, 14, 9, 0.9)}, {gt(0, 0, 0, 0, 9, 9), gt(1, 0, 5, 0, 14, 9)}};
  CHECK(box_iou(v.regions[0].box, v.tracks[0].box) == doctest::Approx(2.0 / 3.0).epsilon(1e-15));
  CHECK(box_iou(v.regions[0].box, v.tracks[1].box) == doctest::Approx(2.0 / 3.0).epsilon(1e-15));
  auto m = region_track_metrics({v});
  CHECK(m.rbdc == 1.0);
  CHECK(m.tbdc == 1.0);
  CHECK(m.gt_regions == 2);
  CHECK(m.gt_tracks == 2);
}

TEST_CASE("eval rbdc: rbdc_toy gives RBDC = TBDC = 1 over 10 test frames") {
  // toy_anomalies/ holds the predictions (frame,x_min,y_min,x_max,y_max,score); toy_tracks/ the ground truth
  // (track_id,frame,box): one track per video over frames 0..4. The extra region [0,0,20,20] at score 0.1 in
  // frame 3 overlaps the GT [10,10,20,20] with IoU 121/441 = 0.274 >= 0.1, so it is no false positive.
  const std::string dir = std::string(SSMTL_SHARED_DIR) + "/data/rbdc_toy/";
  std::vector<VideoRegions> videos;
  for (const char* name : {"01", "02"})
    videos.push_back({name, 5, load_regions(dir + "toy_anomalies/" + name + ".txt"),
                      load_tracks(dir + "toy_tracks/" + name + ".txt")});
  auto m = region_track_metrics(videos);
  CHECK(m.test_frames == 10);
  CHECK(m.gt_regions == 10);
  CHECK(m.gt_tracks == 2);   // track 0 of video 01 and track 0 of video 02 are different tracks
  CHECK(m.predicted_regions == 12);
  CHECK(m.rbdc == 1.0);
  CHECK(m.tbdc == 1.0);
  REQUIRE(m.curve.size() == 2);   // thresholds 0.5 and 0.1
  CHECK(m.curve[0].threshold == 0.5);
  CHECK(m.curve[0].fpr == 0.0);
  CHECK(m.curve[0].rbdr == 1.0);
}

TEST_CASE("eval rbdc: false positives ranked among detections, with a tie group") {
  // 4 frames, one track with a GT box [0,0,9,9] in every frame. Far boxes [50,50,59,59] are false positives.
  // Sweep: 0.9 -> (FPR 0, RBDR .25); 0.8 -> (.25, .25); 0.7 -> (.25, .5); 0.6 (two FPs and a hit enter
  // together) -> (.75, .75); 0.1 -> (.75, 1); then flat to FPR 1.
  // RBDC = .25 * .25 + .5 * (.5 + .75) / 2 + .25 * 1 = 0.625. The track is detected at once (1/4 >= 0.1): TBDC = 1.
  VideoRegions v{"v", 4,
                 {reg(0, 0, 0, 9, 9, 0.9), reg(1, 50, 50, 59, 59, 0.8), reg(1, 0, 0, 9, 9, 0.7),
                  reg(2, 50, 50, 59, 59, 0.6), reg(2, 60, 50, 69, 59, 0.6), reg(2, 0, 0, 9, 9, 0.6),
                  reg(3, 1, 1, 9, 9, 0.1)},
                 {gt(3, 0, 0, 0, 9, 9), gt(3, 1, 0, 0, 9, 9), gt(3, 2, 0, 0, 9, 9), gt(3, 3, 0, 0, 9, 9)}};
  auto m = region_track_metrics({v});
  CHECK(m.rbdc == doctest::Approx(0.625).epsilon(1e-15));
  CHECK(m.tbdc == 1.0);
  REQUIRE(m.curve.size() == 5);
  CHECK(m.curve[3].threshold == 0.6);
  CHECK(m.curve[3].fpr == 0.75);
  CHECK(m.curve[3].rbdr == 0.75);
  // The same data in another line order gives the same result.
  std::swap(v.regions[0], v.regions[6]);
  std::swap(v.tracks[0], v.tracks[3]);
  CHECK(region_track_metrics({v}).rbdc == doctest::Approx(0.625).epsilon(1e-15));
}

TEST_CASE("eval rbdc: one false positive per frame above every detection gives 0") {
  // 10 frames; every frame has a false positive at 0.9 and a correct region at 0.5: after 0.9 the curve is at
  // (FPR 1, 0), so nothing is left of [0, 1].
  VideoRegions v{"v", 10, {}, {}};
  for (int f = 0; f < 10; ++f) {
    v.regions.push_back(reg(f, 100, 100, 120, 120, 0.9));
    v.regions.push_back(reg(f, 0, 0, 9, 9, 0.5));
    v.tracks.push_back(gt(0, f, 0, 0, 9, 9));
  }
  auto m = region_track_metrics({v});
  CHECK(m.rbdc == 0.0);
  CHECK(m.tbdc == 0.0);
  // The same false positives below the detections: the curve reaches RBDR 1 at FPR 0: both 1.
  for (auto& r : v.regions) r.score = r.box.x0 == 100 ? 0.2 : 0.5;
  m = region_track_metrics({v});
  CHECK(m.rbdc == 1.0);
  CHECK(m.tbdc == 1.0);
}

TEST_CASE("eval rbdc: partially detected tracks and the alpha = 0.1 boundary") {
  // Track 1: 10 regions (frames 0..9); track 2: 20 regions (frames 0..19); 20 test frames, no false positives.
  VideoRegions v{"v", 20, {}, {}};
  for (int f = 0; f < 10; ++f) v.tracks.push_back(gt(1, f, 0, 0, 9, 9));
  for (int f = 0; f < 20; ++f) v.tracks.push_back(gt(2, f, 30, 30, 39, 39));
  v.regions = {reg(4, 0, 0, 9, 9, 0.9), reg(7, 30, 30, 39, 39, 0.8)};
  auto m = region_track_metrics({v});   // track 1: 1/10 = 0.1 detected; track 2: 1/20 < 0.1 not
  CHECK(m.rbdc == doctest::Approx(2.0 / 30.0).epsilon(1e-15));
  CHECK(m.tbdc == 0.5);
  v.regions.push_back(reg(8, 30, 30, 39, 39, 0.7));   // track 2 reaches 2/20 = 0.1
  m = region_track_metrics({v});
  CHECK(m.rbdc == doctest::Approx(3.0 / 30.0).epsilon(1e-15));
  CHECK(m.tbdc == 1.0);
  // A GT region matched by several regions counts once and none of them is a false positive.
  v.regions.push_back(reg(8, 31, 31, 39, 39, 0.65));
  v.regions.push_back(reg(8, 30, 30, 38, 38, 0.6));
  m = region_track_metrics({v});
  CHECK(m.rbdc == doctest::Approx(3.0 / 30.0).epsilon(1e-15));
  CHECK(m.curve.back().fpr == 0.0);
}

TEST_CASE("eval rbdc: the curve is cut at FPR 1 by linear interpolation") {
  // 2 frames, two one-region tracks. 0.9: hit -> (0, .5). 0.5: four FPs and the other hit together -> (2, 1).
  // Cut at FPR 1 on that segment: RBDR .75; area = 1 * (.5 + .75) / 2 = .625 (same for tracks).
  VideoRegions v{"v", 2,
                 {reg(0, 0, 0, 9, 9, 0.9), reg(1, 0, 0, 9, 9, 0.5), reg(0, 50, 50, 55, 55, 0.5),
                  reg(0, 60, 50, 65, 55, 0.5), reg(1, 50, 50, 55, 55, 0.5), reg(1, 60, 50, 65, 55, 0.5)},
                 {gt(0, 0, 0, 0, 9, 9), gt(1, 1, 0, 0, 9, 9)}};
  auto m = region_track_metrics({v});
  CHECK(m.rbdc == doctest::Approx(0.625).epsilon(1e-15));
  CHECK(m.tbdc == doctest::Approx(0.625).epsilon(1e-15));
  CHECK(area_to({0.5, 0.5, 2.0}, {0.0, 1.0, 1.0}, 1.0) == 0.5);
  CHECK(area_to({}, {}, 1.0) == 0.0);
  CHECK(area_to({0.2}, {0.4}, 1.0) == doctest::Approx(0.04 + 0.32).epsilon(1e-15));   // flat extension
  CHECK_THROWS_AS(area_to({0.5, 0.2}, {0.1, 0.2}, 1.0), std::invalid_argument);
}

TEST_CASE("eval rbdc: no detections give 0, bad inputs throw naming the video") {
  VideoRegions v{"03", 5, {}, {gt(0, 2, 0, 0, 9, 9)}};
  auto m = region_track_metrics({v});
  CHECK(m.rbdc == 0.0);
  CHECK(m.tbdc == 0.0);
  CHECK(m.curve.empty());
  // Regions in frames without ground truth are false positives; frames of other videos do not match.
  VideoRegions w{"04", 5, {reg(2, 0, 0, 9, 9, 0.9)}, {}};
  m = region_track_metrics({v, w});
  CHECK(m.test_frames == 10);
  CHECK(m.curve[0].fpr == 0.1);
  CHECK(m.rbdc == 0.0);
  CHECK_THROWS_WITH_AS(region_track_metrics({VideoRegions{"05", 5, {reg(5, 0, 0, 1, 1, 0.5)}, {gt(0, 0, 0, 0, 1, 1)}}}),
                       "video 05: predicted region in frame 5, but the video has 5 frames", std::invalid_argument);
  CHECK_THROWS_WITH_AS(region_track_metrics({VideoRegions{"06", 5, {}, {gt(0, 9, 0, 0, 1, 1)}}}),
                       doctest::Contains("video 06: ground-truth track box in frame 9"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(region_track_metrics({VideoRegions{"07", 5, {reg(0, 0, 0, 1, 1, 0.5)}, {}}}),
                       doctest::Contains("no ground-truth regions"), std::invalid_argument);
}

TEST_CASE("eval rbdc: pitfall 9, one object split into two tracks changes TBDC, not RBDC") {
  // One object over frames 0..9, detected only in frame 0 (no false positives). As one track: 1/10 regions
  // detected -> the track counts (TBDC 1). Split into tracks 0..4 and 5..9: the second has no detection (TBDC 0.5).
  VideoRegions v{"v", 10, {reg(0, 0, 0, 9, 9, 0.9)}, {}};
  for (int f = 0; f < 10; ++f) v.tracks.push_back(gt(4, f, 0, 0, 9, 9));
  auto one = region_track_metrics({v});
  for (int f = 5; f < 10; ++f) v.tracks[static_cast<size_t>(f)].track_id = 9;
  auto two = region_track_metrics({v});
  CHECK(one.gt_tracks == 1);
  CHECK(two.gt_tracks == 2);
  CHECK(one.tbdc == 1.0);
  CHECK(two.tbdc == 0.5);
  CHECK(one.rbdc == doctest::Approx(0.1).epsilon(1e-15));
  CHECK(two.rbdc == one.rbdc);
}
