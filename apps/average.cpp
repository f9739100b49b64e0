// ssmtl average: one model from the checkpoints of one run, their weights averaged (stochastic weight
// averaging, model/weight_average.h), its BatchNorm statistics re-estimated for the averaged weights.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "apps/args.h"
#include "apps/command.h"
#include "data/samples/ood.h"
#include "kernels/precision.h"
#include "model/checkpoint.h"
#include "model/train_state.h"
#include "model/trainer.h"
#include "model/weight_average.h"
#include "util/atomic_file.h"
#include "util/parse.h"

namespace {

const char* kUsage =
    "usage: ssmtl average (--checkpoint CKPT [--checkpoint CKPT2 ...] | --run DIR --epochs FIRST-LAST) --out FILE\n"
    "                     --data ROOT --detections DIR [--videos 01,02,...] [--precise-bn N]\n"
    "                     [--precision run|fp32|bf16] [--ood DIR] [--teachers DIR]\n"
    "  Writes FILE, a checkpoint whose weights are the equal-weight mean of the given checkpoints' (stochastic\n"
    "  weight averaging, Izmailov et al. 2018; model/weight_average.h), and FILE.json (what made it). The\n"
    "  checkpoints must come from one run (every setting of their configurations alike but those a resume may\n"
    "  change: train.device, epochs, stop_after_steps, max_seconds, swa_epochs): typically its last epochs,\n"
    "  kept by train.keep_epoch_checkpoints = true (--run DIR --epochs 11-20: DIR/epoch_011.ckpt ..).\n"
    "  The checkpoints' BatchNorm statistics belong to their own weights, so the mean's are re-estimated per\n"
    "  input window from N training objects (--precise-bn N; default: the run's train.precise_bn, 2048 when that\n"
    "  is 0, as train.swa_epochs does; the objects and samples of train.precise_bn = N: model/bn_window.h), in\n"
    "  --precision (run = the checkpoints' train.precision).\n"
    "  --precise-bn 0 keeps the mean of their running statistics instead (not recommended: a warning says so).\n"
    "  --data ROOT / --detections DIR / --videos LIST   the training split, its detections and the videos\n"
    "                  trained on, as given to `ssmtl train` (--videos: default the run's, from its configuration;\n"
    "                  only for a run written before the lists were recorded, and then written into FILE's;\n"
    "                  one that contradicts the run's list, or a run on every video, is an error)\n"
    "  Score or validate FILE like any checkpoint (`ssmtl score`, `ssmtl validate`). It cannot be resumed.\n"
    "  Unlike train.swa_epochs it writes no validation loss: `ssmtl validate --checkpoint FILE` gives it.\n"
    "Errors (exit 1): a checkpoint that does not load, comes from another run or is given twice; a --videos\n"
    "  list that contradicts the recorded one; a missing run folder or epoch file; bf16 without AVX512_BF16.\n"
    "  Usage errors (exit 2): no checkpoints, both forms, a malformed --epochs, an --out that is a folder, one of\n"
    "  the inputs or a last.ckpt.\n";

std::vector<std::string> chosen_checkpoints(const ssmtl::app::Args& args) {
  std::vector<std::string> ckpts = args.all("checkpoint");
  const std::string run = args.get("run"), epochs = args.get("epochs");
  if (!ckpts.empty() && (!run.empty() || !epochs.empty()))
    throw ssmtl::app::UsageError("give either --checkpoint (repeated) or --run DIR --epochs FIRST-LAST, not both");
  if (ckpts.empty()) {
    if (run.empty() || epochs.empty())
      throw ssmtl::app::UsageError("give --checkpoint CKPT (repeated) or --run DIR --epochs FIRST-LAST");
    const size_t dash = epochs.find('-');
    int64_t first = 0, last = 0;
    if (dash == std::string::npos || !ssmtl::util::parse_int64(epochs.substr(0, dash), first) ||
        !ssmtl::util::parse_int64(epochs.substr(dash + 1), last) || first < 1 || last < first || last > 100000)
      throw ssmtl::app::UsageError("--epochs must be FIRST-LAST with 1 <= FIRST <= LAST, got '" +
                                   ssmtl::util::printable(epochs) + "'");
    ckpts = ssmtl::epoch_checkpoints(run, static_cast<int>(first), static_cast<int>(last));
  }
  return ckpts;
}

// --out must not replace what it reads, nor a run's resume point; a folder is refused before any work.
void check_out(const std::string& out, const std::vector<std::string>& ckpts) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(out, ec)) throw ssmtl::app::UsageError("--out " + out + " is a folder; give a file name");
  if (fs::path(out).filename() == "last.ckpt")
    throw ssmtl::app::UsageError("--out " + out + ": last.ckpt is a run's resume point; give another name");
  for (const std::string& c : ckpts)
    if (c == out || fs::equivalent(c, out, ec))
      throw ssmtl::app::UsageError("--out " + out + " is one of the checkpoints it averages");
}

std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) { o += ' '; continue; }
    o += c;
  }
  return o + "\"";
}

