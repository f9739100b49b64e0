// PNG output (8-bit RGB) through stb_image_write, written atomically (util/atomic_file.h).
#pragma once
#include <cstdint>
#include <string>

namespace ssmtl::util {

// rgb: height x width x 3 bytes, row-major, interleaved R,G,B, top row first.
// Returns the PNG file's bytes. Throws std::invalid_argument on an empty size or null data.
std::string encode_png_rgb(int width, int height, const uint8_t* rgb);

// Encodes and writes `path` atomically (parent folders are created). Throws std::runtime_error naming the path.
void write_png_rgb(const std::string& path, int width, int height, const uint8_t* rgb);

// One 8-bit grey channel (height x width bytes, top row first), e.g. a mask with 255 = abnormal; written
// atomically like write_png_rgb. Throws std::invalid_argument on an empty size, std::runtime_error naming the path.
void write_png_gray(const std::string& path, int width, int height, const uint8_t* gray);

}  // namespace ssmtl::util
