#include "data/detect/detect_video.h"

#include <stdexcept>

#include "data/detect/detector.h"
#include "data/video/image.h"
#include "data/video/resize.h"
#include "util/parallel.h"

namespace ssmtl {

DetectMethod parse_detect_method(const std::string& s) {
  if (s == "detector") return DetectMethod::kDetector;
  if (s == "flow") return DetectMethod::kFlow;
  if (s == "background") return DetectMethod::kBackground;
  if (s == "hybrid") return DetectMethod::kHybrid;
  if (s == "hybrid-background") return DetectMethod::kHybridBackground;
  throw std::invalid_argument("unknown detection method '" + s +
                              "' (detector, flow, background, hybrid, hybrid-background)");
}

const char* detect_method_name(DetectMethod m) {
  switch (m) {
    case DetectMethod::kDetector: return "detector";
    case DetectMethod::kFlow: return "flow";
    case DetectMethod::kBackground: return "background";
    case DetectMethod::kHybrid: return "hybrid";
    case DetectMethod::kHybridBackground: return "hybrid-background";
  }
  return "?";
}

namespace {

// Grey frame as floats in [0,255], resized by `scale` (bilinear) when scale != 1.
std::vector<float> gray_frame(const Image& frame, float scale, int& w, int& h) {
  GrayImage g = to_gray(frame);
  if (scale == 1.f) {
    w = g.width;
    h = g.height;
    return g.v;
  }
  w = std::max(8, static_cast<int>(g.width * scale + 0.5f));
  h = std::max(8, static_cast<int>(g.height * scale + 0.5f));
  std::vector<float> out(static_cast<size_t>(w) * h);
  resize_bilinear_planar(out.data(), g.v.data(), g.width, g.height, 1, w, h);
  return out;
}

}  // namespace

FlowField flow_field_of(const Image& a, const Image& b, const DetectVideoOptions& o) {
  if (a.width != b.width || a.height != b.height)
    throw std::invalid_argument("flow_motion_boxes: frames of different sizes " + std::to_string(a.width) + "x" +
                                std::to_string(a.height) + " and " + std::to_string(b.width) + "x" + std::to_string(b.height));
  FlowField f;
  f.W = a.width;
  f.H = a.height;
  std::vector<float> ga = gray_frame(a, o.flow_scale, f.w, f.h), gb = gray_frame(b, o.flow_scale, f.w, f.h);
  f.flow = dense_flow(ga.data(), gb.data(), f.h, f.w, o.flow);
  return f;
}

std::vector<Box> motion_boxes_of(const FlowField& f, const std::vector<Box>& detector_boxes, const DetectVideoOptions& o) {
  MotionParams mp = o.motion;
  mp.magnitude_threshold = o.motion.magnitude_threshold * o.flow_scale;   // px/frame at full resolution
  std::vector<Box> dboxes, out;
  for (const Box& d : detector_boxes) dboxes.push_back(scale_box(d, f.W, f.H, f.w, f.h));
  for (const Box& m : motion_objects(f.flow.data(), f.w, f.h, dboxes, mp)) out.push_back(scale_box(m, f.w, f.h, f.W, f.H));
  return out;
}

std::vector<Box> flow_motion_boxes(const Image& a, const Image& b, const std::vector<Box>& detector_boxes,
                                   const DetectVideoOptions& o) {
  return motion_boxes_of(flow_field_of(a, b, o), detector_boxes, o);
}

std::vector<std::vector<Box>> detect_video(const Video& v, const Detector* detector, const DetectVideoOptions& o,
                                           const std::function<void(int64_t)>& progress) {
  std::vector<std::vector<Box>> out;
  for (auto& frame : detect_video_full(v, detector, o, progress)) {
    std::vector<Box> boxes;
    boxes.reserve(frame.size());
    for (const Detection& d : frame) boxes.push_back(d.box);
    out.push_back(std::move(boxes));
  }
  return out;
}

std::vector<std::vector<Detection>> detect_video_full(const Video& v, const Detector* detector,
                                                      const DetectVideoOptions& o,
                                                      const std::function<void(int64_t)>& progress) {
  const int n = v.num_frames();
  const bool use_det = o.method == DetectMethod::kDetector || o.method == DetectMethod::kHybrid ||
                       o.method == DetectMethod::kHybridBackground;
  if (use_det && !detector)
    throw std::invalid_argument(std::string("detection method ") + detect_method_name(o.method) + " needs the detector");
  std::vector<std::vector<Detection>> out(static_cast<size_t>(n));
  std::vector<std::vector<Box>> det(static_cast<size_t>(n));   // detector boxes, blacked out for motion
  if (use_det) {
    const int chunk = 16;
    for (int a = 0; a < n; a += chunk) {
      std::vector<Image> frames;
      for (int t = a; t < std::min(n, a + chunk); ++t) frames.push_back(*v.frame(t));
      auto dets = detector->detect_full(frames);
      for (size_t k = 0; k < dets.size(); ++k) {
        for (const Detection& d : dets[k]) det[a + k].push_back(d.box);
        out[a + k] = std::move(dets[k]);
      }
      if (progress && o.method == DetectMethod::kDetector) progress(static_cast<int64_t>(frames.size()));
    }
    if (o.method == DetectMethod::kDetector) return out;
  }
  auto append = [&](int t, const std::vector<Box>& motion) {
    for (const Box& b : motion) out[t].push_back(Detection{b, {}});
  };
  if (o.method == DetectMethod::kBackground || o.method == DetectMethod::kHybridBackground) {
    auto motion = background_objects(v, o.background, use_det ? det : std::vector<std::vector<Box>>{});
    for (int t = 0; t < n; ++t) append(t, motion[t]);
    if (progress) progress(n);
    return out;
  }
  // Optical flow: one field per frame, computed in parallel; frame t uses the field the policy names.
  std::vector<std::vector<Box>> motion(static_cast<size_t>(n));
  util::parallel_for(n, [&](int64_t ti) {
    const int t = static_cast<int>(ti);
    int k = flow_field_for_frame(t, n, o.motion.policy);
    if (k >= 0) motion[t] = flow_motion_boxes(*v.frame(k), *v.frame(k + 1), det[t], o);
    if (progress) {
#pragma omp critical
      progress(1);
    }
  });
  for (int t = 0; t < n; ++t) append(t, motion[t]);
  return out;
}

}  // namespace ssmtl
