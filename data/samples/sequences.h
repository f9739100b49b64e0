// Object-centric temporal sequences (paper section 3; DESIGN.md section 3): an object found in frame t
// with box b becomes the crops of frames t-3..t+3, each cut with the box of frame t (clipped to the
// image), resized to 64x64 by bilinear interpolation (data/video/resize.h: PyTorch align_corners=False pixel
// centres) and scaled to [0, 1]. One sequence is a float (3, 7, 64, 64) block, channel-major
// (C, T, H, W; R, G, B), so a batch is (N, 3, 7, 64, 64) = NCDHW.
// Window at the video ends (WindowEnds): clamped, frame indices clamped to [0, n-1] (frame -2 of a video is
// frame 0, what training uses), or shifted, the 7 frames nearest t that lie inside the video (what scoring
// uses by default: a clamped window repeats a frame, a stop in the motion that the arrow-of-time and
// irregularity tasks score as abnormal; docs/RESULTS.md section 35). Either way every frame of every video
// gets its objects scored, even in a 1-frame video.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "regions/box.h"
#include "tensor/tensor.h"

namespace ssmtl {

class Video;
struct Image;

constexpr int kSeqLen = 7;        // frames per sequence
constexpr int kSeqHalf = 3;       // frames on each side of the middle
constexpr int kCropSize = 64;     // crop side in pixels
constexpr int64_t kSeqNumel = 3LL * kSeqLen * kCropSize * kCropSize;

// One object to turn into a sequence: the frame it was found in and its box there.
struct ObjectRef {
  int frame = 0;
  Box box;
};

// How a window is completed where t-3..t+3 leaves the video.
enum class WindowEnds {
  kClamp,   // indices clamped to [0, n_frames-1]: frame 0 of a video gives frames 0,0,0,0,1,2,3
  kShift,   // the window moved inside the video: frame 0 gives frames 0..6 (clamped too when n_frames < 7)
};

// Frame indices of object frame t's window: t-3..t+3 where they lie inside the video, else completed as
// `ends` says. Throws std::out_of_range when t is not a frame of an n_frames-frame video (n_frames >= 1).
std::array<int, kSeqLen> sequence_frames(int t, int n_frames, WindowEnds ends = WindowEnds::kClamp);

// "clamp" / "shift" and back; parse throws std::invalid_argument naming `what` (e.g. "--window-ends").
WindowEnds parse_window_ends(const std::string& name, const std::string& what);
const char* window_ends_name(WindowEnds ends);

// Crops `count` frames (all the same size) with the pixel block of `box` (clipped; PITFALLS 14: [-5,-5,10,10]
// on 64x64 reads an 11x11 block) and writes (3, count, size, size) floats in [0, 1] to out.
// Throws std::invalid_argument when the clipped box is empty or frame sizes differ.
void crop_frames(float* out, const Image* const* frames, int count, const Box& box, int size = kCropSize);

// Keeps the objects whose box overlaps a width x height frame, with the box clipped (a box outside the
// frame or of zero width/height is dropped, DESIGN.md section 3). Order is kept.
std::vector<ObjectRef> clip_objects(const std::vector<ObjectRef>& objects, int width, int height);

// Sequences of objects of one video: (N, 3, 7, 64, 64). Objects are processed in parallel (OpenMP, one
// object per iteration: the result does not depend on the thread count). Frames are decoded once per
// chunk of nearby frames, so memory stays bounded on long videos. Throws std::invalid_argument naming
// the video, frame and box for an object whose clipped box is empty or whose frame is out of range
// (call clip_objects first), std::runtime_error for unreadable frames.
Tensor extract_sequences(const Video& video, const std::vector<ObjectRef>& objects);
// The same into a caller's buffer of objects.size() * kSeqNumel floats (e.g. a reused batch tensor:
// first-touching a fresh 344 KB per object costs more than the crops on some machines).
void extract_sequences_into(float* out, const Video& video, const std::vector<ObjectRef>& objects);

// The sequence of one object from arbitrary frame indices (e.g. the skipped frames of the motion
// irregularity task): (3, frames.size(), 64, 64), cut with `box`.
Tensor extract_frames(const Video& video, const std::vector<int>& frames, const Box& box);

// Stacks tensors of one shape into (N, ...). Throws std::invalid_argument on an empty list or shape mismatch.
Tensor stack(const std::vector<Tensor>& items);

}  // namespace ssmtl
