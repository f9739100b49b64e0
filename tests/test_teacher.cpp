// T4 knowledge distillation end to end: the detector's class probabilities written by `ssmtl detect`
// (data/detect/class_probs.h), read next to the region files (model/teachers.h), batched by SampleBuilder,
// trained by train_model and scored by score_video.
#include <doctest/doctest.h>

#include "tests/eval_test_util.h"
#include <sys/wait.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "data/detect/background.h"
#include "data/detect/detect_video.h"
#include "data/samples/sequences.h"
#include "model/scoring.h"
#include "model/trainer.h"
#include "tests/teacher_test_util.h"
#include "util/atomic_file.h"
#include "util/config.h"

using namespace ssmtl;
using test::error_of;
using test::TempDir;
namespace fs = std::filesystem;

namespace {


// A tiny `ssmtl` model (16x16 crops, 4 channels) for K detector classes, through util::Config.
util::Config tiny_config(int K) {
  return util::Config::from_string("model.name = ssmtl\nmodel.backbone.channels = 4, 4, 4\nmodel.crop = 16\n"
                                   "model.head_hidden = 4\nmodel.decoder_hidden = 4\nmodel.distill_classes = " +
                                   std::to_string(K + 1) + "\ntrain.epochs = 1\ntrain.batch_size = 4\n");
}

// The tiny run of the T4 tests: cfg's model trained on d into dir/run, 8 validation objects.
struct TinyRun {
  ModelConfig mc;
  TrainOptions opt;
};
TinyRun tiny_run(util::Config& cfg, const test::TinyDataset& d, const TempDir& dir) {
  TinyRun t{ModelConfig::from_config(cfg), TrainOptions::from_config(cfg)};
  t.opt.data_root = d.root;
  t.opt.detections = d.detections;
  t.opt.out_dir = dir / "run";
  t.opt.max_val_objects = 8;
  return t;
}

std::vector<std::string> lines_of_file(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

}  // namespace

TEST_CASE("teacher class probs: normalised detector classes, one motion class, file round trip") {
  Detection det;
  det.box = Box{1.5f, 2.f, 10.25f, 20.f, 0.9f, 2};
  det.class_probs = {0.5f, 0.25f, 0.75f};   // independent sigmoids: sum 1.5
  std::vector<float> p = teacher_class_probs(det, 3);
  REQUIRE(p.size() == 4);
  CHECK(p[0] == doctest::Approx(1.0 / 3));
  CHECK(p[1] == doctest::Approx(1.0 / 6));
  CHECK(p[2] == doctest::Approx(0.5));
  CHECK(p[3] == 0.f);
  Detection motion;
  motion.box = Box{3, 4, 5, 6, 1.f, kClassBackgroundSub};
  CHECK(teacher_class_probs(motion, 3) == std::vector<float>{0, 0, 0, 1});
  Detection zero = det;
  zero.class_probs = {0, 0, 0};
  CHECK(teacher_class_probs(zero, 3) == std::vector<float>{0, 0, 1, 0});   // its own class
  Detection bare = det;
  bare.class_probs.clear();
  CHECK(error_of([&] { teacher_class_probs(bare, 3); }).find("has 0 class probabilities, expected 3") !=
        std::string::npos);

  TempDir dir("teacher");
  std::vector<std::vector<Detection>> frames = {{det, motion}, {}, {motion}};
  const std::string path = dir / "class_probs/01.txt";
  write_class_probs(path, frames, 3);
  std::vector<std::string> lines = lines_of_file(path);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == "# ssmtl class_probs v1 classes=3");
  CHECK(lines[1] == "0,1.5,2,10.25,20,0.3333333,0.1666667,0.5,0");
  CHECK(lines[2] == "0,3,4,5,6,0,0,0,1");
  CHECK(lines[3] == "2,3,4,5,6,0,0,0,1");
  ClassProbsFile f = load_class_probs(path);
  CHECK(f.classes == 3);
  REQUIRE(f.objects.size() == 3);
  CHECK(f.objects[0].frame == 0);
  CHECK(f.objects[0].x_min == 1.5);
  CHECK(f.objects[0].x_max == 10.25);
  CHECK(f.objects[0].probs[1] == doctest::Approx(1.0 / 6).epsilon(1e-6));
  CHECK(f.objects[2].frame == 2);
  CHECK(f.objects[2].probs == std::vector<float>{0, 0, 0, 1});
  // CRLF, trailing blank lines and a video without objects.
  dir.write("crlf.txt", "# ssmtl class_probs v1 classes=1\r\n4,0,0,1,1,0.25,0.75\r\n\r\n");
  CHECK(load_class_probs(dir / "crlf.txt").objects.at(0).probs == std::vector<float>{0.25f, 0.75f});
  dir.write("none.txt", "# ssmtl class_probs v1 classes=80\n");
  CHECK(load_class_probs(dir / "none.txt").objects.empty());
}

