// A tiny raster canvas for result figures (score curves, ROC curves, training losses) and helpers that draw
// on video frames (boxes, heat maps) for the demo. Text uses stb_easy_font (a 7-pixel-high vector font drawn
// as rectangles), scaled by an integer factor. Coordinates are pixels, x to the right, y down, (0,0) top left;
// everything drawn outside the canvas is clipped.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace ssmtl::plot {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
};

namespace colors {
constexpr Rgb white{255, 255, 255}, black{0, 0, 0}, gray{128, 128, 128}, light_gray{225, 225, 225};
constexpr Rgb blue{31, 119, 180}, orange{255, 127, 14}, green{44, 160, 44}, red{214, 39, 40}, purple{148, 103, 189};
constexpr Rgb pink{255, 200, 200};
}  // namespace colors

// Series colours in order (blue, orange, green, red, purple, ...), cycling.
Rgb series_color(size_t i);

class Canvas {
 public:
  Canvas(int width, int height, Rgb background = colors::white);   // throws std::invalid_argument when empty
  int width() const { return w_; }
  int height() const { return h_; }
  const std::vector<uint8_t>& pixels() const { return px_; }   // height x width x 3, RGB
  Rgb get(int x, int y) const;                                  // throws std::out_of_range outside

  void set(int x, int y, Rgb c);                                // ignored outside
  void fill_rect(int x0, int y0, int x1, int y1, Rgb c);        // inclusive corners, any order
  void blend_rect(int x0, int y0, int x1, int y1, Rgb c, double alpha);   // alpha in [0,1] over the pixels
  void rect(int x0, int y0, int x1, int y1, Rgb c, int thickness = 1);    // outline, drawn inward
  void line(double x0, double y0, double x1, double y1, Rgb c, int thickness = 1);
  // Text with its top-left corner at (x, y); '\n' starts a new line; characters outside printable ASCII are
  // drawn as '?'. vertical = rotated 90 degrees counter-clockwise (reads bottom to top, (x, y) = bottom left).
  void text(int x, int y, const std::string& s, Rgb c, int scale = 1, bool vertical = false);
  static int text_width(const std::string& s, int scale = 1);
  static int text_height(const std::string& s, int scale = 1);

  void save_png(const std::string& path) const;                 // util::write_png_rgb (atomic)

 private:
  int w_, h_;
  std::vector<uint8_t> px_;
};

// ---- line charts ----------------------------------------------------------------------------------------
struct Series {
  std::string name;            // legend entry ("" = not in the legend)
  std::vector<double> x, y;    // same length; non-finite points break the line
  Rgb color = colors::blue;
  int thickness = 2;
};
// A shaded interval of x (e.g. an abnormal event), drawn behind the series.
struct Band {
  double x0 = 0, x1 = 0;
  Rgb color = colors::pink;
};
constexpr double kAuto = std::numeric_limits<double>::quiet_NaN();   // axis limit from the data
struct Chart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  std::vector<Band> bands;
  std::vector<std::pair<std::string, Rgb>> extra_legend;   // legend entries without a series (e.g. a band)
  double x_min = kAuto, x_max = kAuto, y_min = kAuto, y_max = kAuto;
  int width = 900, height = 420;
  bool legend = true;
};
// Draws axes with "nice" ticks (1, 2, 5 x 10^k) and labels, grid lines, bands, series and the legend.
Canvas render_chart(const Chart& chart);
// About `target` evenly spaced round tick values covering [lo, hi] (inside it). lo < hi.
std::vector<double> nice_ticks(double lo, double hi, int target);
// Short tick label: "%g" with enough digits for the spacing, "-0" printed as "0".
std::string tick_label(double v, double step);

// ---- drawing on video frames (rgb: height x width x 3, interleaved) -------------------------------------
// Outline of the inclusive box [x_min, x_max] x [y_min, y_max], clipped to the frame, drawn inward.
void draw_box(uint8_t* rgb, int width, int height, int x_min, int y_min, int x_max, int y_max, Rgb c,
              int thickness = 2);
// Colour of t in [0,1] on a blue-cyan-yellow-red scale (clamped outside).
Rgb heat_color(double t);
// Blends a heat map (heat_h x heat_w floats, row-major; e.g. an anomaly map on its coarse grid, stretched
// over the frame by nearest neighbour) onto the frame: out = (1 - a) * frame + a * heat_color((v - lo) / (hi - lo))
// with a = alpha * clamp((v - lo) / (hi - lo), 0, 1) so that low values leave the frame visible.
// Throws std::invalid_argument on empty sizes or hi <= lo.
void blend_heatmap(uint8_t* rgb, int width, int height, const float* heat, int heat_w, int heat_h, double alpha,
                   double lo = 0.0, double hi = 1.0);

}  // namespace ssmtl::plot
