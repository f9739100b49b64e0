// Connected components of a binary mask (our own implementation): 8-connectivity (diagonal neighbours
// join), label 0 = background (never an object). Components are numbered 1.. in raster order of their
// first pixel (top-to-bottom, left-to-right), so results are deterministic.
#pragma once
#include <cstdint>
#include <vector>

#include "regions/box.h"

namespace ssmtl {

struct Component {
  int label = 0;                // 1-based
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;   // inclusive bounding box
  int64_t area = 0;             // number of pixels
  Box box(int cls = 0, float score = 1.f) const {
    return Box{static_cast<float>(x0), static_cast<float>(y0), static_cast<float>(x1), static_cast<float>(y1),
               score, cls};
  }
};

// mask: (height, width) row-major, nonzero = foreground. Returns the components with area >= min_area
// (min_area <= 1 keeps all), in label order. When `labels` is given it receives the (height, width)
// label image of ALL components (before the area filter).
// PITFALLS 12: an 8x8 mask with blobs at rows 2-3/cols 2-3 and rows 6-7/cols 0-1 gives [2,2,3,3] and
// [0,6,1,7], area 4 each; with min_area 5 none; an all-zero mask none.
std::vector<Component> connected_components(const uint8_t* mask, int width, int height, int64_t min_area = 0,
                                            std::vector<int32_t>* labels = nullptr);

// Minimum object area for a frame of width x height when the rule is stated for a reference
// resolution: ref_area * (width * height) / (ref_width * ref_height), rounded (DESIGN.md section 2:
// 1500 px at 640x360, Avenue/ShanghaiTech). 1500 px at 360x240 (Ped2) -> 563.
int64_t scaled_min_area(double ref_area, int width, int height, int ref_width = 640, int ref_height = 360);

}  // namespace ssmtl
