// Weight averaging (model/weight_average.h): `ssmtl average`'s mean of checkpoints, and train.swa_epochs,
// which writes swa.ckpt = that mean of the last epochs with BatchNorm statistics re-estimated per window.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "model/checkpoint.h"
#include "model/train_state.h"
#include "model/trainer.h"
#include "model/weight_average.h"
#include "tests/eval_test_util.h"
#include "tests/run_program.h"
#include "tests/teacher_test_util.h"
#include "util/atomic_file.h"
#include "util/config.h"

using namespace ssmtl;
namespace fs = std::filesystem;

namespace {

// T1+T2+T3 on 32x32 crops, a small 3D CNN (BatchNorm in every stage), 4 objects a step.
std::string swa_config_text(int epochs, int swa, bool keep, int seed = 0, int precise_bn = 0) {
  return "model.name = ssmtl++v1-cpu\nmodel.backbone.channels = 4, 4, 8\nmodel.backbone.transformer = none\n"
         "model.head_hidden = 4\nmodel.decoder_hidden = 4\nmodel.tasks.pseudo_anomalies = false\ntrain.epochs = " +
         std::to_string(epochs) + "\ntrain.batch_size = 4\ntrain.max_val_objects = 8\ntrain.swa_epochs = " +
         std::to_string(swa) + "\ntrain.keep_epoch_checkpoints = " + (keep ? "true" : "false") +
         "\ntrain.seed = " + std::to_string(seed) + "\ntrain.precise_bn = " + std::to_string(precise_bn) + "\n";
}

std::vector<std::vector<float>> all_tensors(Module& m) {
  std::vector<std::vector<float>> v;
  for (const NamedTensor& nt : m.named_tensors()) v.push_back(nt.tensor->to_vector());
  return v;
}

// Per-window BatchNorm statistics defined in m (estimated or loaded).
int window_tensors(Module& m) {
  const std::vector<NamedTensor> all = m.named_tensors();
  return static_cast<int>(std::count_if(all.begin(), all.end(), [](const NamedTensor& nt) { return nt.optional_like; }));
}

}  // namespace

