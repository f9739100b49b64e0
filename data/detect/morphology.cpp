#include "data/detect/morphology.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace ssmtl {
namespace {

// One 1D pass along `len` samples spaced `stride` apart: out[i] = any (dilate) / all (erode) of
// in[i-r .. i+r] restricted to the image. Counting set pixels in a sliding window keeps it O(len).
void pass_1d(uint8_t* out, const uint8_t* in, int len, size_t stride, int r, bool dilation) {
  int count = 0;   // set pixels in the window [i-r, i+r] ∩ [0, len)
  for (int k = 0; k < std::min(r, len); ++k) count += in[k * stride] ? 1 : 0;
  for (int i = 0; i < len; ++i) {
    if (i + r < len) count += in[(i + r) * stride] ? 1 : 0;
    if (i - r - 1 >= 0) count -= in[(i - r - 1) * stride] ? 1 : 0;
    const int inside = std::min(i + r, len - 1) - std::max(i - r, 0) + 1;
    out[i * stride] = dilation ? (count > 0) : (count == inside);
  }
}

std::vector<uint8_t> morph(const std::vector<uint8_t>& mask, int w, int h, int r, bool dilation) {
  if (w <= 0 || h <= 0 || r < 0 || mask.size() != static_cast<size_t>(w) * h)
    throw std::invalid_argument(std::string(dilation ? "dilate" : "erode") + ": mask of " +
                                std::to_string(mask.size()) + " pixels is not " + std::to_string(w) + "x" +
                                std::to_string(h) + " (radius " + std::to_string(r) + ")");
  std::vector<uint8_t> tmp(mask.size()), out(mask.size());
  for (int y = 0; y < h; ++y) pass_1d(&tmp[static_cast<size_t>(y) * w], &mask[static_cast<size_t>(y) * w], w, 1, r, dilation);
  for (int x = 0; x < w; ++x) pass_1d(&out[x], &tmp[x], h, static_cast<size_t>(w), r, dilation);
  return out;
}

}  // namespace

std::vector<uint8_t> dilate(const std::vector<uint8_t>& mask, int width, int height, int radius) {
  return morph(mask, width, height, radius, true);
}
std::vector<uint8_t> erode(const std::vector<uint8_t>& mask, int width, int height, int radius) {
  return morph(mask, width, height, radius, false);
}
std::vector<uint8_t> close_mask(const std::vector<uint8_t>& mask, int width, int height, int radius) {
  return erode(dilate(mask, width, height, radius), width, height, radius);
}

}  // namespace ssmtl
