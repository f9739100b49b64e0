// Boxes, connected components, morphology and the motion detectors (PITFALLS 8 box cases, 11, 12, 14, 16).
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "data/detect/background.h"
#include "data/detect/components.h"
#include "data/detect/morphology.h"
#include "data/detect/motion.h"
#include "data/video/frames.h"
#include "regions/box.h"
#include "tensor/rng.h"
#include "tests/data_test_util.h"

using namespace ssmtl;

static Box B(float x0, float y0, float x1, float y1) { return Box{x0, y0, x1, y1, 1.f, 0}; }
static bool same(const Box& a, const Box& b) { return a.x0 == b.x0 && a.y0 == b.y0 && a.x1 == b.x1 && a.y1 == b.y1; }

TEST_CASE("data box: clipping, inclusive IoU and rescaling (PITFALLS 8, 14, 16)") {
  auto c = clip_box(B(-5, -5, 10, 10), 64, 64);
  REQUIRE(c);
  CHECK(same(*c, B(0, 0, 10, 10)));
  auto p = pixel_box(B(-5, -5, 10, 10), 64, 64);
  REQUIRE(p);
  CHECK(p->width() == 11);
  CHECK(p->height() == 11);
  CHECK(same(*clip_box(B(50, 60, 70, 80), 64, 64), B(50, 60, 63, 63)));
  CHECK_FALSE(clip_box(B(64, 0, 70, 10), 64, 64));     // entirely right of the frame
  CHECK_FALSE(clip_box(B(-9, 3, -1, 9), 64, 64));
  CHECK(clip_box(B(63, 63, 63, 63), 64, 64));          // one pixel is a box

  CHECK(iou(B(10, 10, 19, 19), B(10, 10, 20, 20)) == doctest::Approx(100.0 / 121.0).epsilon(1e-6));
  CHECK(iou(B(0, 0, 9, 9), B(0, 0, 0, 9)) == doctest::Approx(0.1).epsilon(1e-6));
  CHECK(iou(B(0, 0, 9, 9), B(0, 0, 0, 9)) >= 0.1f);
  CHECK(iou(B(3, 3, 3, 3), B(3, 3, 3, 3)) == 1.f);
  CHECK(iou(B(0, 0, 4, 4), B(5, 5, 9, 9)) == 0.f);
  CHECK_THROWS_AS(iou(B(5, 0, 4, 4), B(0, 0, 4, 4)), std::invalid_argument);

  Box s = scale_box(Box{32, 24, 64, 48, 0.9f, 3}, 320, 240, 640, 480);
  CHECK(same(s, B(64, 48, 128, 96)));
  CHECK(s.score == 0.9f);
  CHECK(s.cls == 3);
  CHECK(same(scale_box(B(64, 48, 128, 96), 640, 480, 320, 240), B(32, 24, 64, 48)));
  CHECK_THROWS_AS(scale_box(B(0, 0, 1, 1), 0, 240, 640, 480), std::invalid_argument);
}

TEST_CASE("data components: 8-connected, label 0 is background, area filter (PITFALLS 12)") {
  std::vector<uint8_t> m(64, 0);
  auto set = [&](int x, int y) { m[y * 8 + x] = 1; };
  set(2, 2), set(3, 2), set(2, 3), set(3, 3);
  set(0, 6), set(1, 6), set(0, 7), set(1, 7);
  std::vector<int32_t> labels;
  auto cs = connected_components(m.data(), 8, 8, 0, &labels);
  REQUIRE(cs.size() == 2);
  CHECK((cs[0].x0 == 2 && cs[0].y0 == 2 && cs[0].x1 == 3 && cs[0].y1 == 3));
  CHECK(cs[0].area == 4);
  CHECK((cs[1].x0 == 0 && cs[1].y0 == 6 && cs[1].x1 == 1 && cs[1].y1 == 7));
  CHECK(cs[1].area == 4);
  CHECK(labels[0] == 0);
  CHECK(labels[2 * 8 + 2] == 1);
  CHECK(labels[7 * 8 + 1] == 2);
  CHECK(connected_components(m.data(), 8, 8, 5).empty());
  CHECK(connected_components(m.data(), 8, 8, 4).size() == 2);
  std::vector<uint8_t> zero(64, 0);
  CHECK(connected_components(zero.data(), 8, 8).empty());

  // Diagonal neighbours join (8-connectivity); a U shape is one object.
  std::vector<uint8_t> d(25, 0);
  d[0] = d[6] = d[12] = d[18] = d[24] = 1;
  auto diag = connected_components(d.data(), 5, 5);
  REQUIRE(diag.size() == 1);
  CHECK(diag[0].area == 5);
  CHECK(same(diag[0].box(), B(0, 0, 4, 4)));
  std::vector<uint8_t> full(12, 1);
  auto f = connected_components(full.data(), 4, 3);
  REQUIRE(f.size() == 1);
  CHECK(same(f[0].box(), B(0, 0, 3, 2)));

  CHECK(scaled_min_area(1500, 640, 360) == 1500);
  CHECK(scaled_min_area(1500, 360, 240) == 563);   // Ped2: 1500 * 86400 / 230400 = 562.5
  CHECK(scaled_min_area(1500, 320, 180) == 375);
}

