// T7 segmentation and T9 pose from teacher maps: the SSMTLTCH file format (data/teacher_maps.h), its
// matching with region files, the C-channel decoder heads, their L2 losses and scores, and training
// with --teachers files.
#include <doctest/doctest.h>

#include "tests/eval_test_util.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <cstring>
#include <fstream>

#include "autograd/loss.h"
#include "model/scoring.h"
#include "model/tasks_loss.h"
#include "model/trainer.h"
#include "tests/gradcheck.h"
#include "tests/teacher_test_util.h"
#include "util/atomic_file.h"
#include "util/config.h"

using namespace ssmtl;
using test::error_of;
using test::TempDir;
namespace fs = std::filesystem;

namespace {


TeacherMaps two_maps() {
  TeacherMaps m;
  m.kind = TeacherKind::kPose;
  m.channels = 2;
  m.size = 3;
  m.objects = {{0, 1.5, 2, 10, 12.25}, {4, 0, 0, 5, 5}};
  for (int i = 0; i < 36; ++i) m.values.push_back(static_cast<float>(i) / 35.f);
  return m;
}

// A tiny model with T7 and T9 (2 joints) on top of ssmtl++v2's tasks, through util::Config.
util::Config tiny_config() {
  return util::Config::from_string(
      "model.name = ssmtl++v2\nmodel.backbone.channels = 4, 4, 4\nmodel.crop = 16\nmodel.cvt.dim = 4\n"
      "model.cvt.heads = 2\nmodel.cvt.blocks = 1\nmodel.head_hidden = 4\nmodel.decoder_hidden = 4\n"
      "model.tasks.inpainting = false\nmodel.tasks.segmentation = true\nmodel.tasks.pose = true\n"
      "model.pose_joints = 2\ntrain.epochs = 1\ntrain.batch_size = 4\n");
}

Tensor& named(SSMTLModel& m, const std::string& name) {
  for (auto& nt : m.named_tensors())
    if (nt.name == name) return *nt.tensor;
  throw std::runtime_error("no tensor " + name);
}

}  // namespace

TEST_CASE("teacher maps: SSMTLTCH v1 round trip") {
  TempDir dir("teacher");
  TeacherMaps m = two_maps();
  save_teacher_maps(dir / "a.pose", m);
  CHECK(fs::file_size(dir / "a.pose") == 12 + 20 + 2 * (40 + 18 * 4));
  TeacherMaps r = load_teacher_maps(dir / "a.pose", TeacherKind::kPose, 2, 3);
  CHECK(r.kind == TeacherKind::kPose);
  CHECK(r.channels == 2);
  CHECK(r.size == 3);
  REQUIRE(r.objects.size() == 2);
  CHECK(r.objects[0].frame == 0);
  CHECK(r.objects[0].x_min == 1.5);
  CHECK(r.objects[0].y_max == 12.25);
  CHECK(r.objects[1].frame == 4);
  CHECK(r.values == m.values);
  CHECK(r.map(1)[0] == m.values[18]);
  TeacherMaps empty;
  empty.size = 16;
  save_teacher_maps(dir / "e.seg", empty);
  CHECK(load_teacher_maps(dir / "e.seg", TeacherKind::kSegmentation, 1, 16).objects.empty());
  CHECK(std::string(teacher_file_extension(TeacherKind::kSegmentation)) == ".seg");
  CHECK(std::string(teacher_file_extension(TeacherKind::kPose)) == ".pose");
}

