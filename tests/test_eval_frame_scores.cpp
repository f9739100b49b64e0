// Score post-processing: Gaussian smoothing and the 3D mean filter vs scipy, object -> frame scores
// (DESIGN.md section 7) and PITFALLS.md item 13.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "eval/frame_scores.h"
#include "eval/postprocess.h"
#include "tests/reference.h"

using namespace ssmtl;
using namespace ssmtl::eval;

namespace {
std::vector<double> hi_lo(const test::RefFile& ref, const std::string& stem) {
  auto hi = ref.get(stem + "_hi").to_vector(), lo = ref.get(stem + "_lo").to_vector();
  std::vector<double> out(hi.size());
  for (size_t i = 0; i < hi.size(); ++i) out[i] = static_cast<double>(hi[i]) + static_cast<double>(lo[i]);
  return out;
}
std::vector<double> doubles(const Tensor& t) {
  auto v = t.to_vector();
  return {v.begin(), v.end()};
}
Region obj(int64_t frame, double x0, double y0, double x1, double y1, double score) {
  return Region{frame, RegionBox{x0, y0, x1, y1}, score};
}
}  // namespace

TEST_CASE("eval smoothing: equals scipy gaussian_filter1d(mode='nearest', truncate=3)") {
  test::RefFile ref("eval_smooth");
  const int count = static_cast<int>(ref.scalar("g_count"));
  REQUIRE(count == 8);
  for (int k = 0; k < count; ++k) {
    const std::string key = "g" + std::to_string(k);
    auto x = doubles(ref.get(key + "_x"));
    auto expected = hi_lo(ref, key);
    auto y = gaussian_smooth(x, ref.scalar(key + "_sigma"), 3.0);
    CAPTURE(k);
    REQUIRE(y.size() == x.size());   // centred, same length
    for (size_t i = 0; i < y.size(); ++i) CHECK(std::fabs(y[i] - expected[i]) < 1e-12);
  }
}

TEST_CASE("eval smoothing: kernel, no shift, per-video only, sigma 0 and bad sigma") {
  auto w = gaussian_kernel(1.0, 3.0);
  REQUIRE(w.size() == 7);   // radius int(3 * 1 + 0.5) = 3
  double sum = 0;
  for (double v : w) sum += v;
  CHECK(sum == doctest::Approx(1.0).epsilon(1e-15));
  CHECK(w[3] == doctest::Approx(1.0 / (1 + 2 * (std::exp(-0.5) + std::exp(-2.0) + std::exp(-4.5)))).epsilon(1e-14));
  CHECK(gaussian_kernel(2.4, 3.0).size() == 15);   // radius int(7.7) = 7
  // A centred spike stays centred: the output is symmetric around it.
  std::vector<double> spike(21, 0.0);
  spike[10] = 1.0;
  auto s = gaussian_smooth(spike, 2.0);
  for (int d = 1; d <= 10; ++d) CHECK(s[10 - d] == doctest::Approx(s[10 + d]).epsilon(1e-15));
  CHECK(s[10] > s[9]);
  // A constant video stays constant ('nearest' edges).
  for (double v : gaussian_smooth(std::vector<double>(9, 0.25), 4.0)) CHECK(v == doctest::Approx(0.25).epsilon(1e-15));
  CHECK(gaussian_smooth({1, 5, 2}, 0.0) == std::vector<double>{1, 5, 2});
  CHECK(gaussian_smooth({}, 3.0).empty());
  CHECK_THROWS_AS(gaussian_smooth({1, 2}, -1.0), std::invalid_argument);
  CHECK_THROWS_AS(gaussian_smooth({1, 2}, std::nan("")), std::invalid_argument);
}

