// Object detection for a whole video with the methods of SSMTL++ (paper section 3.1, DESIGN.md section 2):
//   detector    pretrained Yolo-Fastest boxes (confidence >= threshold, allowed classes)
//   flow        motion objects from our dense optical flow (|flow| > 1 px/frame, components, min area)
//   background  background subtraction (running average, threshold, closing, components)
//   hybrid      detector + flow motion objects outside the detector boxes (the paper's best)
//   hybrid-background  detector + background-subtraction objects outside the detector boxes
// Frame-0 policy: that of MotionParams::policy (data/detect/motion.h); a 1-frame video has no flow field and
// gets no motion objects; a static video gives none.
//
// `ssmtl detect` writes the objects of each video as DIR/<video>.txt (region format, regions/region_file.h:
// frame,x_min,y_min,x_max,y_max,score; motion objects have score 1), frame by frame and, within a frame,
// detector objects first, then motion objects, in the order detect_video returns them. With a detector
// (methods detector, hybrid, hybrid-background) it also writes DIR/class_probs/<video>.txt, the T4
// teacher: one line per object in the same order, frame,x_min,y_min,x_max,y_max,p_0,...,p_{K-1},p_motion
// after a header "# ssmtl class_probs v1 classes=K"; p = the detector's class probabilities normalised to
// sum 1 (p_motion = 0), or p_motion = 1 for motion objects (format and reader: data/detect/class_probs.h).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/detect/background.h"
#include "data/detect/flow.h"
#include "data/detect/motion.h"
#include "data/detect/yolo_decode.h"
#include "data/video/frames.h"
#include "regions/box.h"

namespace ssmtl {

class Detector;

enum class DetectMethod { kDetector, kFlow, kBackground, kHybrid, kHybridBackground };
DetectMethod parse_detect_method(const std::string& s);   // throws std::invalid_argument listing the names
const char* detect_method_name(DetectMethod m);

struct DetectVideoOptions {
  DetectMethod method = DetectMethod::kHybrid;
  float flow_scale = 1.f;       // flow computed on frames resized by this factor (speed); boxes mapped back
  FlowOptions flow;
  MotionParams motion;
  BackgroundParams background;
};

// One object list per frame, in the video's pixel coordinates. `detector` may be null for flow/background.
// `progress(n)` is called as frames are done. Throws std::invalid_argument when the method needs a
// detector and none is given.
std::vector<std::vector<Box>> detect_video(const Video& video, const Detector* detector, const DetectVideoOptions& o,
                                           const std::function<void(int64_t)>& progress = nullptr);
// The same objects, in the same order, as detections: detector objects carry the detector's class
// probabilities when it was built with DetectorOptions::class_probs; motion objects (Box::cls < 0)
// carry none.
std::vector<std::vector<Detection>> detect_video_full(const Video& video, const Detector* detector,
                                                      const DetectVideoOptions& o,
                                                      const std::function<void(int64_t)>& progress = nullptr);

// Motion objects of one frame by optical flow (the step detect_video_full runs per frame, exposed for a live
// stream, online/): `a` and `b` are frames k and k+1 of the field flow_field_for_frame(t, n, o.motion.policy)
// names for frame t; detector_boxes are frame t's detector boxes (blacked out of the motion mask). Boxes in the
// frames' pixel coordinates. Throws std::invalid_argument when a and b differ in size.
std::vector<Box> flow_motion_boxes(const Image& a, const Image& b, const std::vector<Box>& detector_boxes,
                                   const DetectVideoOptions& o);

// flow_motion_boxes in two steps, so that a live pipeline can compute the field (the costly part, which needs no
// detector boxes) while the detector runs: flow_field_of(a, b) then motion_boxes_of(field, detector_boxes) give
// the same boxes, bit for bit. The field is (2, h, w) at the flow's scale (o.flow_scale) of a W x H frame.
struct FlowField {
  std::vector<float> flow;   // (2, h, w)
  int w = 0, h = 0;          // the field's size
  int W = 0, H = 0;          // the frames' size
};
FlowField flow_field_of(const Image& a, const Image& b, const DetectVideoOptions& o);
std::vector<Box> motion_boxes_of(const FlowField& f, const std::vector<Box>& detector_boxes, const DetectVideoOptions& o);

}  // namespace ssmtl
