// util/png and util/plot: PNG round trip, canvas drawing, text, charts, boxes and heat maps on frames,
// and the evaluation figures of eval/plots.h.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "eval/plots.h"
#include "tests/eval_test_util.h"
#include "util/atomic_file.h"
#include "util/plot.h"
#include "util/png.h"

// A private (static) copy of the stb_image decoder for the round trip, so it cannot clash with the library's.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#endif
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#include <stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

using namespace ssmtl;
using namespace ssmtl::plot;

namespace {
std::vector<uint8_t> decode(const std::string& bytes, int& w, int& h) {
  int c = 0;
  unsigned char* p = stbi_load_from_memory(reinterpret_cast<const unsigned char*>(bytes.data()),
                                           static_cast<int>(bytes.size()), &w, &h, &c, 3);
  REQUIRE(p != nullptr);
  std::vector<uint8_t> out(p, p + static_cast<size_t>(w) * h * 3);
  stbi_image_free(p);
  return out;
}
}  // namespace

TEST_CASE("eval plot: PNG files round-trip exactly") {
  std::vector<uint8_t> img(7 * 5 * 3);
  for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<uint8_t>(i * 37 % 256);
  test::TempDir d;
  util::write_png_rgb(d.path() + "/sub/x.png", 7, 5, img.data());
  int w = 0, h = 0;
  CHECK(decode(util::read_file(d.path() + "/sub/x.png"), w, h) == img);
  CHECK(w == 7);
  CHECK(h == 5);
  CHECK_THROWS_AS(util::encode_png_rgb(0, 5, img.data()), std::invalid_argument);
  CHECK_THROWS_AS(util::write_png_rgb(d.path() + "/y.png", 7, 5, nullptr), std::invalid_argument);
}

TEST_CASE("eval plot: canvas rectangles, lines, clipping and text") {
  Canvas c(40, 30);
  CHECK(c.get(0, 0) == colors::white);
  c.fill_rect(35, 25, 50, 50, colors::red);   // clipped, corners in any order
  CHECK(c.get(39, 29) == colors::red);
  CHECK(c.get(34, 29) == colors::white);
  c.line(0, 10, 39, 10, colors::blue, 1);
  for (int x = 0; x < 40; ++x) CHECK(c.get(x, 10) == colors::blue);
  CHECK(c.get(5, 9) == colors::white);
  c.line(5, 0, 5, 100, colors::green, 3);   // a thick vertical line: columns 4..6
  CHECK(c.get(4, 20) == colors::green);
  CHECK(c.get(6, 20) == colors::green);
  CHECK(c.get(7, 20) == colors::white);
  c.blend_rect(20, 0, 20, 0, colors::black, 0.5);
  CHECK(c.get(20, 0) == Rgb{128, 128, 128});
  c.set(-1, 3, colors::black);   // outside: ignored
  CHECK_THROWS_AS(c.get(40, 0), std::out_of_range);
  CHECK_THROWS_AS(Canvas(0, 3), std::invalid_argument);

  Canvas t(60, 20);
  t.text(2, 2, "10", colors::black, 2);
  int ink = 0;
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 60; ++x) ink += t.get(x, y) == colors::black;
  CHECK(ink > 20);
  CHECK(Canvas::text_width("10", 2) == 2 * Canvas::text_width("10", 1));
  CHECK(Canvas::text_width("abc") > Canvas::text_width("ab"));
  CHECK(Canvas::text_width("\xff") == Canvas::text_width("?"));   // non-ASCII drawn as '?', no out-of-bounds read
}

TEST_CASE("eval plot: ticks and tick labels") {
  CHECK(nice_ticks(0, 1, 5) == std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1});
  auto t = nice_ticks(0, 179, 8);
  CHECK(t.front() == 0);
  CHECK(t.back() == 160);
  CHECK(t[1] == 20);
  CHECK(tick_label(0.6000000000000001, 0.2) == "0.6");
  CHECK(tick_label(-1e-17, 0.2) == "0.0");   // not "-0.0"
  CHECK(tick_label(40, 20) == "40");
  CHECK(tick_label(0.05, 0.05) == "0.05");
  CHECK_THROWS_AS(nice_ticks(1, 1, 5), std::invalid_argument);
}

