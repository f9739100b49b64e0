// The program's single stb_image implementation lives here; other files include <stb_image.h> for
// declarations only (or, better, call load_image).
#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include "data/video/image.h"

// stb is third-party: its own warnings are not ours to fix.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#include <stb_image.h>
#pragma GCC diagnostic pop

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "data/video/resize.h"

namespace ssmtl {
namespace {

struct StbiFree {
  void operator()(unsigned char* p) const { stbi_image_free(p); }
};
using StbiPtr = std::unique_ptr<unsigned char, StbiFree>;

// Reads the file ourselves so an empty or unreadable file gets a precise message (stb reports only
// "unknown image type" for both), then decodes from memory. stb's own failure reason names the kind of
// corruption (e.g. "Corrupt JPEG" for a truncated file).
StbiPtr decode(const std::string& path, int want_channels, int& w, int& h) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error(path + ": cannot open image: " + std::strerror(errno));
  std::vector<unsigned char> bytes;
  unsigned char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.insert(bytes.end(), buf, buf + n);
  bool err = std::ferror(f) != 0;
  std::fclose(f);
  if (err) throw std::runtime_error(path + ": read error");
  if (bytes.empty()) throw std::runtime_error(path + ": empty image file (0 bytes)");
  int comp = 0;
  unsigned char* p = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &comp, want_channels);
  if (!p) throw std::runtime_error(path + ": cannot decode image (" + std::string(stbi_failure_reason()) +
                                   "; truncated or corrupt file?)");
  return StbiPtr(p);
}

}  // namespace

Image load_image(const std::string& path) {
  int w = 0, h = 0;
  StbiPtr p = decode(path, 3, w, h);   // stb expands grey to RGB (3 equal channels) and drops alpha
  Image img;
  img.width = w;
  img.height = h;
  img.rgb.assign(p.get(), p.get() + static_cast<size_t>(w) * h * 3);
  return img;
}

ImageRGBA load_image_rgba(const std::string& path) {
  int w = 0, h = 0;
  StbiPtr p = decode(path, 4, w, h);
  ImageRGBA img;
  img.width = w;
  img.height = h;
  img.rgba.assign(p.get(), p.get() + static_cast<size_t>(w) * h * 4);
  return img;
}

void image_size(const std::string& path, int& width, int& height) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error(path + ": cannot open image: " + std::strerror(errno));
  int comp = 0;
  int ok = stbi_info_from_file(f, &width, &height, &comp);
  std::fclose(f);
  if (!ok) throw std::runtime_error(path + ": not a readable image (" + std::string(stbi_failure_reason()) + ")");
}

GrayImage to_gray(const Image& img) {
  GrayImage g(img.width, img.height);
  const size_t n = static_cast<size_t>(img.width) * img.height;
  const uint8_t* p = img.rgb.data();
  for (size_t i = 0; i < n; ++i)
    g.v[i] = 0.299f * p[3 * i] + 0.587f * p[3 * i + 1] + 0.114f * p[3 * i + 2];
  return g;
}

Image resize_rgb(const Image& img, int out_w, int out_h) {
  std::vector<float> planar(static_cast<size_t>(out_w) * out_h * 3);
  crop_resize_bilinear(planar.data(), img.rgb.data(), img.width, img.height, 3, 0, 0, img.width - 1, img.height - 1,
                       out_w, out_h, 1.f, static_cast<size_t>(out_w) * out_h);
  Image o;
  o.width = out_w;
  o.height = out_h;
  o.rgb.resize(planar.size());
  const size_t plane = static_cast<size_t>(out_w) * out_h;
  for (size_t i = 0; i < plane; ++i)
    for (int c = 0; c < 3; ++c) o.rgb[3 * i + c] = static_cast<uint8_t>(std::lround(planar[c * plane + i]));
  return o;
}

}  // namespace ssmtl
