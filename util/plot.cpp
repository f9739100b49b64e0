#include "util/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "util/png.h"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#include <stb_easy_font.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace ssmtl::plot {
namespace {

uint8_t mix(uint8_t a, uint8_t b, double t) { return static_cast<uint8_t>(std::lround(a + (b - a) * t)); }

// stb_easy_font indexes a table by (char - 32): keep printable ASCII only.
std::string printable(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (c != '\n' && (c < 32 || c > 126)) c = '?';
  return out;
}

}  // namespace

Rgb series_color(size_t i) {
  static const Rgb palette[] = {colors::blue, colors::orange, colors::green, colors::red, colors::purple,
                                {140, 86, 75}, {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  return palette[i % (sizeof palette / sizeof palette[0])];
}

Canvas::Canvas(int width, int height, Rgb bg) : w_(width), h_(height) {
  if (width < 1 || height < 1)
    throw std::invalid_argument("Canvas: empty size " + std::to_string(width) + "x" + std::to_string(height));
  px_.resize(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0; i < px_.size(); i += 3) {
    px_[i] = bg.r;
    px_[i + 1] = bg.g;
    px_[i + 2] = bg.b;
  }
}

Rgb Canvas::get(int x, int y) const {
  if (x < 0 || y < 0 || x >= w_ || y >= h_) throw std::out_of_range("Canvas::get: pixel outside the canvas");
  const uint8_t* p = &px_[(static_cast<size_t>(y) * w_ + x) * 3];
  return {p[0], p[1], p[2]};
}

void Canvas::set(int x, int y, Rgb c) {
  if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
  uint8_t* p = &px_[(static_cast<size_t>(y) * w_ + x) * 3];
  p[0] = c.r;
  p[1] = c.g;
  p[2] = c.b;
}

void Canvas::fill_rect(int x0, int y0, int x1, int y1, Rgb c) { blend_rect(x0, y0, x1, y1, c, 1.0); }

void Canvas::blend_rect(int x0, int y0, int x1, int y1, Rgb c, double alpha) {
  if (x0 > x1) std::swap(x0, x1);
  if (y0 > y1) std::swap(y0, y1);
  x0 = std::max(x0, 0), y0 = std::max(y0, 0), x1 = std::min(x1, w_ - 1), y1 = std::min(y1, h_ - 1);
  alpha = std::clamp(alpha, 0.0, 1.0);
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x) {
      uint8_t* p = &px_[(static_cast<size_t>(y) * w_ + x) * 3];
      p[0] = mix(p[0], c.r, alpha);
      p[1] = mix(p[1], c.g, alpha);
      p[2] = mix(p[2], c.b, alpha);
    }
}

void Canvas::rect(int x0, int y0, int x1, int y1, Rgb c, int t) {
  if (x0 > x1) std::swap(x0, x1);
  if (y0 > y1) std::swap(y0, y1);
  t = std::max(t, 1);
  fill_rect(x0, y0, x1, std::min(y0 + t - 1, y1), c);
  fill_rect(x0, std::max(y1 - t + 1, y0), x1, y1, c);
  fill_rect(x0, y0, std::min(x0 + t - 1, x1), y1, c);
  fill_rect(std::max(x1 - t + 1, x0), y0, x1, y1, c);
}

void Canvas::line(double x0, double y0, double x1, double y1, Rgb c, int t) {
  if (!std::isfinite(x0) || !std::isfinite(y0) || !std::isfinite(x1) || !std::isfinite(y1)) return;
  t = std::max(t, 1);
  // Keep far-away end points from making the step count explode: clamp to a margin around the canvas.
  const double lim = 4.0 * (w_ + h_);
  x0 = std::clamp(x0, -lim, lim), x1 = std::clamp(x1, -lim, lim), y0 = std::clamp(y0, -lim, lim),
  y1 = std::clamp(y1, -lim, lim);
  const int steps = static_cast<int>(std::ceil(std::max(std::fabs(x1 - x0), std::fabs(y1 - y0))));
  const int lo = -(t - 1) / 2, hi = t / 2;
  for (int i = 0; i <= steps; ++i) {
    const double f = steps == 0 ? 0.0 : static_cast<double>(i) / steps;
    const int x = static_cast<int>(std::lround(x0 + (x1 - x0) * f)), y = static_cast<int>(std::lround(y0 + (y1 - y0) * f));
    fill_rect(x + lo, y + lo, x + hi, y + hi, c);
  }
}

void Canvas::text(int x, int y, const std::string& s, Rgb c, int scale, bool vertical) {
  std::string str = printable(s);
  if (str.empty()) return;
  scale = std::max(scale, 1);
  // 64 bytes per quad, at most ~16 quads per glyph: give every character 1 KiB so nothing is cut.
  std::vector<char> buf(str.size() * 1024 + 64);
  const int quads = stb_easy_font_print(0, 0, str.data(), nullptr, buf.data(), static_cast<int>(buf.size()));
  for (int q = 0; q < quads; ++q) {
    const float* v0 = reinterpret_cast<const float*>(buf.data() + q * 64);        // first vertex (x, y, z)
    const float* v2 = reinterpret_cast<const float*>(buf.data() + q * 64 + 32);   // third vertex (opposite corner)
    const int qx0 = static_cast<int>(v0[0]) * scale, qy0 = static_cast<int>(v0[1]) * scale;
    const int qx1 = static_cast<int>(v2[0]) * scale - 1, qy1 = static_cast<int>(v2[1]) * scale - 1;
    if (!vertical)
      fill_rect(x + qx0, y + qy0, x + qx1, y + qy1, c);
    else   // rotate (dx, dy) -> (dy, -dx) around (x, y)
      fill_rect(x + qy0, y - qx1, x + qy1, y - qx0, c);
  }
}

int Canvas::text_width(const std::string& s, int scale) {
  std::string str = printable(s);
  return stb_easy_font_width(str.data()) * std::max(scale, 1);
}

int Canvas::text_height(const std::string& s, int scale) {
  std::string str = printable(s);
  return stb_easy_font_height(str.data()) * std::max(scale, 1);
}

void Canvas::save_png(const std::string& path) const { util::write_png_rgb(path, w_, h_, px_.data()); }

// ---- drawing on video frames -----------------------------------------------------------------------------

void draw_box(uint8_t* rgb, int width, int height, int x_min, int y_min, int x_max, int y_max, Rgb c, int t) {
  if (!rgb || width < 1 || height < 1) throw std::invalid_argument("draw_box: empty frame");
  x_min = std::max(x_min, 0), y_min = std::max(y_min, 0);
  x_max = std::min(x_max, width - 1), y_max = std::min(y_max, height - 1);
  if (x_max < x_min || y_max < y_min) return;
  t = std::max(t, 1);
  auto fill = [&](int x0, int y0, int x1, int y1) {
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) {
        uint8_t* p = rgb + (static_cast<size_t>(y) * width + x) * 3;
        p[0] = c.r, p[1] = c.g, p[2] = c.b;
      }
  };
  fill(x_min, y_min, x_max, std::min(y_min + t - 1, y_max));
  fill(x_min, std::max(y_max - t + 1, y_min), x_max, y_max);
  fill(x_min, y_min, std::min(x_min + t - 1, x_max), y_max);
  fill(std::max(x_max - t + 1, x_min), y_min, x_max, y_max);
}

