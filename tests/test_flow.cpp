// Dense optical flow (data/detect/flow.h): end-point error (EPE) on frame pairs with known motion made from a
// real Ped2 frame, a static pair, and real consecutive Ped2 frames (the motion detector's threshold of
// 1 px/frame, DESIGN.md section 2).
//
// Known motion: next(y) = frame(T^-1(y)) sampled with bicubic (Keys, a = -0.5) interpolation, so the true
// flow at pixel x of prev is T(x) - x. EPE = mean |flow - truth| over the interior: pixels at least 16 px
// from the border whose true destination is too (the same pairs are in bench/compare_flow.py, which
// also runs OpenCV on them).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

// Static stb_image in this file only, so its symbols cannot clash with the data loader's definition.
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_image.h>
#pragma GCC diagnostic pop

#include "data/detect/flow.h"
#include "data/detect/flow_internal.h"
#include "tensor/rng.h"

using namespace ssmtl;

namespace {

struct Gray {
  int H = 0, W = 0;
  std::vector<float> v;
};

Gray load_gray(const std::string& rel) {
  const std::string path = std::string(SSMTL_SHARED_DIR) + "/data/ped2/testing/frames/" + rel;
  int w = 0, h = 0, c = 0;
  unsigned char* px = stbi_load(path.c_str(), &w, &h, &c, 1);  // 1 channel: stb's luma
  if (!px) throw std::runtime_error("test_flow: cannot read " + path);
  Gray g{h, w, std::vector<float>(px, px + size_t(w) * h)};
  stbi_image_free(px);
  return g;
}

// Bicubic (Keys, a = -0.5) sample of img at (sx, sy), edge pixels replicated.
float bicubic(const Gray& img, double sx, double sy) {
  const double fx0 = std::floor(sx), fy0 = std::floor(sy);
  auto weights = [](double t, double w[4]) {
    const double t2 = t * t, t3 = t2 * t;
    w[0] = (-t3 + 2 * t2 - t) / 2;
    w[1] = (3 * t3 - 5 * t2 + 2) / 2;
    w[2] = (-3 * t3 + 4 * t2 + t) / 2;
    w[3] = (t3 - t2) / 2;
  };
  double wx[4], wy[4];
  weights(sx - fx0, wx);
  weights(sy - fy0, wy);
  double s = 0;
  for (int j = 0; j < 4; ++j) {
    const int yy = std::clamp(int(fy0) + j - 1, 0, img.H - 1);
    for (int i = 0; i < 4; ++i) {
      const int xx = std::clamp(int(fx0) + i - 1, 0, img.W - 1);
      s += wy[j] * wx[i] * img.v[size_t(yy) * img.W + xx];
    }
  }
  return float(std::clamp(s, 0.0, 255.0));
}

// A pair with known motion: T maps a prev position to its next position, Tinv the reverse.
struct Pair {
  Gray prev, next;
  std::vector<float> truth;  // (2, H, W)
};
using Map = std::function<void(double x, double y, double& ox, double& oy)>;

Pair warp_pair(const Gray& img, const Map& T, const Map& Tinv) {
  Pair p{img, img, std::vector<float>(2 * size_t(img.H) * img.W)};
  const size_t plane = size_t(img.H) * img.W;
  for (int y = 0; y < img.H; ++y)
    for (int x = 0; x < img.W; ++x) {
      double sx, sy, tx, ty;
      Tinv(x, y, sx, sy);
      p.next.v[size_t(y) * img.W + x] = bicubic(img, sx, sy);
      T(x, y, tx, ty);
      p.truth[size_t(y) * img.W + x] = float(tx - x);
      p.truth[plane + size_t(y) * img.W + x] = float(ty - y);
    }
  return p;
}

Pair shift_pair(const Gray& img, double dx, double dy) {
  return warp_pair(img, [=](double x, double y, double& ox, double& oy) { ox = x + dx, oy = y + dy; },
                   [=](double x, double y, double& ox, double& oy) { ox = x - dx, oy = y - dy; });
}

// Rotation by `deg` degrees and zoom `s` about the image centre.
Pair similarity_pair(const Gray& img, double deg, double s) {
  const double th = deg * M_PI / 180, c = std::cos(th), si = std::sin(th);
  const double cx = (img.W - 1) / 2.0, cy = (img.H - 1) / 2.0;
  return warp_pair(
      img,
      [=](double x, double y, double& ox, double& oy) {
        ox = cx + s * (c * (x - cx) - si * (y - cy));
        oy = cy + s * (si * (x - cx) + c * (y - cy));
      },
      [=](double x, double y, double& ox, double& oy) {
        ox = cx + (c * (x - cx) + si * (y - cy)) / s;
        oy = cy + (-si * (x - cx) + c * (y - cy)) / s;
      });
}

constexpr int kMargin = 16;

double interior_epe(const std::vector<float>& flow, const Pair& p) {
  const int H = p.prev.H, W = p.prev.W;
  const size_t plane = size_t(H) * W;
  double sum = 0;
  size_t n = 0;
  for (int y = kMargin; y < H - kMargin; ++y)
    for (int x = kMargin; x < W - kMargin; ++x) {
      const size_t i = size_t(y) * W + x;
      const double tx = x + p.truth[i], ty = y + p.truth[plane + i];
      if (tx < kMargin || tx >= W - kMargin || ty < kMargin || ty >= H - kMargin) continue;
      sum += std::hypot(flow[i] - p.truth[i], flow[plane + i] - p.truth[plane + i]);
      ++n;
    }
  REQUIRE(n > size_t(H) * W / 3);
  return sum / double(n);
}

std::vector<float> magnitude(const std::vector<float>& flow, size_t plane) {
  std::vector<float> m(plane);
  for (size_t i = 0; i < plane; ++i) m[i] = std::hypot(flow[i], flow[plane + i]);
  return m;
}

}  // namespace

