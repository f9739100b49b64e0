#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/elementwise.h"
#include "kernels/precision.h"
#include "model/checkpoint.h"
#include "model/tasks_loss.h"
#include "optim/adam.h"
#include "tests/gradcheck.h"
#include "model/synthetic_batch.h"

using namespace ssmtl;

namespace {

// A model small enough for finite differences: 16x16 crops (2x2 features), 4 channels.
ModelConfig tiny(const std::string& name) {
  ModelConfig c = ModelConfig::preset(name);
  c.backbone.channels = {4, 4, 4};
  c.backbone.cvt_dim = 4;
  c.backbone.cvt_heads = 2;
  c.backbone.cvt_blocks = 1;
  c.crop = 16;
  c.head_hidden = 4;
  c.decoder_hidden = 4;
  c.distill_classes = 5;
  return c;
}

Tensor& named(SSMTLModel& m, const std::string& name) {
  for (auto& nt : m.named_tensors())
    if (nt.name == name) return *nt.tensor;
  throw std::runtime_error("no tensor " + name);
}

}  // namespace

TEST_CASE("model: configurations by name and their tasks") {
  CHECK(ModelConfig::preset("ssmtl").tasks.names() == "T1+T2+T3+T4");
  CHECK(ModelConfig::preset("ssmtl++v1").tasks.names() == "T1+T2+T3+T5");
  CHECK(ModelConfig::preset("ssmtl++v2").tasks.names() == "T1+T2+T3+T6");
  CHECK(ModelConfig::preset("ssmtl++v1").backbone.cvt_blocks == 3);
  CHECK(ModelConfig::preset("ssmtl++v1").backbone.cvt_heads == 12);
  CHECK(ModelConfig::preset("ssmtl").backbone.transformer == "none");
  CHECK_THROWS_AS(ModelConfig::preset("ssmtl++v3"), std::invalid_argument);
}

TEST_CASE("model: backbone and head output shapes (paper sizes: 64x64 crops -> 8x8 features)") {
  ModelConfig c = ModelConfig::preset("ssmtl++v1");
  c.backbone.cvt_blocks = 1;   // keep the test quick; shapes do not depend on depth
  SSMTLModel m(c, 1);
  Rng r(2);
  autograd::NoGradGuard ng;
  Tensor f = m.features(rand_uniform({2, 3, 7, 64, 64}, r), false);
  CHECK(f.shape() == Shape{2, 96, 8, 8});
  CHECK(m.head("arrow").forward(f, false).shape() == Shape{2, 2});
  CHECK(m.head("irregularity").forward(f, false).shape() == Shape{2, 2});
  CHECK(m.head("middle").forward(f, false).shape() == Shape{2, 3, 64, 64});
  CHECK(m.head("pseudo").forward(f, false).shape() == Shape{2, 3, 64, 64});
  CHECK(m.features(rand_uniform({2, 3, 6, 64, 64}, r), false).shape() == Shape{2, 96, 8, 8});
  CHECK(m.features(rand_uniform({2, 3, 1, 64, 64}, r), false).shape() == Shape{2, 96, 8, 8});
  ModelConfig s = ModelConfig::preset("ssmtl");
  SSMTLModel ms(s, 1);
  Tensor g = ms.features(rand_uniform({1, 3, 7, 64, 64}, r), false);
  CHECK(g.shape() == Shape{1, 32, 8, 8});
  CHECK(ms.head("distillation").forward(g, false).shape() == Shape{1, 81});
}

TEST_CASE("model: one training step of each configuration passes a finite-difference gradient check") {
  for (std::string name : {"ssmtl", "ssmtl++v1", "ssmtl++v2"}) {
    CAPTURE(name);
    ModelConfig c = tiny(name);
    SSMTLModel m(c, 7);
    TaskBatch b = random_batch(c, 3, 11);
    // A head weight and an early backbone weight: the gradient crosses every layer in between.
    std::vector<Tensor> ps = {named(m, "backbone.conv2.weight"), named(m, "arrow.fc.weight")};
    test::GradCheckOptions o;
    o.eps = 2e-3f;   // small: ReLU and max-pool kinks must not fall inside the step
    o.atol = 3e-3;
    o.rtol = 5e-2;
    o.max_bad_fraction = 0.01;   // a few of 432 steps cross a ReLU / max-pool kink in a 3-stage network
    test::gradcheck([&](const std::vector<Tensor>&) { return compute_task_losses(m, b, true).normal; }, ps, o);
    if (c.tasks.on("pseudo")) {
      std::vector<Tensor> pp = {named(m, "pseudo.out.weight")};
      test::gradcheck([&](const std::vector<Tensor>&) { return compute_pseudo_loss(m, b, true); }, pp, o);
    }
  }
}

TEST_CASE("model: a tiny model overfits one batch (loss falls by 10x)") {
  ModelConfig c = tiny("ssmtl++v2");
  c.tasks.set("middle", false);
  c.tasks.set("inpainting", false);   // classification tasks only: memorise 8 random labels
  SSMTLModel m(c, 3);
  TaskBatch b = random_batch(c, 8, 5);
  Adam opt({ParamGroup{m.parameters(), 1e-2f}});
  float first = 0, last = 0;
  for (int step = 0; step < 150; ++step) {
    opt.zero_grad();
    Tensor l = compute_task_losses(m, b, true).normal;
    if (step == 0) first = l.item();
    last = l.item();
    autograd::backward(l);
    opt.step();
  }
  CHECK(last < first / 10);
}

