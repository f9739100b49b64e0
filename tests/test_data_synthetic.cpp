// Synthetic anomalies for the label-free choice of post-processing constants (data/synthetic): the exact frame
// orders and labels of backward / speed segments, the glide plan's geometry, patch pasting, and the errors.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "data/synthetic/synthetic_anomalies.h"
#include "data/video/image.h"

using namespace ssmtl;

TEST_CASE("synthetic backward segment: reversed in place, labelled") {
  SyntheticVideoPlan p = make_synthetic_plan("backward", 20, 8, 4, 3);
  std::vector<int> want = {0, 1, 2, 3, 4, 5, 6, 7, 11, 10, 9, 8, 12, 13, 14, 15, 16, 17, 18, 19};
  CHECK(p.source_frame == want);
  std::vector<int> lab(20, 0);
  for (int i = 8; i < 12; ++i) lab[i] = 1;
  CHECK(p.labels == lab);
  CHECK(p.start == 8);
  CHECK(p.length == 4);
}

TEST_CASE("synthetic speed segment: every step-th frame, the video gets shorter") {
  SyntheticVideoPlan p = make_synthetic_plan("speed", 20, 8, 4, 3);
  std::vector<int> want = {0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 14, 17, 18, 19};
  CHECK(p.source_frame == want);
  std::vector<int> lab = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0};
  CHECK(p.labels == lab);
  // the segment uses source frames 8..17 (10 = (4-1)*3+1); one frame less and it does not fit
  CHECK_THROWS_AS(make_synthetic_plan("speed", 17, 8, 4, 3), std::invalid_argument);
  CHECK_NOTHROW(make_synthetic_plan("speed", 18, 8, 4, 3));
}

TEST_CASE("synthetic plans: drawn within the options, same seed same plan, errors") {
  SyntheticAnomalyOptions o;   // 16..40 frames, margin 8
  o.speed_step = 3;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    SyntheticVideoPlan b = plan_synthetic_video("backward", 150, o, seed);
    CHECK(b.length >= 16);
    CHECK(b.length <= 40);
    CHECK(b.start >= 8);
    CHECK(b.start + b.length <= 150 - 8);
    CHECK(b.source_frame.size() == 150);
    SyntheticVideoPlan s = plan_synthetic_video("speed", 150, o, seed);
    CHECK((s.length - 1) * 3 + 1 <= 150 - 16);   // path and both margins fit: length <= 45, capped at 40
    CHECK(s.source_frame.size() == static_cast<size_t>(150 - (s.length - 1) * 2));
    CHECK(s.source_frame.back() == 149);
  }
  SyntheticVideoPlan a = plan_synthetic_video("speed", 150, o, 7), b = plan_synthetic_video("speed", 150, o, 7);
  CHECK(a.source_frame == b.source_frame);
  // 60 frames: room 44 source frames -> a speed segment of at most 15 output frames < 16
  CHECK_THROWS_AS(plan_synthetic_video("speed", 60, o, 0), std::invalid_argument);
  CHECK_NOTHROW(plan_synthetic_video("backward", 60, o, 0));
  CHECK_THROWS_AS(plan_synthetic_video("sideways", 150, o, 0), std::invalid_argument);
  o.segment_max = 10;
  CHECK_THROWS_AS(plan_synthetic_video("backward", 150, o, 0), std::invalid_argument);
}

TEST_CASE("synthetic glide: the object slides glide_speed heights per frame inside the frame") {
  SyntheticAnomalyOptions o;
  o.glide_speed = 0.15;   // heights per frame
  // One usable object: 20 px high (3 px per frame), 10 px wide, in a 100 px wide frame; the other is too small
  // (height 5 < 8) and the third crosses the frame's edge.
  std::vector<FrameBox> objs = {{5, 40, 30, 49, 49}, {6, 0, 0, 4, 4}, {7, 95, 10, 104, 40}};
  for (uint64_t seed = 0; seed < 30; ++seed) {
    GlidePlan p = plan_glide(150, 100, 80, objs, o, seed);
    CHECK(p.object.frame == 5);
    // path 3 * (length - 1) <= 90 - 0 -> length <= 31
    CHECK(p.length >= 16);
    CHECK(p.length <= 31);
    REQUIRE(p.x.size() == static_cast<size_t>(p.length));
    CHECK(std::abs(std::abs(p.x.back() - p.x.front()) - 3 * (p.length - 1)) <= 1);
    for (size_t t = 1; t < p.x.size(); ++t) CHECK(std::abs(std::abs(p.x[t] - p.x[t - 1]) - 3) <= 1);
    for (int x : p.x) {
      CHECK(x >= 0);
      CHECK(x <= 90);
    }
    int ones = 0;
    for (int l : p.labels) ones += l;
    CHECK(ones == p.length);
    CHECK(p.labels[p.start] == 1);
    CHECK(p.labels[p.start - 1] == 0);
  }
  // no object can slide 16 frames: 15 * 0.15 * 20 = 45 px > 100 - 60
  CHECK_THROWS_AS(plan_glide(150, 100, 80, {{5, 0, 30, 59, 49}}, o, 0), std::invalid_argument);
  CHECK_THROWS_AS(plan_glide(150, 100, 80, {}, o, 0), std::invalid_argument);
  CHECK_THROWS_AS(plan_glide(20, 100, 80, objs, o, 0), std::invalid_argument);   // < 16 + 2 * 8 frames
}

TEST_CASE("paste_patch copies the patch and clips at both images' edges") {
  Image src{3, 2, {}}, dst{4, 3, {}};
  for (int i = 0; i < 3 * 2 * 3; ++i) src.rgb.push_back(static_cast<uint8_t>(i + 1));
  dst.rgb.assign(4 * 3 * 3, 0);
  paste_patch(dst, src, 1, 0, 2, 2, 3, 2);   // 2x2 from (1,0) to (3,2): only its top-left pixel lands
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x)
      for (int c = 0; c < 3; ++c) CHECK(dst.at(x, y, c) == (x == 3 && y == 2 ? src.at(1, 0, c) : 0));
  CHECK(src.at(1, 0, 0) == 4);
  paste_patch(dst, src, -1, 0, 2, 1, 0, 0);   // source column -1 is skipped: dst (1,0) = src (0,0)
  CHECK(dst.at(0, 0, 0) == 0);
  CHECK(dst.at(1, 0, 0) == 1);
  CHECK(dst.at(1, 0, 2) == 3);
}