TEST_CASE("data morphology: dilation, erosion and closing with a square element") {
  // A 2-pixel gap between two bars is closed by radius 1 (3x3), not by radius 0.
  const int w = 9, h = 5;
  std::vector<uint8_t> m(w * h, 0);
  for (int y = 1; y <= 3; ++y) m[y * w + 2] = m[y * w + 4] = 1;   // bars at x=2 and x=4, gap at x=3
  auto c1 = close_mask(m, w, h, 1);
  CHECK(c1[2 * w + 3] == 1);
  CHECK(c1[2 * w + 1] == 0);                      // closing does not grow the outside
  CHECK(close_mask(m, w, h, 0) == m);
  auto dl = dilate(m, w, h, 1);
  CHECK(dl[0 * w + 1] == 1);
  CHECK(dl[4 * w + 5] == 1);
  CHECK(dl[2 * w + 6] == 0);
  auto er = erode(dl, w, h, 1);
  CHECK(er == c1);
  // Outside pixels never erode: a full mask stays full, so objects at the border survive a closing.
  std::vector<uint8_t> full(w * h, 1);
  CHECK(erode(full, w, h, 2) == full);
  CHECK_THROWS_AS(dilate(m, w + 1, h, 1), std::invalid_argument);
}

static GrayImage noise_frame(int w, int h, uint64_t seed) {
  Rng r(seed);
  GrayImage g(w, h);
  for (auto& v : g.v) v = static_cast<float>(r.randint(0, 256));
  return g;
}

TEST_CASE("data background: a static video gives 0 objects on every frame, frame 0 included (PITFALLS 11)") {
  // Textured (not flat) identical frames, so only a wrong initial background could create objects.
  ssmtl::test::TempDir d("static");
  Rng r(5);
  ssmtl::Image img = ssmtl::test::solid_image(96, 64, 0, 0, 0);
  for (auto& v : img.rgb) v = static_cast<uint8_t>(r.randint(0, 256));
  ssmtl::test::write_frames(d / "v", std::vector<Image>(5, img));
  Video v(d / "v");
  for (auto warm : {BackgroundWarmup::kCompareFromFrame0, BackgroundWarmup::kNoObjectsDuringInit}) {
    for (int k : {1, 3, 10}) {
      BackgroundParams p;
      p.init_frames = k;
      p.warmup = warm;
      p.min_area_ref = 0;   // even one-pixel objects would count
      auto objs = background_objects(v, p);
      REQUIRE(objs.size() == 5);   // every frame gets an entry
      for (const auto& o : objs) CHECK(o.empty());
    }
  }
}

TEST_CASE("data background: a moving square is found each frame and detector boxes black it out") {
  // The square moves by more than its width each frame: the running average never sees it twice at one
  // pixel, so no ghost trail stays behind.
  const int w = 256, h = 96;
  GrayImage bg = noise_frame(w, h, 1);
  for (auto& v : bg.v) v = 60.f + v / 8.f;   // textured background in 60..92
  auto frame = [&](int t) {
    GrayImage f = bg;
    for (int y = 30; y < 60; ++y)
      for (int x = 10 + 35 * t; x < 40 + 35 * t; ++x) f(x, y) = 220.f;
    return f;
  };
  BackgroundParams p;
  p.learning_rate = 0.05f;
  p.min_area_ref = 1500;   // scaled: 1500 * 256*96 / (640*360) = 160 px
  std::vector<GrayImage> init{bg, bg, bg};   // the first frames show the empty scene
  BackgroundSubtractor bs(p, init);
  for (int t = 0; t < 6; ++t) {
    std::vector<uint8_t> mask;
    auto objs = bs.apply(frame(t), {}, &mask);
    REQUIRE(objs.size() == 1);
    CHECK(objs[0].x0 == 10 + 35 * t);
    CHECK(objs[0].x1 == 39 + 35 * t);
    CHECK(objs[0].y0 == 30);
    CHECK(objs[0].y1 == 59);
    CHECK(objs[0].cls == kClassBackgroundSub);
    CHECK(mask[0] == 0);
  }
  // The same square under a detector box: nothing new.
  BackgroundSubtractor bs2(p, init);
  CHECK(bs2.apply(frame(0), {B(5, 25, 45, 65)}).empty());
  // Smaller than the scaled minimum area (12x12 = 144 < 160): dropped.
  BackgroundSubtractor bs3(p, init);
  GrayImage small = bg;
  for (int y = 0; y < 12; ++y)
    for (int x = 0; x < 12; ++x) small(50 + x, 50 + y) = 250.f;
  CHECK(bs3.apply(small, {}).empty());
  // Warm-up policy: frames used for the initial mean report nothing.
  BackgroundParams q = p;
  q.warmup = BackgroundWarmup::kNoObjectsDuringInit;
  BackgroundSubtractor bs4(q, init);
  for (int t = 0; t < 3; ++t) CHECK(bs4.apply(frame(t), {}).empty());
  CHECK(bs4.apply(frame(3), {}).size() == 1);
  // The running average: B <- 0.95 B + 0.05 F; a pixel the square covered once (frame 0) moved by
  // 0.05 (220 - B) and then decayed back by 0.95 per frame over 5 frames.
  CHECK(bs.background()(0, 0) == doctest::Approx(bg(0, 0)));
  const float b0 = bg(12, 40), expect = b0 + 0.05f * (220.f - b0) * std::pow(0.95f, 5.f);
  CHECK(bs.background()(12, 40) == doctest::Approx(expect).epsilon(1e-5));
  CHECK(bs.frames_seen() == 6);
  CHECK_THROWS_AS(bs.apply(noise_frame(w + 1, h, 2), {}), std::invalid_argument);
}

