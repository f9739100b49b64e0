// The Yolo-Fastest detector: .cfg parser, .weights reader, BN folding, YOLO decoding, NMS, and the whole
// network against OpenCV's darknet importer on Ped2 frames (tests/reference/gen_detector.py).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <fstream>
#include <stdexcept>
#include <string>

#include "autograd/engine.h"
#include "data/detect/darknet.h"
#include "data/detect/detector.h"
#include "data/video/image.h"
#include "tests/eval_test_util.h"   // TempDir
#include "tests/gradcheck.h"
#include "tests/reference.h"

using namespace ssmtl;
using test::error_of;
using namespace ssmtl::darknet;

namespace {

const std::string kWeights = std::string(SSMTL_SHARED_DIR) + "/weights/yolo-fastest/";

// A 1-channel 2x2 input, one 1x1 convolution with 6 filters (1 anchor x (5 + 1 class)) and a [yolo] head.
const char* kTinyCfg =
    "[net]\nwidth=2\nheight=2\nchannels=1\n\n"
    "[convolutional]\nbatch_normalize=1\nfilters=6\nsize=1\nstride=1\npad=1\nactivation=linear\n\n"
    "[yolo]\nmask=0\nanchors=2,2\nclasses=1\nnum=1\n";

// darknet .weights: version 0.2.5 (64-bit `seen`), then the floats.
void write_weights(const std::string& path, const std::vector<float>& values) {
  std::ofstream f(path, std::ios::binary);
  const int32_t header[3] = {0, 2, 5};
  const uint64_t seen = 12345;
  f.write(reinterpret_cast<const char*>(header), sizeof header);
  f.write(reinterpret_cast<const char*>(&seen), sizeof seen);
  f.write(reinterpret_cast<const char*>(values.data()), values.size() * 4);
}

// Tiny model parameters: beta, gamma, mean, var (6 each), weights (6).
std::vector<float> tiny_values() {
  std::vector<float> v;
  for (int f = 0; f < 6; ++f) v.push_back(0.1f * f);           // beta (the darknet "biases")
  for (int f = 0; f < 6; ++f) v.push_back(1.f + 0.5f * f);     // gamma
  for (int f = 0; f < 6; ++f) v.push_back(-0.2f * f);          // rolling mean
  for (int f = 0; f < 6; ++f) v.push_back(1e-4f * (f + 1));    // rolling variance: small, so eps matters
  for (int f = 0; f < 6; ++f) v.push_back(0.3f - 0.1f * f);    // 1x1 weights
  return v;
}


Box box(float x0, float y0, float x1, float y1, float score, int cls) {
  Box b;
  b.x0 = x0, b.y0 = y0, b.x1 = x1, b.y1 = y1, b.score = score, b.cls = cls;
  return b;
}

}  // namespace

TEST_CASE("detector: cfg parser reads sections, keys and line numbers and ignores blanks and comments") {
  Cfg cfg = parse_cfg_text("# comment\n[net]\nwidth = 320\n\n; other comment\n[yolo]\nanchors = 12, 18,  37,49\n",
                           "a.cfg");
  REQUIRE(cfg.sections.size() == 2);
  CHECK(cfg.sections[0].type == "net");
  CHECK(cfg.sections[0].line == 2);
  CHECK(cfg.sections[1].line == 6);
  CfgReader net(cfg, cfg.sections[0]), yolo(cfg, cfg.sections[1]);
  CHECK(net.get_int("width") == 320);
  CHECK(net.get_int("height", 7) == 7);
  CHECK(yolo.get_floats("anchors") == std::vector<float>{12, 18, 37, 49});
  CHECK(yolo.where("anchors") == "a.cfg:7: [yolo] anchors");
}

