// The trainer's run control: a run stopped mid-epoch (train.stop_after_steps, the same path as Ctrl-C)
// and resumed from last.ckpt ends bitwise equal to the uninterrupted run (weights, Adam states, log), with
// the stopped epoch's logged training losses averaged over all its steps, before and after the stop.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "apps/model_step.h"
#include "kernels/precision.h"
#include "model/checkpoint.h"
#include "model/trainer.h"
#include "model/train_state.h"
#include "tests/eval_test_util.h"
#include "tests/run_program.h"
#include "tests/teacher_test_util.h"
#include "util/config.h"

using namespace ssmtl;
namespace fs = std::filesystem;

namespace {

// T1+T2+T3 (+T5 with ../shared's out-of-distribution images) on 32x32 crops, 4 training objects a step.
util::Config resume_config(bool pseudo, const std::string& schedule = "constant") {
  return util::Config::from_string(std::string("model.name = ssmtl++v1-cpu\nmodel.backbone.channels = 4, 4, 8\n"
                                               "model.cvt.dim = 8\nmodel.cvt.heads = 2\nmodel.head_hidden = 4\n"
                                               "model.decoder_hidden = 4\ntrain.epochs = 2\ntrain.batch_size = 4\n"
                                               "train.max_val_objects = 8\ntrain.pseudo_start_epoch = 1\n"
                                               "model.tasks.pseudo_anomalies = ") +
                                   (pseudo ? "true" : "false") + "\ntrain.lr_schedule = " + schedule + "\n");
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("trainer: a run stopped mid-epoch and resumed equals the uninterrupted run bit for bit") {
  // With the cosine schedule too: its lr depends only on (epoch, step), never on the lr a resume restores.
  std::string schedule = "constant";
  SUBCASE("constant learning rate") { schedule = "constant"; }
  SUBCASE("cosine learning-rate schedule") { schedule = "cosine"; }
  test::TempDir dir("trainer_resume_" + schedule);
  test::TinyDataset d = test::make_tiny_dataset(dir, 3, 31);
  const bool pseudo = fs::is_directory(std::string(SSMTL_SHARED_DIR) + "/data/ood/textures_dtd");
  if (!pseudo) MESSAGE("no ../shared/data/ood: T5 left out");
  auto run = [&](const std::string& out, int stop_after, const std::string& resume, SSMTLModel& model) {
    util::Config cfg = resume_config(pseudo, schedule);
    TrainOptions opt = TrainOptions::from_config(cfg);
    opt.data_root = d.root;
    opt.detections = d.detections;
    opt.ood_root = std::string(SSMTL_SHARED_DIR) + "/data/ood";
    opt.out_dir = out;
    opt.stop_after_steps = stop_after;
    opt.resume = resume;
    return train_model(model, opt, cfg.resolved_text());
  };
  util::Config cfg = resume_config(pseudo, schedule);
  const ModelConfig mc = ModelConfig::from_config(cfg);

  SSMTLModel straight(mc, 7);
  TrainResult a = run(dir / "straight", 0, "", straight);
  REQUIRE(a.epochs.size() == 2);
  CHECK(!a.interrupted);
  CHECK(!a.step_limit);
  // 26 training objects in steps of 4: 7 steps an epoch; stop after 3 steps of epoch 2 (10 in all), across
  // an epoch boundary in two stops: 5 steps, then 5 more.
  SSMTLModel first(mc, 7);
  TrainResult b1 = run(dir / "stopped", 5, "", first);
  CHECK(b1.step_limit);
  CHECK(!b1.interrupted);
  CHECK(b1.epochs.empty());
  SSMTLModel second(mc, 99);   // other initial weights: everything must come from the checkpoint
  TrainResult b2 = run(dir / "stopped", 5, dir / "stopped/last.ckpt", second);
  CHECK(b2.step_limit);
  REQUIRE(b2.epochs.size() == 1);   // epoch 1 finished in this invocation
  SSMTLModel third(mc, 123);
  TrainResult b3 = run(dir / "stopped", 0, dir / "stopped/last.ckpt", third);
  CHECK(!b3.step_limit);
  REQUIRE(b3.epochs.size() == 1);

  // The final weights (best.ckpt loaded at the end) and the last state agree bit for bit.
  const auto ns = straight.named_tensors(), nt = third.named_tensors();
  REQUIRE(ns.size() == nt.size());
  for (size_t i = 0; i < ns.size(); ++i) CHECK_MESSAGE(ns[i].tensor->to_vector() == nt[i].tensor->to_vector(), ns[i].name);
  CHECK(a.best_epoch == b3.best_epoch);
  CHECK(a.best_val == b3.best_val);
  // Per-epoch means over every step, stops included: the logs agree but for the wall-clock fields.
  for (int e = 0; e < 2; ++e) {
    const EpochLog& x = a.epochs[e];
    const EpochLog& y = e == 0 ? b2.epochs[0] : b3.epochs[0];
    CHECK(x.epoch == y.epoch);
    REQUIRE(x.train.size() == y.train.size());
    for (const auto& [task, v] : x.train) CHECK_MESSAGE(y.train.at(task) == v, "epoch " << e << " " << task);
    for (const auto& [task, v] : x.val) CHECK_MESSAGE(y.val.at(task) == v, "epoch " << e << " " << task);
  }
  const std::string log = read_all(dir / "stopped/train_log.jsonl");
  CHECK(std::count(log.begin(), log.end(), '\n') == 2);
  // The checkpoints are the same files byte for byte (no partial-epoch sums left behind by the stops).
  CHECK(read_all(dir / "straight/last.ckpt") == read_all(dir / "stopped/last.ckpt"));
  CHECK(read_all(dir / "straight/best.ckpt") == read_all(dir / "stopped/best.ckpt"));
  if (schedule == "cosine") {   // the schedule changes the training: other weights than the constant lr
    schedule = "constant";
    SSMTLModel constant(mc, 7);
    run(dir / "constant", 0, "", constant);
    const auto nc = constant.named_tensors();
    bool differ = false;
    for (size_t i = 0; i < ns.size(); ++i) differ |= ns[i].tensor->to_vector() != nc[i].tensor->to_vector();
    CHECK(differ);
  }
}

TEST_CASE("trainer: train.keep_epoch_checkpoints writes each epoch's state and a new run in the folder replaces them") {
  test::TempDir dir("trainer_keep_epochs");
  test::TinyDataset d = test::make_tiny_dataset(dir, 3, 32);
  util::Config cfg = resume_config(false);
  cfg.set("train.keep_epoch_checkpoints", "true");
  TrainOptions opt = TrainOptions::from_config(cfg);
  CHECK(opt.keep_epoch_checkpoints);
  opt.data_root = d.root;
  opt.detections = d.detections;
  opt.out_dir = dir / "run";
  SSMTLModel model(ModelConfig::from_config(cfg), 7);
  const TrainResult r = train_model(model, opt, cfg.resolved_text());
  REQUIRE(r.epochs.size() == 2);
  REQUIRE(fs::exists(dir / "run/epoch_001.ckpt"));
  REQUIRE(fs::exists(dir / "run/epoch_002.ckpt"));
  CHECK(!fs::exists(dir / "run/epoch_003.ckpt"));
  CHECK(read_all(dir / "run/epoch_002.ckpt") == read_all(dir / "run/last.ckpt"));
  CHECK(read_all(dir / "run/epoch_001.ckpt") != read_all(dir / "run/epoch_002.ckpt"));
  // the default writes none
  util::Config plain = resume_config(false);
  TrainOptions o2 = TrainOptions::from_config(plain);
  CHECK(!o2.keep_epoch_checkpoints);
  o2.data_root = d.root;
  o2.detections = d.detections;
  o2.out_dir = dir / "plain";
  SSMTLModel m2(ModelConfig::from_config(plain), 7);
  train_model(m2, o2, plain.resolved_text());
  CHECK(!fs::exists(dir / "plain/epoch_001.ckpt"));
  // A new run (no --resume) into the first run's folder replaces that run: no epoch file of it is left.
  const std::string first_log = read_all(dir / "run/train_log.jsonl");
  o2.out_dir = dir / "run";
  o2.epochs = 1;
  SSMTLModel m3(ModelConfig::from_config(plain), 8);
  const TrainResult again = train_model(m3, o2, plain.resolved_text());
  CHECK(again.epochs.size() == 1);
  CHECK(!fs::exists(dir / "run/epoch_001.ckpt"));
  CHECK(!fs::exists(dir / "run/epoch_002.ckpt"));
  CHECK(fs::exists(dir / "run/best.ckpt"));
  const std::string log = read_all(dir / "run/train_log.jsonl");
  CHECK(std::count(log.begin(), log.end(), '\n') == 1);
  CHECK(log != first_log);
  // Resuming a finished run trains nothing and ends with its best.ckpt's weights.
  o2.resume = dir / "run/last.ckpt";
  SSMTLModel m4(ModelConfig::from_config(plain), 9);
  const TrainResult none = train_model(m4, o2, plain.resolved_text());
  CHECK(none.epochs.empty());
  CHECK(none.best_epoch == again.best_epoch);
  const auto n3 = m3.named_tensors(), n4 = m4.named_tensors();
  REQUIRE(n3.size() == n4.size());
  for (size_t i = 0; i < n3.size(); ++i) CHECK(n3[i].tensor->to_vector() == n4[i].tensor->to_vector());
}

TEST_CASE("trainer: train.max_seconds stops at an epoch's end and the resumed run equals the uninterrupted one") {
  test::TempDir dir("trainer_max_seconds");
  test::TinyDataset d = test::make_tiny_dataset(dir, 3, 33);
  std::vector<std::vector<float>> weights;   // of the last run (best.ckpt loaded at its end)
  auto run = [&](const std::string& out, double max_seconds, const std::string& resume) {
    util::Config cfg = resume_config(false);   // 2 epochs
    cfg.set("train.max_seconds", std::to_string(max_seconds));
    TrainOptions opt = TrainOptions::from_config(cfg);
    CHECK(opt.max_seconds == max_seconds);
    opt.data_root = d.root;
    opt.detections = d.detections;
    opt.out_dir = out;
    opt.resume = resume;
    SSMTLModel model(ModelConfig::from_config(cfg), resume.empty() ? 7 : 99);
    const TrainResult r = train_model(model, opt, cfg.resolved_text());
    weights.clear();
    for (const auto& nt : model.named_tensors()) weights.push_back(nt.tensor->to_vector());
    return r;
  };
  const TrainResult straight = run(dir / "straight", 1e6, "");
  const std::vector<std::vector<float>> straight_weights = weights;   // a box the run never reaches
  CHECK(!straight.time_limit);
  CHECK(straight.epochs.size() == 2);
  const TrainResult boxed = run(dir / "boxed", 1e-6, "");         // any epoch ends past it: stop after the first
  CHECK(boxed.time_limit);
  CHECK(!boxed.step_limit);
  CHECK(!boxed.interrupted);
  REQUIRE(boxed.epochs.size() == 1);
  CHECK(fs::exists(dir / "boxed/best.ckpt"));
  const TrainResult rest = run(dir / "boxed", 0, dir / "boxed/last.ckpt");
  CHECK(!rest.time_limit);
  REQUIRE(rest.epochs.size() == 1);
  // (The checkpoints' files differ in the configuration they carry: train.max_seconds.)
  CHECK(rest.best_epoch == straight.best_epoch);
  CHECK(rest.best_val == straight.best_val);
  CHECK(weights == straight_weights);
  util::Config bad = resume_config(false);
  bad.set("train.max_seconds", "-1");
  CHECK_THROWS_WITH(TrainOptions::from_config(bad), doctest::Contains("train.max_seconds"));
}

TEST_CASE("trainer: train.lr_schedule must be constant or cosine") {
  util::Config cfg = resume_config(false, "linear");
  CHECK_THROWS_WITH_AS(TrainOptions::from_config(cfg), doctest::Contains("train.lr_schedule"), std::invalid_argument);
}

TEST_CASE("trainer: a resume checks its checkpoint and configuration before writing anything") {
  test::TempDir dir("trainer_resume_checks");
  test::TinyDataset d = test::make_tiny_dataset(dir, 3, 32);
  auto options = [&](util::Config& cfg) {
    TrainOptions opt = TrainOptions::from_config(cfg);
    opt.data_root = d.root;
    opt.detections = d.detections;
    opt.out_dir = dir / "run";
    return opt;
  };
  const std::string base = "model.name = ssmtl-cpu\nmodel.tasks.distillation = false\nmodel.backbone.channels = 4, 4, 4\n"
                           "model.crop = 16\n"
                           "model.head_hidden = 4\nmodel.decoder_hidden = 4\ntrain.batch_size = 4\n";
  util::Config cfg = util::Config::from_string(base + "train.epochs = 2\ntrain.seed = 5\ntrain.stop_after_steps = 2\n");
  SSMTLModel model(ModelConfig::from_config(cfg), 1);
  TrainOptions opt = options(cfg);
  REQUIRE(train_model(model, opt, cfg.resolved_text()).step_limit);
  const std::string config_before = read_all(dir / "run/config.txt");

  opt.resume = dir / "run/last.ckpx";   // a typo: nothing is read or written
  CHECK(test::error_of([&] { train_model(model, opt, cfg.resolved_text() + "train.seed = 9\n"); }) ==
        opt.resume + ": cannot open checkpoint");
  CHECK(read_all(dir / "run/config.txt") == config_before);

  util::Config other = util::Config::from_string(base + "train.epochs = 2\ntrain.seed = 7\n");
  ModelConfig::from_config(other);   // records the model keys, as the train command does
  TrainOptions opt7 = options(other);
  opt7.resume = dir / "run/last.ckpt";
  CHECK(test::error_of([&] { train_model(model, opt7, other.resolved_text()); })
            .find("the run was trained with train.seed = 5, the resumed one has 7") != std::string::npos);
  CHECK(read_all(dir / "run/config.txt") == config_before);

  // Another device, epoch count or step limit is a legitimate resume.
  util::Config more = util::Config::from_string(base + "train.seed = 5\ntrain.epochs = 3\n");
  ModelConfig::from_config(more);
  TrainOptions opt3 = options(more);
  opt3.resume = dir / "run/last.ckpt";
  TrainResult r = train_model(model, opt3, more.resolved_text());
  CHECK(!r.step_limit);
  CHECK(r.epochs.size() == 3);
}

TEST_CASE("trainer: a checkpoint written before train.adam_eps and train.sync_bn existed resumes with their defaults only") {
  const std::string old = "model.name = ssmtl++v1-cpu\ntrain.lr = 0.001\n";
  CHECK_NOTHROW(check_resume_config(old, old + "train.adam_eps = 1e-08\ntrain.sync_bn = false\n", "old.ckpt"));
  CHECK_THROWS_WITH(check_resume_config(old, old + "train.sync_bn = true\n", "old.ckpt"),
                    doctest::Contains("the resumed run sets train.sync_bn = true"));
  CHECK_THROWS_WITH(check_resume_config(old, old + "train.adam_eps = 1e-05\n", "old.ckpt"),
                    doctest::Contains("train.adam_eps = 1e-05"));
}

TEST_CASE("trainer: a resume on another video list than the run's fails before training and names both lists") {
  // The comparison: the "# videos" lines `ssmtl train --videos` writes, the same list in the same order.
  // (train.swa_epochs: a build that records the videos, so no line = every video of the split)
  const std::string conf = "model.name = ssmtl-cpu\ntrain.lr = 0.001\ntrain.swa_epochs = 0\n";
  const std::string v012 = "# ssmtl train\n# data = /a\n# videos = v0,v1,v2\n" + conf;
  CHECK(check_resume_config(v012, "# data = /b\n# videos = v0,v1,v2\n" + conf, "r/last.ckpt").empty());
  CHECK(check_resume_config("# data = /a\n" + conf, "# data = /b\n" + conf, "r/last.ckpt").empty());
  // A checkpoint of a build before the lists were recorded: resumed on the list given now, with a note.
  const std::string before = "model.name = ssmtl-cpu\ntrain.lr = 0.001\n";
  CHECK_FALSE(records_videos(before));
  CHECK(records_videos(conf));
  CHECK(check_resume_config(before, before, "old.ckpt").empty());
  CHECK(check_resume_config(before, "# videos = v2,v0\n" + before, "old.ckpt") ==
        "old.ckpt was written before runs recorded their training videos: resuming on videos v2,v0 as given "
        "(unchecked; it must be the list the run started with)");
  CHECK_THROWS_WITH_AS(check_resume_config(v012, "# videos = v0,v1\n" + conf, "r/last.ckpt"),
                       "r/last.ckpt: the run was trained on videos v0,v1,v2, the resumed one on videos v0,v1 (resume "
                       "with the run's --videos: its config.txt's '# videos' line)",
                       std::runtime_error);
  CHECK_THROWS_WITH(check_resume_config(v012, "# videos = v1,v0,v2\n" + conf, "r/last.ckpt"),
                    doctest::Contains("videos v0,v1,v2, the resumed one on videos v1,v0,v2"));
  CHECK_THROWS_WITH(check_resume_config(v012, conf, "r/last.ckpt"),
                    doctest::Contains("r/last.ckpt: the run was trained on videos v0,v1,v2, the resumed one on all "
                                      "videos of the split (no --videos)"));
  CHECK_THROWS_WITH(check_resume_config(conf, "# videos = v0\n" + conf, "r/last.ckpt"),
                    doctest::Contains("r/last.ckpt: the run was trained on all videos of the split (no --videos), "
                                      "the resumed one on videos v0 (resume without --videos)"));
  CHECK_THROWS_WITH(check_resume_config(v012, conf, "r/last.ckpt"),
                    doctest::Contains("(resume with the run's --videos: its config.txt's '# videos' line)"));

  // End to end: `ssmtl train --videos` records the list and a resume with another one changes nothing.
  test::TempDir dir("trainer_resume_videos");
  const test::TinyDataset d = test::make_tiny_dataset(dir, 3, 32, 4);
  {
    std::ofstream c(dir / "tiny.txt");
    c << "model.name = ssmtl-cpu\nmodel.tasks.distillation = false\nmodel.backbone.channels = 4, 4, 4\n"
         "model.crop = 16\nmodel.head_hidden = 4\nmodel.decoder_hidden = 4\ntrain.batch_size = 4\ntrain.epochs = 2\n";
  }
  const std::string ckpt = dir / "run/last.ckpt";
  const std::string train = "train --data " + d.root + " --detections " + d.detections + " --out " + (dir / "run") +
                            " --config " + (dir / "tiny.txt");
  test::RunResult r = test::run_ssmtl(train + " --videos v2,v0,v1 --set train.stop_after_steps=1");
  REQUIRE_MESSAGE(r.code == 0, r.output);
  CHECK(read_all(dir / "run/config.txt").find("\n# videos = v2,v0,v1\n") != std::string::npos);
  const std::string stopped = read_all(ckpt), config_before = read_all(dir / "run/config.txt");
  REQUIRE(!stopped.empty());
  r = test::run_ssmtl(train + " --videos v0,v1,v2 --resume " + ckpt);
  CHECK(r.code == 1);
  CHECK_MESSAGE(r.output.find(ckpt + ": the run was trained on videos v2,v0,v1, the resumed one on videos v0,v1,v2") !=
                    std::string::npos, r.output);
  r = test::run_ssmtl(train + " --resume " + ckpt);
  CHECK(r.code == 1);
  CHECK_MESSAGE(r.output.find(ckpt + ": the run was trained on videos v2,v0,v1, the resumed one on all videos of "
                                     "the split (no --videos)") != std::string::npos, r.output);
  CHECK(read_all(ckpt) == stopped);   // nothing trained, nothing written
  CHECK(read_all(dir / "run/config.txt") == config_before);
  CHECK(!fs::exists(dir / "run/train_log.jsonl"));
  r = test::run_ssmtl(train + " --videos v2,v0,v1 --resume " + ckpt);   // the run's list: it continues
  REQUIRE_MESSAGE(r.code == 0, r.output);
  CHECK(read_all(ckpt) != stopped);
  CHECK(fs::exists(dir / "run/train_log.jsonl"));
}

TEST_CASE("trainer: train.precision = bf16 trains deterministically and differently from fp32 then restores fp32") {
  util::Config bad = util::Config::from_string("train.precision = fp16\n");
  CHECK_THROWS_WITH_AS(TrainOptions::from_config(bad), "train.precision must be fp32 or bf16, got fp16",
                       std::invalid_argument);
  if (!kernels::cpu_has_bf16()) {
    MESSAGE("this CPU has no AVX512_BF16: bf16 training skipped");
    return;
  }
  test::TempDir dir("trainer_bf16");
  test::TinyDataset d = test::make_tiny_dataset(dir, 3, 31);
  // CvT width 16 and MLP 64: its linear layers take the bf16 panels (widths multiples of 16).
  auto run = [&](const std::string& precision, const std::string& out) {
    util::Config cfg = util::Config::from_string(
        "model.name = ssmtl++v1-cpu\nmodel.backbone.channels = 4, 4, 8\nmodel.cvt.dim = 16\nmodel.cvt.heads = 2\n"
        "model.head_hidden = 4\nmodel.decoder_hidden = 4\ntrain.epochs = 1\ntrain.batch_size = 4\n"
        "train.max_val_objects = 8\nmodel.tasks.pseudo_anomalies = false\ntrain.precision = " + precision + "\n");
    TrainOptions opt = TrainOptions::from_config(cfg);
    opt.data_root = d.root;
    opt.detections = d.detections;
    opt.out_dir = dir / out;
    SSMTLModel model(ModelConfig::from_config(cfg), 7);
    const TrainResult r = train_model(model, opt, cfg.resolved_text());
    CHECK(kernels::matmul_precision() == kernels::MatmulPrecision::fp32);   // the run's scope ended
    std::vector<float> w;
    for (const auto& nt : model.named_tensors()) {
      const std::vector<float> v = nt.tensor->to_vector();
      w.insert(w.end(), v.begin(), v.end());
    }
    REQUIRE(r.epochs.size() == 1);
    CHECK(std::isfinite(r.epochs[0].val_total));
    return std::make_pair(w, r.epochs[0].val_total);
  };
  const auto [w16a, v16a] = run("bf16", "bf16_a");
  const auto [w16b, v16b] = run("bf16", "bf16_b");
  const auto [w32, v32] = run("fp32", "fp32");
  CHECK(w16a == w16b);   // same seed, same result
  CHECK(v16a == v16b);
  CHECK(w16a != w32);    // the products really were rounded
  CHECK(std::fabs(v16a - v32) <= 0.05 * std::fabs(v32));   // and the run stays close to fp32's
}

TEST_CASE("TrainStep (profile, BM_TrainStep): repeated steps do the same full work and a skipped step throws") {
  ModelConfig c = ModelConfig::preset("ssmtl++v1-cpu");
  c.crop = 16;
  SSMTLModel model(c, 3);
  app::TrainStep step(model);
  const TaskBatch batch = random_batch(c, 2, 4);
  std::vector<std::vector<float>> before;
  for (Tensor& p : model.parameters()) before.push_back(p.to_vector());
  float first = 0;
  for (int i = 0; i < 6; ++i) {
    const float loss = step(batch);
    CHECK(std::isfinite(loss));
    if (i == 0) first = loss;
    CHECK(loss == doctest::Approx(first).epsilon(1e-6));   // lr 0: the same parameters, the same loss
  }
  size_t k = 0, moved = 0;
  for (Tensor& p : model.parameters()) moved += p.to_vector() != before[k++];
  CHECK(moved == 0);
  TaskBatch bad = random_batch(c, 2, 4);
  for (auto& [name, x] : bad.inputs) x.data()[0] = std::nanf("");
  CHECK_THROWS_WITH_AS(step(bad), doctest::Contains("not finite"), std::runtime_error);
}