TEST_CASE("average_checkpoints: every weight and running statistic is the mean over the checkpoints") {
  test::TempDir dir("weight_average");
  util::Config cfg = util::Config::from_string(swa_config_text(2, 0, false));
  const ModelConfig mc = ModelConfig::from_config(cfg);
  TrainOptions::from_config(cfg);   // (the resolved text holds the keys read)
  const std::string text = cfg.resolved_text();
  REQUIRE(text.find("train.seed = 0") != std::string::npos);
  // Three models drawn from other seeds; their running statistics made different too.
  std::vector<std::string> paths;
  std::vector<std::vector<std::vector<float>>> values;
  for (int s = 0; s < 3; ++s) {
    SSMTLModel m(mc, 11 + s);
    for (NamedTensor& nt : m.named_tensors())
      if (nt.is_buffer) {
        std::vector<float> v = nt.tensor->to_vector();
        for (size_t j = 0; j < v.size(); ++j) v[j] = 0.25f * static_cast<float>(s + 1) + 0.01f * static_cast<float>(j);
        nt.tensor->copy_from(Tensor::from_vector(nt.tensor->shape(), v));
      }
    paths.push_back(dir / ("m" + std::to_string(s) + ".ckpt"));
    save_checkpoint(paths.back(), m, {text, "state"});
    values.push_back(all_tensors(m));
  }
  SSMTLModel avg(mc, 99);
  const CheckpointMeta meta = average_checkpoints(paths, avg);
  CHECK(meta.config_text == text);
  CHECK(meta.trainer_state.empty());   // an average is not a point of the run to resume from
  const std::vector<std::vector<float>> got = all_tensors(avg);
  REQUIRE(got.size() == values[0].size());
  size_t checked = 0;
  for (size_t t = 0; t < got.size(); ++t)
    for (size_t j = 0; j < got[t].size(); ++j, ++checked) {
      const double sum = static_cast<double>(values[0][t][j]) + values[1][t][j] + values[2][t][j];
      REQUIRE(got[t][j] == static_cast<float>(sum / 3.0));
    }
  CHECK(checked > 1000);
  // A BatchNorm buffer by value: (0.25 + 0.5 + 0.75) / 3 + 0.01 j.
  for (const NamedTensor& nt : avg.named_tensors())
    if (nt.is_buffer && !nt.optional_like) {
      const std::vector<float> v = nt.tensor->to_vector();
      CHECK(v[0] == doctest::Approx(0.5).epsilon(1e-7));
      CHECK(v[2] == doctest::Approx(0.52).epsilon(1e-6));
      break;
    }
  // One checkpoint: itself.
  SSMTLModel one(mc, 5);
  average_checkpoints({paths[1]}, one);
  CHECK(all_tensors(one) == values[1]);

  // Another run (train.seed) is refused, naming the file and the key; so are no checkpoints.
  util::Config other = util::Config::from_string(swa_config_text(2, 0, false, 4));
  ModelConfig::from_config(other);
  TrainOptions::from_config(other);
  SSMTLModel m4(mc, 4);
  save_checkpoint(dir / "seed4.ckpt", m4, {other.resolved_text(), ""});
  std::string error;
  try {
    average_checkpoints({paths[0], dir / "seed4.ckpt"}, avg);
  } catch (const std::runtime_error& e) {
    error = e.what();
  }
  CHECK(error.find("seed4.ckpt: not the same run") != std::string::npos);
  CHECK(error.find("its 'train.seed = 4', the first's 'train.seed = 0'") != std::string::npos);
  CHECK_THROWS_AS(average_checkpoints({}, avg), std::invalid_argument);
  CHECK(averaging_signature("# ssmtl train\n# data = /d\nmodel.crop = 32\ntrain.epochs = 3\ntrain.lr = 0.001\n# x\n") ==
        std::map<std::string, std::string>{{"model.crop", "32"}, {"train.lr", "0.001"}});
  CHECK_THROWS_WITH(average_checkpoints({paths[0], paths[1], paths[0]}, avg), doctest::Contains("given twice"));
  CHECK_THROWS_WITH(epoch_checkpoints(dir / "nowhere", 1, 2), doctest::Contains("nowhere: no such run folder"));
  // Another model (other shapes) is refused as another run, before its weights are read.
  util::Config wide = util::Config::from_string(swa_config_text(2, 0, false));
  wide.set("model.backbone.channels", "4, 8, 8");
  SSMTLModel mw(ModelConfig::from_config(wide), 4);
  TrainOptions::from_config(wide);
  save_checkpoint(dir / "wide.ckpt", mw, {wide.resolved_text(), ""});
  CHECK_THROWS_WITH(average_checkpoints({paths[0], dir / "wide.ckpt"}, avg),
                    doctest::Contains("its 'model.backbone.channels = 4, 8, 8', the first's 'model.backbone.channels = 4, 4, 8'"));
  // A key only one of them holds (written by a later build) is no difference.
  util::Config extra = util::Config::from_string(swa_config_text(2, 0, false));
  ModelConfig::from_config(extra);
  TrainOptions::from_config(extra);
  save_checkpoint(dir / "extra.ckpt", m4, {extra.resolved_text() + "train.some_later_key = 1\n", ""});
  CHECK_NOTHROW(average_checkpoints({paths[0], dir / "extra.ckpt"}, avg));
  // Another video list (the "# videos" line of `ssmtl train --videos`) is another run.
  save_checkpoint(dir / "videos.ckpt", m4, {"# videos = v1,v0\n" + extra.resolved_text(), ""});
  CHECK_THROWS_WITH(average_checkpoints({paths[0], dir / "videos.ckpt"}, avg),
                    doctest::Contains("videos.ckpt: not the same run as"));
  CHECK_THROWS_WITH(average_checkpoints({paths[0], dir / "videos.ckpt"}, avg),
                    doctest::Contains("its training videos 'v1,v0', the first's '(all, none recorded)'"));
  // The epoch files of a run, and the first missing one named.
  fs::copy_file(paths[0], dir / "epoch_002.ckpt");
  fs::copy_file(paths[1], dir / "epoch_003.ckpt");
  CHECK(epoch_checkpoints(dir.str(), 2, 3) ==
        std::vector<std::string>{dir / "epoch_002.ckpt", dir / "epoch_003.ckpt"});
  CHECK_THROWS_WITH(epoch_checkpoints(dir.str(), 2, 4), doctest::Contains("epoch_004.ckpt: no such checkpoint"));
  CHECK_THROWS_AS(epoch_checkpoints(dir.str(), 0, 3), std::invalid_argument);
}

