// ssmtl detect: objects of every frame of a data set's videos (detector, optical flow, background
// subtraction or hybrid), written as region files; optionally the recall of ground-truth regions and
// PNG frames with the boxes drawn. With a detector it also writes the T4 teacher, DIR/class_probs/<video>.txt:
// a header "# ssmtl class_probs v1 classes=K", then one line per object in the order of DIR/<video>.txt,
// frame,x_min,y_min,x_max,y_max,p_0,...,p_{K-1},p_motion: the detector's class probabilities normalised to
// sum 1 with p_motion = 0, or all p_k = 0 and p_motion = 1 for motion objects (data/detect/class_probs.h).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "apps/args.h"
#include "apps/command.h"
#include "data/detect/class_probs.h"
#include "data/detect/detect_video.h"
#include "data/detect/detector.h"
#include "dist/progress.h"
#include "regions/recall.h"
#include "regions/region_file.h"
#include "tensor/device.h"
#include "util/atomic_file.h"
#include "util/plot.h"
#include "util/png.h"
#include "util/progress.h"

namespace {

const char* kUsage =
    "usage: ssmtl detect --data ROOT --out DIR [--split testing] [--method hybrid|flow|background|detector|\n"
    "                    hybrid-background] [--weights DIR] [--model yolo-fastest-1.1-xl] [--conf 0.5]\n"
    "                    [--classes all|0,2,...] [--flow-scale 1] [--videos 01,02] [--draw N]\n"
    "                    [--recall-gt ROOT/testing/gt_tracks_derived] [--device cpu|cuda]\n"
    "  writes DIR/<video>.txt lines frame,x_min,y_min,x_max,y_max,score (inclusive pixels; motion objects\n"
    "  have score 1), DIR/detect_config.txt and, with a detector, DIR/class_probs/<video>.txt (T4 teacher:\n"
    "  frame,box,p_0..p_{K-1},p_motion per object, same order); --draw N also writes DIR/frames/<video>_<frame>.png for N frames\n"
    "  per video; --recall-gt prints the share of ground-truth regions matched by an object with IoU >= 0.1.\n"
    "  --device cuda runs the detector network on the GPU (optical flow and background stay on the CPU).\n"
    "Input checks: errors (exit 1, 2 for the command line): a video named twice in --videos, two frames with\n"
    "  the same number (1.jpg and 01.jpg), a .cfg key the layer type does not know, non-positive anchors, NaN or\n"
    "  infinite .weights values (naming the layer and index), numbers that are not whole decimal tokens.\n"
    "  Warnings (a count and the first names): files in a frame folder that are not frames.\n";

int run_detect(int argc, char** argv) {
  using namespace ssmtl;
  app::Args args(argc, argv);
  if (args.help()) { std::printf("%s", kUsage); return 0; }
  std::string root = args.need("data"), out = args.need("out"), split = args.get("split", "testing");
  DetectVideoOptions o;
  o.method = parse_detect_method(args.get("method", "hybrid"));
  o.flow_scale = static_cast<float>(args.get_double("flow-scale", 1.0));
  if (!(o.flow_scale > 0 && o.flow_scale <= 1))
    throw app::UsageError("--flow-scale must be in (0, 1], got " + args.get("flow-scale"));
  std::string weights = args.get("weights", "../shared/weights/yolo-fastest");
  std::string model = args.get("model", "yolo-fastest-1.1-xl");
  DetectorOptions dopt;
  dopt.conf_threshold = static_cast<float>(args.get_double("conf", 0.5));
  std::string classes = args.get("classes", "all");
  if (classes != "all")
    for (auto& c : args.list("classes")) {
      int64_t id = -1;
      if (!util::parse_int64(c, id) || id < 0 || id > 100000)
        throw ssmtl::app::UsageError("--classes: '" + c + "' is not a class id (or use all)");
      dopt.classes.push_back(static_cast<int>(id));
    }
  std::vector<std::string> videos = args.has("videos") ? args.list("videos") : list_videos(root, split);
  int draw = args.get_int32("draw", 0, 0);
  std::string gt = args.get("recall-gt");
  dopt.device = app::device_option(args);
  args.check_used();
  if (!gt.empty() && !std::filesystem::is_directory(gt))   // before minutes of detection, not after
    throw std::runtime_error("--recall-gt " + gt + ": no such folder of ground-truth track files");

  std::unique_ptr<Detector> detector;
  dopt.class_probs = true;   // the T4 teacher file
  if (o.method != DetectMethod::kFlow && o.method != DetectMethod::kBackground)
    detector = std::make_unique<Detector>(weights + "/" + model + ".cfg", weights + "/" + model + ".weights", dopt);
  // Under mpirun the videos are dealt out over the ranks; rank 0 writes detect_config.txt, draws the progress
  // of all and prints the totals.
  dist::Communicator& world = dist::world();
  const bool lead = world.rank() == 0;
  util::make_dirs(out);
  std::ostringstream cfg;
  cfg << "# ssmtl detect\ndata = " << root << "\nsplit = " << split << "\nmethod = " << detect_method_name(o.method)
      << "\nmodel = " << model << "\nconf = " << dopt.conf_threshold << "\nclasses = " << classes
      << "\nflow_scale = " << o.flow_scale << "\nmotion_threshold = " << o.motion.magnitude_threshold
      << "\nmotion_min_area_ref = " << o.motion.min_area_ref << "\n";
  if (lead) util::write_text_atomic(out + "/detect_config.txt", cfg.str());

  std::vector<std::unique_ptr<Video>> vids;
  int64_t total_frames = 0, my_frames = 0;
  for (auto& name : videos) {
    vids.push_back(std::make_unique<Video>(video_dir(root, split, name)));
    total_frames += vids.back()->num_frames();
    if (dist::my_video(static_cast<int>(vids.size()) - 1, world)) my_frames += vids.back()->num_frames();
  }
  dist::SharedProgress progress(world, "detect (" + std::string(detect_method_name(o.method)) + ")", total_frames,
                                my_frames, "frames");
  int64_t objects = 0;
  GtRecall recall;
  auto start = std::chrono::steady_clock::now();
  for (size_t vi = 0; vi < vids.size(); ++vi) {
    if (!dist::my_video(static_cast<int>(vi), world)) continue;
    const Video& v = *vids[vi];
    auto dets = detect_video_full(v, detector.get(), o, [&](int64_t n) { progress.add(n); });
    std::vector<std::vector<Box>> boxes(dets.size());
    for (size_t t = 0; t < dets.size(); ++t)
      for (const Detection& d : dets[t]) boxes[t].push_back(d.box);
    const std::vector<Region> regions = regions_of(boxes);
    objects += static_cast<int64_t>(regions.size());
    save_regions(out + "/" + v.name() + ".txt", regions);
    if (detector) write_class_probs(out + "/class_probs/" + v.name() + ".txt", dets, detector->num_classes());
    if (!gt.empty()) add_gt_recall(recall, gt + "/" + v.name() + ".txt", boxes);
    for (int k = 0; k < draw && v.num_frames() > 0; ++k) {
      int t = static_cast<int>(static_cast<int64_t>(k) * v.num_frames() / draw);
      Image img = *v.frame(t);
      for (const Box& b : boxes[t])
        plot::draw_box(img.rgb.data(), img.width, img.height, static_cast<int>(b.x0), static_cast<int>(b.y0),
                       static_cast<int>(b.x1), static_cast<int>(b.y1),
                       b.cls >= 0 ? plot::Rgb{40, 220, 60} : plot::Rgb{255, 60, 40});
      char name[64];
      std::snprintf(name, sizeof name, "/frames/%s_%04d.png", v.name().c_str(), t);
      util::make_dirs(out + "/frames");
      util::write_png_rgb(out + name, img.width, img.height, img.rgb.data());
    }
  }
  progress.finish();
  if (world.size() > 1) {   // the totals of all ranks
    double t[3] = {static_cast<double>(objects), static_cast<double>(recall.found), static_cast<double>(recall.regions)};
    world.sum(t, 3);
    objects = static_cast<int64_t>(t[0]);
    recall.found = static_cast<int64_t>(t[1]);
    recall.regions = static_cast<int64_t>(t[2]);
  }
  if (!lead) return 0;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s: %lld frames, %lld objects (%.2f per frame), %.1f frames/s\n", detect_method_name(o.method),
              static_cast<long long>(total_frames), static_cast<long long>(objects),
              total_frames ? static_cast<double>(objects) / total_frames : 0.0, secs > 0 ? total_frames / secs : 0.0);
  if (!gt.empty())
    std::printf("recall of ground-truth regions (IoU >= 0.1): %lld / %lld = %.4f\n",
                static_cast<long long>(recall.found), static_cast<long long>(recall.regions), recall.rate());
  return 0;
}

ssmtl::app::Command reg{"detect", "objects per frame: detector, optical flow, background subtraction, hybrid",
                        run_detect};

}  // namespace
