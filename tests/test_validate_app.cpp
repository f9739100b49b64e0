// `ssmtl validate`: recomputes the trainer's validation pass of saved checkpoints. Each row must equal the
// val_total that train_log.jsonl recorded for that epoch (same objects, same samples, same precision), and
// checkpoints whose held-out objects differ are refused rather than compared.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "model/checkpoint.h"
#include "model/trainer.h"
#include "tests/eval_test_util.h"
#include "tests/run_program.h"
#include "tests/teacher_test_util.h"
#include "util/config.h"

using namespace ssmtl;
namespace fs = std::filesystem;

namespace {

std::string tiny_config_text(int seed) {
  return "model.name = ssmtl++v1-cpu\nmodel.backbone.channels = 4, 4, 8\nmodel.cvt.dim = 8\nmodel.cvt.heads = 2\n"
         "model.head_hidden = 4\nmodel.decoder_hidden = 4\ntrain.epochs = 2\ntrain.batch_size = 4\n"
         "train.max_val_objects = 8\nmodel.tasks.pseudo_anomalies = false\ntrain.keep_epoch_checkpoints = true\n"
         "train.seed = " + std::to_string(seed) + "\n";
}

util::Config tiny_config(int seed) { return util::Config::from_string(tiny_config_text(seed)); }

// The "val_total" numbers of a train_log.jsonl or of validate's --json rows, in file order.
std::vector<double> val_totals(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string s = ss.str(), key = "\"val_total\": ";
  std::vector<double> out;
  for (size_t p = s.find(key); p != std::string::npos; p = s.find(key, p + 1))
    out.push_back(std::strtod(s.c_str() + p + key.size(), nullptr));
  return out;
}

TrainOptions train_tiny(const test::TempDir& dir, const test::TinyDataset& d, int seed, const std::string& run) {
  util::Config cfg = tiny_config(seed);
  TrainOptions opt = TrainOptions::from_config(cfg);
  opt.data_root = d.root;
  opt.detections = d.detections;
  opt.out_dir = dir / run;
  SSMTLModel model(ModelConfig::from_config(cfg), 7);
  train_model(model, opt, cfg.resolved_text());
  return opt;
}

}  // namespace

TEST_CASE("validate: each checkpoint's row equals the validation loss its training logged") {
  test::TempDir dir("validate_app");
  const test::TinyDataset d = test::make_tiny_dataset(dir, 3, 32, 4);
  train_tiny(dir, d, 0, "run");
  const std::vector<double> logged = val_totals(dir / "run/train_log.jsonl");
  REQUIRE(logged.size() == 2);
  CHECK(logged[0] != logged[1]);
  CHECK(fs::file_size(dir / "run/train_curves.png") > 1000);   // the trainer draws its losses after every epoch   // the two epochs really differ, so the rows are not interchangeable
  const std::string json = dir / "v.json";
  const test::RunResult r = test::run_ssmtl("validate --checkpoint " + (dir / "run/epoch_001.ckpt") +
                                            " --checkpoint " + (dir / "run/epoch_002.ckpt") + " --data " +
                                            d.root + " --detections " + d.detections + " --json " + json);
  REQUIRE_MESSAGE(r.code == 0, r.output);
  const std::vector<double> rows = val_totals(json);
  REQUIRE(rows.size() == 2);
  for (int e = 0; e < 2; ++e) CHECK(rows[e] == doctest::Approx(logged[e]).epsilon(1e-5));   // (both printed %.6g)
  CHECK(r.output.find("val_total") != std::string::npos);
}

TEST_CASE("validate: checkpoints with other held-out samples are refused and a bad precision is named") {
  test::TempDir dir("validate_app_refuse");
  const test::TinyDataset d = test::make_tiny_dataset(dir, 3, 32, 4);
  train_tiny(dir, d, 0, "a");
  train_tiny(dir, d, 1, "b");   // train.seed 1: another fixed sample of validation objects and choices
  const std::string common = " --data " + d.root + " --detections " + d.detections;
  test::RunResult r = test::run_ssmtl("validate --checkpoint " + (dir / "a/last.ckpt") + " --checkpoint " +
                                      (dir / "b/last.ckpt") + common);
  CHECK(r.code != 0);
  CHECK(r.output.find("held-out objects differ") != std::string::npos);
  CHECK(r.output.find("train.seed 1") != std::string::npos);
  r = test::run_ssmtl("validate --checkpoint " + (dir / "a/last.ckpt") + common + " --precision fp16");
  CHECK(r.code != 0);
  CHECK(r.output.find("--precision") != std::string::npos);
}

