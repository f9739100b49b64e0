// Proxy-task samples (paper section 3 and 3.3; DESIGN.md section 4), built from object sequences
// (data/samples/sequences.h: (3, 7, 64, 64) floats in [0, 1]). Every random choice draws from the Rng passed in,
// so one seed reproduces the samples. Jigsaw: data/samples/jigsaw.h; pseudo-anomalies: data/samples/ood.h.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "data/samples/sequences.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

namespace ssmtl {

// A classification sample: the input tensor and its class.
struct ClassSample {
  Tensor input;
  int label = 0;
};

// ---- T1 arrow of time: label 0 = forward, 1 = backward (frames in reverse order) ----
// seq: (3, T, H, W). Returns a new tensor with the frame order reversed.
Tensor reverse_time(const Tensor& seq);
// Backward with probability 0.5 (one rng.bernoulli draw).
ClassSample arrow_of_time_sample(const Tensor& seq, Rng& rng);

// ---- T2 motion irregularity: label 0 = consecutive frames, 1 = frames with random forward skips ----
// Irregular indices around the middle frame t (kept at position 3, so the box of frame t still fits):
// each of the 6 steps between neighbours is a gap drawn uniformly from 1..max_gap, redrawn until at least
// one gap is > 1 (6 rng.randint draws per try); indices are then clamped to [0, n_frames-1] (near the
// video ends a clamped irregular sample can repeat frames; it keeps label 1).
std::array<int, kSeqLen> irregular_frames(int t, int n_frames, Rng& rng, int max_gap = 5);
struct FrameIndexSample {
  std::array<int, kSeqLen> frames{};
  int label = 0;
};
// Irregular with probability 0.5; otherwise sequence_frames(t, n_frames). Crop the frames with
// extract_frames(video, frames, box of frame t).
FrameIndexSample motion_irregularity_sample(int t, int n_frames, Rng& rng, int max_gap = 5);

// ---- T3 middle box prediction ----
// seq: (3, 7, H, W). input = the 6 frames without the middle one (3, 6, H, W), target = the middle frame (3, H, W).
struct MiddleBoxSample {
  Tensor input, target;
};
MiddleBoxSample middle_box_sample(const Tensor& seq);
// The middle frame of a (3, T, H, W) sequence: (3, H, W).
Tensor middle_frame(const Tensor& seq);

// ---- T6 inpainting ----
// An inclusive square patch [x0, x1] x [y0, y1], already clipped to the image.
struct Patch {
  int x0 = 0, y0 = 0, x1 = -1, y1 = -1;
};
// Side s uniform in [min_size, max_size] (paper: 4..32); centre (cx, cy) ~ N(image centre, std^2) per axis,
// the centre being ((W-1)/2, (H-1)/2) in pixel-index coordinates, clipped to the image; the patch spans
// x0 = round(cx - (s-1)/2) .. x0 + s - 1, clipped. Draws: randint, then normal x, normal y.
Patch sample_inpaint_patch(Rng& rng, int width = kCropSize, int height = kCropSize, int min_size = 4,
                           int max_size = 32, double std = 20.0);
// Sets the patch's pixels to 0 in every channel of img (C, H, W) (in place).
void apply_patch(Tensor& img, const Patch& p);
// Training sample: input = img (3, H, W) with one patch masked, target = img.
struct InpaintSample {
  Tensor input, target;
  Patch patch;
};
InpaintSample inpaint_sample(const Tensor& img, Rng& rng);
// The 3 patches of the test-time procedure (paper section 3.3, T6: mask, reconstruct, mask a new patch of
// the output, ... three times). Drawn from Rng(seed mixed with object_key), so an object's patches do not
// depend on batch order or thread count.
std::array<Patch, 3> inpaint_test_patches(uint64_t seed, uint64_t object_key, int width = kCropSize,
                                          int height = kCropSize);

}  // namespace ssmtl
