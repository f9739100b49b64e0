// Frame-level AUC: scikit-learn reference values and PITFALLS.md items 1-4, 6, 7.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "eval/auc.h"
#include "eval/postprocess.h"
#include "tensor/rng.h"
#include "tests/reference.h"

using namespace ssmtl;
using namespace ssmtl::eval;

namespace {
std::vector<double> as_doubles(const Tensor& t) {
  auto v = t.to_vector();
  return std::vector<double>(v.begin(), v.end());
}
std::vector<int> as_labels(const Tensor& t) {
  std::vector<int> out;
  for (float f : t.to_vector()) out.push_back(static_cast<int>(f));
  return out;
}
// The float64 reference rebuilt from its two float32 parts (see gen_auc.py).
std::vector<double> hi_lo(const test::RefFile& ref, const std::string& stem) {
  auto hi = ref.get(stem + "_hi").to_vector(), lo = ref.get(stem + "_lo").to_vector();
  std::vector<double> out(hi.size());
  for (size_t i = 0; i < hi.size(); ++i) out[i] = static_cast<double>(hi[i]) + static_cast<double>(lo[i]);
  return out;
}
VideoScores video(const std::string& name, std::vector<double> s, std::vector<int> l) { return {name, s, l}; }
}  // namespace

TEST_CASE("eval auc: matches sklearn roc_auc_score on 155 random cases with ties") {
  test::RefFile ref("eval_auc");
  const int count = static_cast<int>(ref.scalar("count"));
  REQUIRE(count == 155);
  for (int i = 0; i < count; ++i) {
    const std::string k = "auc" + std::to_string(i);
    const auto s = as_doubles(ref.get(k + "_scores"));
    const auto l = as_labels(ref.get(k + "_labels"));
    const double expected = hi_lo(ref, k)[0];
    CAPTURE(i);
    CHECK(std::fabs(roc_auc(s, l) - expected) < 1e-12);
    // The AUC does not depend on the frame order (ties included).
    std::vector<size_t> perm(s.size());
    std::iota(perm.begin(), perm.end(), size_t{0});
    std::reverse(perm.begin(), perm.end());
    std::vector<double> s2;
    std::vector<int> l2;
    for (size_t p : perm) s2.push_back(s[p]), l2.push_back(l[p]);
    CHECK(roc_auc(s2, l2) == roc_auc(s, l));
  }
}

TEST_CASE("eval auc: ROC curve matches sklearn roc_curve(drop_intermediate=False)") {
  test::RefFile ref("eval_auc");
  auto curve = roc_curve(as_doubles(ref.get("auc0_scores")), as_labels(ref.get("auc0_labels")));
  auto fpr = hi_lo(ref, "roc_fpr"), tpr = hi_lo(ref, "roc_tpr");
  REQUIRE(curve.size() == fpr.size());
  for (size_t i = 0; i < curve.size(); ++i) {
    CHECK(std::fabs(curve[i].fpr - fpr[i]) < 1e-12);
    CHECK(std::fabs(curve[i].tpr - tpr[i]) < 1e-12);
  }
  CHECK(curve.back().fpr == 1.0);
  CHECK(curve.back().tpr == 1.0);
}

TEST_CASE("eval auc: pitfall 1, micro 0.75 vs macro 1.0") {
  std::vector<VideoScores> v = {video("A", {0.1, 0.2, 0.3, 0.4}, {0, 0, 1, 1}),
                                video("B", {0.5, 0.6, 0.7, 0.8}, {0, 0, 1, 1})};
  CHECK(micro_auc(v) == 0.75);
  MacroAuc m = macro_auc(v, MacroMode::Skip);
  CHECK(m.auc == 1.0);
  CHECK(m.skipped.empty());
  CHECK(m.per_video == std::vector<double>{1.0, 1.0});
}

TEST_CASE("eval auc: pitfall 2, padding is explicit and changes two-class videos") {
  std::vector<VideoScores> v = {video("A", {0.9, 0.1, 0.8, 0.2}, {0, 1, 0, 1})};
  CHECK(roc_auc(v[0].scores, v[0].labels) == 0.0);
  CHECK(macro_auc(v, MacroMode::Skip).auc == 0.0);
  CHECK(macro_auc(v, MacroMode::Pad).auc == doctest::Approx(5.0 / 9.0).epsilon(1e-15));
  std::vector<VideoScores> raw = {video("B", {2, 3}, {0, 1})};
  CHECK(macro_auc(raw, MacroMode::Skip).auc == 1.0);
  CHECK(macro_auc(raw, MacroMode::Pad).auc == 0.75);
  CHECK(parse_macro_mode("skip") == MacroMode::Skip);
  CHECK(parse_macro_mode("pad") == MacroMode::Pad);
  CHECK_THROWS_AS(parse_macro_mode("Pad"), std::invalid_argument);
  CHECK(std::string(macro_mode_name(MacroMode::Pad)) == "pad");
}

