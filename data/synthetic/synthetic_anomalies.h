// Synthetic anomalies in normal videos, for choosing post-processing constants without test labels
// (issue 12; `ssmtl synth`, `ssmtl select`). A synthetic video is a normal source video (e.g. a held-out
// validation video of the training split) with one segment whose frame ORDER is made abnormal:
//   "backward": the segment is played in reverse (the arrow of time; people walk backwards),
//   "speed":    the segment skips frames, showing every `speed_step`-th source frame (objects move
//               speed_step times faster: a runner, a cyclist, a vehicle among walkers).
//   "glide":    an object of the video (a detected box, cut out of one frame with its background) is pasted
//               into the segment's frames, sliding horizontally at glide_speed object heights per frame, frozen
//               (no limb motion): a skater or a cyclist among walkers. Speeds and sizes are in object heights,
//               so the anomaly scales with the camera.
// backward and speed change only the order of existing frames, so the appearance statistics stay those of the
// camera. They are also what the proxy tasks T1 (arrow of time) and T2 (motion irregularity) are trained on,
// so a model finds them almost perfectly; glide is a kind no proxy task is trained on. Frames outside the
// segment are the source's, unchanged; the segment's output frames are labelled 1, the others 0.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ssmtl {

struct SyntheticAnomalyOptions {
  int segment_min = 16;   // output frames of the abnormal segment: uniform in [segment_min, segment_max]
  int segment_max = 40;   // (fixed a priori: 1.6-4 s at Ped2's 10 frames/s, a few strides of a walker)
  int speed_step = 2;     // source frames per output frame in a "speed" segment (>= 2)
  int margin = 8;         // normal frames kept at least before and after the segment
  double glide_speed = 0.05;   // glide: object heights per frame. 0.05 (about a walker's pace in Ped2: the
                               // anomaly is the frozen, pasted object) and speed_step 2 were set after 0.15 and
                               // 3 gave synthetic AUCs of 0.9997 for every setting (no choice possible); only
                               // synthetic labels were read
  int glide_min_height = 8;    // glide: objects smaller than this (pixels) are not cut out
};

// Which source frame each output frame shows, and its label.
struct SyntheticVideoPlan {
  std::string kind;             // "backward" or "speed"
  int start = 0, length = 0;    // the abnormal segment in OUTPUT frames [start, start + length)
  std::vector<int> source_frame;   // one per output frame: an index into the source video
  std::vector<int> labels;         // one per output frame: 1 inside the segment
};

// Plans one synthetic video of `kind` from a source of `num_frames` frames, drawing the segment's length
// (uniform in [segment_min, segment_max], reduced to what fits) and start (uniform where it fits with the
// margins) from Rng(seed). Example: backward, 20 frames, length 4 at start 8: source frames
// 0..7, 11,10,9,8, 12..19, labels 1 at outputs 8..11; speed step 3, length 4 at start 8 of 20 frames:
// 0..7, 8,11,14,17, 18,19, labels 1 at 8..11.
// Throws std::invalid_argument for an unknown kind, segment_min < 2, segment_max < segment_min,
// speed_step < 2, margin < 0, or a source too short for a segment of segment_min frames with its margins.
SyntheticVideoPlan plan_synthetic_video(const std::string& kind, int num_frames, const SyntheticAnomalyOptions& opt,
                                        uint64_t seed);

// The plan with a given segment (no random draw): what plan_synthetic_video builds once start and length are
// drawn. Same errors, plus a segment that does not fit in the source.
SyntheticVideoPlan make_synthetic_plan(const std::string& kind, int num_frames, int start, int length, int speed_step);

// A box of whole pixels, inclusive (x0..x1, y0..y1), and the frame it is seen in.
struct FrameBox {
  int frame = 0, x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  int width() const { return x1 - x0 + 1; }
  int height() const { return y1 - y0 + 1; }
};

// A glide: the object `object` (cut out of source frame object.frame) drawn at (x[t], object.y0) in output
// frame start + t, t = 0..length-1 (x = its left column). The output has the source's frames in order.
struct GlidePlan {
  int start = 0, length = 0;
  FrameBox object;
  std::vector<int> x;
  std::vector<int> labels;   // one per output frame (= source frame)
};

// Plans a glide in a video of `num_frames` frames of width `frame_width`: draws an object among `objects`
// (boxes fully inside the frame, height >= glide_min_height), a direction (left or right), the segment length
// (uniform in [segment_min, segment_max], shortened so the path of glide_speed * height pixels per frame fits in
// the frame) and its start (uniform with the margins), from Rng(seed). x[t] = round(x_first +- speed * t).
// Throws std::invalid_argument when no object fits (none large enough, or a path of segment_min frames does
// not fit in the frame), on a video too short for the margins, or on options out of range (speed <= 0).
GlidePlan plan_glide(int num_frames, int frame_width, int frame_height, const std::vector<FrameBox>& objects,
                     const SyntheticAnomalyOptions& opt, uint64_t seed);

// Copies the w x h pixels of `src` at (sx, sy) into `dst` at (dx, dy), clipped to both images (pixels outside
// either are skipped). Images are RGB, HWC.
struct Image;
void paste_patch(Image& dst, const Image& src, int sx, int sy, int w, int h, int dx, int dy);

}  // namespace ssmtl
