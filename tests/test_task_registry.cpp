// A new proxy task is one file plus one registration: this file defines a toy task (T10 colour inversion:
// was the middle crop's colour inverted?) without touching model/, registers it, and trains and scores a
// model with it through the same code paths as the paper's tasks (configuration key, SampleBuilder,
// train_step, train_model with validation and checkpoints, score_objects, score_video).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "autograd/activation.h"
#include "autograd/elementwise.h"
#include "autograd/engine.h"
#include "autograd/loss.h"
#include "autograd/shape.h"
#include "data/samples/sequences.h"
#include "eval/frame_scores.h"
#include "eval/task_normalize.h"
#include "model/checkpoint.h"
#include "model/scoring.h"
#include "model/trainer.h"
#include "tests/teacher_test_util.h"
#include "util/config.h"

using namespace ssmtl;

namespace {

// (3, S, S) -> 1 - x
Tensor inverted(const Tensor& img) {
  Tensor out = img.clone();
  for (int64_t i = 0; i < out.numel(); ++i) out.data()[i] = 1.f - out.data()[i];
  return out;
}

class ColourInversion : public ProxyTask {
 public:
  ColourInversion()
      : ProxyTask({"T10", "inversion", "T10 colour inversion", "colour_inversion", "inversion", "inversion",
                   Window::kSingleFrame, Source::kFrames, Role::kDescent, false}) {}
  std::unique_ptr<Head> make_head(const ModelConfig& c, int channels, Rng& rng) const override {
    return std::make_unique<ClassHead>(channels, c.head_hidden, c.crop / 8, 2, rng);
  }
  void begin_batch(TaskBatch& b, int64_t B, int S, const ObjectTeachers&) const override {
    b.inputs[info().input] = Tensor::empty({B, 3, 1, S, S});
    b.tasks[info().name].labels.resize(B);
  }
  void sample(const ObjectSample& o, Rng& rng, TaskBatch& b, int64_t i) const override {
    const int label = rng.bernoulli(0.5) ? 1 : 0;
    put_row(b.inputs.at(info().input), i, label ? inverted(o.middle) : o.middle);
    b.tasks.at(info().name).labels[i] = label;
  }
  Tensor loss(Head& head, const Tensor& f, const TaskSamples& s, bool training) const override {
    return cross_entropy(head.forward(f, training), s.labels);
  }
  std::vector<float> score(Head& head, ScoreContext& c) const override {   // p(inverted) of the real crop
    return probs_column(softmax(head.forward(c.features(Window::kSingleFrame), false)), 1);
  }
};

// The one registration (at first use, so that the other test cases see only the paper's tasks).
void register_toy() {
  static const bool registered = register_task(std::make_unique<ColourInversion>());
  (void)registered;
}

util::Config toy_config() {
  return util::Config::from_string(
      "model.name = ssmtl++v1\nmodel.backbone.channels = 4, 4, 4\nmodel.crop = 16\nmodel.cvt.dim = 4\n"
      "model.cvt.heads = 2\nmodel.cvt.blocks = 1\nmodel.head_hidden = 4\nmodel.decoder_hidden = 4\n"
      "model.tasks.arrow_of_time = false\nmodel.tasks.motion_irregularity = false\nmodel.tasks.middle_box = false\n"
      "model.tasks.pseudo_anomalies = false\nmodel.tasks.colour_inversion = true\n"
      "train.epochs = 2\ntrain.batch_size = 8\ntrain.val_fraction = 0.34\n");
}

}  // namespace

