// ssmtl validate: the trainer's validation losses of checkpoints, recomputed, in a chosen precision. Uses:
// pick an epoch among epoch_NNN.ckpt by another rule, compare runs on the same held-out objects, and tell a
// precision's effect on the same weights apart from a different training trajectory (docs/RESULTS.md 18).
#include <cstdio>
#include <memory>
#include <sstream>

#include "apps/args.h"
#include "apps/command.h"
#include "data/samples/ood.h"
#include "kernels/precision.h"
#include "model/checkpoint.h"
#include "model/train_state.h"
#include "model/trainer.h"
#include "util/atomic_file.h"

namespace {

const char* kUsage =
    "usage: ssmtl validate --checkpoint CKPT [--checkpoint CKPT2 ...] --data ROOT --detections DIR\n"
    "                      [--videos 01,02,...] [--precision run|fp32|bf16] [--ood DIR] [--teachers DIR]\n"
    "                      [--json FILE] [--precise-bn N]\n"
    "  Recomputes the validation pass of `ssmtl train` (eval mode, the same held-out objects and samples: the\n"
    "  checkpoint's train.seed, train.val_fraction, train.max_val_objects, train.batch_size) for each checkpoint\n"
    "  and prints one row each: every descent task's mean loss and their sum (train_log.jsonl's val_total).\n"
    "  --data ROOT / --detections DIR / --videos LIST   the training split, its detections and the videos\n"
    "                  trained on, as given to `ssmtl train` (--videos: default the run's, from its configuration's\n"
    "                  '# videos' line; none there = every video of the split; the last train.val_fraction of\n"
    "                  the list are the held-out videos)\n"
    "  --precision P   products in fp32 or bf16; `run` (default) = each checkpoint's train.precision, which\n"
    "                  reproduces its training log\n"
    "  --json FILE     also write the rows as JSON (atomically, with a format version)\n"
    "  --precise-bn N  first re-estimate each BatchNorm's statistics per input window from N training objects\n"
    "                  outside the held-out videos, as train.precise_bn = N does after each epoch (the same\n"
    "                  objects and samples); 0 (default) = what the checkpoint holds: its per-window\n"
    "                  statistics when trained with train.precise_bn, else the running ones (model/bn_window.h;\n"
    "                  docs/RESULTS.md section 22)\n"
    "Errors (exit 1): a checkpoint that does not load; checkpoints whose held-out objects, samples or tasks\n"
    "  differ (train.seed, val_fraction, max_val_objects, batch_size, min_detection_score, model.crop, the\n"
    "  task set, the recorded videos when --videos is not given); bf16 without AVX512_BF16; a run without\n"
    "  held-out videos; a video of the list without frames or detections.\n";

struct Row {
  std::string checkpoint, precision;
  std::map<std::string, double> losses;
  double total = 0;
};

// What fixes the held-out objects, their samples and the table's columns: checkpoints compared in one
// table must agree on it (they may differ in anything else: backbone, precision, epoch).
std::string split_signature(const ssmtl::TrainOptions& o, const ssmtl::ModelConfig& mc,
                            const std::vector<std::string>& videos) {
  std::ostringstream s;
  s << "videos " << (videos.empty() ? "(all)" : ssmtl::join_videos(videos)) << ", ";
  s << "train.seed " << o.seed << ", train.val_fraction " << o.val_fraction << ", train.max_val_objects "
    << o.max_val_objects << ", train.batch_size " << o.batch_size << ", train.min_detection_score "
    << o.min_detection_score << ", model.crop " << mc.crop << ", tasks " << mc.tasks.names();
  return s.str();
}

std::string rows_json(const std::vector<Row>& rows) {
  std::ostringstream o;
  o << "{\"format_version\": 1, \"rows\": [";
  for (size_t i = 0; i < rows.size(); ++i) {
    o << (i ? ", " : "") << "{\"checkpoint\": \"" << rows[i].checkpoint << "\", \"precision\": \""
      << rows[i].precision << "\", \"val\": {";
    size_t j = 0;
    for (auto& [k, v] : rows[i].losses) o << (j++ ? ", " : "") << "\"" << k << "\": " << v;
    o << "}, \"val_total\": " << rows[i].total << "}";
  }
  o << "]}\n";
  return o.str();
}

int run_validate(int argc, char** argv) {
  ssmtl::app::Args args(argc, argv);
  if (args.help()) { std::printf("%s", kUsage); return 0; }
  const std::vector<std::string> ckpts = args.all("checkpoint");
  if (ckpts.empty()) throw ssmtl::app::UsageError("missing required option --checkpoint");
  const std::string root = args.need("data"), det = args.need("detections");
  const std::vector<std::string> videos_arg = args.list("videos");   // empty: each checkpoint's recorded list
  const std::string ood_root = args.get("ood", "../shared/data/ood"), teachers = args.get("teachers");
  const std::string precision_arg = args.get("precision", "run"), json = args.get("json");
  const int precise_bn = args.get_int32("precise-bn", 0, 0);
  args.check_used();
  if (precision_arg != "run" && precision_arg != "fp32" && precision_arg != "bf16")
    throw ssmtl::app::UsageError("--precision must be run, fp32 or bf16, got " + precision_arg);

  std::vector<Row> rows;
  std::unique_ptr<ssmtl::ObjectPool> pool;
  std::unique_ptr<ssmtl::OodImages> ood;
  std::string signature;
  for (const std::string& ckpt : ckpts) {
    const std::string config_text = ssmtl::read_checkpoint_meta(ckpt).config_text;
    ssmtl::util::Config cfg = ssmtl::util::Config::from_string(config_text, ckpt);
    const ssmtl::ModelConfig mc = ssmtl::ModelConfig::from_config(cfg);   // (registers the proxy tasks' keys)
    const ssmtl::TrainOptions opt = ssmtl::TrainOptions::from_config(cfg);
    const std::vector<std::string> recorded = ssmtl::recorded_videos(config_text);
    const std::vector<std::string> videos = videos_arg.empty() ? recorded : videos_arg;
    if (!videos_arg.empty() && ssmtl::records_videos(config_text) && videos_arg != recorded)
      std::fprintf(stderr, "warning: %s: --videos differs from the videos the run trained on (its configuration's "
                   "'# videos' line, none = every video): the held-out objects are another split's and may be "
                   "objects it trained on\n", ckpt.c_str());
    const std::string sig = split_signature(opt, mc, videos);
    if (!pool) {
      signature = sig;
      pool = std::make_unique<ssmtl::ObjectPool>(ssmtl::ObjectPool::load(
          root, "training", det, opt.min_detection_score, true, videos, ssmtl::TeacherSpec::for_model(mc, det, teachers)));
      if (mc.tasks.any(ssmtl::Source::kOodImages)) ood = std::make_unique<ssmtl::OodImages>(ood_root);
    } else if (sig != signature) {
      throw std::runtime_error(ckpt + ": its held-out objects differ from " + ckpts[0] + "'s (" + sig + " vs " +
                               signature + "): validate them in separate calls");
    }
    const std::vector<size_t> ids = ssmtl::validation_ids(*pool, opt);
    if (ids.empty()) throw std::runtime_error(ckpt + ": the run holds no video out (train.val_fraction = 0)");
    ssmtl::SSMTLModel model(mc, 0);
    ssmtl::load_checkpoint(ckpt, model);
    const std::string p = precision_arg == "run" ? opt.precision : precision_arg;
    ssmtl::kernels::MatmulPrecisionScope scope(ssmtl::kernels::checked_matmul_precision(p, false, "--precision"));
    const ssmtl::SampleBuilder builder(*pool, mc, ood.get());
    if (precise_bn > 0)   // as the trainer's train.precise_bn: the same objects and samples
      ssmtl::estimate_window_bn(model, builder, ssmtl::precise_bn_ids(*pool, opt, precise_bn), opt.batch_size,
                                ssmtl::precise_bn_seed(opt));
    Row r{ckpt, p, ssmtl::validation_losses(model, builder, ids, opt.batch_size, ssmtl::validation_seed(opt)), 0};
    for (auto& [k, v] : r.losses) r.total += v;
    if (rows.empty()) {
      std::printf("%zu validation objects, held out of %s\n%-40s %-9s", ids.size(),
                  videos.empty() ? "every video of the split (no list recorded or given)"
                                 : ("the videos " + ssmtl::join_videos(videos) +
                                    (videos_arg.empty() ? " (recorded in the checkpoint)" : " (--videos)")).c_str(),
                  "checkpoint", "precision");
      for (auto& [k, v] : r.losses) std::printf(" %12s", k.c_str());
      std::printf(" %12s\n", "val_total");
    }
    std::printf("%-40s %-9s", ckpt.c_str(), p.c_str());
    for (auto& [k, v] : r.losses) std::printf(" %12.6f", v);
    std::printf(" %12.6f\n", r.total);
    std::fflush(stdout);
    rows.push_back(std::move(r));
  }
  if (!json.empty()) ssmtl::util::write_text_atomic(json, rows_json(rows));
  return 0;
}

ssmtl::app::Command reg{"validate", "validation losses of checkpoints (the trainer's held-out objects), any precision",
                        run_validate};

}  // namespace
