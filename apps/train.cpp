// ssmtl train: trains an SSMTL / SSMTL++ model on the objects detected in a data set's training videos.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "apps/args.h"
#include "apps/command.h"
#include "dist/communicator.h"
#include "kernels/precision.h"
#include "model/train_state.h"
#include "model/trainer.h"
#include "util/atomic_file.h"

namespace {

// config.txt's record of SSMTL_BF16_ATTENTION where it changes anything (kernels/precision.h; with bf16 products):
// a comment line, which resume does not check.
std::string bf16_attention_line() {
  const ssmtl::kernels::Bf16Attention m = ssmtl::kernels::bf16_attention();
  if (m == ssmtl::kernels::Bf16Attention::never) return "";
  return std::string("# bf16_attention = ") + ssmtl::kernels::bf16_attention_name(m) +
         " (SSMTL_BF16_ATTENTION; with train.precision = bf16)\n";
}

const char* kUsage =
    "usage: ssmtl train --data ROOT --detections DIR --out RUN [--config FILE] [--set key=value ...]\n"
    "                   [--resume RUN/last.ckpt] [--videos 01,02,...] [--teachers DIR] [--device cpu|cuda]\n"
    "  --data ROOT        data set root holding training/frames/<video>/ (e.g. ../shared/data/ped2)\n"
    "  --detections DIR   <video>.txt region files of the training videos (ssmtl detect)\n"
    "  --out RUN          run folder: config.txt, train_log.jsonl, train_curves.png, best.ckpt, last.ckpt (and\n"
    "                     swa.ckpt + swa.json with train.swa_epochs = K: the last K epochs' weights averaged,\n"
    "                     BatchNorm re-estimated, validated: model/weight_average.h); a new\n"
    "                     run (no --resume) in a folder holding another run removes that run's checkpoints and\n"
    "                     log first (a warning names them)\n"
    "  --config FILE      configuration (configs/*.txt); model.name picks ssmtl, ssmtl++v1, ssmtl++v2 (+ -cpu)\n"
    "  --set key=value    override one configuration key (repeatable)\n"
    "  --ood DIR          out-of-distribution images for T5 (default ../shared/data/ood)\n"
    "  --teachers DIR     teacher maps <video>.seg (T7) / <video>.pose (T9), data/teacher_maps.h; T4 reads\n"
    "                     DETECTIONS/class_probs/<video>.txt (ssmtl detect with a detector)\n"
    "  --resume CKPT      continue an interrupted run exactly where it stopped (a finished one: nothing to train\n"
    "                     unless train.epochs is raised); the same configuration and the same --videos (or none\n"
    "                     when the run had none), else an error naming CKPT and the setting or both video lists\n"
    "  --videos LIST      train on these videos of the split only, in this order (the last train.val_fraction of\n"
    "                     them held out); recorded in config.txt as '# videos = LIST'\n"
    "  --device cpu|cuda  where the model trains (= --set train.device=...; frames are cut on the CPU)\n"
    "Input checks: errors (exit 1): a configuration key that is unknown or outside its range (each key's type\n"
    "  and range: util/config_keys.cpp), --config naming a folder, two frames with the same number (1.jpg and\n"
    "  01.jpg), a checkpoint with bad sizes, trailing bytes or NaN weights; usage errors (exit 2, as every\n"
    "  command-line error): a video named twice in --videos.\n"
    "  Warnings (a count and the first lines or names): detections outside the frame (skipped), files in a frame\n"
    "  folder that are not frames; a note counts detections below train.min_detection_score. Temporary files\n"
    "  of an interrupted run (*.tmp.<pid>) are removed with a note.\n";

// A run resumed into another --out folder whose best epoch is one before the resume (no new best.ckpt was
// written): that best.ckpt is in the old folder, copied (atomically) so that the path printed exists.
void copy_best_of_resumed_run(const std::string& resume, const std::string& out_dir) {
  namespace fs = std::filesystem;
  if (resume.empty()) return;
  const fs::path old_dir = fs::path(resume).parent_path().empty() ? fs::path(".") : fs::path(resume).parent_path();
  const fs::path old_best = old_dir / "best.ckpt", new_best = fs::path(out_dir) / "best.ckpt";
  std::error_code ec;
  if (!fs::exists(old_best, ec) || fs::exists(new_best, ec) || fs::equivalent(old_dir, out_dir, ec)) return;
  const std::string bytes = ssmtl::util::read_file(old_best.string());
  ssmtl::util::write_atomic(new_best.string(), [&](std::ostream& o) { o << bytes; }, true);
  std::fprintf(stderr, "train: copied %s to %s (the best epoch before the resume)\n", old_best.c_str(), new_best.c_str());
}

int run_train(int argc, char** argv) {
  ssmtl::app::Args args(argc, argv);
  if (args.help()) { std::printf("%s", kUsage); return 0; }
  ssmtl::util::Config cfg = ssmtl::app::config_option(args);
  if (args.has("device")) cfg.set("train.device", ssmtl::device_name(ssmtl::app::device_option(args)));
  ssmtl::ModelConfig mc = ssmtl::ModelConfig::from_config(cfg);
  ssmtl::TrainOptions opt = ssmtl::TrainOptions::from_config(cfg);
  cfg.check_used();
  opt.data_root = args.need("data");
  opt.detections = args.need("detections");
  opt.out_dir = args.need("out");
  opt.ood_root = args.get("ood", opt.ood_root);
  opt.teachers = args.get("teachers");
  opt.resume = args.get("resume");
  opt.videos = args.list("videos");
  args.check_used();
  std::string config_text = "# ssmtl train: resolved configuration (seed = train.seed)\n# data = " + opt.data_root +
                            "\n# detections = " + opt.detections + "\n" +
                            (opt.teachers.empty() ? "" : "# teachers = " + opt.teachers + "\n") +
                            bf16_attention_line() +
                            ssmtl::videos_line(opt.videos) + cfg.resolved_text();
  // Data parallel under mpirun: MPI for the host values; NCCL for the gradients on the GPU (it also picks this
  // rank's GPU, so it comes before anything touches CUDA). A CUDA build without NCCL sums them through the host.
  ssmtl::dist::Communicator& world = ssmtl::dist::world();
  const bool lead = world.rank() == 0;
  opt.comm = &world;
  std::unique_ptr<ssmtl::dist::Communicator> nccl;
  if (std::string(world.backend()) == "mpi" && opt.device == "cuda" && ssmtl::dist::built_with_nccl()) {
    nccl = ssmtl::dist::make_nccl(world);
    opt.grad_comm = nccl.get();
  }
  ssmtl::SSMTLModel model(mc, opt.seed);
  if (lead) std::fprintf(stderr, "train: %s (%s), %lld parameters, crop %d, seed %llu, device %s, precision %s\n", mc.name.c_str(),
               mc.tasks.names().c_str(), static_cast<long long>(model.parameter_count()), mc.crop,
               static_cast<unsigned long long>(opt.seed), opt.device.c_str(), opt.precision.c_str());
  namespace fs = std::filesystem;
  ssmtl::TrainResult r = ssmtl::train_model(model, opt, config_text);
  if (!lead) return r.interrupted ? 130 : 0;   // rank 0 reports and writes
  copy_best_of_resumed_run(opt.resume, opt.out_dir);   // after: train_model checks the resume before any write
  if (r.interrupted) return 130;
  if (r.step_limit) {
    std::printf("stopped by train.stop_after_steps; resume with --resume %s/last.ckpt\n", opt.out_dir.c_str());
    return 0;
  }
  if (r.time_limit)
    std::printf("stopped by train.max_seconds (%g s) before epoch %d of %d; resume with --resume %s/last.ckpt\n",
                opt.max_seconds, r.epochs.empty() ? 0 : r.epochs.back().epoch + 2, opt.epochs, opt.out_dir.c_str());
  const std::string best = opt.out_dir + "/best.ckpt";
  if (!fs::exists(best)) {
    std::printf("no validation epoch finished, no %s; the last state is %s/last.ckpt\n", best.c_str(), opt.out_dir.c_str());
    return 0;
  }
  std::printf("best validation loss %.5f at epoch %d; %d steps skipped; checkpoint %s\n", r.best_val,
              r.best_epoch + 1, r.skipped_steps, best.c_str());
  return 0;
}

ssmtl::app::Command reg{"train", "train an SSMTL / SSMTL++ model on detected objects", run_train};

}  // namespace
