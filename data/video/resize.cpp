#include "data/video/resize.h"

#include <stdexcept>
#include <string>
#include <vector>

namespace ssmtl {
namespace {

// Per output index along one axis: the two source indices and the weight of the second.
struct Axis {
  std::vector<int> i0, i1;
  std::vector<float> w1;
};

Axis make_axis(int in_size, int out_size) {
  Axis a;
  a.i0.resize(out_size);
  a.i1.resize(out_size);
  a.w1.resize(out_size);
  const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
  for (int o = 0; o < out_size; ++o) {
    float s = (static_cast<float>(o) + 0.5f) * scale - 0.5f;
    if (s < 0.f) s = 0.f;
    int i = static_cast<int>(s);   // s >= 0, so truncation is floor
    if (i > in_size - 1) i = in_size - 1;
    a.i0[o] = i;
    a.i1[o] = i < in_size - 1 ? i + 1 : i;
    a.w1[o] = s - static_cast<float>(i);
  }
  return a;
}

// at(c, x, y) reads the source; writes planar output with the given channel stride.
// Separable: every source row that some output row needs is first resampled along x (into `rows`), then
// output rows blend two of those. Same arithmetic and order as PyTorch's CPU kernel
// (h0 * (w0 * a + w1 * b) + h1 * (w0 * c + w1 * d)), at a fraction of the cost of 4 gathers per output.
template <typename Reader>
void resample(float* out, const Reader& at, int channels, int in_w, int in_h, int out_w, int out_h, float value_scale,
              size_t channel_stride) {
  const Axis ax = make_axis(in_w, out_w), ay = make_axis(in_h, out_h);
  // Source rows in use form the range [ay.i0[0], ay.i1[out_h - 1]] (indices are non-decreasing).
  const int r0 = ay.i0[0], r1 = ay.i1[out_h - 1];
  thread_local std::vector<float> rows;   // (r1 - r0 + 1, channels, out_w)
  rows.resize(static_cast<size_t>(r1 - r0 + 1) * channels * out_w);
  for (int r = r0; r <= r1; ++r)
    for (int c = 0; c < channels; ++c) {
      float* dst = &rows[(static_cast<size_t>(r - r0) * channels + c) * out_w];
      for (int x = 0; x < out_w; ++x) {
        const float wx = ax.w1[x];
        dst[x] = (1.f - wx) * at(c, ax.i0[x], r) + wx * at(c, ax.i1[x], r);
      }
    }
  for (int c = 0; c < channels; ++c) {
    float* o = out + c * channel_stride;
    for (int y = 0; y < out_h; ++y) {
      const float wy = ay.w1[y], wy0 = 1.f - wy;
      const float* top = &rows[(static_cast<size_t>(ay.i0[y] - r0) * channels + c) * out_w];
      const float* bot = &rows[(static_cast<size_t>(ay.i1[y] - r0) * channels + c) * out_w];
      float* orow = o + static_cast<size_t>(y) * out_w;
      for (int x = 0; x < out_w; ++x) orow[x] = value_scale * (wy0 * top[x] + wy * bot[x]);
    }
  }
}

}  // namespace

void crop_resize_bilinear(float* out, const uint8_t* src, int src_w, int src_h, int channels, int x0, int y0, int x1,
                          int y1, int out_w, int out_h, float value_scale, size_t channel_stride) {
  if (x0 < 0 || y0 < 0 || x1 >= src_w || y1 >= src_h || x1 < x0 || y1 < y0 || out_w <= 0 || out_h <= 0 ||
      channel_stride < static_cast<size_t>(out_w) * out_h)
    throw std::invalid_argument("crop_resize_bilinear: region [" + std::to_string(x0) + "," + std::to_string(y0) +
                                "," + std::to_string(x1) + "," + std::to_string(y1) + "] of a " +
                                std::to_string(src_w) + "x" + std::to_string(src_h) + " image to " +
                                std::to_string(out_w) + "x" + std::to_string(out_h) + " is invalid");
  const size_t row = static_cast<size_t>(src_w) * channels;
  const uint8_t* base = src + static_cast<size_t>(y0) * row + static_cast<size_t>(x0) * channels;
  auto at = [&](int c, int x, int y) { return static_cast<float>(base[y * row + static_cast<size_t>(x) * channels + c]); };
  resample(out, at, channels, x1 - x0 + 1, y1 - y0 + 1, out_w, out_h, value_scale, channel_stride);
}

void resize_bilinear_planar(float* out, const float* src, int src_w, int src_h, int channels, int out_w, int out_h) {
  if (src_w <= 0 || src_h <= 0 || out_w <= 0 || out_h <= 0)
    throw std::invalid_argument("resize_bilinear_planar: " + std::to_string(src_w) + "x" + std::to_string(src_h) +
                                " to " + std::to_string(out_w) + "x" + std::to_string(out_h) + " is invalid");
  const size_t plane = static_cast<size_t>(src_w) * src_h;
  auto at = [&](int c, int x, int y) { return src[c * plane + static_cast<size_t>(y) * src_w + x]; };
  resample(out, at, channels, src_w, src_h, out_w, out_h, 1.f, static_cast<size_t>(out_w) * out_h);
}

}  // namespace ssmtl