int run_average(int argc, char** argv) {
  ssmtl::app::Args args(argc, argv);
  if (args.help()) { std::printf("%s", kUsage); return 0; }
  const std::vector<std::string> ckpts = chosen_checkpoints(args);
  const std::string out = args.need("out");
  check_out(out, ckpts);
  const std::string first_config = ssmtl::read_checkpoint_meta(ckpts[0]).config_text;   // read once
  ssmtl::util::Config cfg = ssmtl::util::Config::from_string(first_config, ckpts[0]);
  const ssmtl::ModelConfig mc = ssmtl::ModelConfig::from_config(cfg);   // (registers the proxy tasks' keys)
  const ssmtl::TrainOptions opt = ssmtl::TrainOptions::from_config(cfg);
  const int precise_bn =
      args.get_int32("precise-bn", opt.precise_bn > 0 ? opt.precise_bn : ssmtl::kSwaBnObjects, 0);
  const std::string root = precise_bn > 0 ? args.need("data") : args.get("data");
  const std::string det = precise_bn > 0 ? args.need("detections") : args.get("detections");
  // The run's training videos: recorded by `ssmtl train --videos` since session 21; --videos supplies them for
  // an older run (and then goes into FILE's configuration), and may not contradict a recorded list.
  const std::vector<std::string> recorded = ssmtl::recorded_videos(first_config);
  std::vector<std::string> videos = args.list("videos");
  if (!videos.empty() && !recorded.empty() && videos != recorded)
    throw std::runtime_error("--videos " + ssmtl::join_videos(videos) + ": " + ckpts[0] + " was trained on the videos " +
                             ssmtl::join_videos(recorded) + " (its configuration's '# videos' line); the BatchNorm estimate uses "
                             "the run's training videos: leave --videos out");
  if (!videos.empty() && recorded.empty() && ssmtl::records_videos(first_config))
    throw std::runtime_error("--videos " + ssmtl::join_videos(videos) + ": " + ckpts[0] + " was trained on every video of the split "
                             "(its configuration records no --videos list); leave --videos out");
  if (!videos.empty() && recorded.empty())
    std::fprintf(stderr, "note: %s was written before runs recorded their training videos: --videos %s is taken as "
                 "the run's and recorded in %s\n", ckpts[0].c_str(), ssmtl::join_videos(videos).c_str(), out.c_str());
  if (videos.empty()) videos = recorded;
  const std::string ood_root = args.get("ood", "../shared/data/ood"), teachers = args.get("teachers");
  const std::string precision_arg = args.get("precision", "run");
  args.check_used();
  if (precision_arg != "run" && precision_arg != "fp32" && precision_arg != "bf16")
    throw ssmtl::app::UsageError("--precision must be run, fp32 or bf16, got " + precision_arg);

  ssmtl::SSMTLModel model(mc, 0);
  ssmtl::CheckpointMeta meta = ssmtl::average_checkpoints(ckpts, model);
  if (recorded.empty() && !videos.empty()) meta.config_text = ssmtl::videos_line(videos) + meta.config_text;
  std::fprintf(stderr, "average: the weights of %zu checkpoints averaged (%s .. %s)\n", ckpts.size(),
               ckpts.front().c_str(), ckpts.back().c_str());

  const std::string precision = precision_arg == "run" ? opt.precision : precision_arg;
  size_t bn_objects = 0;
  if (precise_bn > 0) {
    ssmtl::kernels::MatmulPrecisionScope scope(ssmtl::kernels::checked_matmul_precision(precision, false, "--precision"));
    const ssmtl::ObjectPool pool = ssmtl::ObjectPool::load(root, "training", det, opt.min_detection_score, false, videos,
                                                           ssmtl::TeacherSpec::for_model(mc, det, teachers));
    std::unique_ptr<ssmtl::OodImages> ood;
    if (mc.tasks.any(ssmtl::Source::kOodImages)) ood = std::make_unique<ssmtl::OodImages>(ood_root);
    const ssmtl::SampleBuilder builder(pool, mc, ood.get());
    const std::vector<size_t> ids = ssmtl::precise_bn_ids(pool, opt, static_cast<size_t>(precise_bn));
    ssmtl::estimate_window_bn(model, builder, ids, opt.batch_size, ssmtl::precise_bn_seed(opt));
    bn_objects = ids.size();
    std::fprintf(stderr, "average: BatchNorm statistics per input window from %zu training objects (%s)\n",
                 bn_objects, precision.c_str());
  } else {
    std::fprintf(stderr, "average: warning: --precise-bn 0: the BatchNorm running statistics are the mean of the "
                         "checkpoints', which belong to other weights\n");
  }
  ssmtl::save_checkpoint(out, model, meta);

  std::ostringstream j;
  j << "{\"format_version\": 1, \"method\": \"equal-weight mean of the weights (SWA)\", \"checkpoints\": [";
  for (size_t i = 0; i < ckpts.size(); ++i) j << (i ? ", " : "") << json_string(ckpts[i]);
  j << "], \"precise_bn\": " << precise_bn << ", \"bn_objects\": " << bn_objects
    << ", \"bn_precision\": " << json_string(precise_bn > 0 ? precision : "") << ", \"train_seed\": " << opt.seed
    << ", \"videos\": [";   // the training videos of the BatchNorm estimate; [] = every video of the split
  for (size_t i = 0; i < videos.size(); ++i) j << (i ? ", " : "") << json_string(videos[i]);
  j << "]}\n";
  ssmtl::util::write_text_atomic(out + ".json", j.str());
  std::printf("%s\n", out.c_str());
  return 0;
}

ssmtl::app::Command reg{"average", "one model from a run's checkpoints: weights averaged (SWA), BatchNorm re-estimated",
                        run_average};

}  // namespace
