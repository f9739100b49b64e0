#include "data/detect/yolo_decode.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace ssmtl {

namespace {

float sigmoidf(float x) { return 1.f / (1.f + std::exp(-x)); }

void check_head(const Tensor& t, const darknet::YoloHead& h, int b) {
  const int64_t ch = static_cast<int64_t>(h.num_anchors()) * (5 + h.classes);
  if (t.dim() != 4 || t.size(1) != ch || t.size(2) != h.grid_h || t.size(3) != h.grid_w || b < 0 || b >= t.size(0))
    throw std::invalid_argument("decode_yolo: head output " + shape_str(t.shape()) + " (sample " + std::to_string(b) +
                                ") does not match the [yolo] layer " + std::to_string(h.layer) + " ([B, " +
                                std::to_string(ch) + ", " + std::to_string(h.grid_h) + ", " +
                                std::to_string(h.grid_w) + "])");
}

}  // namespace

std::vector<Detection> decode_yolo(const std::vector<Tensor>& raw, int b, const std::vector<darknet::YoloHead>& heads,
                                   int net_w, int net_h, int frame_w, int frame_h, const YoloDecodeOptions& opt) {
  if (raw.size() != heads.size())
    throw std::invalid_argument("decode_yolo: " + std::to_string(raw.size()) + " outputs for " +
                                std::to_string(heads.size()) + " heads");
  std::vector<Detection> out;
  for (size_t hi = 0; hi < heads.size(); ++hi) {
    const darknet::YoloHead& h = heads[hi];
    check_head(raw[hi], h, b);
    const int C = h.classes, gw = h.grid_w, gh = h.grid_h;
    const size_t plane = static_cast<size_t>(gh) * gw;
    const float* base = raw[hi].data() + static_cast<size_t>(b) * h.num_anchors() * (5 + C) * plane;
    std::vector<int> allowed = opt.classes;
    if (allowed.empty()) {
      allowed.resize(C);
      std::iota(allowed.begin(), allowed.end(), 0);
    }
    for (int c : allowed)
      if (c < 0 || c >= C) throw std::invalid_argument("decode_yolo: class filter id " + std::to_string(c) +
                                                       " outside 0.." + std::to_string(C - 1));
    const float s = h.scale_x_y, shift = (s - 1.f) / 2.f;
    for (int a = 0; a < h.num_anchors(); ++a) {
      const float* p = base + static_cast<size_t>(a) * (5 + C) * plane;   // channel k at p + k * plane
      for (int j = 0; j < gh; ++j) {
        for (int i = 0; i < gw; ++i) {
          const size_t cell = static_cast<size_t>(j) * gw + i;
          const float obj = sigmoidf(p[4 * plane + cell]);
          if (obj < opt.conf_threshold) continue;   // score = obj * p_c <= obj: cannot pass
          int best = -1;
          float best_p = -1.f;
          for (int c : allowed) {
            const float pc = sigmoidf(p[(5 + c) * plane + cell]);
            if (pc > best_p) best_p = pc, best = c;
          }
          const float score = obj * best_p;
          if (score < opt.conf_threshold) continue;
          const float cx = (i + s * sigmoidf(p[cell]) - shift) / gw;
          const float cy = (j + s * sigmoidf(p[plane + cell]) - shift) / gh;
          const float w = h.anchors[2 * a] * std::exp(p[2 * plane + cell]) / net_w;
          const float bh = h.anchors[2 * a + 1] * std::exp(p[3 * plane + cell]) / net_h;
          Detection d;
          d.box.x0 = (cx - w / 2) * frame_w;
          d.box.x1 = (cx + w / 2) * frame_w - 1;
          d.box.y0 = (cy - bh / 2) * frame_h;
          d.box.y1 = (cy + bh / 2) * frame_h - 1;
          d.box.score = score;
          d.box.cls = best;
          if (!d.box.valid()) continue;   // under one pixel wide or high
          if (opt.class_probs) {
            d.class_probs.resize(C);
            for (int c = 0; c < C; ++c) d.class_probs[c] = sigmoidf(p[(5 + c) * plane + cell]);
          }
          out.push_back(std::move(d));
        }
      }
    }
  }
  return out;
}

std::vector<size_t> nms_classwise(const std::vector<Box>& boxes, float iou_threshold) {
  std::vector<size_t> order(boxes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return boxes[a].score > boxes[b].score; });
  std::vector<size_t> kept;
  for (size_t idx : order) {
    bool keep = true;
    for (size_t k : kept) {
      if (boxes[k].cls == boxes[idx].cls && iou(boxes[k], boxes[idx]) > iou_threshold) {
        keep = false;
        break;
      }
    }
    if (keep) kept.push_back(idx);
  }
  return kept;
}

std::vector<Detection> suppress_and_clip(std::vector<Detection> candidates, float iou_threshold, int frame_w,
                                         int frame_h) {
  std::vector<Box> boxes;
  boxes.reserve(candidates.size());
  for (const Detection& d : candidates) boxes.push_back(d.box);
  std::vector<Detection> out;
  for (size_t idx : nms_classwise(boxes, iou_threshold)) {
    std::optional<Box> c = clip_box(candidates[idx].box, frame_w, frame_h);
    if (!c) continue;
    Detection d = std::move(candidates[idx]);
    d.box = *c;
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace ssmtl
