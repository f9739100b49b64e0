// The regions module (regions/): one inclusive-pixel IoU in float and double (PITFALLS.md item 8), region file
// text as detect, bgsub and score write it, and the recall of ground-truth regions (a missing track file is an
// error naming it, never a silently empty video).
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "regions/box.h"
#include "regions/recall.h"
#include "regions/region_file.h"
#include "tests/eval_test_util.h"

using namespace ssmtl;
using test::error_of;
using test::TempDir;

namespace {
Box obj(float x0, float y0, float x1, float y1, float score = 1.f) { return Box{x0, y0, x1, y1, score, 0}; }
}  // namespace

TEST_CASE("regions: one IoU, the same inclusive-pixel values in float and double (pitfall 8)") {
  CHECK(iou(RegionBox{10, 10, 19, 19}, RegionBox{10, 10, 20, 20}) == doctest::Approx(100.0 / 121.0).epsilon(1e-15));
  CHECK(iou(obj(10, 10, 19, 19), obj(10, 10, 20, 20)) == doctest::Approx(100.0 / 121.0).epsilon(1e-6));
  CHECK(iou(RegionBox{0, 0, 9, 9}, RegionBox{0, 0, 0, 9}) == 0.1);   // exactly 10/100: a match at 0.1
  CHECK(iou(obj(0, 0, 9, 9), obj(0, 0, 0, 9)) == 0.1f);
  CHECK(iou(RegionBox{3, 3, 3, 3}, RegionBox{3, 3, 3, 3}) == 1.0);   // one pixel: never 0/0
  CHECK(iou(obj(3, 3, 3, 3), obj(3, 3, 3, 3)) == 1.f);
  CHECK_THROWS_AS(iou(RegionBox{5, 0, 4, 4}, RegionBox{0, 0, 4, 4}), std::invalid_argument);
  // float -> double is exact, and back: a detection keeps its box through a region file's RegionBox
  const Box b = obj(1.5f, 2.25f, 10.125f, 20.f, 0.75f);
  const Box back = object_box(region_box(b), b.score, b.cls);
  CHECK(back.x0 == 1.5f);
  CHECK(back.x1 == 10.125f);
  CHECK(back.score == 0.75f);
  CHECK(box_str(region_box(b)) == "[1.5,2.25,10.125,20]");
}

TEST_CASE("regions: region file text as detect (6 digits) and score (9 digits) write it and back") {
  std::vector<std::vector<Box>> per_frame(3);
  per_frame[0] = {obj(1.5f, 2, 10.25f, 20, 0.5f)};
  per_frame[2] = {obj(0, 0, 9, 9), obj(100.123456f, 5, 120, 30, 0.25f)};
  const std::vector<Region> regions = regions_of(per_frame);
  REQUIRE(regions.size() == 3);
  CHECK(regions[1].frame == 2);
  CHECK(regions[2].box.x0 == static_cast<double>(100.123456f));
  CHECK(region_file_text(regions) == "0,1.5,2,10.25,20,0.5\n2,0,0,9,9,1\n2,100.123,5,120,30,0.25\n");
  CHECK(region_file_text({{4, {1, 2, 3, 4}, 0.123456789}}, 9) == "4,1,2,3,4,0.123456789\n");
  TempDir d("regions");
  save_regions(d.path() + "/v.txt", regions);
  const std::vector<Region> loaded = load_regions(d.path() + "/v.txt");
  REQUIRE(loaded.size() == 3);
  CHECK(loaded[0].box.x1 == 10.25);
  CHECK(loaded[2].box.x0 == 100.123);   // 6 significant digits, as every reader was given
  CHECK(loaded[2].score == 0.25);
}

TEST_CASE("regions: recall of ground-truth regions: a missing track file or a frame outside the video is an error") {
  TempDir d("regions");
  // Unsorted lines, track ids not contiguous (pitfall 9): 3 regions, frame 1's twice.
  const std::string tracks = d.write("v.txt", "7,1,0,0,9,9\n2,0,50,50,59,59\n7,1,5,0,14,9\n");
  std::vector<std::vector<Box>> objects(2);
  objects[0] = {obj(0, 0, 9, 9)};        // misses frame 0's region [50,50,59,59]
  objects[1] = {obj(0, 0, 14, 9)};       // one object over both regions of frame 1 (pitfall 10): IoU 2/3 each
  GtRecall r;
  add_gt_recall(r, tracks, objects);
  CHECK(r.regions == 3);
  CHECK(r.found == 2);
  CHECK(r.rate() == doctest::Approx(2.0 / 3.0));
  // IoU 0.09 < 0.1 is no match; IoU 0.1 exactly is (pitfall 8).
  GtRecall edge;
  add_gt_recall(edge, d.write("e.txt", "0,0,0,0,9,9\n0,1,0,0,9,9\n"), {{obj(0, 0, 0, 8)}, {obj(0, 0, 0, 9)}});
  CHECK(edge.found == 1);
  CHECK(error_of([&] { add_gt_recall(r, d.path() + "/missing.txt", objects); }).find("missing.txt") !=
        std::string::npos);
  const std::string outside = d.write("o.txt", "0,2,0,0,9,9\n");
  const std::string e = error_of([&] { add_gt_recall(r, outside, objects); });
  CHECK(e.find("o.txt") != std::string::npos);
  CHECK(e.find("frame 2 outside the video (2 frames)") != std::string::npos);
  CHECK(r.regions == 3);   // nothing counted from the failed files
}
