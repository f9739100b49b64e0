// Task score normalisation with statistics of normal objects (eval/task_normalize.h). Expected values by hand:
// mean/std are population statistics; log-zscore works on log(max(s, 1e-12)).
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "eval/task_normalize.h"

using ssmtl::eval::TaskNormalizer;
using Scores = std::map<std::string, std::vector<float>>;

TEST_CASE("task normalisation: none is the plain mean of the task scores, 'object' ignored") {
  TaskNormalizer n("none");
  n.fit({{"a", {1, 2}}});   // fits nothing
  CHECK(n.stats().empty());
  auto o = n.combine({{"a", {1, 4}}, {"b", {3, 0}}, {"object", {99, 99}}});
  REQUIRE(o.size() == 2);
  CHECK(o[0] == doctest::Approx(2.0));
  CHECK(o[1] == doctest::Approx(2.0));
}

TEST_CASE("task normalisation: zscore with normal statistics") {
  TaskNormalizer n("zscore");
  n.fit({{"a", {1, 2, 3, 4}}, {"b", {0.1f, 0.1f, 0.3f, 0.3f}}, {"object", {0, 0, 0, 0}}});
  REQUIRE(n.stats().size() == 2);   // "object" is not a task
  CHECK(n.stats().at("a").mean == doctest::Approx(2.5));
  CHECK(n.stats().at("a").std == doctest::Approx(1.1180339887));
  CHECK(n.stats().at("b").std == doctest::Approx(0.1).epsilon(1e-6));
  CHECK(n.stats().at("a").count == 4);
  auto o = n.combine({{"a", {2.5f, 5}}, {"b", {0.2f, 0.5f}}});
  CHECK(o[0] == doctest::Approx(0.0).epsilon(1e-6));
  CHECK(o[1] == doctest::Approx((2.2360679775 + 3.0) / 2).epsilon(1e-5));   // 2.618034
}

TEST_CASE("task normalisation: log-zscore, with the 1e-12 floor") {
  TaskNormalizer n("log-zscore");
  const float e = std::exp(1.0f);
  n.fit({{"a", {1, e, e * e, e * e * e}}, {"b", {1e-20f, 1e-12f, 1, 1}}});
  CHECK(n.stats().at("a").mean == doctest::Approx(1.5).epsilon(1e-6));
  CHECK(n.stats().at("b").mean == doctest::Approx(-13.815510558).epsilon(1e-6));   // log(1e-12) / 2
  CHECK(n.stats().at("b").std == doctest::Approx(13.815510558).epsilon(1e-6));
  auto o = n.combine({{"a", {e * e * e * e}}, {"b", {1}}});
  CHECK(o[0] == doctest::Approx((2.5 / 1.1180339887 + 1.0) / 2).epsilon(1e-5));   // 1.618034
  auto z = n.combine({{"a", {0}}, {"b", {1e-30f}}});   // both floored to 1e-12
  CHECK(z[0] == doctest::Approx(((std::log(1e-12) - 1.5) / 1.1180339887 - 1.0) / 2).epsilon(1e-5));
}

