// Helpers for the data tests: temporary folders and a tiny 24-bit BMP writer (stb_image reads BMP), so
// tests can build frame folders without a second stb_image_write implementation.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/video/image.h"
#include "tests/eval_test_util.h"   // TempDir

namespace ssmtl::test {

// TempDir comes from tests/eval_test_util.h (one definition for all tests).

inline void put_le(std::ofstream& f, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) f.put(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Uncompressed bottom-up 24-bit BMP (BITMAPINFOHEADER); rows padded to 4 bytes, stored as B, G, R.
inline void write_bmp(const std::string& path, const Image& img) {
  std::ofstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(path + ": cannot write");
  const uint32_t row = (3 * img.width + 3) & ~3u, size = row * img.height;
  f.put('B');
  f.put('M');
  put_le(f, 54 + size, 4);
  put_le(f, 0, 4);
  put_le(f, 54, 4);
  put_le(f, 40, 4);
  put_le(f, img.width, 4);
  put_le(f, img.height, 4);
  put_le(f, 1, 2);
  put_le(f, 24, 2);
  put_le(f, 0, 4);
  put_le(f, size, 4);
  for (int i = 0; i < 4; ++i) put_le(f, 0, 4);
  for (int y = img.height - 1; y >= 0; --y) {
    for (int x = 0; x < img.width; ++x)
      for (int c = 2; c >= 0; --c) f.put(static_cast<char>(img.at(x, y, c)));
    for (uint32_t p = 3 * img.width; p < row; ++p) f.put(0);
  }
}

inline Image solid_image(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  Image img;
  img.width = w;
  img.height = h;
  img.rgb.resize(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < img.rgb.size(); i += 3) {
    img.rgb[i] = r;
    img.rgb[i + 1] = g;
    img.rgb[i + 2] = b;
  }
  return img;
}

// Writes frames as <dir>/000.bmp, 001.bmp, ...
inline void write_frames(const std::string& dir, const std::vector<Image>& frames) {
  std::filesystem::create_directories(dir);
  char name[32];
  for (size_t i = 0; i < frames.size(); ++i) {
    std::snprintf(name, sizeof name, "%03zu.bmp", i);
    write_bmp((std::filesystem::path(dir) / name).string(), frames[i]);
  }
}

}  // namespace ssmtl::test
