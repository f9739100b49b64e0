// ssmtl bgsub: motion objects by background subtraction (data/detect/background.h) for every video of a split;
// optionally writes them as region files and measures recall against ground-truth tracks.
//   ssmtl bgsub --data ../shared/data/ped2 --split testing --gt ../shared/data/ped2/testing/gt_tracks_derived
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/args.h"
#include "apps/command.h"
#include "data/detect/background.h"
#include "data/video/frames.h"
#include "regions/recall.h"
#include "regions/region_file.h"
#include "util/progress.h"

namespace {

void usage() {
  std::printf(
      "usage: ssmtl bgsub --data ROOT [--split testing] [--out DIR] [--gt TRACKS_DIR]\n"
      "                   [--threshold 25] [--rate 0.05] [--init 10] [--close 2] [--min-area 1500] [--warmup]\n"
      "Background subtraction on ROOT/SPLIT/frames/<video>. --out writes DIR/<video>.txt with lines\n"
      "frame,x_min,y_min,x_max,y_max,score. --gt reports the recall of ground-truth regions (track files\n"
      "track,frame,x_min,y_min,x_max,y_max; every video needs one): a region is found when an object of its\n"
      "frame has IoU >= 0.1.\n"
      "--min-area is in pixels at 640x360, scaled with the frame area; --warmup: no objects in the first frames.\n");
}

int run_bgsub(int argc, char** argv) {
  ssmtl::app::Args args(argc, argv, {"warmup"});
  if (args.help()) { usage(); return 0; }
  ssmtl::BackgroundParams p;
  const std::string root = args.need("data"), split = args.get("split", "testing");
  const std::string out = args.get("out"), gt = args.get("gt");
  p.threshold = static_cast<float>(args.get_double("threshold", p.threshold));
  p.learning_rate = static_cast<float>(args.get_double("rate", p.learning_rate));
  p.init_frames = args.get_int32("init", p.init_frames, 0);
  p.close_radius = args.get_int32("close", p.close_radius, 0);
  p.min_area_ref = args.get_double("min-area", p.min_area_ref);
  if (args.has("warmup")) p.warmup = ssmtl::BackgroundWarmup::kNoObjectsDuringInit;
  args.check_used();
  if (!(p.threshold >= 0 && p.threshold <= 255)) throw ssmtl::app::UsageError("--threshold must be in [0, 255]");
  if (!(p.learning_rate > 0 && p.learning_rate <= 1)) throw ssmtl::app::UsageError("--rate must be in (0, 1]");
  if (!(p.min_area_ref >= 0)) throw ssmtl::app::UsageError("--min-area must be >= 0");
  if (!gt.empty() && !std::filesystem::is_directory(gt))   // before the videos are processed, not after
    throw std::runtime_error("--gt " + gt + ": no such folder of ground-truth track files");
  const auto videos = ssmtl::list_videos(root, split);
  long frames = 0, objects = 0;
  ssmtl::GtRecall recall;
  double seconds = 0, decode_s = 0;
  ssmtl::util::Progress progress("bgsub " + split, static_cast<int64_t>(videos.size()), "videos", 5.0);
  for (const auto& name : videos) {
    ssmtl::Video v(ssmtl::video_dir(root, split, name));
    // Same steps as ssmtl::background_objects, timed apart: decoding + grey conversion vs subtraction.
    using clock = std::chrono::steady_clock;
    auto t0 = clock::now();
    const int n = v.num_frames(), k = std::max(1, std::min(p.init_frames, n));
    std::vector<ssmtl::GrayImage> gray(n);
    for (int t = 0; t < n; ++t) gray[t] = ssmtl::to_gray(*v.frame(t));
    auto t1 = clock::now();
    ssmtl::BackgroundSubtractor bs(p, std::vector<ssmtl::GrayImage>(gray.begin(), gray.begin() + k));
    std::vector<std::vector<ssmtl::Box>> objs(n);
    for (int t = 0; t < n; ++t) objs[t] = bs.apply(gray[t], {});
    auto t2 = clock::now();
    decode_s += std::chrono::duration<double>(t1 - t0).count();
    seconds += std::chrono::duration<double>(t2 - t1).count();
    frames += v.num_frames();
    const std::vector<ssmtl::Region> regions = ssmtl::regions_of(objs);
    objects += static_cast<long>(regions.size());
    if (!out.empty()) ssmtl::save_regions(out + "/" + name + ".txt", regions);
    if (!gt.empty()) ssmtl::add_gt_recall(recall, gt + "/" + name + ".txt", objs);
    progress.add();
  }
  progress.finish();
  std::printf("%zu videos, %ld frames, %ld objects (%.2f per frame); %.1f frames/s background subtraction, "
              "%.1f frames/s with decoding\n",
              videos.size(), frames, objects, frames ? double(objects) / frames : 0.0, frames / seconds,
              frames / (seconds + decode_s));
  if (!gt.empty())
    std::printf("recall of ground-truth regions (IoU >= 0.1): %lld / %lld = %.4f\n",
                static_cast<long long>(recall.found), static_cast<long long>(recall.regions), recall.rate());
  std::printf("params: threshold %g, rate %g, init %d, close radius %d, min area %g px at 640x360, warmup %s\n",
              p.threshold, p.learning_rate, p.init_frames, p.close_radius, p.min_area_ref,
              p.warmup == ssmtl::BackgroundWarmup::kNoObjectsDuringInit ? "no objects" : "compare from frame 0");
  return 0;
}

ssmtl::app::Command reg{"bgsub", "motion objects by background subtraction; recall against tracks", run_bgsub};

}  // namespace