TEST_CASE("teacher maps: bad files name the file, the object and both numbers") {
  TempDir dir("teacher");
  const std::string p = dir / "a.pose";
  save_teacher_maps(p, two_maps());
  const std::string good = util::read_file(p);
  auto err = [&](const std::string& bytes, TeacherKind k = TeacherKind::kPose, int c = 2, int s = 3) {
    dir.write("b.pose", bytes);
    return error_of([&] { load_teacher_maps(dir / "b.pose", k, c, s); });
  };
  CHECK(error_of([&] { load_teacher_maps(dir / "none.seg", TeacherKind::kSegmentation, 1, 3); })
            .find("none.seg: cannot open the segmentation teacher maps") != std::string::npos);
  CHECK(err("SSMTLCKP" + good.substr(8)).find("b.pose: not a SSMTLTCH file") != std::string::npos);
  std::string v2 = good;
  v2[8] = 2;
  CHECK(err(v2).find("b.pose: format version 2") != std::string::npos);
  CHECK(err(good, TeacherKind::kSegmentation, 2, 3).find("b.pose: holds pose maps, expected segmentation") !=
        std::string::npos);
  CHECK(err(good, TeacherKind::kPose, 16, 3).find("b.pose: maps have 2 channels, the model expects 16 "
                                                 "(model.pose_joints)") != std::string::npos);
  CHECK(err(good, TeacherKind::kPose, 2, 64).find("b.pose: maps are 3x3, the model's crop is 64x64") !=
        std::string::npos);
  CHECK(err(good.substr(0, 20)).find("b.pose: truncated header") != std::string::npos);
  CHECK(err(good.substr(0, good.size() - 4)).find("b.pose: truncated at object 1 of 2") != std::string::npos);
  CHECK(err(good + "xy").find("b.pose: 2 bytes after the last of 2 objects") != std::string::npos);
  std::string kind = good;
  kind[12] = 7;
  CHECK(err(kind).find("b.pose: unknown teacher kind 7") != std::string::npos);
  std::string big = good;   // value 0 of object 1's channel 1 := 2.0
  const float two = 2.f;
  std::memcpy(&big[32 + 112 + 40 + 9 * 4], &two, 4);
  CHECK(err(big).find("b.pose: object 1 (frame 4): value 2.000000 at channel 1 outside [0, 1]") != std::string::npos);
  TeacherMaps bad = two_maps();
  bad.values[20] = std::nanf("");
  CHECK(error_of([&] { save_teacher_maps(dir / "c.pose", bad); }).find("c.pose: object 1 (frame 4): value nan") !=
        std::string::npos);
  bad.values.pop_back();
  CHECK_THROWS_AS(save_teacher_maps(dir / "c.pose", bad), std::invalid_argument);
  CHECK(!fs::exists(dir / "c.pose"));
}

TEST_CASE("teacher maps: every object must match its region-file line") {
  TempDir dir("teacher");
  test::TinyDataset d = test::make_tiny_dataset(dir, 2, 4, 1);
  test::write_tiny_teacher_maps(d, 16, 3, 5);
  const std::string det = d.detections + "/v0.txt";
  std::vector<Region> regions = load_regions(det);
  TeacherSpec spec;
  spec.maps_dir = d.teachers;
  spec.segmentation = true;
  spec.pose_joints = 3;
  spec.crop = 16;
  VideoTeachers vt = load_video_teachers(spec, "v0", det, regions);
  REQUIRE(vt.segmentation);
  REQUIRE(vt.pose);
  CHECK(vt.pose->values == d.pose["v0"].values);
  std::vector<Region> moved = regions;
  moved[1].frame = 6;
  std::string e = error_of([&] { load_video_teachers(spec, "v0", det, moved); });
  CHECK(e.find("v0.seg: object 1 (frame 1 box [3.5,3,18.25,18]) does not match line 2 of " + det +
               " (frame 6 box") != std::string::npos);
  spec.crop = 32;
  CHECK(error_of([&] { load_video_teachers(spec, "v0", det, regions); }).find("the model's crop is 32x32") !=
        std::string::npos);
  util::Config cfg = tiny_config();
  ModelConfig mc = ModelConfig::from_config(cfg);
  CHECK(error_of([&] { TeacherSpec::for_model(mc, d.detections, ""); }).find("T7 segmentation needs teacher maps") !=
        std::string::npos);
}

