#include "data/tasks.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace ssmtl {
namespace {

void check_seq(const Tensor& seq, const char* what) {
  if (seq.dim() != 4 || seq.size(0) != 3)
    throw std::invalid_argument(std::string(what) + ": expected a (3, T, H, W) sequence, got " + shape_str(seq.shape()));
}

}  // namespace

Tensor reverse_time(const Tensor& seq) {
  check_seq(seq, "reverse_time");
  const int64_t c = seq.size(0), t = seq.size(1), plane = seq.size(2) * seq.size(3);
  Tensor out = Tensor::empty(seq.shape());
  for (int64_t ci = 0; ci < c; ++ci)
    for (int64_t ti = 0; ti < t; ++ti)
      std::memcpy(out.data() + (ci * t + ti) * plane, seq.data() + (ci * t + (t - 1 - ti)) * plane,
                  sizeof(float) * plane);
  return out;
}

ClassSample arrow_of_time_sample(const Tensor& seq, Rng& rng) {
  check_seq(seq, "arrow_of_time_sample");
  const bool backward = rng.bernoulli(0.5);
  return {backward ? reverse_time(seq) : seq.clone(), backward ? 1 : 0};
}

std::array<int, kSeqLen> irregular_frames(int t, int n_frames, Rng& rng, int max_gap) {
  if (n_frames < 1 || t < 0 || t >= n_frames || max_gap < 2)
    throw std::invalid_argument("irregular_frames: frame " + std::to_string(t) + " of " + std::to_string(n_frames) +
                                ", max gap " + std::to_string(max_gap) + " (must be >= 2)");
  std::array<int, kSeqLen - 1> gap{};
  bool skip = false;
  while (!skip) {
    for (auto& g : gap) {
      g = static_cast<int>(rng.randint(1, max_gap + 1));
      skip = skip || g > 1;
    }
  }
  std::array<int, kSeqLen> f{};
  f[kSeqHalf] = t;
  for (int i = kSeqHalf - 1; i >= 0; --i) f[i] = f[i + 1] - gap[i];
  for (int i = kSeqHalf + 1; i < kSeqLen; ++i) f[i] = f[i - 1] + gap[i - 1];
  for (auto& x : f) x = std::clamp(x, 0, n_frames - 1);
  return f;
}

FrameIndexSample motion_irregularity_sample(int t, int n_frames, Rng& rng, int max_gap) {
  FrameIndexSample s;
  s.label = rng.bernoulli(0.5) ? 1 : 0;
  s.frames = s.label ? irregular_frames(t, n_frames, rng, max_gap) : sequence_frames(t, n_frames);
  return s;
}

Tensor middle_frame(const Tensor& seq) {
  check_seq(seq, "middle_frame");
  const int64_t t = seq.size(1), plane = seq.size(2) * seq.size(3);
  Tensor out = Tensor::empty({3, seq.size(2), seq.size(3)});
  for (int64_t c = 0; c < 3; ++c)
    std::memcpy(out.data() + c * plane, seq.data() + (c * t + t / 2) * plane, sizeof(float) * plane);
  return out;
}

MiddleBoxSample middle_box_sample(const Tensor& seq) {
  check_seq(seq, "middle_box_sample");
  const int64_t t = seq.size(1), plane = seq.size(2) * seq.size(3);
  if (t != kSeqLen) throw std::invalid_argument("middle_box_sample: sequence of " + std::to_string(t) + " frames, expected 7");
  MiddleBoxSample s;
  s.input = Tensor::empty({3, t - 1, seq.size(2), seq.size(3)});
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t ti = 0, k = 0; ti < t; ++ti) {
      if (ti == t / 2) continue;
      std::memcpy(s.input.data() + (c * (t - 1) + k++) * plane, seq.data() + (c * t + ti) * plane, sizeof(float) * plane);
    }
  s.target = middle_frame(seq);
  return s;
}

Patch sample_inpaint_patch(Rng& rng, int width, int height, int min_size, int max_size, double std) {
  if (width < 1 || height < 1 || min_size < 1 || max_size < min_size)
    throw std::invalid_argument("sample_inpaint_patch: invalid image or patch size");
  const int s = static_cast<int>(rng.randint(min_size, max_size + 1));
  const double cx = std::clamp((width - 1) / 2.0 + std * rng.normal(), 0.0, width - 1.0);
  const double cy = std::clamp((height - 1) / 2.0 + std * rng.normal(), 0.0, height - 1.0);
  Patch p;
  p.x0 = static_cast<int>(std::lround(cx - (s - 1) / 2.0));
  p.y0 = static_cast<int>(std::lround(cy - (s - 1) / 2.0));
  p.x1 = std::min(p.x0 + s - 1, width - 1);
  p.y1 = std::min(p.y0 + s - 1, height - 1);
  p.x0 = std::max(p.x0, 0);
  p.y0 = std::max(p.y0, 0);
  return p;
}

void apply_patch(Tensor& img, const Patch& p) {
  if (img.dim() != 3) throw std::invalid_argument("apply_patch: expected (C, H, W), got " + shape_str(img.shape()));
  const int64_t c = img.size(0), h = img.size(1), w = img.size(2);
  if (p.x0 < 0 || p.y0 < 0 || p.x1 >= w || p.y1 >= h)
    throw std::invalid_argument("apply_patch: patch outside the " + std::to_string(w) + "x" + std::to_string(h) + " image");
  for (int64_t ci = 0; ci < c; ++ci)
    for (int y = p.y0; y <= p.y1; ++y)
      std::fill_n(img.data() + (ci * h + y) * w + p.x0, std::max(0, p.x1 - p.x0 + 1), 0.f);
}

InpaintSample inpaint_sample(const Tensor& img, Rng& rng) {
  if (img.dim() != 3) throw std::invalid_argument("inpaint_sample: expected (C, H, W), got " + shape_str(img.shape()));
  InpaintSample s;
  s.patch = sample_inpaint_patch(rng, static_cast<int>(img.size(2)), static_cast<int>(img.size(1)));
  s.target = img.clone();
  s.input = img.clone();
  apply_patch(s.input, s.patch);
  return s;
}

std::array<Patch, 3> inpaint_test_patches(uint64_t seed, uint64_t object_key, int width, int height) {
  // Mix the key so nearby keys give unrelated streams (Rng seeds through splitmix64 as well).
  Rng rng(seed ^ (object_key * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL));
  std::array<Patch, 3> p;
  for (auto& x : p) x = sample_inpaint_patch(rng, width, height);
  return p;
}

}  // namespace ssmtl