TEST_CASE("eval auc: macro skips single-class videos and names them, pad keeps them") {
  std::vector<VideoScores> v = {video("01", {0.1, 0.9}, {0, 1}), video("08", {0.3, 0.2, 0.5}, {1, 1, 1}),
                                video("12", {0.5, 0.4}, {0, 1}), video("13", {0.5}, {0})};
  MacroAuc m = macro_auc(v, MacroMode::Skip);
  CHECK(m.auc == 0.5);   // mean of 1.0 and 0.0
  CHECK(m.skipped == std::vector<std::string>{"08", "13"});
  REQUIRE(m.per_video.size() == 4);
  CHECK(std::isnan(m.per_video[1]));
  CHECK(std::isnan(m.per_video[3]));
  // Pad: 01 -> [0,.1,.9,1]/[0,0,1,1] = 1; 08 -> [0,.3,.2,.5,1]/[0,1,1,1,1] = 1; 12 -> [0,.5,.4,1]/[0,0,1,1] = 0.75;
  // 13 -> [0,.5,1]/[0,0,1] = 1.
  MacroAuc p = macro_auc(v, MacroMode::Pad);
  CHECK(p.skipped.empty());
  CHECK(p.auc == doctest::Approx((1.0 + 1.0 + 0.75 + 1.0) / 4).epsilon(1e-15));
  // Only single-class videos: no macro AUC at all, and the error names them with their class.
  CHECK_THROWS_WITH_AS(macro_auc({video("08", {0.1}, {1}), video("13", {0.2, 0.3}, {0, 0})}, MacroMode::Skip),
                       "macro AUC: no video has both normal and abnormal frames: 08 (all abnormal), 13 (all normal); "
                       "--macro pad scores single-class videos", std::invalid_argument);
}

TEST_CASE("eval auc: pitfall 3, per-video min-max changes micro, not macro") {
  std::vector<VideoScores> v = {video("A", {0.1, 0.2, 0.3, 0.4}, {0, 0, 1, 1}),
                                video("B", {0.5, 0.6, 0.7, 0.8}, {0, 0, 1, 1})};
  std::vector<VideoScores> n = v;
  for (auto& x : n) x.scores = minmax_normalize(x.scores);
  CHECK(micro_auc(v) == 0.75);
  CHECK(micro_auc(n) == 1.0);
  // Global normalisation is a monotone map of all scores: micro unchanged.
  std::vector<VideoScores> g = v;
  for (auto& x : g)
    for (double& s : x.scores) s = (s - 0.1) / 0.7;
  CHECK(micro_auc(g) == 0.75);
  CHECK(macro_auc(n, MacroMode::Skip).auc == macro_auc(v, MacroMode::Skip).auc);
  CHECK(minmax_normalize({2, 4, 3}) == std::vector<double>{0, 1, 0.5});
}

TEST_CASE("eval auc: pitfall 4, constant scores, NaN and single class") {
  auto z = minmax_normalize({3.5, 3.5, 3.5, 3.5});
  CHECK(z == std::vector<double>{0, 0, 0, 0});
  CHECK(roc_auc(z, {0, 1, 1, 0}) == 0.5);
  CHECK(minmax_normalize({}).empty());
  const double nan = std::nan("");
  CHECK_THROWS_WITH_AS(roc_auc({0.1, nan, 0.3}, {0, 1, 1}), "roc_auc: score of frame 1 is not finite",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(check_finite({0.1, 0.2, nan}, "05"), "video 05: score of frame 2 is NaN", std::invalid_argument);
  CHECK_THROWS_WITH_AS(check_finite({INFINITY}, "05"), "video 05: score of frame 0 is infinite", std::invalid_argument);
  CHECK_NOTHROW(check_finite({0.1, -3}, "05"));
  CHECK_THROWS_WITH_AS(roc_auc({0.1, 0.9}, {1, 1}), doctest::Contains("single class is undefined"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(roc_auc({0.1, 0.9}, {0, 0}), doctest::Contains("are normal"), std::invalid_argument);
  CHECK_THROWS_AS(roc_auc({}, {}), std::invalid_argument);
  CHECK_THROWS_AS(roc_auc({0.1, 0.2}, {0, 1, 1}), std::invalid_argument);
  CHECK_THROWS_AS(roc_auc({0.1, 0.2}, {0, 2}), std::invalid_argument);
  CHECK_THROWS_WITH_AS(micro_auc({video("07", {0.1}, {0, 1})}), "video 07: 1 scores but 2 labels",
                       std::invalid_argument);
}

TEST_CASE("eval auc: pitfall 6, regularity scores give AUC below 0.5 (labels are never inverted)") {
  std::vector<double> psnr = {40, 39, 31, 30};   // high PSNR = normal
  std::vector<int> labels = {0, 0, 1, 1};
  CHECK(roc_auc(psnr, labels) == 0.0);
  std::vector<double> anomaly;
  for (double p : psnr) anomaly.push_back(-p);
  CHECK(roc_auc(anomaly, labels) == 1.0);
}

TEST_CASE("eval auc: pitfall 7, ties count one half") {
  CHECK(roc_auc({0.5, 0.5, 0.5, 0.5}, {0, 1, 0, 1}) == 0.5);
  CHECK(roc_auc({0.2, 0.5, 0.5, 0.9}, {0, 0, 1, 1}) == 0.875);
  CHECK(roc_auc({0.9, 0.5, 0.5, 0.2}, {1, 1, 0, 0}) == 0.875);
  CHECK(roc_auc({0.5, 0.9, 0.2, 0.5}, {0, 1, 0, 1}) == 0.875);
  Rng rng(7);
  for (int trial = 0; trial < 5; ++trial) {
    std::vector<int> labels(1000);
    for (auto& l : labels) l = rng.bernoulli(0.3) ? 1 : 0;
    labels[0] = 0, labels[1] = 1;
    for (size_t i = labels.size() - 1; i > 0; --i)   // shuffle
      std::swap(labels[i], labels[static_cast<size_t>(rng.randint(0, static_cast<int64_t>(i) + 1))]);
    CHECK(roc_auc(std::vector<double>(1000, 0.0), labels) == 0.5);
  }
}
