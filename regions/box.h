// Boxes of objects and regions, one convention for the whole program: [x0, y0, x1, y1] in inclusive pixels,
// so [x0, x1] covers (x1 - x0 + 1) columns and a one-pixel box has x0 == x1. This is the convention of the
// ground-truth tracks and region files (shared/README.md) and of RBDC/TBDC (Ramachandra & Jones, WACV 2020).
//
// One box template, three coordinate types: float where objects are found and cropped (Box: detector,
// optical flow, background subtraction, training crops), double where region and track files are read and
// evaluated (RegionBox: the files' decimal coordinates load unchanged) and int for the pixel block a crop
// reads (PixelBox). One IoU formula serves both float and double.
#pragma once
#include <optional>
#include <string>

namespace ssmtl {

template <class T>
struct BoxOf {
  T x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  T width() const { return x1 - x0 + 1; }    // inclusive
  T height() const { return y1 - y0 + 1; }
  T area() const { return width() > 0 && height() > 0 ? width() * height() : T(0); }
  bool valid() const { return x1 >= x0 && y1 >= y0; }
};

using RegionBox = BoxOf<double>;   // a box of a region or track file
using PixelBox = BoxOf<int>;       // whole pixels, inside the frame

// Detector classes are >= 0 (COCO ids); these mark objects found by the motion detectors (DESIGN.md
// section 4: T4 gives all motion objects one extra class).
constexpr int kClassMotionFlow = -1;
constexpr int kClassBackgroundSub = -2;

// An object found in a frame: its box, the detector's confidence and class.
struct Box : BoxOf<float> {
  float score = 1.f;   // detector confidence; 1 for motion objects
  int cls = 0;         // detector class id, or kClassMotion*
};

// Intersection over union with inclusive pixel areas (T = float or double): [10,10,19,19] vs [10,10,20,20]
// = 100/121; [0,0,9,9] vs [0,0,0,9] = 0.1 exactly; two identical one-pixel boxes give 1, never 0/0 (PITFALLS 8).
// Boxes with x1 < x0 or y1 < y0 throw std::invalid_argument.
template <class T>
T iou(const BoxOf<T>& a, const BoxOf<T>& b);
extern template float iou(const BoxOf<float>&, const BoxOf<float>&);
extern template double iou(const BoxOf<double>&, const BoxOf<double>&);

// Clips a box to a width x height image (pixels 0..width-1, 0..height-1). Returns nullopt when nothing
// of the box lies inside (a box of zero width or height is dropped, DESIGN.md section 3).
// Example (PITFALLS 14): [-5,-5,10,10] on 64x64 -> [0,0,10,10].
std::optional<Box> clip_box(const Box& b, int width, int height);

// Rounds to whole pixels (floor of the low corner, ceil of the high corner) and clips: the pixel block a
// crop reads. nullopt as clip_box.
std::optional<PixelBox> pixel_box(const Box& b, int width, int height);

// A box found on a frame resized from (orig_w, orig_h) to (resized_w, resized_h), in the original frame's
// coordinates: every coordinate multiplied by orig/resized (PITFALLS 16: [32,24,64,48] on 320x240 of a
// 640x480 video -> [64,48,128,96]). score and cls are kept. Sizes must be positive (std::invalid_argument).
Box scale_box(const Box& b, int resized_w, int resized_h, int orig_w, int orig_h);

// The same box in the other coordinate type (float -> double is exact; double -> float rounds to nearest).
RegionBox region_box(const BoxOf<float>& b);
Box object_box(const RegionBox& b, float score = 1.f, int cls = 0);

template <class T>
std::string box_str(const BoxOf<T>& b);   // "[x0,y0,x1,y1]" for messages (%g)
extern template std::string box_str(const BoxOf<float>&);
extern template std::string box_str(const BoxOf<double>&);

}  // namespace ssmtl