TEST_CASE("task registry: a toy task defined in a test file is configured, trained and scored") {
  register_toy();
  CHECK(find_task("inversion").info().label == "T10 colour inversion");
  CHECK_THROWS_WITH_AS(register_task(std::make_unique<ColourInversion>()), doctest::Contains("clashes with"),
                       std::invalid_argument);
  util::Config cfg = toy_config();
  ModelConfig mc = ModelConfig::from_config(cfg);
  CHECK(mc.tasks.names() == "T10");
  CHECK(mc.tasks.count_scored() == 1);
  CHECK(cfg.resolved_text().find("model.tasks.colour_inversion = true") != std::string::npos);

  test::TempDir dir("toy_task");
  test::TinyDataset d = test::make_tiny_dataset(dir, 2, 4);
  ObjectPool pool = ObjectPool::load(d.root, "training", d.detections, 0.0, true);
  SampleBuilder builder(pool, mc, nullptr);

  SUBCASE("samples, a few real steps that learn the task, scores") {
    std::vector<size_t> ids(16);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = i;
    const TaskBatch b = builder.build(ids, 3, false);
    const TaskSamples& s = b.samples("inversion");
    REQUIRE(b.input("inversion").shape() == Shape{16, 3, 1, 16, 16});
    const int inverted_count = static_cast<int>(std::count(s.labels.begin(), s.labels.end(), 1));
    CHECK(inverted_count > 0);
    CHECK(inverted_count < 16);
    for (size_t i = 0; i < ids.size(); ++i) {   // row i is the middle crop, inverted when labelled so
      const PoolObject& o = pool.objects()[ids[i]];
      Tensor mid = crop_object(pool.video(o.video), {o.frame}, o.box, 16);
      const float got = b.input("inversion").data()[i * 768 + 100], want = mid.data()[100];
      CHECK(got == doctest::Approx(s.labels[i] ? 1.f - want : want));
    }

    SSMTLModel model(mc, 1);
    REQUIRE(model.tasks.size() == 1);
    CHECK(model.named_tensors().back().name.rfind("inversion.", 0) == 0);   // checkpoint names from TaskInfo
    TrainOptions topt;
    topt.lr = 1e-2;
    Optimisers optim(model, topt);
    CHECK(!optim.ascent);
    float first = 0, last = 0;
    for (int step = 0; step < 40; ++step) {
      const StepResult r = train_step(model, optim, b, false, topt.pseudo_loss_cap);
      REQUIRE(!r.skipped);
      REQUIRE(r.losses.count("inversion"));
      if (step == 0) first = r.loss;
      last = r.loss;
    }
    CHECK(first == doctest::Approx(std::log(2.0)).epsilon(0.2));   // an untrained 2-class head
    CHECK(last < first / 4);   // it memorises these 16 (noise frames: inverted noise looks like noise)

    // Scores: the task's p(inverted) on the real middle crops, and the object score is that one task's.
    Tensor seq = Tensor::empty({4, 3, 7, 16, 16});
    for (int i = 0; i < 4; ++i) {
      const PoolObject& o = pool.objects()[i];
      auto w = sequence_frames(o.frame, pool.video(o.video).num_frames());
      put_row(seq, i, crop_object(pool.video(o.video), std::vector<int>(w.begin(), w.end()), o.box, 16));
    }
    auto sc = score_objects(model, seq, ObjectTeachers(), 0, {1, 2, 3, 4});
    REQUIRE(sc.size() == 2);
    autograd::NoGradGuard ng;
    Tensor mid = reshape(slice(seq, 2, 3, 4), {4, 3, 1, 16, 16});
    std::vector<float> want = probs_column(softmax(model.head("inversion").forward(model.features(mid, false), false)), 1);
    for (int i = 0; i < 4; ++i) {
      CHECK(sc["inversion"][i] == doctest::Approx(want[i]).epsilon(1e-6));
      CHECK(sc["object"][i] == sc["inversion"][i]);
    }
  }

  SUBCASE("train_model and score_video with the toy task alone") {
    TrainOptions opt = TrainOptions::from_config(cfg);
    opt.data_root = d.root;
    opt.detections = d.detections;
    opt.out_dir = dir / "run";
    SSMTLModel model(mc, 2);
    TrainResult r = train_model(model, opt, cfg.resolved_text());
    REQUIRE(r.epochs.size() == 2);
    for (const EpochLog& e : r.epochs) {
      REQUIRE(e.train.count("inversion"));
      REQUIRE(e.val.count("inversion"));
      CHECK(std::isfinite(e.train.at("inversion")));
      CHECK(e.val_total == doctest::Approx(e.val.at("inversion")));
    }
    SSMTLModel back(mc, 9);
    load_checkpoint(opt.out_dir + "/best.ckpt", back);
    ObjectPool test_pool = ObjectPool::load(d.root, "training", d.detections, 0.0, false, {"v2"});
    ScoreOptions so;
    so.frame_mode = "max";
    VideoScores vs = score_video(back, test_pool, 0, so);
    REQUIRE(vs.task_scores.at("inversion").size() == vs.regions.size());
    for (size_t k = 0; k < vs.regions.size(); ++k) {
      CHECK(vs.regions[k].score == doctest::Approx(vs.task_scores.at("inversion")[k]));
      CHECK(vs.task_scores.at("inversion")[k] >= 0.f);
      CHECK(vs.task_scores.at("inversion")[k] <= 1.f);
    }
    // A checkpoint ensemble of the trained and an untrained model: per-object means, frames from the means.
    SSMTLModel untrained(mc, 5);
    VideoScores other = score_video(untrained, test_pool, 0, so);
    VideoScores mean = average_video_scores({vs, other}, test_pool.video(0), so);
    REQUIRE(mean.regions.size() == vs.regions.size());
    bool differ = false;
    for (size_t k = 0; k < vs.regions.size(); ++k) {
      const double want = (vs.task_scores.at("object")[k] + other.task_scores.at("object")[k]) / 2.0;
      CHECK(mean.regions[k].score == doctest::Approx(want).epsilon(1e-6));
      CHECK(mean.task_scores.at("inversion")[k] == doctest::Approx(want).epsilon(1e-6));
      differ |= vs.task_scores.at("object")[k] != other.task_scores.at("object")[k];
    }
    CHECK(differ);
    CHECK(mean.frame_scores == eval::frame_scores_max(mean.regions, mean.num_frames));
    // Normalised object scores: zscore with statistics of these same objects have mean 0 and std 1.
    eval::TaskNormalizer norm("zscore");
    norm.fit(vs.task_scores);
    so.normalizer = &norm;
    VideoScores z = score_video(back, test_pool, 0, so);
    double m = 0, sq = 0;
    for (float x : z.task_scores.at("object")) m += x;
    m /= static_cast<double>(z.regions.size());
    for (float x : z.task_scores.at("object")) sq += (x - m) * (x - m);
    CHECK(m == doctest::Approx(0.0).epsilon(1e-5));
    CHECK(std::sqrt(sq / static_cast<double>(z.regions.size())) == doctest::Approx(1.0).epsilon(1e-4));
    for (size_t k = 0; k < z.regions.size(); ++k) CHECK(z.regions[k].score == z.task_scores.at("object")[k]);
  }
}
