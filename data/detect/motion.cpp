#include "data/detect/motion.h"

#include <cstdint>
#include <stdexcept>
#include <string>

#include "data/detect/background.h"
#include "data/detect/components.h"

namespace ssmtl {

std::vector<Box> motion_objects(const float* flow, int width, int height, const std::vector<Box>& detector_boxes,
                                const MotionParams& p, std::vector<uint8_t>* mask_out) {
  if (width <= 0 || height <= 0 || !flow)
    throw std::invalid_argument("motion_objects: flow field of " + std::to_string(width) + "x" +
                                std::to_string(height) + " is empty");
  const size_t n = static_cast<size_t>(width) * height;
  const float* u = flow;
  const float* v = flow + n;
  const float t2 = p.magnitude_threshold * p.magnitude_threshold;   // compare squares: no sqrt per pixel
  std::vector<uint8_t> mask(n);
  for (size_t i = 0; i < n; ++i) mask[i] = u[i] * u[i] + v[i] * v[i] > t2;
  black_out_boxes(mask, width, height, detector_boxes);
  std::vector<Box> out;
  for (const auto& c : connected_components(mask.data(), width, height, scaled_min_area(p.min_area_ref, width, height)))
    out.push_back(c.box(kClassMotionFlow, 1.f));
  if (mask_out) *mask_out = std::move(mask);
  return out;
}

int flow_field_for_frame(int t, int n_frames, FlowFramePolicy policy) {
  if (t < 0 || t >= n_frames)
    throw std::out_of_range("flow_field_for_frame: frame " + std::to_string(t) + " of " + std::to_string(n_frames));
  const int fields = n_frames - 1;
  if (fields <= 0) return -1;
  switch (policy) {
    case FlowFramePolicy::kPreviousFieldFrame0Reuses: return t == 0 ? 0 : t - 1;
    case FlowFramePolicy::kPreviousFieldFrame0Empty: return t == 0 ? -1 : t - 1;
    case FlowFramePolicy::kNextFieldLastReuses: return t < fields ? t : fields - 1;
  }
  return -1;
}

std::vector<std::vector<Box>> motion_objects_video(const std::vector<const float*>& fields, int width, int height,
                                                   int n_frames, const MotionParams& p,
                                                   const std::vector<std::vector<Box>>& detector_boxes) {
  if (n_frames < 1 || static_cast<int>(fields.size()) != n_frames - 1)
    throw std::invalid_argument("motion_objects_video: " + std::to_string(n_frames) + " frames need " +
                                std::to_string(n_frames - 1) + " flow fields, got " + std::to_string(fields.size()));
  if (!detector_boxes.empty() && static_cast<int>(detector_boxes.size()) != n_frames)
    throw std::invalid_argument("motion_objects_video: " + std::to_string(n_frames) + " frames but " +
                                std::to_string(detector_boxes.size()) + " detector box lists");
  static const std::vector<Box> none;
  std::vector<std::vector<Box>> out(n_frames);
  for (int t = 0; t < n_frames; ++t) {
    const int k = flow_field_for_frame(t, n_frames, p.policy);
    if (k < 0) continue;
    out[t] = motion_objects(fields[k], width, height, detector_boxes.empty() ? none : detector_boxes[t], p);
  }
  return out;
}

}  // namespace ssmtl
