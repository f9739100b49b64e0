// train.precise_bn: per-window BatchNorm statistics estimated after every epoch's steps (model/bn_window.h).
// The weights and running statistics are those of a run without it; the validation losses (and so best.ckpt)
// use the estimate, which every checkpoint carries and `ssmtl validate --precise-bn N` reproduces; a run
// stopped mid-epoch and resumed ends with the same files byte for byte.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "model/checkpoint.h"
#include "model/trainer.h"
#include "tests/eval_test_util.h"
#include "tests/teacher_test_util.h"
#include "util/config.h"

using namespace ssmtl;
namespace fs = std::filesystem;

namespace {

// T1+T2+T3 (SSMTL++v1's tasks without T5) on 32x32 crops, 4 training objects a step, 2 epochs.
util::Config pbn_config(int precise_bn) {
  return util::Config::from_string(
      "model.name = ssmtl++v1-cpu\nmodel.backbone.channels = 4, 4, 8\nmodel.cvt.dim = 8\nmodel.cvt.heads = 2\n"
      "model.head_hidden = 4\nmodel.decoder_hidden = 4\nmodel.tasks.pseudo_anomalies = false\ntrain.epochs = 2\n"
      "train.batch_size = 4\ntrain.max_val_objects = 8\ntrain.precise_bn = " + std::to_string(precise_bn) + "\n");
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The weights and running statistics (no per-window statistics).
std::vector<std::vector<float>> trained_tensors(SSMTLModel& m) {
  std::vector<std::vector<float>> v;
  for (const NamedTensor& nt : m.named_tensors())
    if (!nt.optional_like) v.push_back(nt.tensor->to_vector());
  return v;
}

int window_tensors(SSMTLModel& m) {
  int n = 0;
  for (const NamedTensor& nt : m.named_tensors()) n += nt.optional_like != nullptr;
  return n;
}

}  // namespace

TEST_CASE("trainer: train.precise_bn validates with per-window statistics and stores them without changing training") {
  test::TempDir dir("trainer_precise_bn");
  test::TinyDataset d = test::make_tiny_dataset(dir, 3, 34);
  auto run = [&](int precise_bn, const std::string& out, int stop_after, const std::string& resume, SSMTLModel& m) {
    util::Config cfg = pbn_config(precise_bn);
    TrainOptions opt = TrainOptions::from_config(cfg);
    CHECK(opt.precise_bn == precise_bn);
    opt.data_root = d.root;
    opt.detections = d.detections;
    opt.out_dir = out;
    opt.stop_after_steps = stop_after;
    opt.resume = resume;
    return train_model(m, opt, cfg.resolved_text());
  };
  util::Config base = pbn_config(0);
  const ModelConfig mc = ModelConfig::from_config(base);
  SSMTLModel plain(mc, 7), precise(mc, 7);
  const TrainResult a = run(0, dir / "plain", 0, "", plain);
  const TrainResult b = run(16, dir / "precise", 0, "", precise);
  REQUIRE(a.epochs.size() == 2);
  REQUIRE(b.epochs.size() == 2);
  // Training is untouched: the same training losses; the validation losses are not the same.
  for (int e = 0; e < 2; ++e) {
    for (const auto& [task, v] : a.epochs[e].train) CHECK_MESSAGE(b.epochs[e].train.at(task) == v, task);
    CHECK(b.epochs[e].val_total != a.epochs[e].val_total);
  }
  CHECK(window_tensors(plain) == 0);
  CHECK(window_tensors(precise) > 0);   // best.ckpt, loaded at the end, carries them

  // The last epoch's weights with and without: equal bit for bit.
  SSMTLModel last_plain(mc, 1), last_precise(mc, 2);
  load_checkpoint(dir / "plain/last.ckpt", last_plain);
  load_checkpoint(dir / "precise/last.ckpt", last_precise);
  CHECK(trained_tensors(last_plain) == trained_tensors(last_precise));
  REQUIRE(window_tensors(last_precise) == window_tensors(precise));

  // The logged validation loss of the last epoch, from the checkpoint's statistics and from a new estimate
  // as `ssmtl validate --precise-bn 16` makes it (objects of the training videos, precise_bn_seed).
  util::Config cfg = pbn_config(16);
  const TrainOptions opt = TrainOptions::from_config(cfg);
  const ObjectPool pool = ObjectPool::load(d.root, "training", d.detections, 0.0, true, {},
                                           TeacherSpec::for_model(mc, d.detections, ""));
  const SampleBuilder builder(pool, mc, nullptr);
  const std::vector<size_t> val = validation_ids(pool, opt);
  const std::vector<size_t> pick = precise_bn_ids(pool, opt, 16);
  const int trained_videos = pool.num_videos() - num_validation_videos(pool.num_videos(), opt.val_fraction);
  for (size_t i : pick) CHECK(pool.objects()[i].video < trained_videos);
  REQUIRE(pick.size() == 16);
  auto total = [&](SSMTLModel& m) {
    double t = 0;
    for (const auto& [k, v] : validation_losses(m, builder, val, opt.batch_size, validation_seed(opt))) t += v;
    return t;
  };
  CHECK(total(last_precise) == b.epochs[1].val_total);
  SSMTLModel again(mc, 3);
  load_checkpoint(dir / "plain/last.ckpt", again);   // the same weights, running statistics only
  CHECK(total(again) == a.epochs[1].val_total);
  estimate_window_bn(again, builder, pick, opt.batch_size, precise_bn_seed(opt));
  CHECK(total(again) == b.epochs[1].val_total);
  // Loading a checkpoint without them clears them (nothing of another model's estimate is left behind).
  load_checkpoint(dir / "plain/last.ckpt", again);
  CHECK(window_tensors(again) == 0);
  CHECK(total(again) == a.epochs[1].val_total);

  // Stopped after 3 steps of epoch 1 and after 5 more (in epoch 2), then resumed to the end: the same files.
  SSMTLModel s1(mc, 7), s2(mc, 50), s3(mc, 60);
  run(16, dir / "stopped", 3, "", s1);
  run(16, dir / "stopped", 5, dir / "stopped/last.ckpt", s2);
  run(16, dir / "stopped", 0, dir / "stopped/last.ckpt", s3);
  CHECK(read_all(dir / "stopped/last.ckpt") == read_all(dir / "precise/last.ckpt"));
  CHECK(read_all(dir / "stopped/best.ckpt") == read_all(dir / "precise/best.ckpt"));

  // A run trained without it cannot be resumed with it (its earlier epochs chose best.ckpt otherwise).
  SSMTLModel r(mc, 7);
  CHECK_THROWS_WITH(run(16, dir / "plain", 0, dir / "plain/last.ckpt", r), doctest::Contains("train.precise_bn"));
  util::Config bad = pbn_config(0);
  bad.set("train.precise_bn", "-1");
  CHECK_THROWS(TrainOptions::from_config(bad));
}

TEST_CASE("checkpoint: per-window statistics make a version 2 file and a window mean without its variance is refused") {
  test::TempDir dir("ckpt_window_groups");
  util::Config cfg = pbn_config(0);
  const ModelConfig mc = ModelConfig::from_config(cfg);
  SSMTLModel m(mc, 1);
  save_checkpoint(dir / "plain.ckpt", m, {"", ""});
  CHECK(read_all(dir / "plain.ckpt").substr(8, 4) == std::string("\x01\x00\x00\x00", 4));   // readable by older builds
  // Give every BatchNorm window statistics by hand: window 7 complete, window 6 with a mean only.
  for (NamedTensor& nt : m.named_tensors("", true))
    if (nt.optional_like && (nt.name.find("window7.") != std::string::npos || nt.name.find("window6.mean") != std::string::npos))
      *nt.tensor = nt.optional_like->clone();
  save_checkpoint(dir / "half.ckpt", m, {"", ""});
  CHECK(read_all(dir / "half.ckpt").substr(8, 4) == std::string("\x02\x00\x00\x00", 4));
  SSMTLModel back(mc, 2);
  std::string error;
  try {
    load_checkpoint(dir / "half.ckpt", back);
  } catch (const std::runtime_error& e) {
    error = e.what();
  }
  CHECK(error.find("window6.mean but lacks") != std::string::npos);
  CHECK(error.find("window6.var (they go together)") != std::string::npos);
  for (NamedTensor& nt : m.named_tensors("", true))
    if (nt.name.find("window6.") != std::string::npos) *nt.tensor = Tensor();
  save_checkpoint(dir / "whole.ckpt", m, {"", ""});
  load_checkpoint(dir / "whole.ckpt", back);
  int loaded = 0;
  for (const NamedTensor& nt : back.named_tensors()) loaded += nt.optional_like != nullptr;
  CHECK(loaded > 0);
  CHECK(loaded % 2 == 0);
}