TEST_CASE("eval frame scores: 3D mean filter equals scipy uniform_filter(mode='nearest')") {
  test::RefFile ref("eval_smooth");
  Tensor vol = ref.get("u_vol");
  REQUIRE(vol.shape() == Shape{6, 4, 5});
  const int count = static_cast<int>(ref.scalar("u_count"));
  for (int k = 0; k < count; ++k) {
    const std::string key = "u" + std::to_string(k);
    auto size = ref.get(key + "_size").to_vector();
    auto v = doubles(vol);
    mean_filter_3d(v, 6, 4, 5, static_cast<int>(size[0]), static_cast<int>(size[1]), static_cast<int>(size[2]));
    auto expected = hi_lo(ref, key);
    CAPTURE(k);
    for (size_t i = 0; i < v.size(); ++i) CHECK(std::fabs(v[i] - expected[i]) < 1e-12);
  }
  std::vector<double> v(8, 1.0);
  CHECK_THROWS_AS(mean_filter_3d(v, 2, 2, 2, 2, 1, 1), std::invalid_argument);   // even size: not centred
  CHECK_THROWS_AS(mean_filter_3d(v, 2, 2, 3, 1, 1, 1), std::invalid_argument);   // wrong volume size
}

TEST_CASE("eval frame scores: pitfall 13, frames without objects get 0 and the length is the frame count") {
  std::vector<Region> objs = {obj(1, 0, 0, 9, 9, 0.4), obj(1, 20, 20, 29, 29, 0.7), obj(3, 5, 5, 6, 6, 0.2)};
  CHECK(frame_scores_max(objs, 5) == std::vector<double>{0, 0.7, 0, 0.2, 0});
  CHECK(frame_scores_max({}, 4) == std::vector<double>{0, 0, 0, 0});
  CHECK(frame_scores_max({obj(0, 0, 0, 1, 1, -2.0), obj(0, 0, 0, 1, 1, -3.0)}, 1) == std::vector<double>{-2.0});
  CHECK_THROWS_WITH_AS(frame_scores_max({obj(5, 0, 0, 1, 1, 0.1)}, 5), doctest::Contains("frame 5"),
                       std::invalid_argument);
  CHECK_THROWS_AS(frame_scores_max({obj(0, 0, 0, 1, 1, std::nan(""))}, 5), std::invalid_argument);
  // Map mode without filtering (1x1x1) reduces to the per-frame max.
  AnomalyMapOptions none{20, 1, 1, 1};
  CHECK(frame_scores_from_maps(objs, 5, 100, 60, none) == std::vector<double>{0, 0.7, 0, 0.2, 0});
  CHECK(frame_scores_from_maps({}, 3, 100, 60).size() == 3);
}

TEST_CASE("eval frame scores: pitfall 13, task-major scores averaged per object") {
  CHECK(average_task_scores({1, 10, 2, 20, 3, 30}, 2, 3) == std::vector<double>{2, 20});
  CHECK(average_task_scores({4, 5}, 2, 1) == std::vector<double>{4, 5});
  CHECK(average_task_scores({}, 0, 4).empty());
  CHECK_THROWS_AS(average_task_scores({1, 2, 3}, 2, 2), std::invalid_argument);
  CHECK_THROWS_AS(average_task_scores({1, 2}, 2, 0), std::invalid_argument);
}

