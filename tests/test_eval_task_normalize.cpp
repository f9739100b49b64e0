// Task score normalisation with statistics of normal objects (eval/task_normalize.h). Expected values by hand:
// mean/std are population statistics; log-zscore works on log(max(s, 1e-12)).
#include <doctest/doctest.h>

#include <cmath>
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