TEST_CASE("data motion: |flow| > 1 px/frame, detector blackout, scaled minimum area, frame policy (PITFALLS 11)") {
  const int w = 640, h = 360;
  std::vector<float> flow(2 * w * h, 0.f);
  auto fill = [&](int x0, int y0, int x1, int y1, float u, float v) {
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) {
        flow[y * w + x] = u;
        flow[w * h + y * w + x] = v;
      }
  };
  fill(100, 100, 138, 138, 0.8f, 0.8f);   // |f| = 1.13 > 1: 39x39 = 1521 px >= 1500, kept
  fill(300, 100, 337, 138, 1.5f, 0.f);    // 38x39 = 1482 px < 1500, dropped
  fill(400, 200, 499, 299, 1.f, 0.f);     // |f| = 1 exactly: not moving (strict)
  auto objs = motion_objects(flow.data(), w, h, {});
  REQUIRE(objs.size() == 1);
  CHECK(same(objs[0], B(100, 100, 138, 138)));
  CHECK(objs[0].cls == kClassMotionFlow);
  // A detector box over the moving region removes it.
  CHECK(motion_objects(flow.data(), w, h, {B(95, 95, 140, 140)}).empty());
  // A detector box over part of it leaves the rest (still >= 1500 px? 39x20 = 780: dropped).
  CHECK(motion_objects(flow.data(), w, h, {B(90, 119, 150, 200)}).empty());
  // The same field on a 320x180 grid: the minimum scales to 375 px.
  MotionParams mp;
  CHECK(scaled_min_area(mp.min_area_ref, 320, 180) == 375);

  // N frames give N-1 fields; every frame gets an entry under each policy.
  CHECK(flow_field_for_frame(0, 5, FlowFramePolicy::kPreviousFieldFrame0Reuses) == 0);
  CHECK(flow_field_for_frame(4, 5, FlowFramePolicy::kPreviousFieldFrame0Reuses) == 3);
  CHECK(flow_field_for_frame(0, 5, FlowFramePolicy::kPreviousFieldFrame0Empty) == -1);
  CHECK(flow_field_for_frame(1, 5, FlowFramePolicy::kPreviousFieldFrame0Empty) == 0);
  CHECK(flow_field_for_frame(4, 5, FlowFramePolicy::kNextFieldLastReuses) == 3);
  CHECK(flow_field_for_frame(2, 5, FlowFramePolicy::kNextFieldLastReuses) == 2);
  CHECK(flow_field_for_frame(0, 1, FlowFramePolicy::kPreviousFieldFrame0Reuses) == -1);
  std::vector<float> still(2 * w * h, 0.f);
  std::vector<const float*> fields{still.data(), flow.data(), still.data(), still.data()};
  auto per_frame = motion_objects_video(fields, w, h, 5, mp);
  REQUIRE(per_frame.size() == 5);
  CHECK(per_frame[0].empty());
  CHECK(per_frame[1].empty());
  CHECK(per_frame[2].size() == 1);   // field 1 = motion from frame 1 to 2, attributed to frame 2
  CHECK(per_frame[3].empty());
  // A static video of 5 frames: 4 zero fields, 0 objects on every frame.
  std::vector<const float*> zeros(4, still.data());
  for (auto pol : {FlowFramePolicy::kPreviousFieldFrame0Reuses, FlowFramePolicy::kPreviousFieldFrame0Empty,
                   FlowFramePolicy::kNextFieldLastReuses}) {
    mp.policy = pol;
    auto z = motion_objects_video(zeros, w, h, 5, mp);
    REQUIRE(z.size() == 5);
    for (const auto& o : z) CHECK(o.empty());
  }
  CHECK_THROWS_AS(motion_objects_video(zeros, w, h, 4, mp), std::invalid_argument);
}
