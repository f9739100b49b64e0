// ssmtl synth: a data set of synthetic anomalies made from normal videos (data/synthetic/synthetic_anomalies.h),
// in the data set layout (<out>/testing/frames/<video>/, <out>/testing/gt_frame/<video>.txt), for `ssmtl select`.
// The source videos default to the training split's held-out validation videos (the last train.val_fraction
// of them, as training holds them out): normal and never trained on.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "apps/args.h"
#include "apps/command.h"
#include "data/synthetic/synthetic_anomalies.h"
#include "data/video/frames.h"
#include "data/video/image.h"
#include "regions/region_file.h"
#include "util/png.h"
#include "model/trainer.h"
#include "tensor/rng.h"
#include "util/atomic_file.h"
#include "util/progress.h"

namespace {

constexpr int kSynthFormatVersion = 1;

const char* kUsage =
    "usage: ssmtl synth --data ROOT --out DIR [--split training] [--videos 15,16] [--val-fraction 0.15]\n"
    "                   [--kinds glide,speed] [--per-kind 4] [--segment-min 16] [--segment-max 40]\n"
    "                   [--speed-step 2] [--margin 8] [--glide-speed 0.05] [--detections DIR] [--seed 0]\n"
    "  Makes per-kind synthetic videos of each source video (default: the last --val-fraction of the split's\n"
    "  videos, the ones training holds out): one abnormal segment each, played backwards (backward) or with\n"
    "  frames skipped (speed), or with an object of the video sliding across\n"
    "  it (glide: a box of --detections, the split's detections, cut out of one frame, moving --glide-speed\n"
    "  object heights per frame). backward / speed frames are copied, glide frames written as PNG, into\n"
    "  DIR/testing/frames/<src>_<kind><i>/,\n"
    "  labels go to DIR/testing/gt_frame/<video>.txt (1 = the abnormal segment), and DIR/synthetic.txt lists\n"
    "  each video's source, kind and segment with the format version, options and seed. DIR is replaced as a\n"
    "  whole (built in DIR.partial, then renamed).\n"
    "Errors (exit 1): a source video too short for a segment with its margins (named), an unknown kind.\n";

std::string padded(int i, int digits) {
  std::string s = std::to_string(i);
  return std::string(s.size() < static_cast<size_t>(digits) ? digits - s.size() : 0, '0') + s;
}

// A glide video (see plan_glide): every frame decoded and written as PNG, the object pasted in the segment.
// Returns its synthetic.txt line.
std::string write_glide(const std::vector<std::string>& files, const std::string& det_file,
                        const ssmtl::SyntheticAnomalyOptions& opt, uint64_t seed, const std::string& dir,
                        const std::string& labels_path, const std::string& name, const std::string& src) {
  std::vector<ssmtl::FrameBox> boxes;
  for (const ssmtl::Region& r : ssmtl::load_regions(det_file))
    boxes.push_back({static_cast<int>(r.frame), static_cast<int>(std::lround(r.box.x0)), static_cast<int>(std::lround(r.box.y0)),
                     static_cast<int>(std::lround(r.box.x1)), static_cast<int>(std::lround(r.box.y1))});
  int w = 0, h = 0;
  ssmtl::image_size(files[0], w, h);
  ssmtl::GlidePlan plan;
  try {
    plan = ssmtl::plan_glide(static_cast<int>(files.size()), w, h, boxes, opt, seed);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error("synth: video " + src + " (" + det_file + "): " + e.what());
  }
  const ssmtl::Image source = ssmtl::load_image(files[plan.object.frame]);
  const int digits = std::max<int>(3, static_cast<int>(std::to_string(files.size()).size()));
  std::string labels;
  for (size_t f = 0; f < files.size(); ++f) {
    ssmtl::Image img = ssmtl::load_image(files[f]);
    const int t = static_cast<int>(f) - plan.start;
    if (t >= 0 && t < plan.length)
      ssmtl::paste_patch(img, source, plan.object.x0, plan.object.y0, plan.object.width(), plan.object.height(),
                         plan.x[t], plan.object.y0);
    ssmtl::util::write_png_rgb(dir + "/" + padded(static_cast<int>(f), digits) + ".png", img.width, img.height, img.rgb.data());
    labels += std::to_string(plan.labels[f]) + "\n";
  }
  ssmtl::util::write_text_atomic(labels_path, labels);
  std::ostringstream line;
  line << name << " " << src << " glide " << plan.start << " " << plan.length << " " << files.size() << " "
       << plan.object.frame << " " << plan.object.x0 << " " << plan.object.y0 << " " << plan.object.x1 << " "
       << plan.object.y1 << "\n";
  return line.str();
}

int run_synth(int argc, char** argv) {
  namespace fs = std::filesystem;
  ssmtl::app::Args args(argc, argv);
  if (args.help()) { std::printf("%s", kUsage); return 0; }
  const std::string root = args.need("data"), out = args.need("out"), split = args.get("split", "training");
  std::vector<std::string> videos = args.list("videos");
  const double val_fraction = args.get_double("val-fraction", ssmtl::TrainOptions{}.val_fraction, 0, 1);
  std::vector<std::string> kinds = args.list("kinds");
  if (kinds.empty()) kinds = {"glide", "speed"};   // backward: T1's own training task, found ~perfectly
  const std::string detections = args.get("detections");
  const int per_kind = args.get_int32("per-kind", 4, 1);
  ssmtl::SyntheticAnomalyOptions opt;
  opt.segment_min = args.get_int32("segment-min", opt.segment_min, 2);
  opt.segment_max = args.get_int32("segment-max", opt.segment_max, 2);
  opt.speed_step = args.get_int32("speed-step", opt.speed_step, 2);
  opt.margin = args.get_int32("margin", opt.margin, 0);
  opt.glide_speed = args.get_double("glide-speed", opt.glide_speed, 1e-3, 10);
  const uint64_t seed = static_cast<uint64_t>(args.get_int("seed", 0, 0));
  args.check_used();
  if (opt.segment_max < opt.segment_min) throw ssmtl::app::UsageError("--segment-max must be >= --segment-min");
  for (const std::string& k : kinds)
    if (k != "glide" && k != "backward" && k != "speed")
      throw ssmtl::app::UsageError("--kinds: '" + k + "' is not glide, backward or speed");
  if (detections.empty() && std::find(kinds.begin(), kinds.end(), "glide") != kinds.end())
    throw ssmtl::app::UsageError("--kinds glide needs --detections (the objects of the source videos)");
  if (videos.empty()) {
    std::vector<std::string> all = ssmtl::list_videos(root, split);
    const int n = ssmtl::num_validation_videos(static_cast<int>(all.size()), val_fraction);
    if (n == 0) throw std::runtime_error("synth: " + root + "/" + split + " has no held-out video; name them with --videos");
    videos.assign(all.end() - n, all.end());
  }

  const std::string tmp = out + ".partial";
  fs::remove_all(tmp);
  const std::string frames_dir = tmp + "/testing/frames", labels_dir = tmp + "/testing/gt_frame";
  ssmtl::util::make_dirs(labels_dir);
  std::ostringstream list;
  list << "# ssmtl synth: synthetic anomalies in normal videos\nformat_version = " << kSynthFormatVersion
       << "\ndata = " << root << "\nsplit = " << split << "\nseed = " << seed << "\nsegment_min = " << opt.segment_min
       << "\nsegment_max = " << opt.segment_max << "\nspeed_step = " << opt.speed_step << "\nmargin = " << opt.margin
       << "\nglide_speed = " << opt.glide_speed << "\ndetections = " << detections
       << "\n# video source kind start length frames [glide: object_frame x0 y0 x1 y1]\n";
  ssmtl::Rng draw(seed);   // one seed per synthetic video, in a fixed order
  ssmtl::util::Progress progress("synth", static_cast<int64_t>(videos.size() * kinds.size() * per_kind), "videos");
  for (const std::string& src : videos) {
    const std::vector<std::string> files = ssmtl::list_frame_files(ssmtl::video_dir(root, split, src));
    for (const std::string& kind : kinds)
      for (int i = 0; i < per_kind; ++i) {
        const uint64_t vseed = draw.next_u64();
        const std::string name = src + "_" + kind + std::to_string(i);
        if (kind == "glide") {
          list << write_glide(files, detections + "/" + src + ".txt", opt, vseed, frames_dir + "/" + name,
                              labels_dir + "/" + name + ".txt", name, src);
          progress.add(1);
          continue;
        }
        ssmtl::SyntheticVideoPlan plan;
        try {
          plan = ssmtl::plan_synthetic_video(kind, static_cast<int>(files.size()), opt, vseed);
        } catch (const std::invalid_argument& e) {
          throw std::runtime_error("synth: video " + src + ": " + e.what());
        }
        const std::string dir = frames_dir + "/" + name;
        ssmtl::util::make_dirs(dir);
        const int digits = std::max<int>(3, static_cast<int>(std::to_string(plan.source_frame.size()).size()));
        std::string labels;
        for (size_t f = 0; f < plan.source_frame.size(); ++f) {
          const fs::path from = files[plan.source_frame[f]];
          fs::copy_file(from, dir + "/" + padded(static_cast<int>(f), digits) + from.extension().string());
          labels += std::to_string(plan.labels[f]) + "\n";
        }
        ssmtl::util::write_text_atomic(labels_dir + "/" + name + ".txt", labels);
        list << name << " " << src << " " << kind << " " << plan.start << " " << plan.length << " "
             << plan.source_frame.size() << "\n";
        progress.add(1);
      }
  }
  progress.finish();
  ssmtl::util::write_text_atomic(tmp + "/synthetic.txt", list.str());
  fs::remove_all(out);
  fs::rename(tmp, out);
  std::printf("synth: %zu synthetic videos from %zu source videos in %s\n", videos.size() * kinds.size() * per_kind,
              videos.size(), out.c_str());
  return 0;
}

ssmtl::app::Command reg{"synth", "synthetic anomalies (glide / speed / backward segments) in normal videos", run_synth};

}  // namespace