TEST_CASE("flow: polynomial expansion recovers a quadratic signal exactly") {
  // f = 7 + 2x - 3y + 0.05x^2 - 0.02y^2 + 0.03xy. At pixel (x0, y0), in local coordinates (u, v):
  // A = [[0.05, 0.015], [0.015, -0.02]], b = (2 + 0.1 x0 + 0.03 y0, -3 - 0.04 y0 + 0.03 x0).
  const int H = 20, W = 27, r = 3;
  std::vector<float> img(size_t(H) * W);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      img[size_t(y) * W + x] = 7.f + 2.f * x - 3.f * y + 0.05f * x * x - 0.02f * y * y + 0.03f * x * y;
  std::vector<float> out(flow_detail::kPolyStride * size_t(H) * W), scratch(3 * size_t(H) * W + flow_detail::kScratchSlack);
  flow_detail::poly_expand(out.data(), img.data(), H, W, 1.5f, r, scratch.data());
  for (int y = r; y < H - r; ++y)
    for (int x = r; x < W - r; ++x) {
      const float* o = out.data() + (size_t(y) * W + x) * flow_detail::kPolyStride;
      CHECK(o[0] == doctest::Approx(0.05).epsilon(1e-3));
      CHECK(o[1] == doctest::Approx(-0.02).epsilon(1e-3));
      CHECK(o[2] == doctest::Approx(0.015).epsilon(1e-3));
      CHECK(o[3] == doctest::Approx(2 + 0.1 * x + 0.03 * y).epsilon(1e-4));
      CHECK(o[4] == doctest::Approx(-3 - 0.04 * y + 0.03 * x).epsilon(1e-4));
      CHECK(o[5] == 0.f);
    }
}

TEST_CASE("flow: integer and sub-pixel global shifts of a real Ped2 frame") {
  // Bound 0.1 px mean EPE for every shift (measured 0.001-0.03; OpenCV Farneback 0.34-2.6, see
  // bench/compare_flow.py). The mean flow must also match the shift to 0.05 px.
  const Gray f0 = load_gray("01/000.jpg");
  const double shifts[][2] = {{2, 0}, {0, -1.5}, {3.3, 1.7}, {8, -5}};
  for (const auto& s : shifts) {
    CAPTURE(s[0]);
    CAPTURE(s[1]);
    const Pair p = shift_pair(f0, s[0], s[1]);
    const std::vector<float> flow = dense_flow(p.prev.v.data(), p.next.v.data(), f0.H, f0.W);
    CHECK(interior_epe(flow, p) < 0.1);
    const size_t plane = size_t(f0.H) * f0.W;
    double mx = 0, my = 0;
    for (size_t i = 0; i < plane; ++i) mx += flow[i], my += flow[plane + i];
    CHECK(std::abs(my / plane - s[1]) < 0.05);
    CHECK(std::abs(mx / plane - s[0]) < 0.05);
  }
}

