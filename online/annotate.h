// Pictures of a live run: the frame with its objects' boxes and scores and, below it, a strip with the
// recent frame scores (`ssmtl watch --annotate OUT.mp4` and the page of `--serve`), and an .mp4 writer that
// encodes such frames with the ffmpeg program through a pipe (raw RGB in, H.264 out).
#pragma once
#include <deque>
#include <memory>
#include <string>

#include "data/video/image.h"
#include "online/pipeline.h"

namespace ssmtl::online {

class Child;

struct AnnotateOptions {
  double threshold = std::numeric_limits<double>::infinity();   // drawn in the strip when finite; alerts are red
  int strip_height = 48;                                         // pixels below the frame
  size_t history = 0;                                            // frames in the strip; 0 = the frame's width
};

// Draws frames in order; remembers the recent scores for the strip. Boxes: red for a frame in alert, else
// coloured by the object score relative to the threshold (or to the highest score seen without one), each
// with its score written above it. The strip: the smoothed frame scores, the threshold line, the frame index
// and score. The picture is (width, height + strip_height), rounded up to even sizes (H.264 4:2:0 needs them).
class Annotator {
 public:
  explicit Annotator(AnnotateOptions o = {}) : o_(o) {}
  // r must carry its image (WatchOptions::keep_images). Throws std::invalid_argument otherwise.
  Image draw(const FrameResult& r);

 private:
  AnnotateOptions o_;
  std::deque<double> scores_;
  double max_seen_ = 0;
};

// `ffmpeg -f rawvideo -pix_fmt rgb24 -s WxH -r FPS -i pipe:0 -c:v libx264 -pix_fmt yuv420p` into
// "<path>.tmp.<pid>.mp4", renamed to `path` by close(); the destructor (an error) removes the temporary file.
class Mp4Writer {
 public:
  // Throws SourceError (online/source.h) when ffmpeg cannot be started, std::runtime_error when `path` is a
  // device or FIFO (the rename would replace it).
  Mp4Writer(const std::string& path, int width, int height, double fps, const std::string& ffmpeg = "ffmpeg");
  ~Mp4Writer();
  // Frames must all have the writer's size (std::invalid_argument otherwise). Throws std::runtime_error naming
  // the file when ffmpeg stopped reading (its message is above).
  void write(const Image& frame);
  void close();   // waits for ffmpeg; throws std::runtime_error with its exit status when it failed
  int frames() const { return frames_; }

 private:
  std::string path_, tmp_;
  int w_, h_, frames_ = 0;
  std::unique_ptr<Child> child_;
  bool closed_ = false;
};

}  // namespace ssmtl::online