Rgb heat_color(double t) {
  t = std::isfinite(t) ? std::clamp(t, 0.0, 1.0) : 0.0;
  static const Rgb stops[] = {{0, 0, 255}, {0, 255, 255}, {255, 255, 0}, {255, 0, 0}};
  const double pos = t * 3.0;
  const int i = std::min(static_cast<int>(pos), 2);
  const double f = pos - i;
  return {mix(stops[i].r, stops[i + 1].r, f), mix(stops[i].g, stops[i + 1].g, f), mix(stops[i].b, stops[i + 1].b, f)};
}

void blend_heatmap(uint8_t* rgb, int width, int height, const float* heat, int heat_w, int heat_h, double alpha,
                   double lo, double hi) {
  if (!rgb || !heat || width < 1 || height < 1 || heat_w < 1 || heat_h < 1)
    throw std::invalid_argument("blend_heatmap: empty frame or heat map");
  if (!(hi > lo)) throw std::invalid_argument("blend_heatmap: hi must be > lo");
  for (int y = 0; y < height; ++y) {
    const int hy = std::min(static_cast<int>(static_cast<int64_t>(y) * heat_h / height), heat_h - 1);
    for (int x = 0; x < width; ++x) {
      const int hx = std::min(static_cast<int>(static_cast<int64_t>(x) * heat_w / width), heat_w - 1);
      const double v = heat[static_cast<size_t>(hy) * heat_w + hx];
      const double t = std::isfinite(v) ? std::clamp((v - lo) / (hi - lo), 0.0, 1.0) : 0.0;
      const Rgb c = heat_color(t);
      const double a = std::clamp(alpha, 0.0, 1.0) * t;
      uint8_t* p = rgb + (static_cast<size_t>(y) * width + x) * 3;
      p[0] = mix(p[0], c.r, a), p[1] = mix(p[1], c.g, a), p[2] = mix(p[2], c.b, a);
    }
  }
}

