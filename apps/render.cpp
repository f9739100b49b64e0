// ssmtl render: frames with the scored objects drawn and an anomaly heat map blended in (PNG), for
// the frames with the highest scores of each test video.
#include <algorithm>
#include <cstdio>
#include <numeric>

#include "apps/args.h"
#include "apps/command.h"
#include "data/video/frames.h"
#include "eval/io.h"
#include "regions/region_file.h"
#include "util/atomic_file.h"
#include "util/plot.h"
#include "util/png.h"

namespace {

const char* kUsage =
    "usage: ssmtl render --data ROOT --scores DIR --out DIR [--split testing] [--frames 3]\n"
    "  DIR (scores) is the output of ssmtl score: frame_scores/ and regions/. Writes\n"
    "  <out>/<video>_<frame>.png for the --frames highest-scoring frames of each video: boxes coloured by\n"
    "  anomaly score (scale of the whole data set) over a heat map of the per-pixel max object score.\n";

int run_render(int argc, char** argv) {
  using namespace ssmtl;
  app::Args args(argc, argv);
  if (args.help()) { std::printf("%s", kUsage); return 0; }
  std::string root = args.need("data"), scores = args.need("scores"), out = args.need("out");
  std::string split = args.get("split", "testing");
  int per_video = args.get_int32("frames", 3, 0);
  args.check_used();
  auto files = eval::list_video_files(scores + "/regions");
  // One colour scale for all videos: the score range of every object.
  double lo = 1e300, hi = -1e300;
  std::map<std::string, std::vector<Region>> regions;
  for (auto& [video, path] : files) {
    regions[video] = load_regions(path);
    for (auto& r : regions[video]) { lo = std::min(lo, r.score); hi = std::max(hi, r.score); }
  }
  if (hi <= lo) hi = lo + 1;
  util::make_dirs(out);
  int written = 0;
  for (auto& [video, regs] : regions) {
    std::vector<double> fs = eval::load_scores(scores + "/frame_scores/" + video + ".txt");
    std::vector<int> order(fs.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return fs[a] > fs[b]; });
    Video v(video_dir(root, split, video));
    for (int k = 0; k < per_video && k < static_cast<int>(order.size()); ++k) {
      int t = order[k];
      Image img = *v.frame(t);
      std::vector<float> heat(static_cast<size_t>(img.width) * img.height, 0.f);
      for (auto& r : regs) {
        if (r.frame != t) continue;
        float s = static_cast<float>((r.score - lo) / (hi - lo));
        for (int y = std::max(0, (int)r.box.y0); y <= std::min(img.height - 1, (int)r.box.y1); ++y)
          for (int x = std::max(0, (int)r.box.x0); x <= std::min(img.width - 1, (int)r.box.x1); ++x)
            heat[static_cast<size_t>(y) * img.width + x] = std::max(heat[static_cast<size_t>(y) * img.width + x], s);
      }
      plot::blend_heatmap(img.rgb.data(), img.width, img.height, heat.data(), img.width, img.height, 0.45);
      for (auto& r : regs)
        if (r.frame == t)
          plot::draw_box(img.rgb.data(), img.width, img.height, (int)r.box.x0, (int)r.box.y0, (int)r.box.x1,
                         (int)r.box.y1, plot::heat_color((r.score - lo) / (hi - lo)), 2);
      char name[128];
      std::snprintf(name, sizeof name, "/%s_%04d.png", video.c_str(), t);
      util::write_png_rgb(out + name, img.width, img.height, img.rgb.data());
      ++written;
    }
  }
  std::printf("render: %d frames written to %s\n", written, out.c_str());
  return 0;
}

ssmtl::app::Command reg{"render", "PNG frames with scored boxes and an anomaly heat map", run_render};

}  // namespace
