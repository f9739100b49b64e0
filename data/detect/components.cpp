#include "data/detect/components.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace ssmtl {

std::vector<Component> connected_components(const uint8_t* mask, int width, int height, int64_t min_area,
                                            std::vector<int32_t>* labels_out) {
  if (width <= 0 || height <= 0)
    throw std::invalid_argument("connected_components: empty mask " + std::to_string(width) + "x" +
                                std::to_string(height));
  const size_t n = static_cast<size_t>(width) * height;
  std::vector<int32_t> own;
  std::vector<int32_t>& lab = labels_out ? *labels_out : own;
  lab.assign(n, 0);
  std::vector<Component> all;
  std::vector<int32_t> stack;   // pixel indices still to visit (flood fill, no recursion)
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const size_t p = static_cast<size_t>(y) * width + x;
      if (!mask[p] || lab[p]) continue;
      Component c;
      c.label = static_cast<int>(all.size()) + 1;
      c.x0 = c.x1 = x;
      c.y0 = c.y1 = y;
      lab[p] = c.label;
      stack.push_back(static_cast<int32_t>(p));
      while (!stack.empty()) {
        const int32_t q = stack.back();
        stack.pop_back();
        const int qx = q % width, qy = q / width;
        ++c.area;
        c.x0 = std::min(c.x0, qx);
        c.x1 = std::max(c.x1, qx);
        c.y0 = std::min(c.y0, qy);
        c.y1 = std::max(c.y1, qy);
        for (int dy = -1; dy <= 1; ++dy) {
          const int ny = qy + dy;
          if (ny < 0 || ny >= height) continue;
          for (int dx = -1; dx <= 1; ++dx) {
            const int nx = qx + dx;
            if (nx < 0 || nx >= width) continue;
            const size_t r = static_cast<size_t>(ny) * width + nx;
            if (mask[r] && !lab[r]) {
              lab[r] = c.label;
              stack.push_back(static_cast<int32_t>(r));
            }
          }
        }
      }
      all.push_back(c);
    }
  }
  std::vector<Component> kept;
  for (const auto& c : all)
    if (c.area >= min_area) kept.push_back(c);
  return kept;
}

int64_t scaled_min_area(double ref_area, int width, int height, int ref_width, int ref_height) {
  if (width <= 0 || height <= 0 || ref_width <= 0 || ref_height <= 0)
    throw std::invalid_argument("scaled_min_area: sizes must be positive");
  return std::llround(ref_area * (static_cast<double>(width) * height) / (static_cast<double>(ref_width) * ref_height));
}

}  // namespace ssmtl
