// Images in memory and on disk: 8-bit RGB frames (what every video frame becomes) and single-channel
// float images (what background subtraction and masks work on).
// Loading uses stb_image (data/video/image.cpp holds the one STB_IMAGE_IMPLEMENTATION of the program).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ssmtl {

// Interleaved RGB, row-major, HWC: pixel (x, y) channel c is rgb[(y * width + x) * 3 + c].
struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
  bool empty() const { return width == 0 || height == 0; }
  uint8_t at(int x, int y, int c) const { return rgb[(static_cast<size_t>(y) * width + x) * 3 + c]; }
};

// Interleaved RGBA (straight, not premultiplied, alpha), HWC; used for the pseudo-anomaly cut-outs.
struct ImageRGBA {
  int width = 0, height = 0;
  std::vector<uint8_t> rgba;
};

// One float channel, row-major: pixel (x, y) is v[y * width + x]. Grey levels keep the 0..255 range.
struct GrayImage {
  int width = 0, height = 0;
  std::vector<float> v;
  GrayImage() = default;
  GrayImage(int w, int h, float fill = 0.f) : width(w), height(h), v(static_cast<size_t>(w) * h, fill) {}
  float& operator()(int x, int y) { return v[static_cast<size_t>(y) * width + x]; }
  float operator()(int x, int y) const { return v[static_cast<size_t>(y) * width + x]; }
};

// Decodes a JPEG / PNG / BMP file to RGB. Grey images become 3 equal channels; grey+alpha and RGBA
// drop the alpha (no blending: video frames have no meaningful alpha). Throws std::runtime_error
// naming the file when it is missing, empty, truncated or otherwise undecodable (stb's reason added).
Image load_image(const std::string& path);
// Same, keeping (or, for images without one, adding an opaque) alpha channel.
ImageRGBA load_image_rgba(const std::string& path);
// Reads only the header: width and height, without decoding. Throws like load_image.
void image_size(const std::string& path, int& width, int& height);

// Grey level = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601 luma, the weights OpenCV's cvtColor uses),
// in 0..255 (not rounded).
GrayImage to_gray(const Image& img);

// Bilinear resize of an RGB image to (out_w, out_h), results rounded to the nearest integer.
// Pixel-centre convention: see data/video/resize.h (PyTorch interpolate, align_corners=False).
Image resize_rgb(const Image& img, int out_w, int out_h);

}  // namespace ssmtl
