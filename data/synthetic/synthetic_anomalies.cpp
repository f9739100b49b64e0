#include "data/synthetic/synthetic_anomalies.h"

#include <algorithm>
#include <stdexcept>

#include <cmath>

#include "data/video/image.h"
#include "tensor/rng.h"

namespace ssmtl {
namespace {

// Source frames an abnormal segment of `length` output frames consumes.
int consumed(const std::string& kind, int length, int speed_step) {
  return kind == "speed" ? (length - 1) * speed_step + 1 : length;
}

void check_kind(const std::string& kind) {
  if (kind != "backward" && kind != "speed")   // (glide has its own plan: plan_glide)
    throw std::invalid_argument("synthetic anomaly kind must be backward or speed, got '" + kind + "'");
}

}  // namespace

SyntheticVideoPlan make_synthetic_plan(const std::string& kind, int num_frames, int start, int length, int speed_step) {
  check_kind(kind);
  if (speed_step < 2) throw std::invalid_argument("synthetic anomalies: speed_step must be >= 2");
  if (length < 2 || start < 0 || start + consumed(kind, length, speed_step) > num_frames)
    throw std::invalid_argument("synthetic anomalies: a " + kind + " segment of " + std::to_string(length) +
                                " frames at " + std::to_string(start) + " does not fit in " +
                                std::to_string(num_frames) + " source frames");
  SyntheticVideoPlan p;
  p.kind = kind;
  p.start = start;
  p.length = length;
  for (int i = 0; i < start; ++i) p.source_frame.push_back(i);
  int next = start;   // the source frame after the segment
  if (kind == "backward") {
    for (int i = start + length - 1; i >= start; --i) p.source_frame.push_back(i);
    next = start + length;
  } else {
    for (int i = 0; i < length; ++i) p.source_frame.push_back(start + i * speed_step);
    next = start + (length - 1) * speed_step + 1;
  }
  for (int i = next; i < num_frames; ++i) p.source_frame.push_back(i);
  p.labels.assign(p.source_frame.size(), 0);
  std::fill(p.labels.begin() + start, p.labels.begin() + start + length, 1);
  return p;
}

SyntheticVideoPlan plan_synthetic_video(const std::string& kind, int num_frames, const SyntheticAnomalyOptions& opt,
                                        uint64_t seed) {
  check_kind(kind);
  if (opt.segment_min < 2 || opt.segment_max < opt.segment_min || opt.speed_step < 2 || opt.margin < 0)
    throw std::invalid_argument("synthetic anomalies: need 2 <= segment_min <= segment_max, speed_step >= 2, margin >= 0");
  const int room = num_frames - 2 * opt.margin;   // source frames available to the segment
  int max_len = opt.segment_max;
  while (max_len >= opt.segment_min && consumed(kind, max_len, opt.speed_step) > room) --max_len;
  if (max_len < opt.segment_min)
    throw std::invalid_argument("synthetic anomalies: a source of " + std::to_string(num_frames) +
                                " frames is too short for a " + kind + " segment of " +
                                std::to_string(opt.segment_min) + " frames with margins of " +
                                std::to_string(opt.margin));
  Rng rng(seed);
  const int length = static_cast<int>(rng.randint(opt.segment_min, max_len + 1));
  const int last_start = num_frames - opt.margin - consumed(kind, length, opt.speed_step);
  const int start = static_cast<int>(rng.randint(opt.margin, last_start + 1));
  return make_synthetic_plan(kind, num_frames, start, length, opt.speed_step);
}

GlidePlan plan_glide(int num_frames, int frame_width, int frame_height, const std::vector<FrameBox>& objects,
                     const SyntheticAnomalyOptions& opt, uint64_t seed) {
  if (opt.segment_min < 2 || opt.segment_max < opt.segment_min || opt.margin < 0 || !(opt.glide_speed > 0) ||
      opt.glide_min_height < 1)
    throw std::invalid_argument("synthetic glide: need 2 <= segment_min <= segment_max, margin >= 0, glide_speed > 0");
  if (num_frames < opt.segment_min + 2 * opt.margin)
    throw std::invalid_argument("synthetic glide: a video of " + std::to_string(num_frames) +
                                " frames is too short for a segment of " + std::to_string(opt.segment_min) +
                                " frames with margins of " + std::to_string(opt.margin));
  // Objects that can glide at least segment_min frames.
  std::vector<FrameBox> ok;
  for (const FrameBox& b : objects) {
    if (b.x0 < 0 || b.y0 < 0 || b.x1 >= frame_width || b.y1 >= frame_height || b.height() < opt.glide_min_height ||
        b.frame < 0 || b.frame >= num_frames)
      continue;
    const double path = opt.glide_speed * b.height() * (opt.segment_min - 1);
    if (path <= frame_width - b.width()) ok.push_back(b);
  }
  if (ok.empty())
    throw std::invalid_argument("synthetic glide: no object of at least " + std::to_string(opt.glide_min_height) +
                                " pixels can slide " + std::to_string(opt.segment_min) + " frames inside the frame");
  Rng rng(seed);
  GlidePlan p;
  p.object = ok[static_cast<size_t>(rng.randint(0, static_cast<int64_t>(ok.size())))];
  const double v = opt.glide_speed * p.object.height();
  const int room = frame_width - p.object.width();   // the left column moves within [0, room]
  int max_len = std::min(opt.segment_max, num_frames - 2 * opt.margin);
  while (max_len > opt.segment_min && v * (max_len - 1) > room) --max_len;
  p.length = static_cast<int>(rng.randint(opt.segment_min, max_len + 1));
  p.start = static_cast<int>(rng.randint(opt.margin, num_frames - opt.margin - p.length + 1));
  const double path = v * (p.length - 1);
  const double first = rng.uniform() * (room - path);   // the leftmost point of the path
  const bool right = rng.bernoulli(0.5);
  for (int t = 0; t < p.length; ++t)
    p.x.push_back(static_cast<int>(std::lround(right ? first + v * t : first + path - v * t)));
  p.labels.assign(num_frames, 0);
  std::fill(p.labels.begin() + p.start, p.labels.begin() + p.start + p.length, 1);
  return p;
}

void paste_patch(Image& dst, const Image& src, int sx, int sy, int w, int h, int dx, int dy) {
  for (int y = 0; y < h; ++y) {
    const int ys = sy + y, yd = dy + y;
    if (ys < 0 || ys >= src.height || yd < 0 || yd >= dst.height) continue;
    for (int x = 0; x < w; ++x) {
      const int xs = sx + x, xd = dx + x;
      if (xs < 0 || xs >= src.width || xd < 0 || xd >= dst.width) continue;
      for (int c = 0; c < 3; ++c)
        dst.rgb[(static_cast<size_t>(yd) * dst.width + xd) * 3 + c] = src.rgb[(static_cast<size_t>(ys) * src.width + xs) * 3 + c];
    }
  }
}

}  // namespace ssmtl
