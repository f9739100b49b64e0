// The training figure (model/train_curves.h) and the train_log.jsonl reader it draws from on a resume.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/train_curves.h"
#include "model/train_state.h"

using namespace ssmtl;

namespace {

EpochLog epoch(int e, double arrow, double middle, double val_arrow, double val_middle) {
  EpochLog l;
  l.epoch = e;
  l.train = {{"arrow", arrow}, {"middle", middle}};
  l.val = {{"arrow", val_arrow}, {"middle", val_middle}};
  l.val_total = val_arrow + val_middle;
  l.seconds = 12.5 + e, l.samples_per_s = 61.25, l.skipped_steps = e;
  return l;
}

int count_pixels(const plot::Canvas& c, plot::Rgb color, int y0, int y1) {
  int n = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = 0; x < c.width(); ++x) n += c.get(x, y) == color;
  return n;
}

}  // namespace

TEST_CASE("train_log: an epoch line reads back as written (6 significant digits) and a broken one names its line") {
  const EpochLog a = epoch(3, 0.2510312345, 0.0486271, 0.0771371, 0.0375782);
  const EpochLog b = parse_epoch_json(epoch_json(a), "log:4");
  CHECK(b.epoch == 3);
  REQUIRE(b.train.size() == 2);
  CHECK(b.train.at("arrow") == doctest::Approx(0.251031).epsilon(1e-9));
  CHECK(b.train.at("middle") == doctest::Approx(0.0486271).epsilon(1e-9));
  CHECK(b.val.at("arrow") == doctest::Approx(0.0771371).epsilon(1e-9));
  CHECK(b.val_total == doctest::Approx(0.114715).epsilon(1e-9));
  CHECK(b.seconds == doctest::Approx(15.5));
  CHECK(b.skipped_steps == 3);
  EpochLog empty_val = a;   // a run without held-out videos logs an empty "val" object
  empty_val.val.clear();
  CHECK(parse_epoch_json(epoch_json(empty_val), "log:1").val.empty());
  std::string broken = epoch_json(a);
  broken.replace(broken.find("val_total"), 9, "vol_total");
  try {
    parse_epoch_json(broken, "run/train_log.jsonl:4");
    FAIL("no error");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("run/train_log.jsonl:4") != std::string::npos);
    CHECK(std::string(e.what()).find("val_total") != std::string::npos);
  }
  const std::string old_line = "{\"epoch\": 0, \"train\": {\"arrow\": 0.5}, \"val\": {\"arrow\": 0.4}, \"val_total\": 0.4}";
  CHECK(parse_epoch_json(old_line, "old:1").seconds == 0);   // the oldest logs had no timings
}

TEST_CASE("train_curves: training above and validation below, a series per task, the best epoch shaded") {
  const std::vector<EpochLog> epochs = {epoch(0, 0.25, 0.05, 0.08, 0.04), epoch(1, 0.12, 0.04, 0.05, 0.035),
                                        epoch(2, 0.08, 0.03, 0.09, 0.05)};
  const plot::Canvas c = training_curves(epochs);
  CHECK(c.width() == 900);
  CHECK(c.height() == 760);
  const int half = c.height() / 2;
  for (size_t i = 0; i < 2; ++i) {   // arrow and middle, drawn in both charts
    CHECK(count_pixels(c, plot::series_color(i), 0, half) > 100);
    CHECK(count_pixels(c, plot::series_color(i), half, c.height()) > 100);
  }
  CHECK(count_pixels(c, plot::colors::black, half, c.height()) > count_pixels(c, plot::colors::black, 0, half));   // the sum
  // epoch 2 (index 1) has the lowest validation sum: its band spans x in [1.5, 2.5] of [0.5, 3.5], the middle third
  int band_left = 0, band_mid = 0;
  const int y = half + 100;
  for (int x = 0; x < c.width(); ++x) {
    if (!(c.get(x, y) == plot::colors::light_gray)) continue;
    (x < c.width() * 0.4 ? band_left : band_mid) += 1;
  }
  CHECK(band_mid > 100);
  CHECK(band_left < band_mid / 4);   // (grid lines are light gray too, a few pixels each)
  CHECK_THROWS_AS(training_curves({}), std::invalid_argument);
}
