// Video files (.avi, .mp4, ...) to frame folders, the layout every other part reads
// (<root>/<split>/frames/<video>/0000.jpg ...; shared/README.md). Decoding is done by the system's ffmpeg
// program run as a subprocess (Debian package ffmpeg; no library linked).
//
// Each video is written atomically: frames go to "<out>/.<video>.tmp.<pid>" and the folder is renamed to
// "<out>/<video>" only when ffmpeg succeeded and wrote at least one frame. So an existing "<out>/<video>" is
// a complete decode and is skipped; a crash leaves only a hidden temporary folder (removed by the next run).
// Frame files are 0-based and zero-padded ("%0<digits>d"), so frame i = file i, the i-th in natural order.
#pragma once
#include <string>
#include <vector>

namespace ssmtl {

struct PrepareOptions {
  std::string format = "jpg";   // "jpg" or "png" (lossless, ~5x larger)
  int jpeg_quality = 2;         // ffmpeg -q:v, 2 (best) .. 31
  int digits = 4;               // zero padding; 4 covers the longest Avenue video (1439 frames)
  std::string ffmpeg = "ffmpeg";
  bool overwrite = false;       // decode again even when "<out>/<video>" exists
};

struct PrepareResult {
  std::string video;   // name = file stem
  int frames = 0;      // frame files in the output folder
  bool skipped = false;  // already decoded
};

// The video files directly inside `dir` (extensions .avi .mp4 .mov .mkv .mpg .mpeg, any case), natural order.
// Throws std::runtime_error naming the folder when missing or when it holds none.
std::vector<std::string> list_video_files(const std::string& dir);

// Decodes one video to "<out_dir>/<stem>" (see above). Throws std::runtime_error naming the video when
// ffmpeg cannot be run, fails, or writes no frame (its temporary folder is removed).
PrepareResult prepare_video(const std::string& video_path, const std::string& out_dir, const PrepareOptions& o = {});

// Converts a sequence of still images that stb_image cannot read (e.g. UCSD's .tif frames) into the folder
// "<out_dir>/<name>" as frames 0.. in the given order, with ffmpeg's image2 reader (the files are linked as
// 0000.<ext>, 0001.<ext>, ... in a temporary folder first, so any names work). Same atomic folder
// rule as prepare_video. Throws std::runtime_error naming the first image (or the folder) when ffmpeg fails or
// writes a different number of frames than it was given.
PrepareResult prepare_image_sequence(const std::vector<std::string>& images, const std::string& out_dir,
                                     const std::string& name, const PrepareOptions& o = {});

// Every video of `videos_dir`, with a progress line. Stops at the first failure (earlier videos stay done).
std::vector<PrepareResult> prepare_videos(const std::string& videos_dir, const std::string& out_dir,
                                          const PrepareOptions& o = {});

}  // namespace ssmtl