TEST_CASE("teacher class probs: malformed files name the file and line") {
  TempDir dir("teacher");
  auto err = [&](const std::string& text) {
    dir.write("bad.txt", text);
    return error_of([&] { load_class_probs(dir / "bad.txt"); });
  };
  const std::string h = "# ssmtl class_probs v1 classes=2\n";
  CHECK(error_of([&] { load_class_probs(dir / "missing.txt"); }).find("missing.txt: cannot open") != std::string::npos);
  CHECK(err("").find("bad.txt:1: empty file") != std::string::npos);
  CHECK(err("0,0,0,1,1,1,0,0\n").find("bad.txt:1: bad header") != std::string::npos);
  CHECK(err("# ssmtl class_probs v1 classes=0\n").find("bad.txt:1: bad number of classes '0'") != std::string::npos);
  CHECK(err(h + "0,0,0,1,1,1,0\n0,0,0,1,1,1,0\n").find("bad.txt:2: 7 fields, expected 8") != std::string::npos);
  CHECK(err(h + "0,0,0,1,1,1,0,0\n0,0,0,1,1,0.5,0.4,0\n").find("bad.txt:3: probabilities sum to 0.9") !=
        std::string::npos);
  CHECK(err(h + "0,0,0,1,1,1.5,-0.5,0\n").find("bad.txt:2: probability 1.5 (field 6) outside [0, 1]") !=
        std::string::npos);
  CHECK(err(h + "-1,0,0,1,1,1,0,0\n").find("bad.txt:2: frame '-1' is not a non-negative integer") != std::string::npos);
  CHECK(err(h + "0.5,0,0,1,1,1,0,0\n").find("bad.txt:2: frame '0.5'") != std::string::npos);
  CHECK(err(h + "0,0,0,1,x,1,0,0\n").find("bad.txt:2: field 5 'x' is not a finite number") != std::string::npos);
  CHECK(err(h + "0,0,0,1,1,nan,0,1\n").find("bad.txt:2: field 6 'nan'") != std::string::npos);
  CHECK(err(h + "0,5,0,1,1,1,0,0\n").find("bad.txt:2: box with x_max < x_min") != std::string::npos);
  CHECK(err(h + "0,0,0,1,1,1,0,\n").find("bad.txt:2: field 8 '' is not a finite number") != std::string::npos);
  CHECK(err(h + "0,0,0,1,1,1,0,0\n\n0,0,0,1,1,1,0,0\n").find("bad.txt:3: empty line in the middle") !=
        std::string::npos);
}

