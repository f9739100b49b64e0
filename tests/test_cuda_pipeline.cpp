// The training and scoring pipeline on the GPU (train.device = cuda, score --device cuda) against the same
// run on the CPU: train_model moves the model to the device before building its optimisers, moves every
// batch there, restores the BatchNorm statistics on the device after T5 batches, writes checkpoints from
// the device and loads the best one back; score_video sends the sequences and teachers to the model's
// device and runs the host-side parts of T6 (masking) and T8 (tile shuffling) on copies. A tiny synthetic
// data set (tests/teacher_test_util.h) and a tiny model with every task (T5 when ../shared has the
// out-of-distribution images). Skipped without a GPU; the CPU parts of the same API are tested always.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "model/checkpoint.h"
#include "model/scoring.h"
#include "model/trainer.h"
#include "tensor/device.h"
#include "tests/cuda_compare.h"
#include "tests/eval_test_util.h"
#include "tests/teacher_test_util.h"
#include "util/config.h"

using namespace ssmtl;
namespace fs = std::filesystem;

namespace {

constexpr int kClasses = 3, kJoints = 2, kCrop = 64;   // T8 needs 64x64 crops (4x4 tiles of 16)

// A tiny SSMTL++v2 (3D CNN + 3D CvT) with every task of the paper's tables (T1-T4, T6-T9; T5 optional).
util::Config every_task_config(bool pseudo, const std::string& device) {
  return util::Config::from_string(
      "model.name = ssmtl++v2-cpu\nmodel.backbone.channels = 4, 4, 8\nmodel.cvt.dim = 8\nmodel.cvt.heads = 2\n"
      "model.cvt.blocks = 1\nmodel.crop = " + std::to_string(kCrop) +
      "\nmodel.head_hidden = 4\nmodel.decoder_hidden = 4\n"
      "model.distill_classes = " + std::to_string(kClasses + 1) +
      "\nmodel.pose_joints = " + std::to_string(kJoints) +
      "\nmodel.tasks.distillation = true\nmodel.tasks.segmentation = true\nmodel.tasks.pose = true\n"
      "model.tasks.jigsaw = true\nmodel.tasks.pseudo_anomalies = " + (pseudo ? "true" : "false") +
      "\ntrain.pseudo_start_epoch = 0\ntrain.epochs = 1\ntrain.batch_size = 4\ntrain.max_objects_per_epoch = 8\n"
      "train.max_val_objects = 4\n"
      "train.device = " + device + "\n");
}

struct Run {
  TrainResult result;
  VideoScores scores;
  std::vector<std::vector<float>> weights;   // every parameter and buffer after training (best.ckpt)
};

Run train_and_score(const test::TinyDataset& d, bool pseudo, const std::string& device, const std::string& out) {
  util::Config cfg = every_task_config(pseudo, device);
  ModelConfig mc = ModelConfig::from_config(cfg);
  TrainOptions opt = TrainOptions::from_config(cfg);
  opt.data_root = d.root;
  opt.detections = d.detections;
  opt.teachers = d.teachers;
  opt.ood_root = std::string(SSMTL_SHARED_DIR) + "/data/ood";
  opt.out_dir = out;
  SSMTLModel model(mc, 11);
  Run r;
  r.result = train_model(model, opt, cfg.resolved_text());
  CHECK(model.device() == parse_device(device));
  for (const NamedTensor& nt : model.named_tensors()) r.weights.push_back(nt.tensor->to_vector());
  ObjectPool pool = ObjectPool::load(d.root, "training", d.detections, 0.0, false, {"v2"},
                                     TeacherSpec::for_model(mc, d.detections, d.teachers));
  ScoreOptions so;
  so.frame_mode = "max";
  so.seed = 5;
  r.scores = score_video(model, pool, 0, so);
  return r;
}

void compare_runs(const Run& g, const Run& c) {
  REQUIRE(g.result.epochs.size() == c.result.epochs.size());
  for (size_t e = 0; e < c.result.epochs.size(); ++e) {
    for (const auto& [task, v] : c.result.epochs[e].train)
      CHECK_MESSAGE(g.result.epochs[e].train.at(task) == doctest::Approx(v).epsilon(2e-3),
                    "epoch " << e << " training loss of " << task);
    CHECK(g.result.epochs[e].val_total == doctest::Approx(c.result.epochs[e].val_total).epsilon(2e-3));
  }
  CHECK(g.result.best_epoch == c.result.best_epoch);
  CHECK(g.result.skipped_steps == c.result.skipped_steps);
  // Adam (eps 1e-8) moves a weight by about +-lr = 1e-3 a step whatever the size of its gradient, so a
  // gradient within rounding of zero can move it the other way on the other device (two CPU runs with
  // different thread counts differ the same way). Two steps: at most 2 x 2 x lr apart, plus rounding.
  REQUIRE(g.weights.size() == c.weights.size());
  for (size_t i = 0; i < c.weights.size(); ++i)
    test::expect_close(g.weights[i], c.weights[i], test::Tol{4.5e-3f, 1e-3f}, "tensor " + std::to_string(i));
  for (const auto& [task, v] : c.scores.task_scores) {
    REQUIRE(g.scores.task_scores.count(task));
    test::expect_close(g.scores.task_scores.at(task), v, test::Tol{1e-3f, 5e-3f}, "scores of " + task);
  }
}

}  // namespace

