// ssmtl prepare: an official data-set distribution into our layout (data/datasets/dataset.h), or a folder of
// videos into frame folders (data/video/prepare.h).
//   ssmtl prepare --dataset ped2 --root ~/Downloads/UCSD_Anomaly_Dataset.v1p2 --out data/ped2
//   ssmtl prepare --videos ../shared/data/avenue/videos/testing --out data/avenue/testing/frames
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

#include "apps/args.h"
#include "apps/command.h"
#include "data/datasets/dataset.h"
#include "data/video/prepare.h"

namespace {

void usage() {
  std::printf(
      "usage: ssmtl prepare --dataset NAME --root DIR --out DIR [--overwrite] [--format jpg|png] [--quality 2..31]\n"
      "                     [--frame-labels FILE] [--splits DIR] [--ffmpeg PATH]\n"
      "Converts a data set as distributed into our layout: OUT/training/frames/<video>/, OUT/testing/frames/,\n"
      "gt_frame/, gt_pixel/ and gt_tracks_derived/ (tracks made from the pixel masks). Written to a hidden folder\n"
      "beside OUT and renamed to OUT when complete. Then: make demo DATASET=<basename of OUT> DATA=<parent of OUT>.\n"
      "--frame-labels (avenue): AnoPred's avenue.mat (variable gt) as the second labelling, gt_frame_anopred/.\n"
      "--splits (ubnormal): the folder of the official split lists; UBnormal gets training/ (normal videos),\n"
      "                     training_abnormal/, validation/, testing/.\n"
      "Data sets (--root must hold):\n");
  for (const auto& d : ssmtl::datasets::dataset_list()) std::printf("  %-13s %s\n  %-13s   %s\n", d.name, d.title, "", d.layout);
  std::printf(
      "\n"
      "usage: ssmtl prepare --videos DIR --out ROOT/SPLIT/frames [--format jpg|png] [--quality 2..31]\n"
      "                     [--digits N] [--overwrite] [--ffmpeg PATH]\n"
      "Decodes every .avi/.mp4/.mov/.mkv/.mpg of DIR into OUT/<video>/0000.jpg ... (0-based, one file per frame)\n"
      "with ffmpeg. Each video is written to a temporary folder and renamed when complete; videos whose folder\n"
      "exists are skipped unless --overwrite. Defaults: jpg, quality 2, 4 digits.\n");
}

int run_dataset(const ssmtl::app::Args& args) {
  ssmtl::datasets::DatasetOptions o;
  const std::string name = args.need("dataset");
  o.root = args.need("root");
  o.out = args.need("out");
  o.overwrite = args.has("overwrite");
  o.video.format = args.get("format", o.video.format);
  o.video.jpeg_quality = args.get_int32("quality", o.video.jpeg_quality, 1);
  o.video.ffmpeg = args.get("ffmpeg", o.video.ffmpeg);
  o.frame_labels = args.get("frame-labels", "");
  o.splits = args.get("splits", "");
  args.check_used();
  bool known = false;
  for (const auto& d : ssmtl::datasets::dataset_list()) known = known || name == d.name;
  if (!known) throw ssmtl::app::UsageError("--dataset: unknown data set '" + name + "'");
  if (!o.frame_labels.empty() && name != "avenue") throw ssmtl::app::UsageError("--frame-labels is for --dataset avenue");
  if (!o.splits.empty() && name != "ubnormal") throw ssmtl::app::UsageError("--splits is for --dataset ubnormal");
  const auto r = ssmtl::datasets::prepare_dataset(name, o);
  std::vector<std::string> splits;
  std::vector<long> frames;
  std::vector<int> videos;
  long abnormal = 0, masks = 0, tracks = 0;
  for (const auto& v : r.videos) {
    size_t s = 0;
    while (s < splits.size() && splits[s] != v.split) ++s;
    if (s == splits.size()) { splits.push_back(v.split); frames.push_back(0); videos.push_back(0); }
    ++videos[s];
    frames[s] += v.frames;
    std::printf("%s/%s\t%d frames", v.split.c_str(), v.name.c_str(), v.frames);
    if (v.abnormal_frames >= 0) {
      std::printf("\t%d abnormal", v.abnormal_frames);
      abnormal += v.abnormal_frames;
    }
    if (v.tracks >= 0) {
      std::printf("\t%d masks\t%d tracks", v.masks, v.tracks);
      masks += v.masks;
      tracks += v.tracks;
    }
    std::printf("\t<- %s\n", v.source.c_str());
  }
  std::printf("%s:", r.name.c_str());
  for (size_t s = 0; s < splits.size(); ++s)
    std::printf(" %d %s videos (%ld frames),", videos[s], splits[s].c_str(), frames[s]);
  std::printf(" %ld abnormal frames, %ld masks, %ld derived tracks, in %s\n", abnormal, masks, tracks, r.out.c_str());
  return 0;
}

int run_prepare(int argc, char** argv) {
  ssmtl::app::Args args(argc, argv, {"overwrite"});
  if (args.help()) { usage(); return 0; }
  if (args.has("dataset")) return run_dataset(args);
  ssmtl::PrepareOptions o;
  const std::string videos = args.need("videos"), out = args.need("out");
  o.format = args.get("format", o.format);
  o.jpeg_quality = args.get_int32("quality", o.jpeg_quality, 1);
  o.digits = args.get_int32("digits", o.digits, 1);
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

ssmtl::app::Command reg{"prepare", "convert a data set as distributed (--dataset), or decode videos into frame folders",
                        run_prepare};

}  // namespace