TEST_CASE("teacher maps: T7 and T9 heads, L2 losses and per-object scores on a tiny model") {
  util::Config cfg = tiny_config();
  ModelConfig c = ModelConfig::from_config(cfg);
  CHECK(c.tasks.names() == "T1+T2+T3+T7+T9");
  CHECK(c.pose_joints == 2);
  SSMTLModel m(c, 3);
  Rng r(4);
  const int B = 3, S = 16;
  TaskBatch b;
  b.inputs["arrow"] = rand_uniform({B, 3, 7, S, S}, r);
  b.tasks["arrow"].labels = {0, 1, 0};
  b.inputs["irregularity"] = rand_uniform({B, 3, 7, S, S}, r);
  b.tasks["irregularity"].labels = {1, 0, 0};
  b.inputs["middle"] = rand_uniform({B, 3, 6, S, S}, r);
  b.tasks["middle"].target = rand_uniform({B, 3, S, S}, r);
  b.inputs["middle_crop"] = rand_uniform({B, 3, 1, S, S}, r);   // shared by T7 and T9
  b.tasks["segmentation"].target = rand_uniform({B, 1, S, S}, r);
  b.tasks["pose"].target = rand_uniform({B, 2, S, S}, r);
  {
    autograd::NoGradGuard ng;
    Tensor f = m.features(b.input("middle_crop"), false);
    Tensor seg = m.head("segmentation").forward(f, false), pose = m.head("pose").forward(f, false);
    CHECK(seg.shape() == Shape{B, 1, S, S});
    CHECK(pose.shape() == Shape{B, 2, S, S});
    // Eval mode: BatchNorm uses running statistics, so the shared pass equals separate ones.
    TaskLosses L = compute_task_losses(m, b, false);
    CHECK(L.values.at("segmentation") == doctest::Approx(mse_loss(seg, b.samples("segmentation").target).item()).epsilon(1e-5));
    CHECK(L.values.at("pose") == doctest::Approx(mse_loss(pose, b.samples("pose").target).item()).epsilon(1e-5));
    CHECK(L.values.size() == 5);

    // Scores: the middle frame of the sequence is the crop; teacher = prediction gives 0.
    Tensor seq = rand_uniform({B, 3, 7, S, S}, r);
    Tensor crop = Tensor::empty({B, 3, 1, S, S});
    for (int i = 0; i < B; ++i)
      for (int ch = 0; ch < 3; ++ch)
        std::copy_n(seq.data() + ((i * 3 + ch) * 7 + 3) * S * S, S * S, crop.data() + (i * 3 + ch) * S * S);
    Tensor fc = m.features(crop, false);
    ObjectTeachers t;
    t.segmentation = m.head("segmentation").forward(fc, false);
    t.pose = rand_uniform({B, 2, S, S}, r);
    auto s = score_objects(m, seq, t, 0, {1, 2, 3});
    std::vector<float> want_pose = mse_per_sample(m.head("pose").forward(fc, false), t.pose).to_vector();
    for (int i = 0; i < B; ++i) {
      CHECK(s["segmentation"][i] == doctest::Approx(0.0).epsilon(1e-7));
      CHECK(s["pose"][i] == doctest::Approx(want_pose[i]).epsilon(1e-5));
      CHECK(s["pose"][i] > 0.01f);
      double mean = (s["arrow"][i] + s["irregularity"][i] + s["middle"][i] + s["segmentation"][i] + s["pose"][i]) / 5;
      CHECK(s["object"][i] == doctest::Approx(mean).epsilon(1e-5));
    }
    ObjectTeachers missing = t;
    missing.pose = Tensor();
    CHECK(error_of([&] { score_objects(m, seq, missing, 0, {1, 2, 3}); }).find("T9 pose needs its teacher") !=
          std::string::npos);
    missing.pose = rand_uniform({B, 3, S, S}, r);
    CHECK(error_of([&] { score_objects(m, seq, missing, 0, {1, 2, 3}); })
              .find("T9 pose teacher [3, 3, 16, 16], expected [3, 2, 16, 16]") != std::string::npos);
  }
  // Gradients of the new heads through the whole loss: decoder output weights and an early backbone weight.
  std::vector<Tensor> ps = {named(m, "segmentation.out.weight"), named(m, "pose.out.weight"),
                            named(m, "pose.conv0.weight")};
  for (const char* task : {"arrow", "irregularity", "middle"}) {   // T7 + T9 only
    b.inputs.erase(task);
    m.cfg.tasks.set(task, false);
  }
  m.tasks.erase(std::remove_if(m.tasks.begin(), m.tasks.end(),
                               [&](const SSMTLModel::TaskHead& th) { return !m.cfg.tasks.on(th.task->info().name); }),
                m.tasks.end());
  test::GradCheckOptions o;
  o.eps = 2e-3f;
  o.atol = 3e-3;
  o.rtol = 5e-2;
  o.max_bad_fraction = 0.01;   // ReLU kinks inside the decoder
  test::gradcheck([&](const std::vector<Tensor>&) { return compute_task_losses(m, b, true).normal; }, ps, o);
}