TEST_CASE("run_settings and recorded_videos: one reading of a run's configuration for resume, averaging and ssmtl average") {
  const std::string text = "# ssmtl train: resolved configuration\n# data = /d\n  # indented = comment\n"
                           "# videos = v2,v0\r\nmodel.crop = 32\r\n train.lr=0.001 \ntrain.device = cuda\n"
                           "train.epochs = 3\ntrain.swa_epochs = 2\nno setting here\n= 5\nmodel.crop = 16\n";
  const std::map<std::string, std::string> settings{{"model.crop", "16"}, {"train.lr", "0.001"}};
  CHECK(run_settings(text) == settings);
  CHECK(averaging_signature(text) == settings);
  CHECK(recorded_videos(text) == std::vector<std::string>{"v2", "v0"});
  CHECK(recorded_videos("model.crop = 32\n").empty());
  CHECK_NOTHROW(check_resume_config(text, "# videos = v2,v0\nmodel.crop = 16\ntrain.lr = 0.001\n", "r.ckpt"));
  CHECK_THROWS_WITH(check_resume_config(text, "# videos = v2,v0\nmodel.crop = 32\ntrain.lr = 0.001\n", "r.ckpt"),
                    doctest::Contains("r.ckpt: the run was trained with model.crop = 16, the resumed one has 32"));

  // `ssmtl average` estimates BatchNorm on the training objects of the videos its first checkpoint records
  // (v2: v0, the list's last, is held out), unless --videos names others.
  test::TempDir dir("run_settings_average");
  const test::TinyDataset d = test::make_tiny_dataset(dir, 3, 33);   // v0, v1, v2
  util::Config cfg = util::Config::from_string(swa_config_text(1, 0, false));
  SSMTLModel m(ModelConfig::from_config(cfg), 3);
  TrainOptions::from_config(cfg);
  save_checkpoint(dir / "m.ckpt", m, {"# videos = v2,v0\n" + cfg.resolved_text(), ""});
  auto average = [&](const std::string& out, const std::string& extra) {
    const test::RunResult r = test::run_ssmtl("average --checkpoint " + dir / "m.ckpt" + " --out " + dir / out +
                                              " --precise-bn 8 --data " + d.root + " --detections " + d.detections +
                                              extra);
    REQUIRE_MESSAGE(r.code == 0, r.output);
    return util::read_file(dir / out);
  };
  const std::string recorded = average("recorded.ckpt", "");
  CHECK(recorded == average("same.ckpt", " --videos v2,v0"));
  CHECK(util::read_file(dir / "recorded.ckpt.json").find("\"videos\": [\"v2\", \"v0\"]") != std::string::npos);
  // A list that contradicts the recorded one is refused, nothing written.
  const test::RunResult other = test::run_ssmtl("average --checkpoint " + dir / "m.ckpt" + " --out " + dir / "o.ckpt" +
                                                " --precise-bn 8 --data " + d.root + " --detections " + d.detections +
                                                " --videos v0,v1,v2");
  CHECK(other.code == 1);
  CHECK(other.output.find("--videos v0,v1,v2: " + dir / "m.ckpt" + " was trained on the videos v2,v0") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "o.ckpt"));
  // A checkpoint of a build before the lists were recorded (no train.swa_epochs key): --videos gives the list,
  // which goes into the average's configuration, so that validate and average default to it. A checkpoint of a
  // build that records them and has no list trained on every video: --videos contradicts it.
  std::string before;   // the resolved configuration without its train.swa_epochs line
  std::istringstream lines(cfg.resolved_text());
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("train.swa_epochs", 0) != 0) before += line + "\n";
  save_checkpoint(dir / "old.ckpt", m, {before, ""});
  save_checkpoint(dir / "all.ckpt", m, {cfg.resolved_text(), ""});
  const test::RunResult all = test::run_ssmtl("average --checkpoint " + dir / "all.ckpt" + " --out " + dir / "a.ckpt" +
                                              " --precise-bn 8 --data " + d.root + " --detections " + d.detections +
                                              " --videos v2,v0");
  CHECK(all.code == 1);
  CHECK(all.output.find("was trained on every video of the split") != std::string::npos);
  const test::RunResult given = test::run_ssmtl("average --checkpoint " + dir / "old.ckpt" + " --out " +
                                                dir / "given.ckpt" + " --precise-bn 8 --data " + d.root +
                                                " --detections " + d.detections + " --videos v2,v0");
  REQUIRE_MESSAGE(given.code == 0, given.output);
  CHECK(given.output.find("note: " + dir / "old.ckpt" + " was written before runs recorded their training videos") !=
        std::string::npos);
  CHECK(recorded_videos(read_checkpoint_meta(dir / "given.ckpt").config_text) == std::vector<std::string>{"v2", "v0"});
  CHECK(recorded_videos(read_checkpoint_meta(dir / "given.ckpt").config_text) == std::vector<std::string>{"v2", "v0"});
  CHECK(recorded_videos(read_checkpoint_meta(dir / "recorded.ckpt").config_text) == std::vector<std::string>{"v2", "v0"});
}