TEST_CASE("teacher class probs: objects must match the region file line by line") {
  TempDir dir("teacher");
  test::TinyDataset d = test::make_tiny_dataset(dir, 3, 1, 1);
  const std::string det = d.detections + "/v0.txt", cp = d.detections + "/class_probs/v0.txt";
  std::vector<Region> regions = load_regions(det);
  TeacherSpec spec;
  spec.class_probs_dir = d.detections + "/class_probs";
  spec.distill_classes = 4;
  VideoTeachers vt = load_video_teachers(spec, "v0", det, regions);
  REQUIRE(vt.lines == static_cast<int>(regions.size()));
  CHECK(vt.distill_classes == 4);
  for (int i = 0; i < vt.lines; ++i)
    for (int k = 0; k < 4; ++k) CHECK(vt.probs(i)[k] == doctest::Approx(d.probs["v0"][i][k]).epsilon(1e-6));

  spec.distill_classes = 81;   // the COCO preset on a 3-class teacher
  CHECK(error_of([&] { load_video_teachers(spec, "v0", det, regions); })
            .find("class_probs/v0.txt: 3 detector classes + 1 motion class = 4 teacher classes, but "
                  "model.distill_classes = 81") != std::string::npos);
  spec.distill_classes = 4;
  std::vector<Region> fewer(regions.begin(), regions.end() - 1);
  CHECK(error_of([&] { load_video_teachers(spec, "v0", det, fewer); })
            .find("v0.txt: " + std::to_string(regions.size()) + " objects but the region file") != std::string::npos);
  std::vector<Region> moved = regions;
  moved[2].box.x1 += 1;
  std::string e = error_of([&] { load_video_teachers(spec, "v0", det, moved); });
  CHECK(e.find("class_probs/v0.txt:4: frame 1 box") != std::string::npos);   // header + 3rd object
  CHECK(e.find("does not match line 3 of " + det) != std::string::npos);
  spec.class_probs_dir = dir / "nowhere";
  CHECK(error_of([&] { load_video_teachers(spec, "v0", det, regions); }).find("nowhere/v0.txt: cannot open") !=
        std::string::npos);
}

TEST_CASE("teacher class probs: SampleBuilder fills the T4 batch from the pool's teacher rows") {
  TempDir dir("teacher");
  test::TinyDataset d = test::make_tiny_dataset(dir, 3, 2);
  util::Config cfg = tiny_config(3);
  ModelConfig mc = ModelConfig::from_config(cfg);
  // Score filter and clipping drop lines 4 (frame 2, score 0.2) and 9 (frame 5, outside): the teacher
  // rows must follow the region lines, not the object index.
  ObjectPool pool = ObjectPool::load(d.root, "training", d.detections, 0.5, true, {},
                                     TeacherSpec::for_model(mc, d.detections, ""));
  REQUIRE(pool.num_videos() == 3);
  REQUIRE(pool.objects().size() == 3 * 12u);
  CHECK(pool.distill_classes() == 4);
  std::vector<size_t> ids = {0, 3, 4, 9, 12, 35};
  SampleBuilder builder(pool, mc, nullptr);
  TaskBatch b = builder.build(ids, 7, false);
  const Tensor& distill_x = b.input("distill");
  REQUIRE(distill_x.shape() == Shape{6, 3, 7, 16, 16});
  REQUIRE(b.samples("distillation").target.shape() == Shape{6, 4});
  std::vector<float> y = b.samples("distillation").target.to_vector();
  for (size_t i = 0; i < ids.size(); ++i) {
    const PoolObject& o = pool.objects()[ids[i]];
    CAPTURE(ids[i]);
    const std::vector<float>& want = d.probs[d.videos[o.video]][o.line];
    for (int k = 0; k < 4; ++k) CHECK(y[i * 4 + k] == doctest::Approx(want[k]).epsilon(1e-6));
    // The forward sequence, exactly as scoring cuts it.
    auto w = sequence_frames(o.frame, pool.video(o.video).num_frames());
    Tensor seq = crop_object(pool.video(o.video), std::vector<int>(w.begin(), w.end()), o.box, 16);
    CHECK(distill_x.narrow0(static_cast<int64_t>(i), 1).to_vector() == seq.to_vector());
  }
  CHECK(pool.objects()[3].line == 3);
  CHECK(pool.objects()[4].line == 5);   // line 4 (frame 2, score 0.2) filtered out
  CHECK(pool.objects()[10].line == 12);   // and line 10 (frame 5, outside the frame) clipped away

  ObjectPool bare = ObjectPool::load(d.root, "training", d.detections, 0.5, false);
  CHECK(error_of([&] { SampleBuilder(bare, mc, nullptr); }).find("T4 distillation needs the detector's class") !=
        std::string::npos);
  ModelConfig other = mc;
  other.distill_classes = 81;
  CHECK(error_of([&] { SampleBuilder(pool, other, nullptr); })
            .find("the class probabilities have 4 classes, model.distill_classes = 81") != std::string::npos);
}