TEST_CASE("detector: malformed cfg files give errors naming file and line") {
  CHECK(error_of([] { parse_cfg_text("[net]\nwidth=3\nfilters 8\n", "m.cfg"); }) ==
        "m.cfg:3: expected [section] or key=value, got 'filters8'");
  CHECK(error_of([] { parse_cfg_text("width=3\n[net]\n", "m.cfg"); }) ==
        "m.cfg:1: entry 'width=3' before the first [section]");
  CHECK(error_of([] { parse_cfg_text("[net]\nwidth=3\nwidth=4\n", "m.cfg"); }) ==
        "m.cfg:3: [net] key 'width' repeated (first at line 2)");
  CHECK(error_of([] { parse_cfg_text("[net\n", "m.cfg"); }).find("m.cfg:1: malformed section header") == 0);
  CHECK(error_of([] { parse_cfg_file("/nonexistent/x.cfg"); }) == "/nonexistent/x.cfg: cannot open darknet .cfg file");
  auto build = [](const std::string& text) { Network net(parse_cfg_text(text, "n.cfg")); };
  const std::string head = "[net]\nwidth=8\nheight=8\nchannels=3\n";
  CHECK(error_of([&] { build(head + "[convolutional]\nfilters=8x\n"); }) ==
        "n.cfg:6: [convolutional] filters: '8x' is not an integer");
  CHECK(error_of([&] { build(head + "[convolutional]\nfilters=4\nsize=3\ndilation=2\n"); })
            .find("n.cfg:8: [convolutional] dilation: value '2' is not supported") == 0);
  CHECK(error_of([&] { build(head + "[convolutional]\nfilters=4\ngroups=2\n"); })
            .find("n.cfg:7: [convolutional] groups: 2 groups do not divide 3 input channels") == 0);
  CHECK(error_of([&] { build(head + "[route]\nlayers=-1\n"); })
            .find("n.cfg:6: [route] layers: layer -1 does not refer to an earlier layer") == 0);
  CHECK(error_of([&] { build(head + "[lstm]\nsize=3\n"); }) == "n.cfg:5: [lstm]: layer type not supported by this engine");
  CHECK(error_of([&] { build(head + "[convolutional]\nfilters=12\nactivation=mish\n"); }) ==
        "n.cfg:7: [convolutional] activation: 'mish' is not supported (linear, leaky, relu, logistic)");
  CHECK(error_of([&] { build(head + "[convolutional]\nfilters=12\n[yolo]\nanchors=1,2\nclasses=80\nnum=1\n"); }) ==
        "n.cfg:7: [yolo]: input has 12 channels, expected 1 anchors x (5 + 80 classes) = 85");
  CHECK(error_of([&] { build(head + "[convolutional]\nfilters=4\n[convolutional]\nfilters=8\n[shortcut]\nfrom=-2\n"); }) ==
        "n.cfg:10: [shortcut] from: layer 0 is 4x8x8 but the input is 8x8x8 (darknet's partial sums of unequal shapes "
        "are not supported)");
}

TEST_CASE("detector: the three Yolo-Fastest 1.1 cfg files build with the expected heads") {
  for (const char* name : {"yolo-fastest-1.1", "yolo-fastest-1.1-xl", "yolo-fastest-1.1_body"}) {
    Network net(kWeights + name + ".cfg");
    CHECK(net.num_layers() == 131);
    REQUIRE(net.heads().size() == 2);
    const int classes = std::string(name).find("body") != std::string::npos ? 1 : 80;
    CHECK(net.heads()[0].classes == classes);
    CHECK(net.heads()[0].grid_h == 10);   // stride 32 on 320x320
    CHECK(net.heads()[1].grid_w == 20);   // stride 16
    CHECK(net.heads()[0].anchors.size() == 6);
  }
}