// ---- line charts ----------------------------------------------------------------------------------------

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) throw std::invalid_argument("nice_ticks: need lo < hi");
  const double raw = (hi - lo) / std::max(target, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double n = raw / mag;
  const double step = (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
  std::vector<double> ticks;
  const double eps = step * 1e-9;
  for (double k = std::ceil((lo - eps) / step); k * step <= hi + eps; k += 1) ticks.push_back(k * step);
  return ticks;
}

std::string tick_label(double v, double step) {
  char buf[32];
  if (std::fabs(v) < step * 1e-6) v = 0;   // no "-0" or "1e-17"
  const double a = std::fabs(v);
  if ((a >= 1e6 || (a > 0 && a < 1e-4)) || step < 1e-4) {
    std::snprintf(buf, sizeof buf, "%.3g", v);
  } else {
    const int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  }
  return buf;
}

namespace {

// Liang-Barsky: clips the segment to [xa, xb] x [ya, yb]; false when nothing is left.
bool clip_segment(double& x0, double& y0, double& x1, double& y1, double xa, double ya, double xb, double yb) {
  double t0 = 0, t1 = 1;
  const double dx = x1 - x0, dy = y1 - y0;
  const double p[4] = {-dx, dx, -dy, dy}, q[4] = {x0 - xa, xb - x0, y0 - ya, yb - y0};
  for (int i = 0; i < 4; ++i) {
    if (p[i] == 0) {
      if (q[i] < 0) return false;
      continue;
    }
    const double r = q[i] / p[i];
    if (p[i] < 0) t0 = std::max(t0, r);
    else t1 = std::min(t1, r);
    if (t0 > t1) return false;
  }
  const double nx0 = x0 + t0 * dx, ny0 = y0 + t0 * dy;
  x1 = x0 + t1 * dx, y1 = y0 + t1 * dy, x0 = nx0, y0 = ny0;
  return true;
}

void data_range(const Chart& c, bool for_x, double& lo, double& hi) {
  double mn = INFINITY, mx = -INFINITY;
  for (const auto& s : c.series)
    for (double v : for_x ? s.x : s.y)
      if (std::isfinite(v)) mn = std::min(mn, v), mx = std::max(mx, v);
  if (for_x)
    for (const auto& b : c.bands) mn = std::min({mn, b.x0, b.x1}), mx = std::max({mx, b.x0, b.x1});
  if (!std::isfinite(mn)) mn = 0, mx = 1;
  lo = std::isnan(for_x ? c.x_min : c.y_min) ? mn : (for_x ? c.x_min : c.y_min);
  hi = std::isnan(for_x ? c.x_max : c.y_max) ? mx : (for_x ? c.x_max : c.y_max);
  if (!(hi > lo)) {   // a flat series: open a unit window around it
    const double pad = lo == 0 ? 0.5 : std::fabs(lo) * 0.5;
    lo -= pad, hi += pad;
  }
}

}  // namespace

Canvas render_chart(const Chart& c) {
  const int S = 2;   // text scale
  Canvas cv(c.width, c.height);
  double x_lo, x_hi, y_lo, y_hi;
  data_range(c, true, x_lo, x_hi);
  data_range(c, false, y_lo, y_hi);
  const auto xt = nice_ticks(x_lo, x_hi, std::max(2, c.width / 110));
  const auto yt = nice_ticks(y_lo, y_hi, std::max(2, c.height / 70));
  const double xs = xt.size() > 1 ? xt[1] - xt[0] : x_hi - x_lo, ys = yt.size() > 1 ? yt[1] - yt[0] : y_hi - y_lo;
  int label_w = 0;
  for (double v : yt) label_w = std::max(label_w, Canvas::text_width(tick_label(v, ys), S));
  const int last_x_label = xt.empty() ? 0 : Canvas::text_width(tick_label(xt.back(), xs), S);
  const int left = 14 + (c.y_label.empty() ? 0 : 24) + label_w + 8;
  const int right = c.width - std::max(20, last_x_label / 2 + 6);
  const int top = c.title.empty() ? 14 : 40, bottom = c.height - (c.x_label.empty() ? 34 : 58);
  if (right - left < 10 || bottom - top < 10) throw std::invalid_argument("render_chart: canvas too small");
  auto px = [&](double x) { return left + (x - x_lo) / (x_hi - x_lo) * (right - left); };
  auto py = [&](double y) { return bottom - (y - y_lo) / (y_hi - y_lo) * (bottom - top); };

  for (const auto& b : c.bands) {
    double a = std::clamp(px(b.x0), double(left), double(right)), e = std::clamp(px(b.x1), double(left), double(right));
    cv.fill_rect(static_cast<int>(std::lround(a)), top, static_cast<int>(std::lround(e)), bottom, b.color);
  }
  for (double v : xt) {
    const int x = static_cast<int>(std::lround(px(v)));
    cv.line(x, top, x, bottom, colors::light_gray);
    cv.line(x, bottom, x, bottom + 5, colors::black);
    const std::string l = tick_label(v, xs);
    cv.text(x - Canvas::text_width(l, S) / 2, bottom + 9, l, colors::black, S);
  }
  for (double v : yt) {
    const int y = static_cast<int>(std::lround(py(v)));
    cv.line(left, y, right, y, colors::light_gray);
    cv.line(left - 5, y, left, y, colors::black);
    const std::string l = tick_label(v, ys);
    cv.text(left - 8 - Canvas::text_width(l, S), y - 6, l, colors::black, S);
  }
  for (const auto& s : c.series) {
    if (s.x.size() != s.y.size()) throw std::invalid_argument("render_chart: series '" + s.name + "' x/y lengths differ");
    for (size_t i = 0; i + 1 < s.x.size(); ++i) {
      double x0 = px(s.x[i]), y0 = py(s.y[i]), x1 = px(s.x[i + 1]), y1 = py(s.y[i + 1]);
      if (!std::isfinite(x0 + y0 + x1 + y1)) continue;
      if (clip_segment(x0, y0, x1, y1, left, top, right, bottom)) cv.line(x0, y0, x1, y1, s.color, s.thickness);
    }
    if (s.x.size() == 1 && std::isfinite(px(s.x[0]) + py(s.y[0])))
      cv.line(px(s.x[0]), py(s.y[0]), px(s.x[0]), py(s.y[0]), s.color, s.thickness + 2);
  }
  cv.rect(left, top, right, bottom, colors::black);
  if (!c.title.empty()) {   // a title too wide for the large font falls back to the small one
    const int ts = Canvas::text_width(c.title, S) <= c.width - 8 ? S : 1;
    const int tx = std::max(4, (left + right - Canvas::text_width(c.title, ts)) / 2);
    cv.text(tx, ts == S ? 12 : 16, c.title, colors::black, ts);
  }
  if (!c.x_label.empty())
    cv.text((left + right - Canvas::text_width(c.x_label, S)) / 2, c.height - 22, c.x_label, colors::black, S);
  if (!c.y_label.empty())
    cv.text(10, (top + bottom + Canvas::text_width(c.y_label, S)) / 2, c.y_label, colors::black, S, true);

  std::vector<std::pair<std::string, Rgb>> entries;
  for (const auto& s : c.series)
    if (!s.name.empty()) entries.push_back({s.name, s.color});
  for (const auto& e : c.extra_legend) entries.push_back(e);
  if (c.legend && !entries.empty()) {
    int w = 0;
    for (const auto& e : entries) w = std::max(w, Canvas::text_width(e.first, S));
    const int row = 20, bw = w + 46, bh = static_cast<int>(entries.size()) * row + 8;
    const int bx = right - bw - 8, by = top + 8;
    cv.fill_rect(bx, by, bx + bw, by + bh, colors::white);
    cv.rect(bx, by, bx + bw, by + bh, colors::gray);
    for (size_t i = 0; i < entries.size(); ++i) {
      const int y = by + 6 + static_cast<int>(i) * row;
      cv.fill_rect(bx + 6, y + 2, bx + 30, y + 12, entries[i].second);
      cv.text(bx + 38, y, entries[i].first, colors::black, S);
    }
  }
  return cv;
}

}  // namespace ssmtl::plot
