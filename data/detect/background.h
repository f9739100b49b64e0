// Motion objects by background subtraction (paper section 3.1; DESIGN.md section 2):
// grey frames; initial background = mean of the first K frames; the background follows the video as a
// running average; foreground = |frame - background| > threshold; morphological closing; detector boxes
// blacked out; connected components (8-connected) with area >= a minimum scaled with the frame area
// become objects (class kClassBackgroundSub, score 1).
//
// Frame-0 policy (PITFALLS 11), explicit: the initial background is computed from the first K frames
// BEFORE any frame is compared, so frame 0 is compared with a real background (never an empty one, which
// would make the whole first frame foreground). kNoObjectsDuringInit instead reports no objects for
// frames 0..K-1. Either way every frame gets an entry (possibly empty), and a static video gives 0
// objects on every frame.
#pragma once
#include <cstdint>
#include <vector>

#include "data/video/image.h"
#include "regions/box.h"

namespace ssmtl {

class Video;

enum class BackgroundWarmup {
  kCompareFromFrame0,    // every frame, 0 included, is compared with the current background (default)
  kNoObjectsDuringInit,  // frames used to build the initial background report no objects
};

struct BackgroundParams {
  int init_frames = 10;          // K (fewer when the video is shorter)
  float learning_rate = 0.05f;   // after each frame: B <- (1 - a) B + a F
  float threshold = 25.f;        // on |F - B| in grey levels (0..255)
  int close_radius = 2;          // closing with a (2r+1)^2 square; 0 = none
  double min_area_ref = 1500;    // px at 640x360, scaled with the frame area (scaled_min_area)
  BackgroundWarmup warmup = BackgroundWarmup::kCompareFromFrame0;
};

class BackgroundSubtractor {
 public:
  // first_frames: the first K grey frames of the video (all the same size; at least one), whose mean is
  // the initial background. Throws std::invalid_argument on an empty list or mixed sizes.
  BackgroundSubtractor(const BackgroundParams& p, const std::vector<GrayImage>& first_frames);
  // Objects of the next frame (frames must come in order 0, 1, 2, ...), then the background update.
  // detector_boxes: in this frame's pixel coordinates; their (clipped) pixels are removed from the mask.
  // mask_out, when given, receives the final (height, width) 0/1 mask the components were taken from.
  std::vector<Box> apply(const GrayImage& frame, const std::vector<Box>& detector_boxes,
                         std::vector<uint8_t>* mask_out = nullptr);
  const GrayImage& background() const { return bg_; }
  int frames_seen() const { return t_; }

 private:
  BackgroundParams p_;
  GrayImage bg_;
  int t_ = 0;          // index of the next frame
  int k_ = 0;          // frames in the initial mean
};

// Whole video: objects per frame (size = v.num_frames()). detector_boxes is empty (no detector) or has one
// list per frame (std::invalid_argument otherwise).
std::vector<std::vector<Box>> background_objects(const Video& v, const BackgroundParams& p,
                                                 const std::vector<std::vector<Box>>& detector_boxes = {});

// Sets to 0 the pixels of every (clipped, rounded outwards) box in a (height, width) mask.
void black_out_boxes(std::vector<uint8_t>& mask, int width, int height, const std::vector<Box>& boxes);

}  // namespace ssmtl