TEST_CASE("detector: weights header, size mismatch naming the file, and BN folding with darknet's eps") {
  test::TempDir dir("detector");
  const std::string path = dir / "tiny.weights";
  const Cfg cfg = parse_cfg_text(kTinyCfg, "tiny.cfg");
  std::vector<float> v = tiny_values();

  write_weights(path, std::vector<float>(v.begin(), v.end() - 1));
  Network shorter(cfg);
  CHECK(error_of([&] { shorter.load_weights(path); }) ==
        path + ": weights file too short for the .cfg: [convolutional] of .cfg line 6 (weights) needs 6 floats, only 5 left");
  std::vector<float> longer_v = v;
  longer_v.push_back(0.f);
  write_weights(path, longer_v);
  Network longer(cfg);
  CHECK(error_of([&] { longer.load_weights(path); }) ==
        path + ": weights file too long for tiny.cfg: 1 floats left after the last layer");
  CHECK(error_of([&] { longer.load_weights(path + ".missing"); }) ==
        path + ".missing: cannot open darknet .weights file");

  write_weights(path, v);
  const Tensor x = Tensor::from_vector({1, 1, 2, 2}, {1.f, -2.f, 0.5f, 3.f});
  for (float eps : {1e-5f, 1e-6f}) {
    Network net(cfg, DarknetOptions{eps});
    CHECK_THROWS_AS(net.forward(x), std::logic_error);
    net.load_weights(path);
    CHECK(net.seen == 12345);
    CHECK(net.minor == 2);
    autograd::NoGradGuard ng;
    const Tensor y = net.forward(x).at(0);
    REQUIRE(y.shape() == Shape{1, 6, 2, 2});
    std::vector<float> expect;
    for (int f = 0; f < 6; ++f)   // eval-mode BN of the convolution: gamma (w x - mean) / sqrt(var + eps) + beta
      for (float xi : x.to_vector())
        expect.push_back(static_cast<float>(v[6 + f] * (v[24 + f] * xi - v[12 + f]) / std::sqrt(v[18 + f] + (double)eps) +
                                            v[f]));
    test::check_close(y, Tensor::from_vector({1, 6, 2, 2}, expect), 1e-5, 1e-5, "folded BN");
  }
}

TEST_CASE("detector: route groups, maxpool, upsample, concat and a conv without batch-norm, by hand") {
  // x (1, 2, 4, 4) -> conv 1x1 (4 filters: x0, x1, -x0 + 1, 2 x1) -> route group 1 of 2 (-x0 + 1, 2 x1)
  // -> maxpool 2/2 -> upsample 2 -> route [layer 0, previous] (6 channels) -> [yolo] head (1 anchor, 1 class).
  const char* text =
      "[net]\nwidth=4\nheight=4\nchannels=2\n"
      "[convolutional]\nfilters=4\nsize=1\nactivation=linear\n"
      "[route]\nlayers=-1\ngroups=2\ngroup_id=1\n"
      "[maxpool]\nsize=2\nstride=2\n"
      "[upsample]\nstride=2\n"
      "[route]\nlayers=0,-1\n"
      "[yolo]\nmask=0\nanchors=1,1\nclasses=1\nnum=1\n";
  test::TempDir dir("detector");
  const std::string path = dir / "layers.weights";
  // No batch-norm: biases[4], then weights[4][2][1][1].
  write_weights(path, {0, 0, 1, 0, /**/ 1, 0, /**/ 0, 1, /**/ -1, 0, /**/ 0, 2});
  Network net(parse_cfg_text(text, "layers.cfg"));
  net.load_weights(path);
  std::vector<float> xv(32);
  for (int i = 0; i < 32; ++i) xv[i] = static_cast<float>((i * 7) % 11) - 5.f;
  autograd::NoGradGuard ng;
  const std::vector<float> y = net.forward(Tensor::from_vector({1, 2, 4, 4}, xv)).at(0).to_vector();
  REQUIRE(y.size() == 6 * 16);
  auto x = [&](int c, int r, int q) { return xv[c * 16 + r * 4 + q]; };
  for (int r = 0; r < 4; ++r)
    for (int q = 0; q < 4; ++q) {
      CAPTURE(r);
      CAPTURE(q);
      CHECK(y[0 * 16 + r * 4 + q] == x(0, r, q));
      CHECK(y[1 * 16 + r * 4 + q] == x(1, r, q));
      CHECK(y[2 * 16 + r * 4 + q] == -x(0, r, q) + 1);
      CHECK(y[3 * 16 + r * 4 + q] == 2 * x(1, r, q));
      // Group 1 of the conv output, max over the 2x2 block containing (r, q), then repeated 2x2.
      float m4 = -1e30f, m5 = -1e30f;
      for (int a = r / 2 * 2; a < r / 2 * 2 + 2; ++a)
        for (int b = q / 2 * 2; b < q / 2 * 2 + 2; ++b) {
          m4 = std::max(m4, -x(0, a, b) + 1);
          m5 = std::max(m5, 2 * x(1, a, b));
        }
      CHECK(y[4 * 16 + r * 4 + q] == m4);
      CHECK(y[5 * 16 + r * 4 + q] == m5);
    }
}