TEST_CASE("eval plot: charts draw bands behind series inside the axes") {
  Chart ch;
  ch.series.push_back({"s", {0, 10}, {0.5, 0.5}, colors::blue, 3});
  ch.bands.push_back({2, 4, colors::pink});
  ch.y_min = 0, ch.y_max = 1;
  ch.width = 300, ch.height = 200;
  Canvas c = render_chart(ch);
  // Find the plotted line's row in the middle column: blue pixels exist; pink pixels exist (the band).
  int blue = 0, pink = 0;
  for (int y = 0; y < c.height(); ++y)
    for (int x = 0; x < c.width(); ++x) blue += c.get(x, y) == colors::blue, pink += c.get(x, y) == colors::pink;
  CHECK(blue > 200);   // a 3-pixel-thick line across most of the width
  CHECK(pink > 500);
  ch.series[0].x = {0};
  ch.series[0].y = {0, 1};
  CHECK_THROWS_AS(render_chart(ch), std::invalid_argument);
}

TEST_CASE("eval plot: boxes and heat maps on frames") {
  std::vector<uint8_t> f(10 * 8 * 3, 100);
  draw_box(f.data(), 10, 8, 2, 1, 20, 5, colors::red, 1);   // clipped to x 2..9
  auto px = [&](int x, int y) { return Rgb{f[(y * 10 + x) * 3], f[(y * 10 + x) * 3 + 1], f[(y * 10 + x) * 3 + 2]}; };
  CHECK(px(2, 1) == colors::red);
  CHECK(px(9, 3) == colors::red);
  CHECK(px(5, 5) == colors::red);
  CHECK(px(5, 3) == Rgb{100, 100, 100});
  CHECK(heat_color(0) == Rgb{0, 0, 255});
  CHECK(heat_color(1) == Rgb{255, 0, 0});
  CHECK(heat_color(2) == Rgb{255, 0, 0});
  // A 2x1 heat map over the frame: left half 0 (unchanged), right half 1 blended at alpha 0.5.
  std::vector<uint8_t> g(4 * 2 * 3, 100);
  const float heat[2] = {0.f, 1.f};
  blend_heatmap(g.data(), 4, 2, heat, 2, 1, 0.5);
  CHECK(g[0] == 100);
  CHECK(g[3 * 3] == 178);       // round(100 + (255 - 100) * 0.5) = 177.5 -> 178
  CHECK(g[3 * 3 + 1] == 50);    // round(100 + (0 - 100) * 0.5)
  CHECK_THROWS_AS(blend_heatmap(g.data(), 4, 2, heat, 2, 1, 0.5, 1.0, 1.0), std::invalid_argument);
}

TEST_CASE("eval plot: abnormal intervals and the figures of an evaluation") {
  using eval::abnormal_intervals;
  CHECK(abnormal_intervals({0, 1, 1, 0, 1}) == std::vector<std::pair<int64_t, int64_t>>{{1, 2}, {4, 4}});
  CHECK(abnormal_intervals({0, 0}).empty());
  eval::VideoScores v{"07", {0.1, 0.2, 0.9, 0.8, 0.1}, {0, 0, 1, 1, 0}};
  auto ch = eval::score_chart(v, 1.0);
  REQUIRE(ch.bands.size() == 1);
  CHECK(ch.bands[0].x0 == 1.5);
  CHECK(ch.bands[0].x1 == 3.5);
  CHECK(ch.title.find("video 07") != std::string::npos);
  CHECK(eval::score_chart(v, std::nan("")).title.find("single class") != std::string::npos);
}
