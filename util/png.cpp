#include "util/png.h"

#include <stdexcept>

#include "util/atomic_file.h"

// The one place stb_image_write's implementation is compiled.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#endif
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace ssmtl::util {
namespace {
void append_bytes(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
}
}  // namespace

std::string encode_png_rgb(int width, int height, const uint8_t* rgb) {
  if (width < 1 || height < 1 || rgb == nullptr)
    throw std::invalid_argument("encode_png_rgb: empty image " + std::to_string(width) + "x" + std::to_string(height));
  std::string bytes;
  if (!stbi_write_png_to_func(append_bytes, &bytes, width, height, 3, rgb, width * 3))
    throw std::runtime_error("encode_png_rgb: stb_image_write failed");
  return bytes;
}

void write_png_rgb(const std::string& path, int width, int height, const uint8_t* rgb) {
  std::string bytes = encode_png_rgb(width, height, rgb);
  write_atomic(path, [&](std::ostream& out) { out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); },
               true);
}

void write_png_gray(const std::string& path, int width, int height, const uint8_t* gray) {
  if (width < 1 || height < 1 || gray == nullptr)
    throw std::invalid_argument(path + ": empty grey image " + std::to_string(width) + "x" + std::to_string(height));
  std::string bytes;
  if (!stbi_write_png_to_func(append_bytes, &bytes, width, height, 1, gray, width))
    throw std::runtime_error(path + ": stb_image_write failed");
  write_atomic(path, [&](std::ostream& out) { out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); },
               true);
}

}  // namespace ssmtl::util
