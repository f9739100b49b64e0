// Pseudo-anomaly images for T5 (paper section 3.3: out-of-distribution images the decoder reconstructs
// while the backbone is pushed the other way). Source: shared/data/ood
//   textures_dtd/*.jpg      texture photographs (DTD), used whole, resized to 64x64;
//   objects_tuxpaint/*.png  RGBA cut-outs, alpha-composited at a random scale and position onto a
//                           background crop (e.g. a normal object's middle crop), so the image looks like a
//                           plausible crop with a foreign object in it.
// Output images are (3, 64, 64) floats in [0, 1]; repeat_as_sequence makes a static (3, 7, 64, 64)
// sequence of one for the 3D backbone.
#pragma once
#include <string>
#include <vector>

#include "data/video/image.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

namespace ssmtl {

struct OodOptions {
  double cutout_probability = 0.5;   // sample(): cut-out on the background when one is given, else texture
  float min_scale = 0.4f;            // cut-out's longer side, as a fraction of 64, uniform in [min, max]
  float max_scale = 1.0f;
};

class OodImages {
 public:
  // Loads every image below root (textures decoded and resized to 64x64 once; cut-outs kept as RGBA),
  // in parallel. Throws std::runtime_error naming the folder when a sub-folder is missing or empty, or
  // naming the file when one cannot be decoded.
  explicit OodImages(const std::string& root, OodOptions opts = {});
  size_t num_textures() const { return textures_.size(); }
  size_t num_cutouts() const { return cutouts_.size(); }
  const std::string& texture_path(size_t i) const { return texture_paths_.at(i); }
  const std::string& cutout_path(size_t i) const { return cutout_paths_.at(i); }

  // Texture i, (3, 64, 64).
  Tensor texture(size_t i) const;
  // Cut-out i over `background` (3, 64, 64): longer side = round(scale * 64) with scale uniform in
  // [min_scale, max_scale] (aspect ratio kept, at least 1 px), position uniform so it fits, then
  //   out = a * fg + (1 - a) * background
  // with colours resized premultiplied by alpha (no dark fringes). Draws: uniform scale, randint x,
  // randint y.
  Tensor composite(size_t i, const Tensor& background, Rng& rng) const;
  // One pseudo-anomaly: with a defined background, a cut-out (uniform index) with probability
  // cutout_probability, else a texture (uniform index); without a background, always a texture.
  Tensor sample(Rng& rng, const Tensor& background = Tensor()) const;

 private:
  OodOptions opts_;
  std::vector<std::string> texture_paths_, cutout_paths_;
  std::vector<std::vector<float>> textures_;   // (3, 64, 64) each
  std::vector<ImageRGBA> cutouts_;
};

// (3, H, W) -> (3, T, H, W), the image repeated T times.
Tensor repeat_as_sequence(const Tensor& img, int t = 7);

}  // namespace ssmtl
