#include "regions/box.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <type_traits>

namespace ssmtl {

// This file is compiled with -ffp-contract=off (CMakeLists.txt): no fused multiply-add, so the IoU has the
// same value whatever the compiler inlines (NMS and the RBDC match compare it against thresholds).
template <class T>
T iou(const BoxOf<T>& a, const BoxOf<T>& b) {
  static_assert(std::is_floating_point<T>::value, "iou of float or double boxes");
  if (!a.valid() || !b.valid())
    throw std::invalid_argument("iou: invalid box " + box_str(a.valid() ? b : a) + " (x1 < x0 or y1 < y0)");
  T iw = std::min(a.x1, b.x1) - std::max(a.x0, b.x0) + 1;
  T ih = std::min(a.y1, b.y1) - std::max(a.y0, b.y0) + 1;
  if (iw <= 0 || ih <= 0) return T(0);
  T inter = iw * ih;
  return inter / (a.area() + b.area() - inter);   // union >= 1 pixel for valid boxes: never 0/0
}
template float iou(const BoxOf<float>&, const BoxOf<float>&);
template double iou(const BoxOf<double>&, const BoxOf<double>&);

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

RegionBox region_box(const BoxOf<float>& b) { return RegionBox{b.x0, b.y0, b.x1, b.y1}; }

Box object_box(const RegionBox& b, float score, int cls) {
  Box o;
  o.x0 = static_cast<float>(b.x0);
  o.y0 = static_cast<float>(b.y0);
  o.x1 = static_cast<float>(b.x1);
  o.y1 = static_cast<float>(b.y1);
  o.score = score;
  o.cls = cls;
  return o;
}

template <class T>
std::string box_str(const BoxOf<T>& b) {
  char s[128];
  std::snprintf(s, sizeof s, "[%g,%g,%g,%g]", static_cast<double>(b.x0), static_cast<double>(b.y0),
                static_cast<double>(b.x1), static_cast<double>(b.y1));
  return s;
}
template std::string box_str(const BoxOf<float>&);
template std::string box_str(const BoxOf<double>&);

}  // namespace ssmtl