TEST_CASE("cuda trainer and scorer on the GPU match the CPU run with every task on a tiny data set") {
  if (!cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  test::TempDir dir("cuda_pipeline");
  test::TinyDataset d = test::make_tiny_dataset(dir, kClasses, 21);
  test::write_tiny_teacher_maps(d, kCrop, kJoints, 22);
  const bool pseudo = fs::is_directory(std::string(SSMTL_SHARED_DIR) + "/data/ood/textures_dtd");
  if (!pseudo) MESSAGE("no ../shared/data/ood: T5 left out");
  Run c = train_and_score(d, pseudo, "cpu", dir / "cpu");
  Run g = train_and_score(d, pseudo, "cuda", dir / "cuda");
  compare_runs(g, c);
  // A run trained on the GPU resumes on the CPU from its checkpoint (checkpoints hold host copies).
  util::Config cfg = every_task_config(pseudo, "cpu");
  ModelConfig mc = ModelConfig::from_config(cfg);
  SSMTLModel back(mc, 0);
  load_checkpoint(dir / "cuda/best.ckpt", back);
  size_t i = 0;
  for (const NamedTensor& nt : back.named_tensors()) CHECK(nt.tensor->to_vector() == g.weights[i++]);
}

TEST_CASE("device selection: parse_device and Module::to and TaskBatch::to on the CPU with clear errors") {
  CHECK(parse_device("cpu") == Device::CPU);
  CHECK(test::error_of([] { parse_device("gpu"); }).find("unknown device 'gpu' (cpu or cuda)") != std::string::npos);
  if (!cuda_available())
    CHECK(test::error_of([] { parse_device("cuda"); }).find("device cuda: ") != std::string::npos);

  SSMTLModel m(ModelConfig::preset("ssmtl-cpu"), 3);
  std::vector<float> before = m.named_tensors()[0].tensor->to_vector();
  Tensor handle = *m.named_tensors()[0].tensor;
  m.to(Device::CPU);   // already there: the same tensors, not copies
  CHECK(m.named_tensors()[0].tensor->data() == handle.data());
  CHECK(m.device() == Device::CPU);
  CHECK(m.named_tensors()[0].tensor->to_vector() == before);

  TaskBatch b;
  b.inputs["arrow"] = Tensor::full({2, 3, 7, 4, 4}, 0.5f);
  b.tasks["arrow"].labels = {0, 1};
  TaskBatch same = b.to(Device::CPU);
  CHECK(same.input("arrow").data() == b.input("arrow").data());
  CHECK(same.samples("arrow").labels == b.samples("arrow").labels);
  CHECK(!same.inputs.count("middle"));

  // The trainer refuses an unknown device before reading any data.
  util::Config cfg = util::Config::from_string("train.device = tpu\n");
  TrainOptions opt = TrainOptions::from_config(cfg);
  opt.out_dir = (fs::temp_directory_path() / "ssmtl_device_test").string();
  opt.data_root = "/nonexistent";
  CHECK(test::error_of([&] { train_model(m, opt, ""); }).find("unknown device 'tpu'") != std::string::npos);
}