TEST_CASE("teacher class probs: a tiny ssmtl model trains through train_model and scores with T4") {
  TempDir dir("teacher");
  test::TinyDataset d = test::make_tiny_dataset(dir, 3, 3);
  util::Config cfg = tiny_config(3);
  const auto [mc, opt] = tiny_run(cfg, d, dir);
  SSMTLModel model(mc, 1);
  CHECK(mc.tasks.names() == "T1+T2+T3+T4");
  TrainResult r = train_model(model, opt, cfg.resolved_text());
  REQUIRE(r.epochs.size() == 1);
  REQUIRE(r.epochs[0].train.count("distillation"));
  CHECK(std::isfinite(r.epochs[0].train.at("distillation")));
  CHECK(r.epochs[0].train.at("distillation") > 0);
  CHECK(r.epochs[0].train.at("distillation") < 0.5);   // mean |p - q| of two distributions is <= 2/(K+1)
  CHECK(r.epochs[0].val.count("distillation"));
  CHECK(r.skipped_steps == 0);
  CHECK(fs::exists(opt.out_dir + "/best.ckpt"));

  ObjectPool pool = ObjectPool::load(d.root, "training", d.detections, 0.0, false, {"v2"},
                                     TeacherSpec::for_model(mc, d.detections, ""));
  ScoreOptions so;
  so.frame_mode = "max";
  VideoScores s = score_video(model, pool, 0, so);
  REQUIRE(s.task_scores.count("distillation"));
  REQUIRE(s.task_scores["distillation"].size() == pool.objects().size());
  for (size_t i = 0; i < pool.objects().size(); ++i) {
    float t4 = s.task_scores["distillation"][i];
    CHECK(t4 >= 0.f);
    CHECK(t4 <= 2.f / 4 + 1e-6f);
    double mean = (s.task_scores["arrow"][i] + s.task_scores["irregularity"][i] + s.task_scores["middle"][i] + t4) / 4;
    CHECK(s.task_scores["object"][i] == doctest::Approx(mean).epsilon(1e-5));
  }
  ObjectPool bare = ObjectPool::load(d.root, "training", d.detections, 0.0, false, {"v2"});
  CHECK(error_of([&] { score_video(model, bare, 0, so); }).find("T1+T2+T3+T4 needs teacher signals") !=
        std::string::npos);
}

TEST_CASE("teacher class probs: T4ce trains with the soft cross-entropy and scores as T4 does") {
  TempDir dir("teacher_ce");
  test::TinyDataset d = test::make_tiny_dataset(dir, 3, 3);
  util::Config cfg = tiny_config(3);
  cfg.set("model.tasks.distillation", "false");
  cfg.set("model.tasks.distillation_ce", "true");
  cfg.set("train.epochs", "2");
  const auto [mc, opt] = tiny_run(cfg, d, dir);
  SSMTLModel model(mc, 1);
  CHECK(mc.tasks.names() == "T1+T2+T3+T4ce");
  const TrainResult r = train_model(model, opt, cfg.resolved_text());
  REQUIRE(r.epochs.size() == 2);
  REQUIRE(r.epochs[0].train.count("distillation_ce"));
  CHECK(!r.epochs[0].train.count("distillation"));
  // soft cross-entropy >= the teacher's entropy >= 0; log(K + 1) = log 4 is the uniform student's loss
  for (const EpochLog& e : r.epochs) {
    CHECK(e.train.at("distillation_ce") > 0);
    CHECK(e.train.at("distillation_ce") < 3 * std::log(4.0));
  }
  CHECK(r.epochs[1].val.at("distillation_ce") != r.epochs[0].val.at("distillation_ce"));   // the student moves
  ObjectPool pool = ObjectPool::load(d.root, "training", d.detections, 0.0, false, {"v2"},
                                     TeacherSpec::for_model(mc, d.detections, ""));
  ScoreOptions so;
  so.frame_mode = "max";
  VideoScores s = score_video(model, pool, 0, so);
  REQUIRE(s.task_scores.count("distillation_ce"));
  for (float t4 : s.task_scores["distillation_ce"]) {   // the paper's T4 score: mean |softmax - teacher|
    CHECK(t4 >= 0.f);
    CHECK(t4 <= 2.f / 4 + 1e-6f);
  }
}

