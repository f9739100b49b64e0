// Bilinear resampling of an image region (our own implementation, used for the 64x64 object crops,
// the pseudo-anomaly images and frame down-scaling).
//
// Pixel-centre convention (PyTorch F.interpolate(mode="bilinear", align_corners=False, antialias=False),
// which is also OpenCV's INTER_LINEAR up to its fixed-point rounding): pixel i covers [i, i+1) and has its
// centre at i + 0.5. Output pixel o of an axis resized from n to m samples the source at
//   s = (o + 0.5) * n / m - 0.5,   clamped below at 0,
// between pixels floor(s) and min(floor(s) + 1, n - 1) with weights (1 - frac(s), frac(s)).
// No anti-aliasing when shrinking (as PyTorch's default).
#pragma once
#include <cstddef>
#include <cstdint>

namespace ssmtl {

// Resamples the inclusive region [x0, x1] x [y0, y1] of an interleaved (HWC) 8-bit image with
// `channels` channels to out_w x out_h and writes it planar:
//   out[c * channel_stride + y * out_w + x] = value_scale * bilinear(region, c, x, y).
// channel_stride >= out_w * out_h lets a caller write a frame into a (C, T, H, W) block
// (channel_stride = T * H * W). The region must lie inside the image (clip boxes first) and be
// non-empty; violations throw std::invalid_argument with the region and the image size.
void crop_resize_bilinear(float* out, const uint8_t* src, int src_w, int src_h, int channels, int x0, int y0,
                          int x1, int y1, int out_w, int out_h, float value_scale, size_t channel_stride);

// The same for a planar float image src[c * src_h * src_w + y * src_w + x] (whole image, no crop).
void resize_bilinear_planar(float* out, const float* src, int src_w, int src_h, int channels, int out_w,
                            int out_h);

}  // namespace ssmtl