TEST_CASE("detector: YOLO decoding hand case (centre, anchor size, frame mapping, class filter)") {
  YoloHead h;
  h.classes = 2;
  h.anchors = {16.f, 8.f};
  h.grid_h = h.grid_w = 2;
  std::vector<float> raw(7 * 4, -20.f);   // channel k of cell (j, i) at k * 4 + j * 2 + i; logit -20: nothing
  const int cell = 0 * 2 + 1;             // row 0, column 1
  raw[0 * 4 + cell] = 0.f;                // sigmoid(tx) = 0.5
  raw[1 * 4 + cell] = 0.f;
  raw[2 * 4 + cell] = std::log(2.f);      // w = 16 * 2 / 64 = 0.5
  raw[3 * 4 + cell] = 0.f;                // h = 8 / 64 = 0.125
  raw[4 * 4 + cell] = std::log(0.8f / 0.2f);    // objectness 0.8
  raw[5 * 4 + cell] = std::log(0.25f / 0.75f);  // p0 = 0.25
  raw[6 * 4 + cell] = std::log(0.9f / 0.1f);    // p1 = 0.9
  const std::vector<Tensor> out = {Tensor::from_vector({1, 7, 2, 2}, raw)};
  YoloDecodeOptions opt;
  opt.class_probs = true;
  std::vector<Detection> d = decode_yolo(out, 0, {h}, 64, 64, 100, 50, opt);
  REQUIRE(d.size() == 1);
  // cx = (1 + 0.5) / 2 = 0.75, cy = 0.25; x0 = (0.75 - 0.25) * 100, x1 = 1.0 * 100 - 1, y0 = 0.1875 * 50, ...
  CHECK(d[0].box.x0 == doctest::Approx(50.f));
  CHECK(d[0].box.x1 == doctest::Approx(99.f));
  CHECK(d[0].box.y0 == doctest::Approx(9.375f));
  CHECK(d[0].box.y1 == doctest::Approx(14.625f));
  CHECK(d[0].box.score == doctest::Approx(0.72f));
  CHECK(d[0].box.cls == 1);
  REQUIRE(d[0].class_probs.size() == 2);
  CHECK(d[0].class_probs[0] == doctest::Approx(0.25f));

  opt.classes = {0};   // person-only style filter: best allowed class 0 scores 0.8 * 0.25 = 0.2 < 0.25
  CHECK(decode_yolo(out, 0, {h}, 64, 64, 100, 50, opt).empty());
  opt.conf_threshold = 0.2f;   // ">=" keeps a score equal to the threshold
  d = decode_yolo(out, 0, {h}, 64, 64, 100, 50, opt);
  REQUIRE(d.size() == 1);
  CHECK(d[0].box.cls == 0);

  h.scale_x_y = 2.f;           // x = 2 sigmoid(tx) - 0.5: sigmoid 1 -> offset 1.5 cells
  raw[0 * 4 + cell] = 30.f;
  d = decode_yolo({Tensor::from_vector({1, 7, 2, 2}, raw)}, 0, {h}, 64, 64, 100, 50, opt);
  REQUIRE(d.size() == 1);
  CHECK(d[0].box.x0 == doctest::Approx((2.5f / 2 - 0.25f) * 100));
  CHECK_THROWS_AS(decode_yolo({Tensor::zeros({1, 6, 2, 2})}, 0, {h}, 64, 64, 100, 50, opt), std::invalid_argument);
}