TEST_CASE("task normalisation: bad input is an error naming the task") {
  CHECK_THROWS_WITH_AS(TaskNormalizer("minmax"), doctest::Contains("minmax"), std::invalid_argument);
  TaskNormalizer n("zscore");
  CHECK_THROWS_WITH_AS(n.fit({{"a", {1, 2}}, {"b", {2, 2, 2}}}), doctest::Contains("task b"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(n.fit({{"c", {1}}}), doctest::Contains("task c"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(n.fit({{"d", {1, NAN}}}), doctest::Contains("task d"), std::invalid_argument);
  n.fit({{"a", {1, 2}}});
  CHECK_THROWS_WITH_AS(n.combine({{"a", {1}}, {"e", {1}}}), doctest::Contains("task e"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(n.combine({{"a", {1, 2}}, {"b", {1}}}), doctest::Contains("task"), std::invalid_argument);
}

TEST_CASE("normalisation file: written by score and read back by watch to the same doubles. Bad files name file and line") {
  namespace fs = std::filesystem;
  const std::string dir = (fs::temp_directory_path() / ("ssmtl_norm_file_" + std::to_string(::getpid()))).string();
  fs::create_directories(dir);
  TaskNormalizer n("log-zscore");
  n.fit({{"a", {0.1f, 0.37f, 0.9f}}, {"b", {1e-5f, 3e-4f, 2e-6f, 0.5f}}});
  const std::string ok = dir + "/normalization.txt";
  std::ofstream(ok) << ssmtl::eval::normalization_file_text(n, "run/train/best.ckpt", "ssmtl score: test", "shift");
  auto f = ssmtl::eval::read_normalization_file(ok);
  CHECK(f.format == 2);
  CHECK(!f.legacy);
  CHECK(f.window_ends == "shift");
  CHECK(f.checkpoint == "run/train/best.ckpt");
  CHECK(f.normalizer.mode() == "log-zscore");
  REQUIRE(f.normalizer.stats().size() == 2);
  for (const char* t : {"a", "b"}) {   // 17 digits: the very same doubles
    CHECK(f.normalizer.stats().at(t).mean == n.stats().at(t).mean);
    CHECK(f.normalizer.stats().at(t).std == n.stats().at(t).std);
    CHECK(f.normalizer.stats().at(t).count == n.stats().at(t).count);
  }
  const Scores probe{{"a", {0.2f, 0.8f}}, {"b", {1e-4f, 1e-7f}}};
  CHECK(f.normalizer.combine(probe) == n.combine(probe));

  // Before the format line: checkpoint from the comment, 9 digits.
  const std::string old = dir + "/old.txt";
  std::ofstream(old) << "# ssmtl score: task score statistics of normal objects (training videos 15 16) of /r/last.ckpt\n"
                        "mode = zscore\na mean 0.5 std 0.25 count 10\n";
  auto g = ssmtl::eval::read_normalization_file(old);
  CHECK(g.legacy);
  CHECK(g.format == 1);
  CHECK(g.window_ends == "clamp");   // (written before the option: clamped windows)
  // Format 1 (before window_ends): read, clamped windows.
  std::ofstream(dir + "/v1.txt") << "format = 1\ncheckpoint = c\nmode = zscore\na mean 0.5 std 0.25 count 10\n";
  auto h = ssmtl::eval::read_normalization_file(dir + "/v1.txt");
  CHECK(h.format == 1);
  CHECK(!h.legacy);
  CHECK(h.window_ends == "clamp");
  CHECK(h.normalizer.stats().at("a").mean == 0.5);
  CHECK(g.checkpoint == "/r/last.ckpt");
  CHECK(g.normalizer.stats().at("a").std == 0.25);
  CHECK(g.normalizer.combine({{"a", {1.0f}}})[0] == doctest::Approx(2.0));

  auto bad = [&](const std::string& text, const std::string& needle) {
    std::ofstream(dir + "/bad.txt") << text;
    CHECK_THROWS_WITH_AS(ssmtl::eval::read_normalization_file(dir + "/bad.txt"), doctest::Contains(needle.c_str()),
                         std::runtime_error);
  };
  bad("format = 1\nmode = zscore\na mean 0 sd 1 count 2\n", "bad.txt:3: expected");
  bad("format = 1\nmode = zscore\na mean 0 std 0 count 2\n", "std > 0");
  bad("format = 1\na mean 0 std 1 count 2\n", "no 'mode = ...' line");
  bad("format = 1\nmode = minmax\n", "minmax");
  bad("format = 1\nmode = zscore\n", "no task statistics");
  bad("format = 1\ncolour = blue\nmode = zscore\n", "bad.txt:2: unknown key 'colour'");
  bad("format = 3\nmode = zscore\n", "bad.txt:1: format 3 is not supported (this program reads formats 1 and 2)");
  bad("format = 1\nwindow_ends = shift\nmode = zscore\n", "bad.txt:2: window_ends in a format 1 file");
  bad("format = 2\nwindow_ends = mirror\nmode = zscore\n", "bad.txt:2: window_ends must be shift or clamp");
  CHECK_THROWS_WITH_AS(ssmtl::eval::read_normalization_file(dir + "/missing.txt"), doctest::Contains("missing.txt"),
                       std::runtime_error);
  fs::remove_all(dir);
}