TEST_CASE("flow: rotation and zoom warps of a real Ped2 frame") {
  // Flows up to ~10 px that vary across the frame. Bounds (measured): 2 deg + zoom 1.03 < 0.25 (0.13);
  // -4 deg + zoom 0.95 < 0.4 (0.24). OpenCV Farneback: 1.6 and more; DIS 0.10.
  const Gray f0 = load_gray("01/000.jpg");
  const Pair a = similarity_pair(f0, 2.0, 1.03), b = similarity_pair(f0, -4.0, 0.95);
  CHECK(interior_epe(dense_flow(a.prev.v.data(), a.next.v.data(), f0.H, f0.W), a) < 0.25);
  CHECK(interior_epe(dense_flow(b.prev.v.data(), b.next.v.data(), f0.H, f0.W), b) < 0.4);
}

TEST_CASE("flow: a static pair has no moving pixel") {
  const Gray f0 = load_gray("01/000.jpg");
  const size_t plane = size_t(f0.H) * f0.W;
  // Identical frames: exactly zero flow (every displacement equation reads 0 = 0).
  const std::vector<float> same = dense_flow(f0.v.data(), f0.v.data(), f0.H, f0.W);
  CHECK(*std::max_element(same.begin(), same.end()) == 0.f);
  CHECK(*std::min_element(same.begin(), same.end()) == 0.f);
  // The frame against itself plus Gaussian noise of std 2 (sensor noise): every pixel below the motion
  // threshold of 1 px/frame, borders included (measured max 0.69), mean below 0.1.
  Rng rng(11);
  std::vector<float> noisy(f0.v);
  for (float& v : noisy) v = std::clamp(v + float(2 * rng.normal()), 0.f, 255.f);
  const std::vector<float> m = magnitude(dense_flow(f0.v.data(), noisy.data(), f0.H, f0.W), plane);
  CHECK(*std::max_element(m.begin(), m.end()) < 1.f);
  double mean = 0;
  for (float v : m) mean += v;
  CHECK(mean / plane < 0.1);
}

TEST_CASE("flow: consecutive real Ped2 frames: pedestrians move, the background does not") {
  // Ped2 test 01, frames 000 -> 001. Moving pixels: |next - prev| > 25 (the walkers); background:
  // pixels with no such change within 15 px (Chebyshev). Measured: 31% of the moving pixels and 0.9% of
  // the background (small blobs at the image edges and in foliage) exceed 1 px/frame, max 2.2.
  const Gray a = load_gray("01/000.jpg"), b = load_gray("01/001.jpg");
  const int H = a.H, W = a.W;
  const size_t plane = size_t(H) * W;
  const std::vector<float> m = magnitude(dense_flow(a.v.data(), b.v.data(), H, W), plane);
  std::vector<unsigned char> changed(plane), near(plane, 0);
  for (size_t i = 0; i < plane; ++i) changed[i] = std::abs(a.v[i] - b.v[i]) > 25.f;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      if (changed[size_t(y) * W + x])
        for (int yy = std::max(0, y - 15); yy <= std::min(H - 1, y + 15); ++yy)
          std::fill(near.begin() + size_t(yy) * W + std::max(0, x - 15),
                    near.begin() + size_t(yy) * W + std::min(W - 1, x + 15) + 1, 1);
  size_t n_moving = 0, moving_fast = 0, n_bg = 0, bg_fast = 0;
  float moving_max = 0;
  for (size_t i = 0; i < plane; ++i) {
    if (changed[i]) {
      ++n_moving;
      moving_fast += m[i] > 1.f;
      moving_max = std::max(moving_max, m[i]);
    } else if (!near[i]) {
      ++n_bg;
      bg_fast += m[i] > 1.f;
    }
  }
  REQUIRE(n_moving > 1000);
  REQUIRE(n_bg > plane / 2);
  CHECK(double(moving_fast) / n_moving > 0.2);
  CHECK(moving_max > 1.5f);
  CHECK(double(bg_fast) / n_bg < 0.02);
}

