// ssmtl score: runs a trained model over a data set's test videos and writes frame and region scores.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <sstream>

#include "apps/args.h"
#include "apps/command.h"
#include "apps/normal_stats.h"
#include "data/samples/ood.h"
#include "dist/progress.h"
#include "kernels/precision.h"
#include "model/checkpoint.h"
#include "model/scoring.h"
#include "model/trainer.h"
#include "data/video/frames.h"
#include "tensor/device.h"
#include "util/atomic_file.h"
#include "util/progress.h"

namespace {

const char* kUsage =
    "usage: ssmtl score --data ROOT --detections DIR --checkpoint CKPT --out DIR [--split testing]\n"
    "                   [--frame-mode map|max] [--cell 20 | --cell-rel 0.67] [--min-height-rel 0] [--filter 3] [--batch 128]\n"
    "                   [--seed 0] [--videos 01,02] [--window-ends shift|clamp]\n"
    "                   [--teachers DIR] [--device cpu|cuda] [--precision fp32|bf16]\n"
    "                   [--normalize none|zscore|log-zscore --normal-detections DIR [--normal-videos 15,16]]\n"
    "                   [--precise-bn N [--ood DIR]]\n"
    "  --precise-bn N: before scoring, each BatchNorm's statistics re-estimated per input window from N objects\n"
    "  of the training split (--normal-detections; the videos training used, the objects and samples of\n"
    "  train.precise_bn = N, unless training was given --videos; training-mode forwards, no weight change:\n"
    "  model/bn_window.h, docs/RESULTS.md section 22); 0 (default) = what the checkpoint holds: its per-window\n"
    "  statistics when trained with train.precise_bn, else the running statistics of training. A model\n"
    "  with T5 also needs its out-of-distribution images then (--ood, default ../shared/data/ood).\n"
    "  --normalize: the object score is the mean of the task scores standardised with statistics of normal\n"
    "  objects (eval/task_normalize.h): those of the training split's held-out validation videos (the last\n"
    "  train.val_fraction of them, as in training; or --normal-videos), detected in --normal-detections;\n"
    "  the statistics go to DIR/normalization.txt. none (default) = the plain mean of the task scores.\n"
    "  --cell-rel X: the map cell is X times the median height of the normal videos' objects (rounded, pixels;\n"
    "  needs --normal-detections; the normal videos as for --normalize), so it scales with the camera.\n"
    "  --min-height-rel X: objects whose box is lower than X times that median height (rounded, pixels) write\n"
    "  nothing into the anomaly map (their scores stay in DIR/regions); 0 (default) = every object.\n"
    "  --window-ends: the 7-frame window of an object in a video's first or last 3 frames: shift (default) = the\n"
    "  7 frames nearest it inside the video; clamp = frame indices clamped (frame 0 gives 0,0,0,0,1,2,3: a\n"
    "  repeated frame, which the motion tasks score as a stop; docs/RESULTS.md section 35).\n"
    "  --checkpoint given several times: a checkpoint ensemble, the mean per object of the models' (normalised)\n"
    "  scores (e.g. best.ckpt and last.ckpt of one run; each model normalised with its own statistics).\n"
    "  --precision bf16: the model's products with bfloat16 factors and float32 sums (CPU with AVX512_BF16;\n"
    "  kernels/precision.h), the CvT's attention included where its heads are 8 wide (SSMTL_BF16_ATTENTION=0:\n"
    "  attention in float32);\n"
    "  fp32 (default) is bit-reproducible.\n"
    "  T4 (ssmtl) reads DETECTIONS/class_probs/<video>.txt; T7 / T9 read DIR/<video>.seg / .pose (--teachers)\n"
    "  writes DIR/frame_scores/<video>.txt (one score per frame), DIR/regions/<video>.txt\n"
    "  (frame,x_min,y_min,x_max,y_max,score), DIR/object_scores/<video>.txt (per-task scores) and\n"
    "  DIR/score_config.txt (the options and seed used)\n"
    "Input checks: errors (exit 1): a checkpoint whose stored configuration has an unknown key or a value out\n"
    "  of range, whose sizes do not match the file, with bytes after the last tensor or a NaN / infinite weight\n"
    "  (named with its index); usage errors (exit 2): a video named twice in --videos. Warnings (a count and the\n"
    "  first lines): detections outside the frame, skipped; a note counts those below the minimum score.\n";

int run_score(int argc, char** argv) {
  ssmtl::app::Args args(argc, argv);
  if (args.help()) { std::printf("%s", kUsage); return 0; }
  std::string root = args.need("data"), det = args.need("detections");
  const std::vector<std::string> ckpts = args.all("checkpoint");
  if (ckpts.empty()) throw ssmtl::app::UsageError("missing required option --checkpoint");
  std::string out = args.need("out"), split = args.get("split", "testing");
  ssmtl::ScoreOptions so;
  so.frame_mode = args.get("frame-mode", "map");
  if (so.frame_mode != "map" && so.frame_mode != "max")
    throw ssmtl::app::UsageError("--frame-mode must be map or max, got " + so.frame_mode);
  so.map.cell = args.get_int32("cell", 20, 1);
  const double cell_rel = args.get_double("cell-rel", 0, 0, 100);
  if (args.has("cell-rel") && args.has("cell")) throw ssmtl::app::UsageError("give --cell or --cell-rel, not both");
  if (args.has("cell-rel") && !(cell_rel > 0)) throw ssmtl::app::UsageError("--cell-rel must be > 0");
  const double min_height_rel = args.get_double("min-height-rel", 0, 0, 100);
  if (min_height_rel > 0 && so.frame_mode != "map")
    throw ssmtl::app::UsageError("--min-height-rel applies to the anomaly map (--frame-mode map)");
  int f = args.get_int32("filter", 3, 1);
  so.map.filter_t = so.map.filter_x = so.map.filter_y = f;
  so.batch_size = args.get_int32("batch", 128, 1);
  so.seed = static_cast<uint64_t>(args.get_int("seed", 0, 0));
  so.window_ends = ssmtl::app::window_ends_option(args);
  std::string teachers = args.get("teachers");
  std::vector<std::string> videos = args.list("videos");
  const std::string norm_mode = args.get("normalize", "none");
  const std::string normal_det = args.get("normal-detections");
  std::vector<std::string> normal_videos = args.list("normal-videos");
  if ((cell_rel > 0 || min_height_rel > 0) && normal_det.empty())
    throw ssmtl::app::UsageError(std::string(cell_rel > 0 ? "--cell-rel" : "--min-height-rel") +
                                 " needs --normal-detections (the training split's detections)");
  if (norm_mode != "none" && normal_det.empty())
    throw ssmtl::app::UsageError("--normalize " + norm_mode + " needs --normal-detections (the training split's detections)");
  const int precise_bn = args.get_int32("precise-bn", 0, 0);
  const std::string ood_root = args.get("ood", "../shared/data/ood");
  if (precise_bn > 0 && normal_det.empty())
    throw ssmtl::app::UsageError("--precise-bn needs --normal-detections (the training split's detections)");
  const ssmtl::Device device = ssmtl::app::device_option(args);
  const std::string precision_name = args.get("precision", "fp32");
  const ssmtl::kernels::MatmulPrecision precision =
      ssmtl::kernels::checked_matmul_precision(precision_name, device != ssmtl::Device::CPU, "--precision");
  args.check_used();
  ssmtl::kernels::MatmulPrecisionScope precision_scope(precision);
  ssmtl::kernels::use_scoring_bf16_attention();   // bf16 attention with bf16 products (kernels/precision.h)

  ssmtl::dist::Communicator& world = ssmtl::dist::world();
  ssmtl::util::make_dirs(out);
  // One pass per checkpoint (each normalised with its own statistics); several are averaged per object.
  std::vector<std::vector<ssmtl::VideoScores>> per_ckpt;
  std::unique_ptr<ssmtl::ObjectPool> pool;
  std::ostringstream run_cfg;   // next to the scores: what made them (the model's own configuration is in the checkpoint)
  for (size_t c = 0; c < ckpts.size(); ++c) {
    const std::string& ckpt = ckpts[c];
    ssmtl::CheckpointMeta meta = ssmtl::read_checkpoint_meta(ckpt);
    ssmtl::util::Config cfg = ssmtl::util::Config::from_string(meta.config_text, ckpt);
    ssmtl::ModelConfig mc = ssmtl::ModelConfig::from_config(cfg);   // (registers the proxy tasks' keys)
    cfg.check_all();   // the stored configuration is input too: unknown keys and ranges, as for a file
    ssmtl::SSMTLModel model(mc, 0);
    ssmtl::load_checkpoint(ckpt, model);
    model.to(device);
    if (precise_bn > 0) {
      // (the trainer's objects: its minimum detection score, not this command's)
      const ssmtl::TrainOptions topt = ssmtl::TrainOptions::from_config(cfg);
      const ssmtl::ObjectPool tpool = ssmtl::ObjectPool::load(root, "training", normal_det, topt.min_detection_score,
                                                              false, {}, ssmtl::TeacherSpec::for_model(mc, normal_det, teachers));
      std::unique_ptr<ssmtl::OodImages> ood;   // (T5's samples are built with the others)
      if (mc.tasks.any(ssmtl::Source::kOodImages)) ood = std::make_unique<ssmtl::OodImages>(ood_root);
      const ssmtl::SampleBuilder builder(tpool, mc, ood.get());
      const std::vector<size_t> ids = ssmtl::precise_bn_ids(tpool, topt, precise_bn);
      ssmtl::estimate_window_bn(model, builder, ids, topt.batch_size, ssmtl::precise_bn_seed(topt));
      if (world.rank() == 0)
        std::fprintf(stderr, "score: BatchNorm statistics per window from %zu training objects (--precise-bn)\n",
                     ids.size());
    } else if (world.rank() == 0) {
      bool stored = false;
      for (const ssmtl::NamedTensor& nt : model.named_tensors()) stored = stored || nt.optional_like != nullptr;
      std::fprintf(stderr, "score: BatchNorm statistics: %s\n",
                   stored ? "per input window, stored in the checkpoint (train.precise_bn, or re-estimated for averaged "
                                "weights)" : "the running ones of training");
    }
    if (!pool)
      pool = std::make_unique<ssmtl::ObjectPool>(ssmtl::ObjectPool::load(
          root, split, det, so.min_detection_score, false, videos, ssmtl::TeacherSpec::for_model(mc, det, teachers)));
    if (world.rank() == 0)
      std::fprintf(stderr, "score: %s (%s), %d videos, %zu objects, device %s\n", mc.name.c_str(), ckpt.c_str(),
                   pool->num_videos(), pool->objects().size(), ssmtl::device_name(device));
    // The normal videos' objects: the statistics of --normalize (per checkpoint: its teacher inputs) and the
    // object size of --cell-rel, from one load.
    std::vector<std::string> nv;
    std::unique_ptr<ssmtl::ObjectPool> npool;
    const bool size_rel = c == 0 && (cell_rel > 0 || min_height_rel > 0);
    if (norm_mode != "none" || size_rel) {
      nv = ssmtl::app::normal_video_names(cfg, root, normal_videos);
      npool = std::make_unique<ssmtl::ObjectPool>(ssmtl::app::load_normal_pool(mc, root, normal_det, nv, so, teachers));
    }
    if (size_rel) {   // the map cell and the minimum height from the normal videos' object size
      const double h = ssmtl::median_object_height(*npool);
      if (cell_rel > 0) so.map.cell = std::max(1, static_cast<int>(std::lround(cell_rel * h)));
      so.map.min_height = static_cast<int>(std::lround(min_height_rel * h));
      if (world.rank() == 0)
        std::fprintf(stderr, "score: map cell %d px, minimum object height %d px (%g, %g x the median object height "
                     "%g px of the normal videos)\n", so.map.cell, so.map.min_height, cell_rel, min_height_rel, h);
    }
    if (c == 0) {
      run_cfg << "# ssmtl score\ndata = " << root << "\nsplit = " << split << "\ndetections = " << det
              << "\ncheckpoint =";
      for (size_t i = 0; i < ckpts.size(); ++i) run_cfg << (i ? ", " : " ") << ckpts[i];
      run_cfg << "\nmodel = " << mc.name << "\nframe_mode = " << so.frame_mode << "\ncell = " << so.map.cell << "\ncell_rel = " << cell_rel
              << "\nmin_height_rel = " << min_height_rel << "\nmin_height = " << so.map.min_height
              << "\nfilter = " << f << "\nwindow_ends = " << ssmtl::window_ends_name(so.window_ends) << "\nbatch = " << so.batch_size << "\nseed = " << so.seed
              << "\ndevice = " << ssmtl::device_name(device) << "\nprecision = " << precision_name
              << "\nattention = "   // what the CvT's attention ran on (heads of width 8 only: kernels/precision.h)
              << (precision == ssmtl::kernels::MatmulPrecision::bf16 && device == ssmtl::Device::CPU &&
                          ssmtl::kernels::bf16_attention() != ssmtl::kernels::Bf16Attention::never
                      ? "bf16 products where heads are 8 wide"
                      : "fp32")
              << "\nteachers = " << teachers
              << "\nprecise_bn = " << precise_bn << "\nnormalize = " << norm_mode << "\nnormal_detections = " << normal_det << "\nvideos =";
      for (int v = 0; v < pool->num_videos(); ++v) run_cfg << (v ? "," : " ") << pool->video(v).name();
      run_cfg << "\n";
      if (world.rank() == 0) ssmtl::util::write_text_atomic(out + "/score_config.txt", run_cfg.str());
    }
    ssmtl::ScoreOptions sc = so;
    ssmtl::eval::TaskNormalizer normalizer(norm_mode);   // (checks the mode)
    if (norm_mode != "none") {
      ssmtl::app::NormalStats ns = ssmtl::app::fit_normal_stats(model, *npool, nv, norm_mode, sc);
      normalizer = ns.normalizer;
      const std::string name = ckpts.size() == 1 ? "normalization.txt" : "normalization_" + std::to_string(c) + ".txt";
      if (world.rank() == 0)   // (read back by ssmtl watch --normalization)
        ssmtl::util::write_text_atomic(out + "/" + name, ssmtl::eval::normalization_file_text(
                                                             normalizer, ckpt, ssmtl::app::normal_stats_comment(ns, ckpt),
                                                             ssmtl::window_ends_name(so.window_ends)));
      sc.normalizer = &normalizer;
    }
    // Under mpirun the videos are dealt out over the ranks (each video's files are written by its rank, the
    // same bytes as one process); rank 0 draws the progress of all.
    std::vector<int64_t> per_video(pool->num_videos(), 0);
    for (const ssmtl::PoolObject& o : pool->objects()) ++per_video[o.video];
    int64_t mine = 0;
    for (int v = 0; v < pool->num_videos(); ++v) mine += ssmtl::dist::my_video(v, world) ? per_video[v] : 0;
    ssmtl::dist::SharedProgress progress(
        world, world.size() > 1 ? "score (" + std::to_string(world.size()) + " ranks)" : "score",
        static_cast<int64_t>(pool->objects().size()), mine, "objects");
    per_ckpt.emplace_back(pool->num_videos());
    for (int v = 0; v < pool->num_videos(); ++v)
      if (ssmtl::dist::my_video(v, world))
        per_ckpt.back()[v] = ssmtl::score_video(model, *pool, v, sc, [&](int64_t n) { progress.add(n); });
    progress.finish();
  }
  for (int v = 0; v < pool->num_videos(); ++v) {
    if (!ssmtl::dist::my_video(v, world)) continue;
    std::vector<ssmtl::VideoScores> runs;
    for (auto& r : per_ckpt) runs.push_back(std::move(r[v]));
    ssmtl::write_video_scores(out, runs.size() == 1 ? runs[0] : ssmtl::average_video_scores(runs, pool->video(v), so));
  }
  return 0;
}

ssmtl::app::Command reg{"score", "anomaly scores of test videos with a trained model", run_score};

}  // namespace
