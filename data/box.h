// Object boxes. Coordinates are inclusive pixels: [x0, x1] x [y0, y1] covers (x1 - x0 + 1) columns, so a
// one-pixel box has x0 == x1. This is the convention of the ground-truth tracks and region files
// (shared/README.md) and of RBDC/TBDC (Ramachandra & Jones, WACV 2020).
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace ssmtl {

// Detector classes are >= 0 (COCO ids); these mark objects found by the motion detectors (DESIGN.md
// section 4: T4 gives all motion objects one extra class).
constexpr int kClassMotionFlow = -1;
constexpr int kClassBackgroundSub = -2;

struct Box {
  float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  float score = 1.f;   // detector confidence; 1 for motion objects
  int cls = 0;         // detector class id, or kClassMotion*
  float width() const { return x1 - x0 + 1; }    // inclusive
  float height() const { return y1 - y0 + 1; }
  float area() const { return width() > 0 && height() > 0 ? width() * height() : 0.f; }
  bool valid() const { return x1 >= x0 && y1 >= y0; }
};

// Clips a box to a width x height image (pixels 0..width-1, 0..height-1). Returns nullopt when nothing
// of the box lies inside (a box of zero width or height is dropped, DESIGN.md section 3).
// Example (PITFALLS 14): [-5,-5,10,10] on 64x64 -> [0,0,10,10].
std::optional<Box> clip_box(const Box& b, int width, int height);

// Rounds to whole pixels (floor of the low corner, ceil of the high corner) and clips: the pixel block a
// crop reads. nullopt as clip_box.
struct PixelBox {
  int x0, y0, x1, y1;
  int width() const { return x1 - x0 + 1; }
  int height() const { return y1 - y0 + 1; }
};
std::optional<PixelBox> pixel_box(const Box& b, int width, int height);

// Intersection over union with inclusive pixel areas: [10,10,19,19] vs [10,10,20,20] = 100/121;
// two identical one-pixel boxes give 1. Boxes with x1 < x0 or y1 < y0 throw std::invalid_argument.
float iou(const Box& a, const Box& b);

// A box found on a frame resized from (orig_w, orig_h) to (resized_w, resized_h), in the original frame's
// coordinates: every coordinate multiplied by orig/resized (PITFALLS 16: [32,24,64,48] on 320x240 of a
// 640x480 video -> [64,48,128,96]). score and cls are kept. Sizes must be positive (std::invalid_argument).
Box scale_box(const Box& b, int resized_w, int resized_h, int orig_w, int orig_h);

std::string box_str(const Box& b);   // "[x0,y0,x1,y1]" for messages

}  // namespace ssmtl