TEST_CASE("flow: deterministic, same result for 1 and 2 threads") {
  const Gray f0 = load_gray("01/000.jpg");
  const Pair p = shift_pair(f0, 1.3, -0.6);
  const std::vector<float> r1 = dense_flow(p.prev.v.data(), p.next.v.data(), f0.H, f0.W);
  const std::vector<float> r2 = dense_flow(p.prev.v.data(), p.next.v.data(), f0.H, f0.W);
  CHECK(r1 == r2);
#ifdef _OPENMP
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  const std::vector<float> one = dense_flow(p.prev.v.data(), p.next.v.data(), f0.H, f0.W);
  omp_set_num_threads(2);
  const std::vector<float> two = dense_flow(p.prev.v.data(), p.next.v.data(), f0.H, f0.W);
  omp_set_num_threads(before);
  CHECK(one == two);
  CHECK(one == r1);
#endif
}

TEST_CASE("flow: small images, the output-pointer overload and options") {
  // Sizes below one pyramid step and below the filter radii still give finite flows.
  for (const auto& hw : {std::pair{1, 1}, std::pair{3, 5}, std::pair{17, 2}, std::pair{33, 40}}) {
    const int H = hw.first, W = hw.second;
    std::vector<float> a(size_t(H) * W), b(size_t(H) * W);
    for (int i = 0; i < H * W; ++i) a[i] = float((i * 37) % 255), b[i] = float((i * 37 + 11) % 255);
    std::vector<float> flow(2 * size_t(H) * W, -1.f);
    dense_flow(flow.data(), a.data(), b.data(), H, W);
    for (float v : flow) CHECK(std::isfinite(v));
    CHECK(flow == dense_flow(a.data(), b.data(), H, W));
  }
  // A shift of 8 px needs the pyramid: one level cannot see it (window radius 8, no prior).
  const Gray f0 = load_gray("01/000.jpg");
  const Pair p = shift_pair(f0, 8, -5);
  FlowOptions one_level;
  one_level.levels = 1;
  CHECK(interior_epe(dense_flow(p.prev.v.data(), p.next.v.data(), f0.H, f0.W, one_level), p) > 1.0);
}

TEST_CASE("flow: invalid arguments throw std::invalid_argument") {
  std::vector<float> a(12, 1.f), b(12, 2.f), flow(24);
  CHECK_THROWS_AS(dense_flow(flow.data(), a.data(), b.data(), 0, 12), std::invalid_argument);
  CHECK_THROWS_AS(dense_flow(flow.data(), a.data(), b.data(), 3, -4), std::invalid_argument);
  CHECK_THROWS_AS(dense_flow(nullptr, a.data(), b.data(), 3, 4), std::invalid_argument);
  CHECK_THROWS_AS(dense_flow(flow.data(), a.data(), nullptr, 3, 4), std::invalid_argument);
  FlowOptions o;
  o.levels = 0;
  CHECK_THROWS_AS(dense_flow(flow.data(), a.data(), b.data(), 3, 4, o), std::invalid_argument);
  o = {};
  o.iterations = 0;
  CHECK_THROWS_AS(dense_flow(flow.data(), a.data(), b.data(), 3, 4, o), std::invalid_argument);
  o = {};
  o.poly_sigma = 0.f;
  CHECK_THROWS_AS(dense_flow(flow.data(), a.data(), b.data(), 3, 4, o), std::invalid_argument);
  o = {};
  o.window_sigma = NAN;
  CHECK_THROWS_AS(dense_flow(flow.data(), a.data(), b.data(), 3, 4, o), std::invalid_argument);
  o = {};
  o.damping = -1.f;
  CHECK_THROWS_AS(dense_flow(flow.data(), a.data(), b.data(), 3, 4, o), std::invalid_argument);
  CHECK_THROWS_WITH_AS(dense_flow(a.data(), b.data(), 0, 4), doctest::Contains("0x4"), std::invalid_argument);
}