TEST_CASE("teacher maps: gradient check of a C-channel decoder head") {
  Rng r(6);
  Decoder dec(3, 4, r, 5);
  Tensor f = rand_uniform({2, 3, 2, 2}, r);
  f.set_requires_grad(true);
  CHECK(dec.forward(f, true).shape() == Shape{2, 5, 16, 16});
  test::GradCheckOptions o;
  o.eps = 1e-3f;
  o.atol = 2e-3;
  o.rtol = 2e-2;
  // Training mode: the C-channel output convolution (after the last ReLU, so no kink between it and the
  // output). Every element must match.
  test::gradcheck([&](const std::vector<Tensor>&) { return dec.forward(f, true); }, {dec.out.weight, dec.out.bias}, o);
  // Eval mode, down to the decoder's input: BatchNorm is then a fixed affine map. (In training mode one
  // input element moves the batch statistics and with them every ReLU input of the layer, so a +-eps
  // step crosses many kinks and finite differences stop being a reference.)
  test::gradcheck([&](const std::vector<Tensor>&) { return dec.forward(f, false); }, {f, dec.out.weight, dec.out.bias},
                  o);
}

TEST_CASE("teacher maps: SampleBuilder batches and train_model with teacher files") {
  TempDir dir("teacher");
  test::TinyDataset d = test::make_tiny_dataset(dir, 2, 7);
  test::write_tiny_teacher_maps(d, 16, 2, 8);
  util::Config cfg = tiny_config();
  ModelConfig mc = ModelConfig::from_config(cfg);
  ObjectPool pool = ObjectPool::load(d.root, "training", d.detections, 0.5, false, {},
                                     TeacherSpec::for_model(mc, d.detections, d.teachers));
  std::vector<size_t> ids = {1, 4, 10, 30};
  TaskBatch b = SampleBuilder(pool, mc, nullptr).build(ids, 3, false);
  const Tensor& crop_x = b.input("middle_crop");
  const Tensor& seg_y = b.samples("segmentation").target;
  const Tensor& pose_y = b.samples("pose").target;
  REQUIRE(crop_x.shape() == Shape{4, 3, 1, 16, 16});
  REQUIRE(seg_y.shape() == Shape{4, 1, 16, 16});
  REQUIRE(pose_y.shape() == Shape{4, 2, 16, 16});
  for (size_t i = 0; i < ids.size(); ++i) {
    const PoolObject& o = pool.objects()[ids[i]];
    const std::string& v = d.videos[o.video];
    const float* seg = d.seg[v].map(o.line);
    const float* pose = d.pose[v].map(o.line);
    CHECK(std::equal(seg, seg + 256, seg_y.data() + i * 256));
    CHECK(std::equal(pose, pose + 512, pose_y.data() + i * 512));
    Tensor mid = crop_object(pool.video(o.video), {o.frame}, o.box, 16);
    CHECK(std::equal(mid.data(), mid.data() + 768, crop_x.data() + i * 768));
  }
  ModelConfig more = mc;
  more.pose_joints = 16;
  CHECK(error_of([&] { SampleBuilder(pool, more, nullptr); }).find("model.pose_joints = 16 channels") !=
        std::string::npos);
  ObjectPool bare = ObjectPool::load(d.root, "training", d.detections, 0.5, false);
  CHECK(error_of([&] { SampleBuilder(bare, mc, nullptr); }).find("T7 segmentation needs teacher maps") !=
        std::string::npos);

  TrainOptions opt = TrainOptions::from_config(cfg);
  opt.data_root = d.root;
  opt.detections = d.detections;
  opt.teachers = d.teachers;
  opt.out_dir = dir / "run";
  SSMTLModel model(mc, 2);
  TrainResult r = train_model(model, opt, cfg.resolved_text());
  REQUIRE(r.epochs.size() == 1);
  for (const char* task : {"segmentation", "pose"}) {
    CAPTURE(task);
    REQUIRE(r.epochs[0].train.count(task));
    CHECK(std::isfinite(r.epochs[0].train.at(task)));
    CHECK(r.epochs[0].train.at(task) > 0.01);   // uniform targets vs a sigmoid: about 1/12 + (p - 1/2)^2
    CHECK(r.epochs[0].train.at(task) < 0.5);
  }
  ScoreOptions so;
  so.frame_mode = "max";
  VideoScores s = score_video(model, pool, 2, so);
  CHECK(s.task_scores.at("segmentation").size() == s.regions.size());
  CHECK(s.task_scores.at("pose").size() == s.regions.size());
}
