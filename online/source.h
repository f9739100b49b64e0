// Where a live pipeline's frames come from (online/pipeline.h). One interface, two kinds:
//  - FfmpegSource: a video file, an RTSP/HTTP URL or a camera device (/dev/videoN, read with -f v4l2),
//    decoded by the system's ffmpeg program as a child process (Debian package ffmpeg; no library linked):
//    `ffmpeg -i SOURCE -f rawvideo -pix_fmt rgb24 [-vf scale=W:H] pipe:1`, so frames arrive as raw RGB at a
//    fixed size W x H (W*H*3 bytes each) through a pipe. The size is the source's own (asked of ffprobe) unless
//    given. A source that sends nothing for `stall_timeout` seconds, one that ends inside a frame, and an ffmpeg
//    that exits with an error all throw SourceError naming the input and the frame.
//  - FolderSource: a frame folder (<dir>/000.jpg ...), read in natural order by the same image reader as the
//    offline commands (data/video/frames.h), so `ssmtl watch` on a folder sees exactly the pixels `ssmtl detect`
//    and `ssmtl score` saw.
#pragma once
#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>

#include "data/video/image.h"

namespace ssmtl::online {

// A source that failed: stalled, ended mid-frame, could not be started, or its decoder exited with an error.
struct SourceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct SourceOptions {
  std::string input;              // file, frame folder, URL (rtsp://, http://, ...) or /dev/videoN
  int width = 0, height = 0;      // frame size to decode to; 0 = the source's own (ffprobe)
  double stall_timeout = 10;      // seconds without a byte before SourceError
  std::string ffmpeg = "ffmpeg";  // programs (a test may substitute a script that writes raw RGB to stdout)
  std::string ffprobe = "ffprobe";
  const std::atomic<bool>* stop = nullptr;   // when set, next() returns false (end) at the next check (<= 0.1 s)
};

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  // The next frame into `out` (RGB, the source's size). false at the end of the stream (or on stop).
  // Throws SourceError as described above.
  virtual bool next(Image& out) = 0;
  virtual int width() const = 0;
  virtual int height() const = 0;
  virtual double nominal_fps() const = 0;    // frames per second the source declares, 0 when unknown
  virtual std::string describe() const = 0;  // for messages: "ffmpeg <input> (360x240 rgb24)"
};

// A folder (is_directory) -> FolderSource; anything else -> FfmpegSource. Throws SourceError when the source
// cannot be opened (missing file or folder, ffprobe cannot read it, ffmpeg cannot be started).
std::unique_ptr<FrameSource> open_source(const SourceOptions& options);

// Width, height and frame rate of the first video stream of `input`, from ffprobe. Throws SourceError with
// ffprobe's message when it fails.
void probe_video(const SourceOptions& options, int& width, int& height, double& fps);

// "WxH" -> width, height (each 1..16384); throws std::invalid_argument naming the text otherwise.
void parse_size(const std::string& text, int& width, int& height);

}  // namespace ssmtl::online
