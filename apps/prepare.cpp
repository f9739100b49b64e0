// ssmtl prepare: decode a folder of videos into frame folders (data/prepare.h).
//   ssmtl prepare --videos ../shared/data/avenue/videos/testing --out data/avenue/testing/frames
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

#include "apps/command.h"
#include "data/prepare.h"

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
  std::string videos, out;
  ssmtl::PrepareOptions o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument("option " + a + " needs a value");
      return argv[++i];
    };
    if (a == "--videos") videos = value();
    else if (a == "--out") out = value();
    else if (a == "--format") o.format = value();
    else if (a == "--quality") o.jpeg_quality = std::stoi(value());
    else if (a == "--digits") o.digits = std::stoi(value());
    else if (a == "--ffmpeg") o.ffmpeg = value();
    else if (a == "--overwrite") o.overwrite = true;
    else if (a == "--help" || a == "-h") {
      usage();
      return 0;
    } else {
      std::fprintf(stderr, "ssmtl prepare: unknown option %s\n", a.c_str());
      usage();
      return 2;
    }
  }
  if (videos.empty() || out.empty()) {
    usage();
    return 2;
  }
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
