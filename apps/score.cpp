// ssmtl score: runs a trained model over a data set's test videos and writes frame and region scores.
#include <cstdio>
#include <sstream>

#include "apps/args.h"
#include "apps/command.h"
#include "dist/progress.h"
#include "model/checkpoint.h"
#include "model/scoring.h"
#include "tensor/device.h"
#include "util/atomic_file.h"
#include "util/progress.h"

namespace {

const char* kUsage =
    "usage: ssmtl score --data ROOT --detections DIR --checkpoint CKPT --out DIR [--split testing]\n"
    "                   [--frame-mode map|max] [--cell 20] [--filter 3] [--batch 128] [--seed 0] [--videos 01,02]\n"
    "                   [--teachers DIR] [--device cpu|cuda]\n"
    "  T4 (ssmtl) reads DETECTIONS/class_probs/<video>.txt; T7 / T9 read DIR/<video>.seg / .pose (--teachers)\n"
    "  writes DIR/frame_scores/<video>.txt (one score per frame), DIR/regions/<video>.txt\n"
    "  (frame,x_min,y_min,x_max,y_max,score), DIR/object_scores/<video>.txt (per-task scores) and\n"
    "  DIR/score_config.txt (the options and seed used)\n"
    "Input checks: errors (exit 1): a checkpoint whose stored configuration has an unknown key or a value out\n"
    "  of range, whose sizes do not match the file, with bytes after the last tensor or a NaN / infinite weight\n"
    "  (named with its index); a video named twice in --videos. Warnings (a count and the first lines): detections\n"
    "  outside the frame, skipped; a note counts those below the minimum score.\n";

int run_score(int argc, char** argv) {
  ssmtl::app::Args args(argc, argv);
  if (args.help()) { std::printf("%s", kUsage); return 0; }
  std::string root = args.need("data"), det = args.need("detections"), ckpt = args.need("checkpoint");
  std::string out = args.need("out"), split = args.get("split", "testing");
  ssmtl::ScoreOptions so;
  so.frame_mode = args.get("frame-mode", "map");
  if (so.frame_mode != "map" && so.frame_mode != "max")
    throw ssmtl::app::UsageError("--frame-mode must be map or max, got " + so.frame_mode);
  so.map.cell = static_cast<int>(args.get_int("cell", 20, 1));
  int f = static_cast<int>(args.get_int("filter", 3, 1));
  so.map.filter_t = so.map.filter_x = so.map.filter_y = f;
  so.batch_size = static_cast<int>(args.get_int("batch", 128, 1));
  so.seed = static_cast<uint64_t>(args.get_int("seed", 0, 0));
  std::string teachers = args.get("teachers");
  std::vector<std::string> videos = args.list("videos");
  const ssmtl::Device device = ssmtl::app::device_option(args);
  args.check_used();

  ssmtl::CheckpointMeta meta = ssmtl::read_checkpoint_meta(ckpt);
  ssmtl::util::Config cfg = ssmtl::util::Config::from_string(meta.config_text, ckpt);
  ssmtl::ModelConfig mc = ssmtl::ModelConfig::from_config(cfg);   // (registers the proxy tasks' keys)
  cfg.check_all();   // the stored configuration is input too: unknown keys and ranges, as for a file
  ssmtl::SSMTLModel model(mc, 0);
  ssmtl::load_checkpoint(ckpt, model);
  model.to(device);
  ssmtl::ObjectPool pool = ssmtl::ObjectPool::load(root, split, det, so.min_detection_score, false, videos,
                                                   ssmtl::TeacherSpec::for_model(mc, det, teachers));
  if (ssmtl::dist::world().rank() == 0)
    std::fprintf(stderr, "score: %s, %d videos, %zu objects, device %s\n", mc.name.c_str(), pool.num_videos(),
               pool.objects().size(), ssmtl::device_name(device));
  std::ostringstream run_cfg;   // next to the scores: what made them (the model's own configuration is in the checkpoint)
  run_cfg << "# ssmtl score\ndata = " << root << "\nsplit = " << split << "\ndetections = " << det
          << "\ncheckpoint = " << ckpt << "\nmodel = " << mc.name << "\nframe_mode = " << so.frame_mode
          << "\ncell = " << so.map.cell << "\nfilter = " << f << "\nbatch = " << so.batch_size << "\nseed = " << so.seed
          << "\ndevice = " << ssmtl::device_name(device) << "\nteachers = " << teachers << "\nvideos =";
  for (int v = 0; v < pool.num_videos(); ++v) run_cfg << (v ? "," : " ") << pool.video(v).name();
  run_cfg << "\n";
  // Under mpirun the videos are dealt out over the ranks (each video's files are written by its rank, the
  // same bytes as one process); rank 0 writes score_config.txt and draws the progress of all.
  ssmtl::dist::Communicator& world = ssmtl::dist::world();
  ssmtl::util::make_dirs(out);
  if (world.rank() == 0) ssmtl::util::write_text_atomic(out + "/score_config.txt", run_cfg.str());
  std::vector<int64_t> per_video(pool.num_videos(), 0);
  for (const ssmtl::PoolObject& o : pool.objects()) ++per_video[o.video];
  int64_t mine = 0;
  for (int v = 0; v < pool.num_videos(); ++v) mine += ssmtl::dist::my_video(v, world) ? per_video[v] : 0;
  ssmtl::dist::SharedProgress progress(world, world.size() > 1 ? "score (" + std::to_string(world.size()) + " ranks)" : "score",
                                       static_cast<int64_t>(pool.objects().size()), mine, "objects");
  for (int v = 0; v < pool.num_videos(); ++v) {
    if (!ssmtl::dist::my_video(v, world)) continue;
    ssmtl::VideoScores s = ssmtl::score_video(model, pool, v, so, [&](int64_t n) { progress.add(n); });
    ssmtl::write_video_scores(out, s);
  }
  progress.finish();
  return 0;
}

ssmtl::app::Command reg{"score", "anomaly scores of test videos with a trained model", run_score};

}  // namespace
