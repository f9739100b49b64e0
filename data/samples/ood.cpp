#include "data/samples/ood.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "data/samples/sequences.h"
#include "data/video/frames.h"
#include "data/video/resize.h"
#include "util/parallel.h"

namespace ssmtl {
namespace fs = std::filesystem;
namespace {

std::vector<std::string> list_images(const std::string& dir) {
  return list_frame_files(dir);   // image files in natural order; throws naming the folder
}

}  // namespace

OodImages::OodImages(const std::string& root, OodOptions opts) : opts_(opts) {
  if (!(opts_.min_scale > 0 && opts_.max_scale >= opts_.min_scale && opts_.max_scale <= 1))
    throw std::invalid_argument("OodImages: need 0 < min_scale <= max_scale <= 1");
  texture_paths_ = list_images((fs::path(root) / "textures_dtd").string());
  cutout_paths_ = list_images((fs::path(root) / "objects_tuxpaint").string());
  textures_.resize(texture_paths_.size());
  cutouts_.resize(cutout_paths_.size());
  // Loaded in parallel; the first failure (by index) is rethrown (util/parallel.h).
  util::parallel_for(static_cast<int64_t>(textures_.size()), [&](int64_t i) {
    Image img = load_image(texture_paths_[i]);
    textures_[i].resize(3 * kCropSize * kCropSize);
    crop_resize_bilinear(textures_[i].data(), img.rgb.data(), img.width, img.height, 3, 0, 0, img.width - 1,
                         img.height - 1, kCropSize, kCropSize, 1.f / 255.f, kCropSize * kCropSize);
  }, 16);
  util::parallel_for(static_cast<int64_t>(cutouts_.size()),
                     [&](int64_t i) { cutouts_[i] = load_image_rgba(cutout_paths_[i]); }, 16);
}

Tensor OodImages::texture(size_t i) const {
  return Tensor::from_vector({3, kCropSize, kCropSize}, textures_.at(i));
}

Tensor OodImages::composite(size_t i, const Tensor& background, Rng& rng) const {
  if (background.shape() != Shape{3, kCropSize, kCropSize})
    throw std::invalid_argument("OodImages::composite: background must be (3, 64, 64), got " +
                                shape_str(background.shape()));
  const ImageRGBA& src = cutouts_.at(i);
  const float scale = rng.uniform(opts_.min_scale, opts_.max_scale);
  const int longest = std::max(1, static_cast<int>(std::lround(scale * kCropSize)));
  const int sw = src.width, sh = src.height;
  int w = sw >= sh ? longest : std::max(1, static_cast<int>(std::lround(static_cast<double>(longest) * sw / sh)));
  int h = sh >= sw ? longest : std::max(1, static_cast<int>(std::lround(static_cast<double>(longest) * sh / sw)));
  const int x = static_cast<int>(rng.randint(0, kCropSize - w + 1));
  const int y = static_cast<int>(rng.randint(0, kCropSize - h + 1));
  // Premultiplied planar RGBA in [0, 1], resized to w x h.
  const size_t n = static_cast<size_t>(sw) * sh;
  std::vector<float> pre(4 * n), small(4 * static_cast<size_t>(w) * h);
  for (size_t p = 0; p < n; ++p) {
    const float a = src.rgba[4 * p + 3] / 255.f;
    for (int c = 0; c < 3; ++c) pre[c * n + p] = a * src.rgba[4 * p + c] / 255.f;
    pre[3 * n + p] = a;
  }
  resize_bilinear_planar(small.data(), pre.data(), sw, sh, 4, w, h);
  Tensor out = background.clone();
  const size_t plane = static_cast<size_t>(kCropSize) * kCropSize, sp = static_cast<size_t>(w) * h;
  for (int yy = 0; yy < h; ++yy)
    for (int xx = 0; xx < w; ++xx) {
      const size_t s = static_cast<size_t>(yy) * w + xx;
      const float a = small[3 * sp + s];
      for (int c = 0; c < 3; ++c) {
        float& o = out.data()[c * plane + static_cast<size_t>(y + yy) * kCropSize + (x + xx)];
        o = std::clamp(small[c * sp + s] + (1.f - a) * o, 0.f, 1.f);
      }
    }
  return out;
}

Tensor OodImages::sample(Rng& rng, const Tensor& background) const {
  if (background.defined() && rng.bernoulli(opts_.cutout_probability))
    return composite(static_cast<size_t>(rng.randint(0, static_cast<int64_t>(cutouts_.size()))), background, rng);
  return texture(static_cast<size_t>(rng.randint(0, static_cast<int64_t>(textures_.size()))));
}

Tensor repeat_as_sequence(const Tensor& img, int t) {
  if (img.dim() != 3 || t < 1)
    throw std::invalid_argument("repeat_as_sequence: expected (C, H, W) and t >= 1, got " + shape_str(img.shape()));
  const int64_t c = img.size(0), plane = img.size(1) * img.size(2);
  Tensor out = Tensor::empty({c, t, img.size(1), img.size(2)});
  for (int64_t ci = 0; ci < c; ++ci)
    for (int ti = 0; ti < t; ++ti)
      std::memcpy(out.data() + (ci * t + ti) * plane, img.data() + ci * plane, sizeof(float) * plane);
  return out;
}

}  // namespace ssmtl
