// ssmtl prepare: decode a folder of videos into frame folders (data/video/prepare.h).
//   ssmtl prepare --videos ../shared/data/avenue/videos/testing --out data/avenue/testing/frames
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

#include "apps/args.h"
#include "apps/command.h"
#include "data/video/prepare.h"

namespace {

void usage() {
  std::printf(
      "usage: ssmtl prepare --videos DIR --out ROOT/SPLIT/frames [--format jpg|png] [--quality 2..31]\n"
      "                     [--digits N] [--overwrite] [--ffmpeg PATH]\n"
      "Decodes every .avi/.mp4/.mov/.mkv/.mpg of DIR into OUT/<video>/0000.jpg ... (0-based, one file per frame)\n"
      "with ffmpeg. Each video is written to a temporary folder and renamed when complete; videos whose folder\n"
      "exists are skipped unless --overwrite. Defaults: jpg, quality 2, 4 digits.\n");
}

int run_prepare(int argc, char** argv) {
  ssmtl::app::Args args(argc, argv, {"overwrite"});
  if (args.help()) { usage(); return 0; }
  ssmtl::PrepareOptions o;
  const std::string videos = args.need("videos"), out = args.need("out");
  o.format = args.get("format", o.format);
  o.jpeg_quality = static_cast<int>(args.get_int("quality", o.jpeg_quality, 1));
  o.digits = static_cast<int>(args.get_int("digits", o.digits, 1));
  o.ffmpeg = args.get("ffmpeg", o.ffmpeg);
  o.overwrite = args.has("overwrite");
  args.check_used();
  auto results = ssmtl::prepare_videos(videos, out, o);
  int decoded = 0, skipped = 0;
  long frames = 0;
  for (const auto& r : results) {
    (r.skipped ? skipped : decoded)++;
    frames += r.frames;
    std::printf("%s\t%d frames%s\n", r.video.c_str(), r.frames, r.skipped ? "\t(already decoded)" : "");
  }
  std::printf("%d videos decoded, %d skipped, %ld frames, in %s\n", decoded, skipped, frames, out.c_str());
  return 0;
}

ssmtl::app::Command reg{"prepare", "decode .avi/.mp4 videos into frame folders (ffmpeg)", run_prepare};

}  // namespace