TEST_CASE("detector: class-wise NMS hand cases") {
  // 0 and 1 overlap with IoU 50/100 = 0.5 (inclusive pixels); 2 is the same box as 0 but another class.
  std::vector<Box> b = {box(0, 0, 9, 9, 0.9f, 0), box(0, 0, 4, 9, 0.8f, 0), box(0, 0, 9, 9, 0.7f, 3),
                        box(20, 20, 29, 29, 0.95f, 0)};
  CHECK(nms_classwise(b, 0.45f) == std::vector<size_t>{3, 0, 2});
  CHECK(nms_classwise(b, 0.5f) == std::vector<size_t>{3, 0, 1, 2});   // IoU equal to the threshold is kept
  // Equal scores: the lower index wins.
  std::vector<Box> tie = {box(0, 0, 9, 9, 0.5f, 1), box(1, 1, 9, 9, 0.5f, 1)};
  CHECK(nms_classwise(tie, 0.45f) == std::vector<size_t>{0});
  CHECK(nms_classwise({}, 0.45f).empty());

  // Clipping after NMS (PITFALLS 14): [-5,-5,10,10] on 64x64 -> [0,0,10,10]; a box outside the frame is dropped.
  std::vector<Detection> cand(2);
  cand[0].box = box(-5, -5, 10, 10, 0.6f, 0);
  cand[1].box = box(70, 70, 80, 80, 0.9f, 0);
  std::vector<Detection> kept = suppress_and_clip(cand, 0.45f, 64, 64);
  REQUIRE(kept.size() == 1);
  CHECK(kept[0].box.x0 == 0.f);
  CHECK(kept[0].box.x1 == 10.f);
}

