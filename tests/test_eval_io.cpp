// Loaders of score, label (eval/io.h), region and track files (regions/region_file.h); PITFALLS.md items 4, 5, 8, 9.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "eval/evaluate.h"
#include "eval/io.h"
#include "regions/region_file.h"
#include "tests/eval_test_util.h"

using namespace ssmtl;
using namespace ssmtl::eval;
using test::TempDir;

TEST_CASE("eval io: scores with no final newline, CRLF, spaces and trailing blank lines") {
  TempDir d;
  CHECK(load_scores(d.write("a.txt", "0.5\n1e-3\n-2")) == std::vector<double>{0.5, 1e-3, -2});
  CHECK(load_scores(d.write("b.txt", " 0.25 \r\n3\r\n\r\n\n")) == std::vector<double>{0.25, 3});
  CHECK(load_scores(d.write("c.txt", "")).empty());
  CHECK(load_labels(d.write("l.txt", "0\n1\n1")) == std::vector<int>{0, 1, 1});
}

TEST_CASE("eval io: bad score and label lines name the file, the line and the frame") {
  TempDir d;
  const std::string nan = d.write("05.txt", "0.1\n0.2\nnan\n0.4\n");
  CHECK_THROWS_WITH_AS(load_scores(nan), (nan + ":3: score is NaN (frame 2)").c_str(), std::runtime_error);
  const std::string word = d.write("06.txt", "0.1\nabc\n");
  CHECK_THROWS_WITH_AS(load_scores(word), (word + ":2: score 'abc' is not a number (frame 1)").c_str(),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(load_scores(d.write("07.txt", "0.1\ninf\n")), doctest::Contains(":2: score 'inf' is not finite"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(load_scores(d.write("08.txt", "0.1\n\n0.3\n")), doctest::Contains("08.txt:2: empty line"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(load_scores(d.write("09.txt", "0.1,0.2\n")), doctest::Contains("09.txt:1: expected one score"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(load_scores(d.write("10.txt", "0.5x\n")), doctest::Contains("10.txt:1: score '0.5x' is not"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(load_labels(d.write("11.txt", "0\n2\n")), doctest::Contains("11.txt:2: label '2' is not 0 or 1"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(load_scores(d.path() + "/missing.txt"), doctest::Contains("missing.txt: cannot open"),
                       std::runtime_error);
}

TEST_CASE("eval io: region files, with field and box errors") {
  TempDir d;
  auto r = load_regions(d.write("r.txt", "3, 10,10,20,20, 0.5\n0,0,0,0,9,0.25"));
  REQUIRE(r.size() == 2);
  CHECK(r[0].frame == 3);
  CHECK(r[0].box.x0 == 10);
  CHECK(r[0].box.y1 == 20);
  CHECK(r[0].score == 0.5);
  CHECK(r[1].box.x1 == 0);
  CHECK(r[1].score == 0.25);
  // The shared toy file ends without a newline and with a trailing space.
  auto toy = load_regions(std::string(SSMTL_SHARED_DIR) + "/data/rbdc_toy/toy_anomalies/01.txt");
  REQUIRE(toy.size() == 6);
  CHECK(toy[4].score == 0.1);
  CHECK(toy[5].frame == 4);
  // Pitfall 8: x_max < x_min is rejected.
  CHECK_THROWS_WITH_AS(load_regions(d.write("x.txt", "0,10,10,20,20,0.5\n1,20,0,10,5,0.5\n")),
                       doctest::Contains("x.txt:2: x_max 10 < x_min 20"), std::runtime_error);
  CHECK_THROWS_WITH_AS(load_regions(d.write("y.txt", "1,0,9,10,5,0.5\n")), doctest::Contains("y.txt:1: y_max 5 < y_min 9"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(load_regions(d.write("f.txt", "1,0,0,10,10\n")),
                       doctest::Contains("f.txt:1: expected 6 comma-separated fields"), std::runtime_error);
  CHECK_THROWS_WITH_AS(load_regions(d.write("g.txt", "1,0,0,10,10,0.5,7\n")), doctest::Contains("got 7"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(load_regions(d.write("n.txt", "1,0,0,10,10,nan\n")), doctest::Contains("n.txt:1: score is NaN"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(load_regions(d.write("m.txt", "-1,0,0,10,10,0.5\n")), doctest::Contains("negative"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(load_regions(d.write("h.txt", "1.5,0,0,10,10,0.5\n")), doctest::Contains("not an integer"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(load_regions(d.write("e.txt", "1,0,,10,10,0.5\n")), doctest::Contains("e.txt:1: empty y_min"),
                       std::runtime_error);
}

TEST_CASE("eval io: pitfall 9, unsorted tracks with non-contiguous ids load as they are") {
  TempDir d;
  auto t = load_tracks(d.write("t.txt", "7,3,0,0,5,5\n2,0,1,1,4,4\n7,1,0,0,5,5\n40,0,10,10,12,12\n2,1,1,1,4,4"));
  REQUIRE(t.size() == 5);
  CHECK(t[0].track_id == 7);
  CHECK(t[0].frame == 3);
  CHECK(t[1].track_id == 2);
  CHECK(t[3].track_id == 40);
  CHECK(t[3].box.x0 == 10);
  CHECK(t[4].frame == 1);
  CHECK_THROWS_WITH_AS(load_tracks(d.write("u.txt", "0,1,9,0,5,5\n")), doctest::Contains("u.txt:1: x_max 5 < x_min 9"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(load_tracks(d.write("v.txt", "a,1,0,0,5,5\n")), doctest::Contains("track id 'a' is not a number"),
                       std::runtime_error);
  // The shared ground truth loads: Ped2 video 01 (derived tracks) and a ShanghaiTech video.
  auto ped = load_tracks(std::string(SSMTL_SHARED_DIR) + "/data/ped2/testing/gt_tracks_derived/01.txt");
  CHECK(ped.size() > 100);
  CHECK(ped[0].frame == 60);
  auto sh = load_tracks(std::string(SSMTL_SHARED_DIR) + "/data/shanghaitech/testing/gt_tracks/01_0014.txt");
  CHECK_FALSE(sh.empty());
}

TEST_CASE("eval io: pitfall 5, label and score lengths must agree, intervals are 1-based inclusive") {
  CHECK(labels_from_intervals({{3, 4}}, 6) == std::vector<int>{0, 0, 1, 1, 0, 0});
  CHECK(labels_from_intervals({{1, 1}, {6, 6}}, 6) == std::vector<int>{1, 0, 0, 0, 0, 1});
  CHECK_THROWS_AS(labels_from_intervals({{0, 2}}, 6), std::invalid_argument);
  CHECK_THROWS_AS(labels_from_intervals({{5, 7}}, 6), std::invalid_argument);
  CHECK_THROWS_AS(labels_from_intervals({{4, 3}}, 6), std::invalid_argument);
  TempDir d;
  d.write("scores/01.txt", "0.1\n0.2\n0.3\n0.4\n0.5\n");
  for (int n : {4, 6}) {
    d.write("labels/01.txt", test::lines_of(std::vector<int>(static_cast<size_t>(n), 0)));
    CAPTURE(n);
    const std::string expected = "video 01: 5 scores in " + d.path() + "/scores/01.txt but " + std::to_string(n) +
                                 " labels in " + d.path() + "/labels/01.txt";
    CHECK_THROWS_WITH_AS(load_video_scores(d.path() + "/scores", d.path() + "/labels"), expected.c_str(),
                         std::runtime_error);
  }
  d.write("labels/01.txt", "0\n0\n1\n1\n0");
  auto v = load_video_scores(d.path() + "/scores", d.path() + "/labels");
  REQUIRE(v.size() == 1);
  CHECK(v[0].labels == std::vector<int>{0, 0, 1, 1, 0});
}

TEST_CASE("eval io: save_scores round-trips and list_video_files finds <video>.txt") {
  TempDir d;
  std::vector<double> s = {0.1, 1.0 / 3.0, -2.5e-7, 12345.678};
  save_scores(d.path() + "/out/01.txt", s);
  auto back = load_scores(d.path() + "/out/01.txt");
  REQUIRE(back.size() == 4);
  for (size_t i = 0; i < 4; ++i) CHECK(back[i] == doctest::Approx(s[i]).epsilon(1e-8));
  d.write("out/02.txt", "1\n");
  d.write("out/notes.md", "x");
  auto files = list_video_files(d.path() + "/out");
  REQUIRE(files.size() == 2);
  CHECK(files.begin()->first == "01");
  CHECK_THROWS_AS(list_video_files(d.path() + "/nowhere"), std::runtime_error);
}