TEST_CASE("model: same seed gives identical weights after training steps and another seed differs") {
  auto run = [](uint64_t seed) {
    ModelConfig c = tiny("ssmtl++v1");
    SSMTLModel m(c, seed);
    TaskBatch b = random_batch(c, 4, seed + 1);
    Adam opt({ParamGroup{m.parameters(), 1e-3f}});
    for (int s = 0; s < 3; ++s) {
      opt.zero_grad();
      autograd::backward(compute_task_losses(m, b, true).normal);
      opt.step();
    }
    std::vector<float> all;
    for (auto& p : m.parameters()) {
      auto v = p.to_vector();
      all.insert(all.end(), v.begin(), v.end());
    }
    return all;
  };
  CHECK(run(123) == run(123));
  CHECK(run(123) != run(124));
}

TEST_CASE("model: checkpoint round trip restores every parameter and buffer and bad files are named") {
  ModelConfig c = tiny("ssmtl++v1");
  SSMTLModel a(c, 1), b(c, 2);
  TaskBatch batch = random_batch(c, 4, 3);
  compute_task_losses(a, batch, true);   // moves the BatchNorm running statistics away from their init
  std::string path = (std::filesystem::temp_directory_path() / "ssmtl_test_ckpt.bin").string();
  save_checkpoint(path, a, {"model.name = ssmtl++v1\n", "state"});
  CheckpointMeta meta = load_checkpoint(path, b);
  CHECK(meta.config_text == "model.name = ssmtl++v1\n");
  CHECK(meta.trainer_state == "state");
  auto ta = a.named_tensors(), tb = b.named_tensors();
  REQUIRE(ta.size() == tb.size());
  for (size_t i = 0; i < ta.size(); ++i) CHECK(ta[i].tensor->to_vector() == tb[i].tensor->to_vector());
  SSMTLModel other(tiny("ssmtl++v2"), 1);
  CHECK_THROWS_AS(load_checkpoint(path, other), std::runtime_error);
  CHECK_THROWS_WITH_AS(load_checkpoint(path + ".missing", b), doctest::Contains("ssmtl_test_ckpt.bin.missing"),
                       std::runtime_error);
  std::filesystem::remove(path);
}

TEST_CASE("model: T5 gradient ascent of the backbone stays finite and bounded over many steps") {
  ModelConfig c = tiny("ssmtl++v1");
  SSMTLModel m(c, 4);
  TaskBatch b = random_batch(c, 4, 9);
  Adam ascent({ParamGroup{m.backbone_parameters(), -0.2f * 1e-1f}, ParamGroup{m.ascent_parameters(), 1e-1f}});
  for (int s = 0; s < 200; ++s) {
    ascent.zero_grad();
    Tensor l = compute_pseudo_loss(m, b, true);
    float v = l.item();
    REQUIRE(std::isfinite(v));
    CHECK(v <= 1.f);   // sigmoid output and [0,1] targets bound the L1 loss
    autograd::backward(l);
    ascent.step();
  }
  for (auto& p : m.parameters())
    for (float x : p.to_vector()) REQUIRE(std::isfinite(x));
}

TEST_CASE("model: object scores are the mean of the task scores, reproducible, in eval mode") {
  ModelConfig c = tiny("ssmtl++v2");
  SSMTLModel m(c, 5);
  Rng r(1);
  Tensor seq = rand_uniform({3, 3, 7, 16, 16}, r);
  std::vector<Tensor> before;
  for (auto& nt : m.named_tensors()) before.push_back(nt.tensor->clone());
  auto s1 = score_objects(m, seq, Tensor(), 9, {1, 2, 3});
  auto s2 = score_objects(m, seq, Tensor(), 9, {1, 2, 3});
  CHECK(s1 == s2);
  REQUIRE(s1.count("object"));
  for (int i = 0; i < 3; ++i) {
    double mean = (s1["arrow"][i] + s1["irregularity"][i] + s1["middle"][i] + s1["inpainting"][i]) / 4.0;
    CHECK(s1["object"][i] == doctest::Approx(mean).epsilon(1e-6));
    CHECK(s1["arrow"][i] >= 0.f);
    CHECK(s1["arrow"][i] <= 1.f);
  }
  size_t k = 0;
  for (auto& nt : m.named_tensors()) CHECK(nt.tensor->to_vector() == before[k++].to_vector());   // no BN update
}

TEST_CASE("model: bf16 object scores stay within 0.5% of fp32's (paper-width CvT products in bf16)") {
  if (!kernels::cpu_has_bf16()) {
    MESSAGE("this CPU has no AVX512_BF16: skipped");
    return;
  }
  ModelConfig c = ModelConfig::preset("ssmtl++v1");
  c.backbone.channels = {8, 16, 16};
  c.backbone.cvt_dim = 32;   // linear layers of width 32 and 128: the bf16 panels
  c.backbone.cvt_heads = 4;
  c.backbone.cvt_blocks = 1;
  c.crop = 32;
  SSMTLModel m(c, 5);
  Rng r(2);
  Tensor seq = rand_uniform({4, 3, 7, 32, 32}, r);
  auto f32 = score_objects(m, seq, Tensor(), 9, {1, 2, 3, 4});
  std::map<std::string, std::vector<float>> b16;
  {
    kernels::MatmulPrecisionScope bf16(kernels::MatmulPrecision::bf16);
    b16 = score_objects(m, seq, Tensor(), 9, {1, 2, 3, 4});
  }
  bool any_differs = false;
  for (const auto& [task, v] : f32) {
    REQUIRE(b16.at(task).size() == v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      CHECK_MESSAGE(std::fabs(b16.at(task)[i] - v[i]) <= 0.005 * std::fabs(v[i]) + 1e-5, task << " " << i);
      any_differs |= b16.at(task)[i] != v[i];
    }
  }
  CHECK(any_differs);
}