TEST_CASE("detector: Yolo-Fastest 1.1 on Ped2 frames matches OpenCV's darknet importer") {
  const std::vector<std::string> frames_rel = {"testing/frames/01/000.jpg", "testing/frames/04/100.jpg",
                                               "training/frames/12/030.jpg"};
  std::vector<Image> frames;
  for (const std::string& f : frames_rel) frames.push_back(load_image(std::string(SSMTL_SHARED_DIR) + "/data/ped2/" + f));
  const std::vector<std::pair<std::string, std::string>> models = {
      {"yolo-fastest-1.1", "detector_yf11"}, {"yolo-fastest-1.1-xl", "detector_yf11_xl"},
      {"yolo-fastest-1.1_body", "detector_yf11_body"}};
  for (const auto& [model, stem] : models) {
    CAPTURE(model);
    test::RefFile ref(stem);
    DetectorOptions opt;
    opt.bn_eps = 1e-6f;   // OpenCV's importer folds BN with 1e-6
    opt.conf_threshold = ref.scalar("conf_threshold");
    Detector det(kWeights + model + ".cfg", kWeights + model + ".weights", opt);

    // Identical network input (same stb decoder, same bilinear convention).
    const Tensor input = det.preprocess(frames, 0, frames.size());
    const std::vector<float> in = input.to_vector();
    const size_t per = in.size() / frames.size();
    const std::vector<float> in_sum = ref.get("input_sum").to_vector(), in_sample = ref.get("input_sample").to_vector();
    const size_t ns = in_sample.size() / frames.size();
    for (size_t f = 0; f < frames.size(); ++f) {
      double s = 0;
      for (size_t i = 0; i < per; ++i) s += in[f * per + i];
      CHECK(s == doctest::Approx(in_sum[f]).epsilon(1e-6));
      for (size_t k = 0; k < ns; ++k) CHECK(in[f * per + k * 997] == doctest::Approx(in_sample[f * ns + k]).epsilon(1e-5));
    }

    // Raw head outputs (logits): every 211th value, absolute tolerance 2e-4 (values reach |20|; observed <= 5e-5).
    const std::vector<Tensor> raw = det.raw_outputs(input);
    REQUIRE(raw.size() == 2);
    for (int h = 0; h < 2; ++h) {
      const std::string k = std::to_string(h);
      const std::vector<float> shape = ref.get("raw" + k + "_shape").to_vector();
      REQUIRE(raw[h].shape() == Shape(shape.begin(), shape.end()));
      const std::vector<float> idx = ref.get("raw" + k + "_idx").to_vector(), want = ref.get("raw" + k).to_vector();
      const std::vector<float> got = raw[h].to_vector();
      const size_t per_frame = got.size() / frames.size();
      std::vector<float> picked;
      for (size_t f = 0; f < frames.size(); ++f)
        for (float i : idx) picked.push_back(got[f * per_frame + static_cast<size_t>(i)]);
      test::check_close(Tensor::from_vector({static_cast<int64_t>(picked.size())}, picked),
                        Tensor::from_vector({static_cast<int64_t>(want.size())}, want), 2e-4, 0, model + " raw head " + k);
    }

    // Final boxes: same boxes in the same (score) order, within 0.5 px and 1e-3 in score.
    const std::vector<std::vector<Box>> boxes = det.detect(frames);
    const Tensor gold = ref.get("boxes");
    const std::vector<float> g = gold.to_vector();
    const int64_t K = gold.size(1);
    for (size_t f = 0; f < frames.size(); ++f) {
      CAPTURE(frames_rel[f]);
      size_t expected = 0;
      while (expected < static_cast<size_t>(K) && g[(f * K + expected) * 6 + 5] >= 0) ++expected;
      REQUIRE(boxes[f].size() == expected);
      for (size_t i = 0; i < expected; ++i) {
        const float* r = &g[(f * K + i) * 6];
        const Box& b = boxes[f][i];
        CHECK(b.cls == static_cast<int>(r[5]));
        CHECK(std::fabs(b.score - r[4]) <= 1e-3f);
        CHECK(std::fabs(b.x0 - r[0]) <= 0.5f);
        CHECK(std::fabs(b.y0 - r[1]) <= 0.5f);
        CHECK(std::fabs(b.x1 - r[2]) <= 0.5f);
        CHECK(std::fabs(b.y1 - r[3]) <= 0.5f);
      }
    }
  }
}

TEST_CASE("detector: options, class filter and class probabilities on a real frame") {
  const std::string cfg = kWeights + "yolo-fastest-1.1.cfg", weights = kWeights + "yolo-fastest-1.1.weights";
  DetectorOptions bad;
  bad.classes = {80};
  CHECK_THROWS_AS(Detector(cfg, weights, bad), std::invalid_argument);
  bad.classes = {};
  bad.conf_threshold = 1.5f;
  CHECK_THROWS_AS(Detector(cfg, weights, bad), std::invalid_argument);

  DetectorOptions opt;
  opt.classes = {0};
  opt.class_probs = true;
  Detector det(cfg, weights, opt);
  const std::vector<Image> frames = {load_image(std::string(SSMTL_SHARED_DIR) + "/data/ped2/testing/frames/01/000.jpg")};
  const std::vector<Detection> d = det.detect_full(frames).at(0);
  REQUIRE(!d.empty());
  for (size_t i = 0; i < d.size(); ++i) {
    CHECK(d[i].box.cls == 0);
    CHECK(d[i].box.score >= 0.25f);
    REQUIRE(d[i].class_probs.size() == 80);
    CHECK(d[i].class_probs[0] >= d[i].box.score);   // score = objectness * p_person, objectness <= 1
    CHECK(d[i].box.x0 >= 0.f);
    CHECK(d[i].box.x1 <= 359.f);
    if (i > 0) CHECK(d[i].box.score <= d[i - 1].box.score);
  }
  CHECK_THROWS_AS(det.detect({Image{}}), std::invalid_argument);
}