TEST_CASE("validate: a run trained on some videos is validated on its own held-out video unless --videos overrides") {
  test::TempDir dir("validate_app_videos");
  const test::TinyDataset d = test::make_tiny_dataset(dir, 3, 32, 4);   // v0..v3
  {
    std::ofstream c(dir / "tiny.txt");
    c << tiny_config_text(0);
  }
  // Trained on v3, v0 and v1 (in that order): v1, the list's last, is held out (every video's: v3).
  const test::RunResult t = test::run_ssmtl("train --data " + d.root + " --detections " + d.detections + " --out " +
                                            (dir / "run") + " --config " + (dir / "tiny.txt") +
                                            " --set train.epochs=1 --videos v3,v0,v1");
  REQUIRE_MESSAGE(t.code == 0, t.output);
  const std::vector<double> logged = val_totals(dir / "run/train_log.jsonl");
  REQUIRE(logged.size() == 1);
  const std::string ckpt = dir / "run/last.ckpt", common = " --data " + d.root + " --detections " + d.detections;
  auto validate = [&](const std::string& args) {
    const std::string json = dir / "v.json";
    fs::remove(json);
    const test::RunResult r = test::run_ssmtl("validate" + args + common + " --json " + json);
    REQUIRE_MESSAGE(r.code == 0, r.output);
    return val_totals(json);
  };
  // Default: the checkpoint's recorded list, so the row equals the logged validation loss.
  const std::vector<double> own = validate(" --checkpoint " + ckpt);
  REQUIRE(own.size() == 1);
  CHECK(own[0] == doctest::Approx(logged[0]).epsilon(1e-5));
  CHECK(validate(" --checkpoint " + ckpt + " --videos v3,v0,v1")[0] == doctest::Approx(logged[0]).epsilon(1e-5));
  // --videos overrides it: every video in the split's order holds v3 out, other objects, another loss.
  const std::vector<double> all = validate(" --checkpoint " + ckpt + " --videos v0,v1,v2,v3");
  REQUIRE(all.size() == 1);
  CHECK(std::abs(all[0] - logged[0]) > 1e-4 * std::abs(logged[0]));

  // The same weights with no "# videos" line (a run on every video): another held-out video, so the two are
  // refused in one call, naming both lists; one --videos for both validates both alike.
  const CheckpointMeta meta = read_checkpoint_meta(ckpt);
  std::string text;
  std::istringstream in(meta.config_text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("# videos = ", 0) != 0) text += line + "\n";
  REQUIRE(text.size() < meta.config_text.size());
  util::Config cfg = util::Config::from_string(text);
  SSMTLModel model(ModelConfig::from_config(cfg), 0);
  load_checkpoint(ckpt, model);
  const std::string all_ckpt = dir / "all.ckpt";
  save_checkpoint(all_ckpt, model, {text, ""});
  const test::RunResult r = test::run_ssmtl("validate --checkpoint " + ckpt + " --checkpoint " + all_ckpt + common);
  CHECK(r.code == 1);
  CHECK_MESSAGE(r.output.find("held-out objects differ") != std::string::npos, r.output);
  CHECK_MESSAGE(r.output.find("videos (all), train.seed 0") != std::string::npos, r.output);
  CHECK_MESSAGE(r.output.find("videos v3,v0,v1, train.seed 0") != std::string::npos, r.output);
  CHECK(validate(" --checkpoint " + all_ckpt)[0] == doctest::Approx(all[0]).epsilon(1e-5));
  const std::vector<double> both = validate(" --checkpoint " + ckpt + " --checkpoint " + all_ckpt + " --videos v3,v0,v1");
  REQUIRE(both.size() == 2);
  CHECK(both[0] == doctest::Approx(logged[0]).epsilon(1e-5));
  CHECK(both[1] == both[0]);
}

TEST_CASE("validation_ids: the last videos' objects, a fixed sample of max_val_objects when there are more") {
  test::TempDir dir("validate_ids");
  const test::TinyDataset d = test::make_tiny_dataset(dir, 3, 32, 4);
  util::Config cfg = tiny_config(0);
  TrainOptions opt = TrainOptions::from_config(cfg);
  const ModelConfig mc = ModelConfig::from_config(cfg);
  const ObjectPool pool = ObjectPool::load(d.root, "training", d.detections, 0.0, true, {},
                                           TeacherSpec::for_model(mc, d.detections, ""));
  REQUIRE(pool.num_videos() == 4);
  opt.max_val_objects = 1 << 20;
  const std::vector<size_t> all = validation_ids(pool, opt);   // round(0.15 x 4) = 1 video: the last one
  REQUIRE(!all.empty());
  for (size_t i : all) CHECK(pool.objects()[i].video == 3);
  size_t in_last = 0;
  for (const auto& o : pool.objects()) in_last += o.video == 3;
  CHECK(all.size() == in_last);
  opt.max_val_objects = 3;
  const std::vector<size_t> cut = validation_ids(pool, opt);
  CHECK(cut.size() == 3);
  CHECK(cut == validation_ids(pool, opt));   // fixed: the same objects every call (every epoch)
  for (size_t i : cut) CHECK(std::find(all.begin(), all.end(), i) != all.end());
}
