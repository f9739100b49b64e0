// Motion objects from a dense optical-flow field (paper section 3.1 and 4.2; DESIGN.md section 2):
// a pixel moves if its flow magnitude is > 1 pixel/frame; detector boxes are blacked out; the 8-connected
// components of what remains with area >= 1500 px at 640x360 (scaled with the frame area) are new
// objects (class kClassMotionFlow, score 1). The flow itself comes from the caller (another module).
//
// Frame policy (PITFALLS 11): N frames give N-1 fields. Field k is the flow between frames k and k+1.
// Which frame a field's objects belong to, and what the frame without a field gets, is explicit
// (FlowFramePolicy); every frame gets an entry.
#pragma once
#include <vector>

#include "regions/box.h"

namespace ssmtl {

enum class FlowFramePolicy {
  // Default. Frame t >= 1 uses field t-1 (the motion that led into frame t; the field is computed on
  // frame t-1's grid, the way a (previous, next) flow call does); frame 0 reuses field 0.
  kPreviousFieldFrame0Reuses,
  // Same, but frame 0 gets no objects.
  kPreviousFieldFrame0Empty,
  // Frame t < N-1 uses field t (on its own grid); the last frame reuses field N-2.
  kNextFieldLastReuses,
};

struct MotionParams {
  float magnitude_threshold = 1.f;   // pixels per frame, strict: |flow| > threshold
  double min_area_ref = 1500;        // px at 640x360, scaled with the flow field's area
  FlowFramePolicy policy = FlowFramePolicy::kPreviousFieldFrame0Reuses;
};

// flow: (2, height, width) float, channel 0 = horizontal (x) displacement, channel 1 = vertical (y), in
// pixels of this field. detector_boxes: in the field's pixel coordinates. A field computed on a resized
// frame gives boxes in the resized coordinates: convert with scale_box (regions/box.h), and convert
// detector boxes the other way first. mask_out (optional) receives the final 0/1 mask.
std::vector<Box> motion_objects(const float* flow, int width, int height, const std::vector<Box>& detector_boxes,
                                const MotionParams& p = {}, std::vector<uint8_t>* mask_out = nullptr);

// Index of the field whose objects frame t gets, or -1 for none (n_frames >= 1; a 1-frame video has no
// field, so every policy gives -1).
int flow_field_for_frame(int t, int n_frames, FlowFramePolicy policy);

// Whole video: fields[k] is field k ((2, height, width) each, fields.size() == n_frames - 1);
// detector_boxes empty or one list per frame. Returns one object list per frame (n_frames).
// Throws std::invalid_argument when the counts do not fit.
std::vector<std::vector<Box>> motion_objects_video(const std::vector<const float*>& fields, int width, int height,
                                                   int n_frames, const MotionParams& p,
                                                   const std::vector<std::vector<Box>>& detector_boxes = {});

}  // namespace ssmtl
