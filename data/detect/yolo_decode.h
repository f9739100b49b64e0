// From raw YOLO head outputs to boxes in the original frame: decoding, confidence and class filtering,
// class-wise non-maximum suppression (DESIGN.md section 2; paper section 3.1 keeps detector boxes whose
// confidence reaches a threshold).
//
// Decoding (YOLOv3 as darknet's get_yolo_box / OpenCV's region layer, new_coords=0): for anchor a of a head
// with grid gw x gh, cell (i, j), network input net_w x net_h, s = scale_x_y:
//   cx = (i + s * sigmoid(tx) - (s - 1) / 2) / gw        cy = (j + s * sigmoid(ty) - (s - 1) / 2) / gh
//   w  = anchor_w(a) * exp(tw) / net_w                   h  = anchor_h(a) * exp(th) / net_h
//   objectness = sigmoid(to),  p_c = sigmoid(tc)  (independent logistic class scores, not softmax)
//   score = objectness * p_c  for the best allowed class c; the candidate is kept when score >= threshold.
// All (cx, cy, w, h) are fractions of the network input. The frame was resized to the network input
// without letterbox (as OpenCV's blobFromImage(crop=false) and AlexeyAB darknet's default `detector test`),
// so a fraction maps to the frame by multiplying with its width/height. The continuous box [L, R) covers
// the inclusive pixels L .. R-1 (regions/box.h convention: width x1 - x0 + 1 = R - L):
//   x0 = (cx - w/2) * frame_w,  x1 = (cx + w/2) * frame_w - 1   (same for y).
// Candidates narrower or lower than one frame pixel are dropped (no pixel to crop).
#pragma once
#include <vector>

#include "data/detect/darknet.h"
#include "regions/box.h"
#include "tensor/tensor.h"

namespace ssmtl {

// A detector box and, optionally, the class probabilities p_c (sigmoid, not multiplied by objectness;
// the teacher signal of the distillation task T4, DESIGN.md section 4).
struct Detection {
  Box box;
  std::vector<float> class_probs;   // empty unless asked for
};

struct YoloDecodeOptions {
  float conf_threshold = 0.25f;     // keep score >= this
  std::vector<int> classes;         // allowed class ids (e.g. {0} = COCO person); empty = all
  bool class_probs = false;         // fill Detection::class_probs
};

// Decodes sample b of every head's raw output (darknet::Network::forward) into candidate detections in
// frame coordinates, unclipped, in order (head, anchor, row, column). Throws std::invalid_argument when a
// tensor does not match its head.
std::vector<Detection> decode_yolo(const std::vector<Tensor>& raw, int b, const std::vector<darknet::YoloHead>& heads,
                                   int net_w, int net_h, int frame_w, int frame_h, const YoloDecodeOptions& opt);

// Greedy class-wise non-maximum suppression: visiting boxes by decreasing score (ties: lower index first),
// a box is kept unless a kept box of the same class overlaps it with IoU > iou_threshold (inclusive-pixel
// IoU, regions/box.h). Returns the kept indices in visiting order (highest score first).
// Hand case: scores 0.9, 0.8, 0.7 with IoU(0,1) = 0.6 > 0.45, IoU(0,2) = 0 -> {0, 2}.
std::vector<size_t> nms_classwise(const std::vector<Box>& boxes, float iou_threshold);

// NMS on detections, then boxes clipped to the frame (regions/box.h clip_box); boxes left with no pixel in
// the frame are dropped. Result ordered by decreasing score.
std::vector<Detection> suppress_and_clip(std::vector<Detection> candidates, float iou_threshold, int frame_w,
                                         int frame_h);

}  // namespace ssmtl