TEST_CASE("teacher class probs: detect_video_full gives detect_video's boxes and motion objects no class") {
  TempDir dir("teacher");
  std::vector<Image> frames;
  for (int t = 0; t < 4; ++t) {
    Image f = test::solid_image(128, 64, 70, 70, 70);
    for (int y = 20; y < 44; ++y)
      for (int x = 8 + 30 * t; x < 32 + 30 * t; ++x)
        for (int c = 0; c < 3; ++c) f.rgb[(static_cast<size_t>(y) * 128 + x) * 3 + c] = 230;
    frames.push_back(f);
  }
  test::write_frames(dir / "video", frames);
  Video v(dir / "video");
  DetectVideoOptions o;
  o.method = DetectMethod::kBackground;
  o.background.min_area_ref = 1500;
  auto boxes = detect_video(v, nullptr, o);
  auto full = detect_video_full(v, nullptr, o);
  REQUIRE(full.size() == 4);
  int objects = 0;
  for (int t = 0; t < 4; ++t) {
    REQUIRE(full[t].size() == boxes[t].size());
    for (size_t k = 0; k < full[t].size(); ++k) {
      CHECK(full[t][k].box.x0 == boxes[t][k].x0);
      CHECK(full[t][k].box.y1 == boxes[t][k].y1);
      CHECK(full[t][k].box.cls == kClassBackgroundSub);
      CHECK(full[t][k].class_probs.empty());
      ++objects;
    }
  }
  CHECK(objects >= 3);
  // Their teacher lines: the motion class only.
  std::string text = class_probs_text(full, 2);
  CHECK(text.find(",0,0,1\n") != std::string::npos);
  CHECK(text.find(",1,0,0\n") == std::string::npos);
  o.method = DetectMethod::kHybrid;
  CHECK_THROWS_AS(detect_video_full(v, nullptr, o), std::invalid_argument);
}

TEST_CASE("teacher class probs: ssmtl detect writes class_probs lines matching its region file (Ped2 frames)") {
  const std::string src = std::string(SSMTL_SHARED_DIR) + "/data/ped2/testing/frames/01";
  const fs::path exe = fs::read_symlink("/proc/self/exe").parent_path() / "ssmtl";
  if (!fs::exists(src + "/000.jpg") || !fs::exists(exe)) {
    MESSAGE("skipped: needs " << src << " and the ssmtl program");
    return;
  }
  TempDir dir("teacher");
  fs::create_directories(dir / "ped2/testing/frames/01");
  for (const char* f : {"000.jpg", "001.jpg", "002.jpg"})
    fs::copy_file(src + "/" + f, dir / (std::string("ped2/testing/frames/01/") + f));
  std::string cmd = exe.string() + " detect --data " + (dir / "ped2") + " --out " + (dir / "det") +
                    " --method hybrid --conf 0.3 --weights " + SSMTL_SHARED_DIR + "/weights/yolo-fastest 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int status = pclose(p);
  INFO(out);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  std::vector<std::string> regions = lines_of_file(dir / "det/01.txt");
  std::vector<std::string> probs = lines_of_file(dir / "det/class_probs/01.txt");
  REQUIRE(!regions.empty());
  REQUIRE(probs.size() == regions.size() + 1);
  CHECK(probs[0] == "# ssmtl class_probs v1 classes=80");
  int detector_objects = 0;
  ClassProbsFile f = load_class_probs(dir / "det/class_probs/01.txt");   // validates sums and ranges
  for (size_t i = 0; i < regions.size(); ++i) {
    // frame and box fields are the region line's, character for character
    const std::string& r = regions[i];
    std::string head = r.substr(0, r.rfind(','));
    CHECK(probs[i + 1].compare(0, head.size() + 1, head + ",") == 0);
    const std::vector<float>& q = f.objects[i].probs;
    REQUIRE(q.size() == 81);
    bool motion = r.substr(r.rfind(',') + 1) == "1" && q[80] == 1.f;
    if (!motion) {
      ++detector_objects;
      CHECK(q[80] == 0.f);
    }
  }
  CHECK(detector_objects > 0);   // Ped2 frame 0 shows several pedestrians
}
