#include "data/box.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace ssmtl {

std::optional<Box> clip_box(const Box& b, int width, int height) {
  Box c = b;
  c.x0 = std::max(b.x0, 0.f);
  c.y0 = std::max(b.y0, 0.f);
  c.x1 = std::min(b.x1, static_cast<float>(width - 1));
  c.y1 = std::min(b.y1, static_cast<float>(height - 1));
  if (!c.valid()) return std::nullopt;
  return c;
}

std::optional<PixelBox> pixel_box(const Box& b, int width, int height) {
  auto c = clip_box(b, width, height);
  if (!c) return std::nullopt;
  PixelBox p{static_cast<int>(std::floor(c->x0)), static_cast<int>(std::floor(c->y0)),
             static_cast<int>(std::ceil(c->x1)), static_cast<int>(std::ceil(c->y1))};
  return p;
}

float iou(const Box& a, const Box& b) {
  if (!a.valid() || !b.valid())
    throw std::invalid_argument("iou: invalid box " + box_str(a.valid() ? b : a) + " (x1 < x0 or y1 < y0)");
  float iw = std::min(a.x1, b.x1) - std::max(a.x0, b.x0) + 1;
  float ih = std::min(a.y1, b.y1) - std::max(a.y0, b.y0) + 1;
  if (iw <= 0 || ih <= 0) return 0.f;
  float inter = iw * ih;
  return inter / (a.area() + b.area() - inter);
}

Box scale_box(const Box& b, int resized_w, int resized_h, int orig_w, int orig_h) {
  if (resized_w <= 0 || resized_h <= 0 || orig_w <= 0 || orig_h <= 0)
    throw std::invalid_argument("scale_box: sizes must be positive");
  const float sx = static_cast<float>(orig_w) / resized_w, sy = static_cast<float>(orig_h) / resized_h;
  Box o = b;
  o.x0 = b.x0 * sx;
  o.x1 = b.x1 * sx;
  o.y0 = b.y0 * sy;
  o.y1 = b.y1 * sy;
  return o;
}

std::string box_str(const Box& b) {
  char s[96];
  std::snprintf(s, sizeof s, "[%g,%g,%g,%g]", b.x0, b.y0, b.x1, b.y1);
  return s;
}

}  // namespace ssmtl