TEST_CASE("trainer: train.swa_epochs writes swa.ckpt, the mean of the last epochs with BatchNorm re-estimated") {
  test::TempDir dir("trainer_swa");
  test::TinyDataset d = test::make_tiny_dataset(dir, 3, 34);   // 26 training objects: 7 steps an epoch
  struct Run {   // epochs, train.swa_epochs, train.precise_bn, train.stop_after_steps, keep epochs, --resume
    int epochs, swa, precise_bn, stop_after;
    bool keep;
    std::string resume;
    Run(int e, int s, int pbn = 0, int stop = 0, bool k = false, std::string r = "")
        : epochs(e), swa(s), precise_bn(pbn), stop_after(stop), keep(k), resume(std::move(r)) {}
  };
  auto run = [&](const Run& r, const std::string& out, SSMTLModel& m) {
    util::Config cfg = util::Config::from_string(swa_config_text(r.epochs, r.swa, r.keep, 0, r.precise_bn));
    ModelConfig::from_config(cfg);   // (the checkpoints' configuration holds the model, as ssmtl train writes it)
    TrainOptions opt = TrainOptions::from_config(cfg);
    CHECK(opt.swa_epochs == r.swa);
    opt.data_root = d.root;
    opt.detections = d.detections;
    opt.out_dir = out;
    opt.stop_after_steps = r.stop_after;
    opt.resume = r.resume;
    return train_model(m, opt, cfg.resolved_text());
  };
  util::Config base = util::Config::from_string(swa_config_text(3, 0, false));
  const ModelConfig mc = ModelConfig::from_config(base);
  SSMTLModel plain(mc, 7), swa(mc, 7), kept(mc, 7);
  const TrainResult a = run({3, 0}, dir / "plain", plain);
  const TrainResult b = run({3, 2}, dir / "swa", swa);
  const TrainResult c = run({3, 2, 16, 0, true}, dir / "kept", kept);   // per-window statistics every epoch
  REQUIRE(b.epochs.size() == 3);
  CHECK(a.swa_epochs_averaged == 0);
  CHECK(b.swa_epochs_averaged == 2);
  CHECK(c.swa_epochs_averaged == 2);
  CHECK(!fs::exists(dir / "plain/swa.ckpt"));
  // Training is untouched: the same losses and weights (the files differ in their configuration text).
  for (int e = 0; e < 3; ++e) {
    CHECK(b.epochs[e].train == a.epochs[e].train);
    CHECK(b.epochs[e].val_total == a.epochs[e].val_total);
  }
  auto weights_of = [&](const std::string& path) {
    SSMTLModel m(mc, 1);
    load_checkpoint(path, m);
    return all_tensors(m);
  };
  CHECK(weights_of(dir / "swa/last.ckpt") == weights_of(dir / "plain/last.ckpt"));
  CHECK(weights_of(dir / "swa/best.ckpt") == weights_of(dir / "plain/best.ckpt"));
  // The epoch files kept for the average are gone again (keep_epoch_checkpoints = false); kept otherwise.
  CHECK(!fs::exists(dir / "swa/epoch_002.ckpt"));
  CHECK(!fs::exists(dir / "swa/epoch_003.ckpt"));
  CHECK(fs::exists(dir / "kept/epoch_001.ckpt"));

  // swa.ckpt = epochs 2-3 averaged (the kept run's epoch files: the same weights; their per-window statistics
  // dropped), then the per-window estimate from train.precise_bn objects, 2048 (all 26 here) when that is 0;
  // its validation loss is the one logged in swa.json and returned.
  util::Config cfg = util::Config::from_string(swa_config_text(3, 2, false));
  const TrainOptions opt = TrainOptions::from_config(cfg);
  const ObjectPool pool = ObjectPool::load(d.root, "training", d.detections, 0.0, true, {},
                                           TeacherSpec::for_model(mc, d.detections, ""));
  const SampleBuilder builder(pool, mc, nullptr);
  auto swa_of_kept = [&](int n) {
    SSMTLModel mine(mc, 3);
    average_checkpoints(epoch_checkpoints(dir / "kept", 2, 3), mine);
    CHECK(window_tensors(mine) == 0);
    estimate_window_bn(mine, builder, precise_bn_ids(pool, opt, static_cast<size_t>(n)), opt.batch_size,
                       precise_bn_seed(opt));
    return all_tensors(mine);
  };
  SSMTLModel written(mc, 4);
  const CheckpointMeta meta = load_checkpoint(dir / "swa/swa.ckpt", written);
  CHECK(meta.trainer_state.empty());
  CHECK(window_tensors(written) > 0);
  CHECK(all_tensors(written) == swa_of_kept(kSwaBnObjects));
  CHECK(weights_of(dir / "kept/swa.ckpt") == swa_of_kept(16));
  CHECK(weights_of(dir / "kept/swa.ckpt") != weights_of(dir / "swa/swa.ckpt"));
  double total = 0;
  for (const auto& [k, v] : validation_losses(written, builder, validation_ids(pool, opt), opt.batch_size,
                                              validation_seed(opt)))
    total += v;
  CHECK(total == b.swa_val);
  CHECK(total != b.epochs[2].val_total);
  // `ssmtl average` on the kept run's epochs: the trainer's swa.ckpt (the run's train.precise_bn = 16 objects).
  const std::string common = " --data " + d.root + " --detections " + d.detections;
  const test::RunResult cli = test::run_ssmtl("average --run " + dir / "kept" + " --epochs 2-3 --out " +
                                              dir / "cli.ckpt" + common);
  CHECK_MESSAGE(cli.code == 0, cli.output);
  CHECK(weights_of(dir / "cli.ckpt") == weights_of(dir / "kept/swa.ckpt"));
  CHECK(util::read_file(dir / "cli.ckpt.json").find("{\"format_version\": 1, ") == 0);
  CHECK(util::read_file(dir / "cli.ckpt.json").find("\"bn_objects\": 16") != std::string::npos);
  const test::RunResult both = test::run_ssmtl("average --checkpoint " + dir / "kept/epoch_002.ckpt" + " --run " +
                                               dir / "kept" + " --epochs 2-3 --out " + dir / "x.ckpt" + common);
  CHECK(both.code == 2);
  CHECK(both.output.find("not both") != std::string::npos);
  CHECK(test::run_ssmtl("average --run " + dir / "kept" + " --epochs 3-2 --out " + dir / "x.ckpt" + common).code == 2);
  const test::RunResult missing = test::run_ssmtl("average --run " + dir / "kept" + " --epochs 2-4 --out " +
                                                  dir / "x.ckpt" + common);
  CHECK(missing.code == 1);
  CHECK(missing.output.find("epoch_004.ckpt: no such checkpoint") != std::string::npos);
  CHECK(!fs::exists(dir / "x.ckpt"));
  // --out may not be a folder, an input or a resume point.
  for (const std::string& bad : {dir / "kept", dir / "kept/epoch_003.ckpt", dir / "kept/last.ckpt"}) {
    const test::RunResult r = test::run_ssmtl("average --run " + dir / "kept" + " --epochs 2-3 --out " + bad + common);
    CHECK_MESSAGE(r.code == 2, bad);
    CHECK(r.output.find("--out " + bad) != std::string::npos);
  }

  const std::string json = util::read_file(dir / "swa/swa.json");
  CHECK(json.find("{\"format_version\": 1, \"first_epoch\": 2, \"last_epoch\": 3, \"bn_objects\": 26, ") == 0);

  // Stopped in epoch 3 (after epoch_002.ckpt was written) and resumed: the same swa.ckpt, byte for byte.
  SSMTLModel s1(mc, 7), s2(mc, 8), s3(mc, 9), s4(mc, 10);
  run({3, 2, 0, 15}, dir / "stopped", s1);
  CHECK(fs::exists(dir / "stopped/epoch_002.ckpt"));
  run({3, 2, 0, 0, false, dir / "stopped/last.ckpt"}, dir / "stopped", s2);
  CHECK(util::read_file(dir / "stopped/swa.ckpt") == util::read_file(dir / "swa/swa.ckpt"));
  // Resuming the finished run: nothing to train, swa.ckpt kept as it is (its epoch files are gone).
  const std::string before = util::read_file(dir / "stopped/swa.ckpt");
  const TrainResult again = run({3, 2, 0, 0, false, dir / "stopped/last.ckpt"}, dir / "stopped", s3);
  CHECK(again.swa_epochs_averaged == 0);
  CHECK(util::read_file(dir / "stopped/swa.ckpt") == before);
  // Resumed to train a 4th epoch: averaging epochs 3-4 is refused (epoch 3 was not kept), swa.ckpt left as
  // it is; without averaging, the earlier swa.ckpt no longer describes the run and goes.
  CHECK_THROWS_WITH(run({4, 2, 0, 2, false, dir / "stopped/last.ckpt"}, dir / "stopped", s4),
                    doctest::Contains("epoch_003.ckpt: no such checkpoint"));
  CHECK(util::read_file(dir / "stopped/swa.ckpt") == before);
  run({4, 0, 0, 2, false, dir / "stopped/last.ckpt"}, dir / "stopped", s4);
  CHECK(!fs::exists(dir / "stopped/swa.ckpt"));
  CHECK(!fs::exists(dir / "stopped/swa.json"));

  // Resumed into another folder: the kept epoch comes along, and the same swa.ckpt results.
  SSMTLModel m1(mc, 7), m2(mc, 8);
  run({3, 2, 0, 15}, dir / "from", m1);
  run({3, 2, 0, 0, false, dir / "from/last.ckpt"}, dir / "to", m2);
  CHECK(util::read_file(dir / "to/swa.ckpt") == util::read_file(dir / "swa/swa.ckpt"));

  // train.swa_epochs = 3 turned on by a resume in epoch 3, when epochs 1 and 2 were not kept: refused at once,
  // naming the first missing file.
  SSMTLModel l1(mc, 7), l2(mc, 8);
  run({3, 0, 0, 15}, dir / "late", l1);
  CHECK_THROWS_WITH(run({3, 3, 0, 0, false, dir / "late/last.ckpt"}, dir / "late", l2),
                    doctest::Contains("epoch_001.ckpt: no such checkpoint"));
}