TEST_CASE("eval frame scores: anomaly map cells, clipping and the 3D mean filter") {
  // 60x40 frame, 20-pixel cells: a 3x2 grid. A box covering pixels 15..25 in x touches cells 0 and 1.
  std::vector<float> maps;
  AnomalyMapOptions none{20, 1, 1, 1};
  auto f = frame_scores_from_maps({obj(0, 15, 0, 25, 5, 0.6), obj(0, 0, 0, 59, 39, 0.1)}, 1, 60, 40, none, &maps);
  REQUIRE(maps.size() == 6);
  CHECK(maps == std::vector<float>{0.6f, 0.6f, 0.1f, 0.1f, 0.1f, 0.1f});
  CHECK(f == std::vector<double>{0.6});
  // Boxes partly outside are clipped; a box entirely outside covers nothing; the last partial cell exists.
  frame_scores_from_maps({obj(0, -30, -30, 3, 3, 0.5), obj(0, 70, 0, 90, 5, 0.9), obj(0, 59, 39, 80, 80, 0.3)}, 1,
                         61, 41, none, &maps);   // 61x41 -> 4x3 grid
  REQUIRE(maps.size() == 12);
  // Non-zero cells: (x 0, y 0) from the first box; x 2..3, y 1..2 from the box clipped to [59,39,60,40].
  CHECK(maps == std::vector<float>{0.5f, 0, 0, 0, 0, 0, 0.3f, 0.3f, 0, 0, 0.3f, 0.3f});
  // Filtered: one object in the middle frame of 3, one cell of a 1x3 grid; filter 3x1x3 averages 9 values
  // ('nearest' edges): frame 1 centre = (0 + 0.9 + 0) / 3 in time x (1/3 in x, one non-zero cell) = 0.1.
  AnomalyMapOptions o{20, 3, 1, 3};
  auto g = frame_scores_from_maps({obj(1, 20, 0, 39, 19, 0.9)}, 3, 60, 20, o, &maps);
  REQUIRE(g.size() == 3);
  CHECK(g[1] == doctest::Approx(0.1).epsilon(1e-12));
  // Frame 0: time window {0 (nearest), 0, 1} -> only frame 1 contributes: 0.9 / 9.
  CHECK(g[0] == doctest::Approx(0.1).epsilon(1e-12));
  CHECK(maps[0] == doctest::Approx(0.1).epsilon(1e-6));   // edge cell: window {0, 0, 1} in x hits the object once
  CHECK_THROWS_AS(frame_scores_from_maps({}, 3, 0, 20), std::invalid_argument);
  CHECK_THROWS_AS(frame_scores_from_maps({}, 3, 60, 20, AnomalyMapOptions{0, 1, 1, 1}), std::invalid_argument);
  CHECK_THROWS_AS(frame_scores_from_maps({}, 3, 60, 20, AnomalyMapOptions{20, 2, 1, 1}), std::invalid_argument);
  CHECK_THROWS_AS(frame_scores_from_maps({obj(3, 0, 0, 1, 1, 0.1)}, 3, 60, 20), std::invalid_argument);
}

TEST_CASE("eval frame scores: objects lower than min_height write nothing into the map") {
  // 60x40 frame, 20-pixel cells, no filtering. A 10-row box (y 0..9) and a 30-row box (y 5..34).
  std::vector<Region> objs = {obj(0, 0, 0, 9, 9, 0.9), obj(0, 40, 5, 59, 34, 0.3)};
  AnomalyMapOptions o{20, 1, 1, 1};
  o.min_height = 10;   // the 10-row box is exactly the minimum: kept
  CHECK(frame_scores_from_maps(objs, 1, 60, 40, o) == std::vector<double>{0.9});
  o.min_height = 11;   // now only the tall box writes
  std::vector<float> maps;
  CHECK(frame_scores_from_maps(objs, 1, 60, 40, o, &maps) == std::vector<double>{0.3});
  CHECK(maps == std::vector<float>{0, 0, 0.3f, 0, 0, 0.3f});
  // The height counts after clipping to the frame: rows -20..12 keep 13 rows (0..12).
  o.min_height = 14;
  CHECK(frame_scores_from_maps({obj(0, 0, -20, 9, 12, 0.5)}, 1, 60, 40, o) == std::vector<double>{0});
  o.min_height = 13;
  CHECK(frame_scores_from_maps({obj(0, 0, -20, 9, 12, 0.5)}, 1, 60, 40, o) == std::vector<double>{0.5});
  o.min_height = -1;
  CHECK_THROWS_WITH_AS(frame_scores_from_maps(objs, 1, 60, 40, o), doctest::Contains("min_height"),
                       std::invalid_argument);
}
