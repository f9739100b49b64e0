#include "data/detect/background.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "data/detect/components.h"
#include "data/detect/morphology.h"
#include "data/video/frames.h"

namespace ssmtl {

void black_out_boxes(std::vector<uint8_t>& mask, int width, int height, const std::vector<Box>& boxes) {
  for (const Box& b : boxes) {
    auto p = pixel_box(b, width, height);
    if (!p) continue;
    for (int y = p->y0; y <= p->y1; ++y)
      std::fill(mask.begin() + static_cast<size_t>(y) * width + p->x0,
                mask.begin() + static_cast<size_t>(y) * width + p->x1 + 1, uint8_t{0});
  }
}

BackgroundSubtractor::BackgroundSubtractor(const BackgroundParams& p, const std::vector<GrayImage>& first)
    : p_(p) {
  if (first.empty()) throw std::invalid_argument("BackgroundSubtractor: no frames for the initial background");
  bg_ = GrayImage(first[0].width, first[0].height, 0.f);
  // Mean in double so K frames of the same value give exactly that value (a static video stays at 0).
  std::vector<double> acc(bg_.v.size(), 0.0);
  for (const auto& f : first) {
    if (f.width != bg_.width || f.height != bg_.height)
      throw std::invalid_argument("BackgroundSubtractor: initial frames of different sizes");
    for (size_t i = 0; i < acc.size(); ++i) acc[i] += f.v[i];
  }
  for (size_t i = 0; i < acc.size(); ++i) bg_.v[i] = static_cast<float>(acc[i] / first.size());
  k_ = static_cast<int>(first.size());
}

std::vector<Box> BackgroundSubtractor::apply(const GrayImage& f, const std::vector<Box>& detector_boxes,
                                             std::vector<uint8_t>* mask_out) {
  const int w = bg_.width, h = bg_.height;
  if (f.width != w || f.height != h)
    throw std::invalid_argument("BackgroundSubtractor::apply: frame " + std::to_string(t_) + " is " +
                                std::to_string(f.width) + "x" + std::to_string(f.height) + ", background is " +
                                std::to_string(w) + "x" + std::to_string(h));
  std::vector<uint8_t> mask(bg_.v.size());
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = std::fabs(f.v[i] - bg_.v[i]) > p_.threshold;
  if (p_.close_radius > 0) mask = close_mask(mask, w, h, p_.close_radius);
  black_out_boxes(mask, w, h, detector_boxes);
  std::vector<Box> out;
  const bool warming = p_.warmup == BackgroundWarmup::kNoObjectsDuringInit && t_ < k_;
  if (!warming) {
    for (const auto& c : connected_components(mask.data(), w, h, scaled_min_area(p_.min_area_ref, w, h)))
      out.push_back(c.box(kClassBackgroundSub, 1.f));
  } else {
    std::fill(mask.begin(), mask.end(), uint8_t{0});
  }
  const float a = p_.learning_rate;
  for (size_t i = 0; i < bg_.v.size(); ++i) bg_.v[i] += a * (f.v[i] - bg_.v[i]);   // (1-a) B + a F
  ++t_;
  if (mask_out) *mask_out = std::move(mask);
  return out;
}

std::vector<std::vector<Box>> background_objects(const Video& v, const BackgroundParams& p,
                                                 const std::vector<std::vector<Box>>& detector_boxes) {
  const int n = v.num_frames();
  if (!detector_boxes.empty() && static_cast<int>(detector_boxes.size()) != n)
    throw std::invalid_argument("background_objects: video " + v.name() + " has " + std::to_string(n) +
                                " frames but " + std::to_string(detector_boxes.size()) + " detector box lists");
  const int k = std::max(1, std::min(p.init_frames, n));
  std::vector<GrayImage> first;
  for (int i = 0; i < k; ++i) first.push_back(to_gray(*v.frame(i)));
  BackgroundSubtractor bs(p, first);
  std::vector<std::vector<Box>> out(n);
  static const std::vector<Box> none;
  for (int t = 0; t < n; ++t) {
    GrayImage g = t < k ? std::move(first[t]) : to_gray(*v.frame(t));
    out[t] = bs.apply(g, detector_boxes.empty() ? none : detector_boxes[t]);
  }
  return out;
}

}  // namespace ssmtl
