#include "data/samples/sequences.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "data/video/frames.h"
#include "data/video/image.h"
#include "data/video/resize.h"
#include "util/parallel.h"

namespace ssmtl {

std::array<int, kSeqLen> sequence_frames(int t, int n_frames, WindowEnds ends) {
  if (n_frames < 1 || t < 0 || t >= n_frames)
    throw std::out_of_range("sequence_frames: frame " + std::to_string(t) + " of a " + std::to_string(n_frames) +
                            "-frame video");
  int first = t - kSeqHalf;
  if (ends == WindowEnds::kShift && n_frames >= kSeqLen) first = std::clamp(first, 0, n_frames - kSeqLen);
  std::array<int, kSeqLen> f{};
  for (int i = 0; i < kSeqLen; ++i) f[i] = std::clamp(first + i, 0, n_frames - 1);
  return f;
}

WindowEnds parse_window_ends(const std::string& name, const std::string& what) {
  if (name == "clamp") return WindowEnds::kClamp;
  if (name == "shift") return WindowEnds::kShift;
  throw std::invalid_argument(what + " must be clamp or shift, got '" + name + "'");
}

const char* window_ends_name(WindowEnds ends) { return ends == WindowEnds::kShift ? "shift" : "clamp"; }

void crop_frames(float* out, const Image* const* frames, int count, const Box& box, int size) {
  if (count < 1) throw std::invalid_argument("crop_frames: no frames");
  const int w = frames[0]->width, h = frames[0]->height;
  auto p = pixel_box(box, w, h);
  if (!p) throw std::invalid_argument("crop_frames: box " + box_str(box) + " lies outside the " + std::to_string(w) +
                                      "x" + std::to_string(h) + " frame");
  const size_t plane = static_cast<size_t>(size) * size;
  for (int i = 0; i < count; ++i) {
    const Image& f = *frames[i];
    if (f.width != w || f.height != h) throw std::invalid_argument("crop_frames: frames of different sizes");
    // Channel stride count*size*size writes frame i into the (3, count, size, size) block.
    crop_resize_bilinear(out + i * plane, f.rgb.data(), w, h, 3, p->x0, p->y0, p->x1, p->y1, size, size,
                         1.f / 255.f, plane * count);
  }
}

std::vector<ObjectRef> clip_objects(const std::vector<ObjectRef>& objects, int width, int height) {
  std::vector<ObjectRef> kept;
  for (const auto& o : objects) {
    auto c = clip_box(o.box, width, height);
    if (c) kept.push_back({o.frame, *c});
  }
  return kept;
}

namespace {

constexpr int kChunkFrames = 32;   // frames whose objects are cropped together (bounds decoded memory)

}  // namespace

Tensor extract_sequences(const Video& video, const std::vector<ObjectRef>& objects) {
  Tensor out = Tensor::empty({static_cast<int64_t>(objects.size()), 3, kSeqLen, kCropSize, kCropSize});
  extract_sequences_into(out.data(), video, objects);
  return out;
}

void extract_sequences_into(float* base, const Video& video, const std::vector<ObjectRef>& objects) {
  const int n = video.num_frames();
  const int64_t count = static_cast<int64_t>(objects.size());
  for (const auto& o : objects) {
    if (o.frame < 0 || o.frame >= n)
      throw std::invalid_argument("extract_sequences: video " + video.name() + " has " + std::to_string(n) +
                                  " frames, object at frame " + std::to_string(o.frame));
    if (!clip_box(o.box, video.width(), video.height()))
      throw std::invalid_argument("extract_sequences: video " + video.name() + " frame " + std::to_string(o.frame) +
                                  ": box " + box_str(o.box) + " is empty after clipping (use clip_objects)");
  }
  if (count == 0) return;
  // Objects in frame order, then chunks of kChunkFrames frames: decode the chunk's frames (+-3) in
  // parallel, crop its objects in parallel, release the frames.
  std::vector<int64_t> order(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return objects[a].frame < objects[b].frame; });
  size_t start = 0;
  while (start < order.size()) {
    const int f0 = objects[order[start]].frame;
    size_t end = start;
    while (end < order.size() && objects[order[end]].frame < f0 + kChunkFrames) ++end;
    const int lo = std::max(0, f0 - kSeqHalf);
    const int hi = std::min(n - 1, objects[order[end - 1]].frame + kSeqHalf);
    std::vector<std::shared_ptr<const Image>> frames(static_cast<size_t>(hi - lo + 1));
    util::parallel_for(hi - lo + 1, [&](int64_t k) { frames[k] = video.frame(lo + static_cast<int>(k)); }, 4);
    util::parallel_for(static_cast<int64_t>(end - start), [&](int64_t j) {
      const int64_t i = order[start + j];
      const auto idx = sequence_frames(objects[i].frame, n);
      const Image* seq[kSeqLen];
      for (int k = 0; k < kSeqLen; ++k) seq[k] = frames[idx[k] - lo].get();
      crop_frames(base + i * kSeqNumel, seq, kSeqLen, objects[i].box);
    }, 4);
    start = end;
  }
}

Tensor extract_frames(const Video& video, const std::vector<int>& frames, const Box& box) {
  if (frames.empty()) throw std::invalid_argument("extract_frames: no frame indices");
  std::vector<std::shared_ptr<const Image>> imgs;
  std::vector<const Image*> ptrs;
  for (int f : frames) {
    imgs.push_back(video.frame(f));
    ptrs.push_back(imgs.back().get());
  }
  const int64_t t = static_cast<int64_t>(frames.size());
  Tensor out = Tensor::empty({3, t, kCropSize, kCropSize});
  crop_frames(out.data(), ptrs.data(), static_cast<int>(t), box);
  return out;
}

Tensor stack(const std::vector<Tensor>& items) {
  if (items.empty()) throw std::invalid_argument("stack: no tensors");
  Shape s = items[0].shape();
  for (const auto& t : items)
    if (t.shape() != s)
      throw std::invalid_argument("stack: shapes " + shape_str(s) + " and " + shape_str(t.shape()) + " differ");
  Shape os = s;
  os.insert(os.begin(), static_cast<int64_t>(items.size()));
  Tensor out = Tensor::empty(os);
  const int64_t m = items[0].numel();
  for (size_t i = 0; i < items.size(); ++i) std::memcpy(out.data() + i * m, items[i].data(), sizeof(float) * m);
  return out;
}

}  // namespace ssmtl
