// Issue 17: every input checked at the door. Each case a tester found (a careless or hostile user) with
// the exact message it now gives: configuration ranges (file, --set, checkpoint), whole-token numbers,
// checkpoint and darknet readers (sizes before allocation, trailing bytes, non-finite weights, unknown
// keys), and nothing skipped without a word.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "apps/args.h"
#include "data/detect/class_probs.h"
#include "data/detect/darknet.h"
#include "data/video/frames.h"
#include "eval/io.h"
#include "regions/region_file.h"
#include "eval/postprocess.h"
#include "model/checkpoint.h"
#include "model/sampler.h"
#include "model/ssmtl.h"
#include "model/trainer.h"
#include "tests/eval_test_util.h"
#include "tests/run_program.h"
#include "tests/teacher_test_util.h"
#include "util/atomic_file.h"
#include "util/config.h"
#include "util/parse.h"

using namespace ssmtl;
using test::error_of;
using test::TempDir;
namespace fs = std::filesystem;

namespace {

// What f prints on stderr (warnings), with stderr restored afterwards.
std::string stderr_of(const std::function<void()>& f) {
  std::fflush(stderr);
  FILE* tmp = std::tmpfile();
  REQUIRE(tmp != nullptr);
  const int saved = ::dup(2);
  ::dup2(::fileno(tmp), 2);
  try {
    f();
  } catch (...) {
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    std::fclose(tmp);
    throw;
  }
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::string out;
  std::rewind(tmp);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, tmp)) > 0) out.append(buf, n);
  std::fclose(tmp);
  return out;
}

using test::RunResult;
using test::run_ssmtl;

std::string model_error(const std::string& text, const std::string& source = "run.txt") {
  return error_of([&] {
    util::Config c = util::Config::from_string(text, source);
    ModelConfig::from_config(c);
    TrainOptions::from_config(c);
  });
}

const char* kTinyModel = "model.name = ssmtl++v1-cpu\nmodel.backbone.channels = 4, 4, 8\nmodel.cvt.dim = 8\n"
                         "model.cvt.heads = 2\nmodel.crop = 16\nmodel.head_hidden = 4\nmodel.decoder_hidden = 4\n";

// A checkpoint of the tiny model whose stored configuration is `config_text`; returns its bytes.
std::string tiny_checkpoint(const std::string& path, const std::string& config_text) {
  util::Config c = util::Config::from_string(kTinyModel);
  SSMTLModel m(ModelConfig::from_config(c), 1);
  save_checkpoint(path, m, {config_text, "state"});
  return util::read_file(path);
}

SSMTLModel tiny_model() {
  util::Config c = util::Config::from_string(kTinyModel);
  return SSMTLModel(ModelConfig::from_config(c), 1);
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

}  // namespace

// ---- 1. configuration: one table of types and ranges -------------------------------------------------------

TEST_CASE("inputs config: model.cvt.heads=0 and model.cvt.dim=0 are range errors, not SIGFPE") {
  CHECK(model_error("model.cvt.heads = 0\n") == "run.txt: `model.cvt.heads` = `0` is not an integer in [1, 64]");
  CHECK(model_error("model.cvt.dim = 0\n") == "run.txt: `model.cvt.dim` = `0` is not an integer in [1, 1024]");
  CHECK(model_error("model.cvt.dim = 25\nmodel.cvt.heads = 2\n") ==
        "run.txt: model.cvt.dim = 25 is not a multiple of model.cvt.heads = 2");
  // the same from the command line (exit status 1, no signal)
  RunResult r = run_ssmtl("train --data x --detections y --out z --set model.cvt.heads=0");
  CHECK(r.code == 1);
  CHECK(r.output == "ssmtl train: error: --set model.cvt.heads: `model.cvt.heads` = `0` is not an integer in [1, 64]\n");
}

TEST_CASE("inputs config: every key the tester tried has a range") {
  CHECK(model_error("model.cvt.blocks = -1\n") == "run.txt: `model.cvt.blocks` = `-1` is not an integer in [0, 32]");
  CHECK(model_error("model.backbone.convs_per_stage = -1\n") ==
        "run.txt: `model.backbone.convs_per_stage` = `-1` is not an integer in [1, 8]");
  CHECK(model_error("model.cvt.mlp_ratio = 0\n") == "run.txt: `model.cvt.mlp_ratio` = `0` is not an integer in [1, 16]");
  CHECK(model_error("model.head_hidden = 0\n") == "run.txt: `model.head_hidden` = `0` is not an integer in [1, 4096]");
  CHECK(model_error("train.pseudo_loss_cap = nan\n") ==
        "run.txt: `train.pseudo_loss_cap` = `nan` is not a finite number in [0, 1000000]");
  CHECK(model_error("train.min_detection_score = nan\n") ==
        "run.txt: `train.min_detection_score` = `nan` is not a finite number in [0, 1]");
  CHECK(model_error("train.max_objects_per_epoch = -2147483648\n") ==
        "run.txt: `train.max_objects_per_epoch` = `-2147483648` is not an integer in [0, 2147483647]");
  CHECK(model_error("train.pseudo_start_epoch = -1\n") ==
        "run.txt: `train.pseudo_start_epoch` = `-1` is not an integer in [0, 100000]");
  CHECK(model_error("model.backbone.channels = 8,65536,24\n") ==
        "run.txt: `model.backbone.channels` = `8,65536,24` is not a list of 3 integers, each in [1, 1024]");
  CHECK(model_error("model.backbone.transformer = 4d\n") ==
        "run.txt: `model.backbone.transformer` = `4d` is not one of none|3d|2d");
  CHECK(model_error("model.tasks.jigsaw = maybe\n") == "run.txt: `model.tasks.jigsaw` = `maybe` is not true or false");
  // values inside the ranges still load
  CHECK(model_error(std::string(kTinyModel) + "train.max_objects_per_epoch = 0\ntrain.pseudo_loss_cap = 0.5\n") ==
        "(no error)");
}

TEST_CASE("inputs config: every key read by the presets is in the table, with a sensible range") {
  for (const char* name : {"ssmtl", "ssmtl++v1", "ssmtl++v2", "ssmtl-cpu", "ssmtl++v1-cpu", "ssmtl++v2-cpu"}) {
    util::Config c;
    c.set("model.name", name);
    ModelConfig::from_config(c);
    TrainOptions::from_config(c);
    std::string text = c.resolved_text();
    for (size_t a = 0; a < text.size();) {
      size_t eq = text.find(" = ", a), nl = text.find('\n', a);
      const std::string key = text.substr(a, eq - a);
      CHECK_MESSAGE(util::find_key_spec(key) != nullptr, key);
      a = nl + 1;
    }
  }
  for (const util::KeySpec& k : util::key_specs()) CHECK_MESSAGE(k.lo <= k.hi, k.key);
  util::Config c;
  CHECK(error_of([&] { c.get_int("model.no_such_key", 1); }) ==
        "configuration key `model.no_such_key` has no type and range in util/config_keys.cpp");
}

TEST_CASE("inputs config: --config of a folder is an error, not the defaults") {
  TempDir d("inputs");
  CHECK(error_of([&] { util::Config::from_file(d.path()); }) == d.path() + ": is a folder, not a configuration file");
  CHECK(error_of([&] { util::read_file(d.path()); }) == d.path() + ": is a folder, not a file");
}

TEST_CASE("inputs config: numbers are whole decimal tokens (no NUL tail, no hex, no NaN)") {
  const std::string nul = std::string("train.min_detection_score = 0.3") + '\0' + "garbage\n";
  CHECK(model_error(nul) == "run.txt: `train.min_detection_score` = `0.3\\x00garbage` is not a finite number in [0, 1]");
  CHECK(model_error("model.crop = 0x20\n") == "run.txt: `model.crop` = `0x20` is not an integer in [16, 512]");
  CHECK(model_error("train.lr = 0x1p-3\n") == "run.txt: `train.lr` = `0x1p-3` is not a finite number in [1e-09, 10]");
  CHECK(model_error("model.crop = 32 \n") == "(no error)");   // blanks around the value are the file's, trimmed
  CHECK(model_error("model.crop = 3 2\n") == "run.txt: `model.crop` = `3 2` is not an integer in [16, 512]");
  int64_t i = 0;
  double x = 0;
  CHECK(util::parse_int64("-12", i));
  CHECK(i == -12);
  CHECK_FALSE(util::parse_int64("12 ", i));
  CHECK_FALSE(util::parse_int64("99999999999999999999", i));
  CHECK(util::parse_finite("1.5e-3", x));
  CHECK(x == doctest::Approx(1.5e-3));
  for (const char* bad : {"", "-", ".", "1e", "1e+", "inf", "nan", "0x10", "1,5", "1e999", " 1"})
    CHECK_MESSAGE(!util::parse_finite(bad, x), bad);
  CHECK_FALSE(util::parse_finite(std::string("0.3\0x", 5), x));
}

TEST_CASE("inputs config: a checkpoint's stored configuration is checked like a file (range, unknown key)") {
  TempDir d("inputs");
  const std::string ck = d / "bad.ckpt";
  std::string heads0 = kTinyModel, crop = kTinyModel;
  heads0.replace(heads0.find("model.cvt.heads = 2"), 19, "model.cvt.heads = 0");
  crop.replace(crop.find("model.crop = 16"), 15, "model.crop = 65536");
  tiny_checkpoint(ck, heads0);
  RunResult r = run_ssmtl("score --data " + d.path() + " --detections " + d.path() + " --checkpoint " + ck + " --out " +
                          (d / "out"));
  CHECK(r.code == 1);
  CHECK(r.output == "ssmtl score: error: " + ck + ": `model.cvt.heads` = `0` is not an integer in [1, 64]\n");
  tiny_checkpoint(ck, crop);
  r = run_ssmtl("score --data " + d.path() + " --detections " + d.path() + " --checkpoint " + ck + " --out " + (d / "out"));
  CHECK(r.output == "ssmtl score: error: " + ck + ": `model.crop` = `65536` is not an integer in [16, 512]\n");
  tiny_checkpoint(ck, std::string(kTinyModel) + "model.colour = red\n");
  r = run_ssmtl("score --data " + d.path() + " --detections " + d.path() + " --checkpoint " + ck + " --out " + (d / "out"));
  CHECK(r.output == "ssmtl score: error: " + ck + ": unknown configuration key `model.colour`\n");
}

TEST_CASE("inputs args: --smooth-sigma 1e8 / 1e9 and --videos 01,01 are usage errors") {
  for (const char* s : {"1e8", "1e9"}) {
    RunResult r = run_ssmtl(std::string("evaluate --scores a --labels b --smooth-sigma ") + s);
    CHECK(r.code == 2);
    CHECK(r.output.rfind(std::string("ssmtl evaluate: --smooth-sigma: ") + s + " is outside [0, 10000]\n", 0) == 0);
  }
  CHECK(error_of([] { eval::gaussian_kernel(1e8); }) ==
        "gaussian_kernel: sigma 100000000.000000 x truncate 3.000000 asks for a kernel radius over 1e6 frames");
  RunResult r = run_ssmtl("detect --data x --out y --videos 01,01");
  CHECK(r.code == 2);
  CHECK(r.output == "ssmtl detect: --videos: '01' is given twice (see ssmtl detect --help)\n");
  const char* argv[] = {"x", "--conf", "0x1", "--n", "5\t"};
  app::Args a(5, const_cast<char**>(argv));
  CHECK(error_of([&] { a.get_double("conf", 0.5); }) == "--conf: '0x1' is not a finite number");
  CHECK(error_of([&] { a.get_int("n", 1, 0); }) == "--n: '5\\x09' is not an integer");
  // --key=value is --key value; a flag takes no value either way
  const char* eq[] = {"x", "--videos=01,02", "--set=model.crop=32", "--set", "train.lr=0.01", "--json"};
  app::Args b(6, const_cast<char**>(eq), {"json"});
  CHECK(b.list("videos") == std::vector<std::string>{"01", "02"});
  CHECK(b.all("set") == std::vector<std::string>{"model.crop=32", "train.lr=0.01"});
  CHECK(b.has("json"));
  const char* flag_value[] = {"x", "--json=1"};
  CHECK(error_of([&] { app::Args(2, const_cast<char**>(flag_value), {"json"}); }) == "option --json takes no value");
}

TEST_CASE("inputs alloc: an impossible tensor is an error naming its shape") {
  CHECK(error_of([] { Tensor::empty({1 << 20, 1 << 20, 1 << 10}); }) ==
        "out of memory: cannot allocate a tensor of shape [1048576, 1048576, 1024] (4294967296.000000 MiB)");
}

// ---- 2. checkpoints ------------------------------------------------------------------------------------------

TEST_CASE("inputs checkpoint: junk appended, a corrupt name length, a NaN weight") {
  TempDir d("inputs");
  const std::string ck = d / "a.ckpt";
  const std::string config = kTinyModel;
  const std::string good = tiny_checkpoint(ck, config);
  SSMTLModel m = tiny_model();
  CHECK_NOTHROW(load_checkpoint(ck, m));

  write_bytes(ck, good + "junk");
  CHECK(error_of([&] { load_checkpoint(ck, m); }) == ck + ": 4 bytes after the last tensor (corrupt or appended)");

  // the first tensor's name length (after magic, version, configuration, trainer state and the count)
  const size_t at = 12 + 8 + config.size() + 8 + 5 + 8;
  std::string bad = good;
  const uint64_t huge = 1ull << 33;
  std::memcpy(&bad[at], &huge, 8);
  write_bytes(ck, bad);
  CHECK(error_of([&] { load_checkpoint(ck, m); }) ==
        ck + ": corrupt checkpoint: name of tensor 0 of 8589934592 bytes, only " + std::to_string(good.size() - at - 8) +
            " left in the file");
  // the configuration's length field: checked before the meta data is allocated
  bad = good;
  std::memcpy(&bad[12], &huge, 8);
  write_bytes(ck, bad);
  CHECK(error_of([&] { read_checkpoint_meta(ck); }) ==
        ck + ": corrupt checkpoint: configuration text of 8589934592 bytes, only " + std::to_string(good.size() - 20) +
            " left in the file");

  // a NaN in the last float of the file (the last tensor)
  bad = good;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(&bad[bad.size() - 4], &nan, 4);
  write_bytes(ck, bad);
  const std::string last = m.named_tensors().back().name;
  const int64_t n = m.named_tensors().back().tensor->numel();
  std::vector<NamedTensor> all = m.named_tensors();
  std::string name_last;
  {   // the file stores tensors in named_tensors order; its last one holds the last float
    name_last = all.back().name;
  }
  CHECK(error_of([&] { load_checkpoint(ck, m); }) == ck + ": tensor " + name_last + " holds a non-finite value (nan) at index " +
                                                         std::to_string(n - 1));
  CHECK(last == name_last);
  CHECK(error_of([&] { load_checkpoint(d.path(), m); }) == d.path() + ": is a folder, not a checkpoint");
  write_bytes(ck, good.substr(0, good.size() - 3));
  CHECK(error_of([&] { load_checkpoint(ck, m); }) == ck + ": corrupt checkpoint: tensor " + last + " of " +
                                                         std::to_string(4 * n) + " bytes, only " +
                                                         std::to_string(4 * n - 3) + " left in the file");
}

// ---- 3. darknet -----------------------------------------------------------------------------------------------

namespace {
// A one-convolution network: 3x8x8 input, 18 filters (3 anchors x (5 + 1 class)), one [yolo] head.
std::string tiny_cfg(const std::string& conv_extra = "", const std::string& anchors = "1,1, 2,2, 3,3") {
  return "[net]\nwidth=8\nheight=8\nchannels=3\nbatch=1\n\n[convolutional]\nfilters=18\nsize=1\nstride=1\npad=0\n"
         "activation=linear\n" + conv_extra + "\n[yolo]\nmask=0,1,2\nanchors=" + anchors +
         "\nclasses=1\nnum=3\njitter=.3\n";
}
std::string tiny_weights(int nan_at = -1, float bad = std::numeric_limits<float>::quiet_NaN()) {
  std::string b(20, '\0');
  const int32_t head[3] = {0, 2, 0};
  std::memcpy(&b[0], head, 12);
  std::vector<float> v(18 + 18 * 3, 0.01f);
  if (nan_at >= 0) v[static_cast<size_t>(nan_at)] = bad;
  b.append(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  return b;
}
}  // namespace

TEST_CASE("inputs darknet: NaN or Inf weights are refused with the layer and the index") {
  TempDir d("inputs");
  const std::string cfg = d.write("n.cfg", tiny_cfg()), w = d / "n.weights";
  write_bytes(w, tiny_weights());
  darknet::Network ok(cfg);
  CHECK_NOTHROW(ok.load_weights(w));
  write_bytes(w, tiny_weights(23));   // weights start after 18 biases
  darknet::Network net(cfg);
  CHECK(error_of([&] { net.load_weights(w); }) ==
        w + ": [convolutional] of .cfg line 7 (weights): non-finite value nan at index 5 (float 23 of the payload)");
  // fuzz_darknet_weights found it: a major version of 1023410176 overflowed major * 10 (UBSan)
  std::string odd = tiny_weights();
  const int32_t major = 1023410176;
  std::memcpy(&odd[0], &major, 4);
  write_bytes(w, odd);
  CHECK(error_of([&] { net.load_weights(w); }) == w + ": not a darknet .weights file (version 1023410176.2.0)");
  // and a header without any weights: memcpy to a null pointer (UBSan)
  write_bytes(w, tiny_weights().substr(0, 20));
  CHECK(error_of([&] { net.load_weights(w); }) ==
        w + ": weights file too short for the .cfg: [convolutional] of .cfg line 7 (biases) needs 18 floats, only 0 left");
  write_bytes(w, tiny_weights(2, std::numeric_limits<float>::infinity()));
  CHECK(error_of([&] { net.load_weights(w); }) ==
        w + ": [convolutional] of .cfg line 7 (biases): non-finite value inf at index 2 (float 2 of the payload)");
}

TEST_CASE("inputs darknet: a misspelt .cfg key and negative anchors are errors, the real cfgs still load") {
  TempDir d("inputs");
  std::string cfg = tiny_cfg();
  cfg.replace(cfg.find("activation=linear"), 17, "activati-on=leaky");
  const std::string p = d.write("typo.cfg", cfg);
  CHECK(error_of([&] { darknet::Network n(p); }) ==
        p + ":12: [convolutional] activati-on: unknown key (keys of [convolutional]: filters, size, stride, stride_x, "
            "stride_y, groups, pad, padding, batch_normalize, activation, binary, xnor, antialiasing, deform, sway, "
            "rotate, stretch, dilation, share_index)");
  const std::string neg = d.write("neg.cfg", tiny_cfg("", "1,1, -2,2, 3,3"));
  CHECK(error_of([&] { darknet::Network n(neg); }) == neg + ":16: [yolo] anchors: value 2 (-2.000000) is not positive");
  const std::string hex = d.write("hex.cfg", tiny_cfg("groups=0x1\n"));
  CHECK(error_of([&] { darknet::Network n(hex); }) == hex + ":13: [convolutional] groups: '0x1' is not an integer");
  // sizes that would overflow int in the shape arithmetic or ask for absurd memory
  std::string bigc = tiny_cfg();
  bigc.replace(bigc.find("size=1"), 6, "size=100000");
  const std::string big = d.write("big.cfg", bigc);
  CHECK(error_of([&] { darknet::Network n(big); }) ==
        big + ":7: [convolutional]: filters must be <= 16384, size, stride and padding <= 64");
  std::string wide = tiny_cfg();
  wide.replace(wide.find("width=8"), 7, "width=100000");
  const std::string wp = d.write("wide.cfg", wide);
  CHECK(error_of([&] { darknet::Network n(wp); }) == wp + ":1: [net]: width and height must be <= 8192, channels <= 64");
  std::string nettypo = tiny_cfg();
  nettypo.replace(nettypo.find("batch=1"), 7, "bacth=1");
  const std::string nt = d.write("net.cfg", nettypo);
  CHECK(error_of([&] { darknet::Network n(nt); }).rfind(nt + ":5: [net] bacth: unknown key (keys of [net]: width,", 0) == 0);
  for (const char* name : {"yolo-fastest-1.1", "yolo-fastest-1.1-xl", "yolo-fastest-1.1_body"}) {
    const std::string base = std::string(SSMTL_SHARED_DIR) + "/weights/yolo-fastest/" + name;
    if (!fs::exists(base + ".cfg")) continue;
    darknet::Network n(base + ".cfg");
    CHECK_NOTHROW(n.load_weights(base + ".weights"));
  }
}

// ---- 4. nothing silently dropped -----------------------------------------------------------------------------

TEST_CASE("inputs files: 01.TXT is an error, other stray files a warning with a count, NUL and hex in region files") {
  TempDir d("inputs");
  d.write("labels/02.txt", "0\n1\n");
  d.write("labels/01.TXT", "0\n1\n");
  CHECK(error_of([&] { eval::list_video_files(d / "labels"); }) ==
        d / "labels" + "/01.TXT: video files end in lower-case .txt; rename it or move it away");
  fs::remove(d / "labels/01.TXT");
  d.write("labels/notes.md", "x");
  d.write("labels/03.txt.bak", "x");
  std::string warn = stderr_of([&] { CHECK(eval::list_video_files(d / "labels").size() == 1); });
  CHECK(warn == "warning: " + d / "labels" + ": entries that are not <video>.txt files, not read: 2 (03.txt.bak, notes.md)\n");
  const std::string r = d.write("r.txt", std::string("0,1,1,4,4,0.3") + '\0' + "garbage\n");
  CHECK(error_of([&] { load_regions(r); }) == r + ":1: score '0.3\\x00garbage' is not a number");
  const std::string h = d.write("h.txt", "0,0x10,1,40,4,0.3\n");
  CHECK(error_of([&] { load_regions(h); }) == h + ":1: x_min '0x10' is not a number");
  const std::string n = d.write("n.txt", "0,1,1,4,4,nan\n");
  CHECK(error_of([&] { load_regions(n); }) == n + ":1: score is NaN");
}

TEST_CASE("inputs frames: 1.jpg and 01.jpg in one folder are an error, other files a warning") {
  TempDir d("inputs");
  const std::string jpg = util::read_file(std::string(SSMTL_TEST_DATA_DIR) + "/gray_16x8.jpg");
  d.write("v/1.jpg", jpg);
  d.write("v/01.jpg", jpg);
  d.write("v/2.jpg", jpg);
  CHECK(error_of([&] { list_frame_files(d / "v"); }) ==
        d / "v" + ": frames 01.jpg and 1.jpg have the same number; keep one of them");
  fs::remove(d / "v/01.jpg");
  d.write("v/Thumbs.db", "x");
  std::string warn = stderr_of([&] { CHECK(list_frame_files(d / "v").size() == 2); });
  CHECK(warn == "warning: " + d / "v" + ": entries that are not frames (.jpg .jpeg .png .bmp), not read: 1 (Thumbs.db)\n");
}

TEST_CASE("inputs training objects: detections outside the frame are reported with a count") {
  TempDir d("inputs");
  const std::string jpg = util::read_file(std::string(SSMTL_TEST_DATA_DIR) + "/gray_16x8.jpg");
  d.write("data/training/frames/01/000.jpg", jpg);
  d.write("data/training/frames/01/001.jpg", jpg);
  const std::string det = d.write("det/01.txt", "0,1,1,5,5,0.9\n1,20,20,30,30,0.9\n0,40,1,50,5,0.8\n1,1,1,5,5,0.1\n");
  size_t objects = 0;
  std::string out = stderr_of([&] {
    ObjectPool p = ObjectPool::load(d / "data", "training", d / "det", 0.5, false);
    objects = p.objects().size();
  });
  CHECK(objects == 1);
  CHECK(out == "warning: " + det + ": detections outside the 16x8 frame, skipped: 2 (line 2, line 3)\n"
               "note: " + det + ": detections below the minimum score 0.5, skipped: 1 (line 4)\n");
}

TEST_CASE("inputs atomic files: a killed writer's temporaries are removed by the next write in that folder") {
  TempDir d("inputs");
  d.write("run/last.ckpt.tmp.999999999", "half");          // no such process (above any pid_max)
  const std::string live = "best.ckpt.tmp." + std::to_string(::getppid());
  d.write("run/" + live, "being written");                  // a live writer's file is kept
  std::string out = stderr_of([&] { util::write_text_atomic(d / "run/config.txt", "x = 1\n"); });
  CHECK(out == "note: " + d / "run" + ": removed 1 temporary files of interrupted writes (last.ckpt.tmp.999999999)\n");
  CHECK_FALSE(fs::exists(d / "run/last.ckpt.tmp.999999999"));
  CHECK(fs::exists(d / ("run/" + live)));
  CHECK(util::read_file(d / "run/config.txt") == "x = 1\n");
}

TEST_CASE("inputs resume: a run resumed into another --out prints a best.ckpt that exists there") {
  TempDir dir("inputs");
  test::TinyDataset d = test::make_tiny_dataset(dir, 3, 31, 2);
  const std::string cfg = dir.write("cfg.txt", std::string(kTinyModel) +
                                                   "train.epochs = 1\ntrain.batch_size = 4\n"
                                                   "train.max_val_objects = 8\nmodel.tasks.pseudo_anomalies = false\n");
  const std::string base = "train --data " + d.root + " --detections " + d.detections + " --config " + cfg;
  RunResult a = run_ssmtl(base + " --out " + (dir / "a"));
  REQUIRE_MESSAGE(a.code == 0, a.output);
  REQUIRE(fs::exists(dir / "a/best.ckpt"));
  // the resumed run has no epoch left: its best is the first run's
  RunResult b = run_ssmtl(base + " --out " + (dir / "b") + " --resume " + (dir / "a/last.ckpt"));
  REQUIRE_MESSAGE(b.code == 0, b.output);
  CHECK(b.output.find("train: copied " + (dir / "a") + "/best.ckpt to " + (dir / "b") +
                      "/best.ckpt (the best epoch before the resume)\n") != std::string::npos);
  CHECK(b.output.find("checkpoint " + (dir / "b") + "/best.ckpt\n") != std::string::npos);
  CHECK(util::read_file(dir / "b/best.ckpt") == util::read_file(dir / "a/best.ckpt"));
}

TEST_CASE("inputs evaluate: a labels file 01.TXT fails the run, score files without labels are listed") {
  TempDir d("inputs");
  d.write("labels/02.txt", "0\n1\n0\n");
  d.write("labels/01.TXT", "0\n1\n0\n");
  d.write("scores/01.txt", "0.1\n0.9\n0.2\n");
  d.write("scores/02.txt", "0.1\n0.9\n0.2\n");
  const std::string cmd = "evaluate --scores " + (d / "scores") + " --labels " + (d / "labels");
  RunResult r = run_ssmtl(cmd);
  CHECK(r.code == 1);
  CHECK(r.output == "ssmtl evaluate: error: " + (d / "labels") +
                        "/01.TXT: video files end in lower-case .txt; rename it or move it away\n");
  fs::remove(d / "labels/01.TXT");
  r = run_ssmtl(cmd);
  CHECK(r.code == 0);
  CHECK(r.output.find("warning: " + (d / "scores") + ": score files of videos without labels, not evaluated: 1 (01.txt)\n") !=
        std::string::npos);
}

TEST_CASE("inputs fuzz regressions: every input a fuzzer crashed on now gives a clean error") {
  // tests/data/fuzz_regressions/<reader>_<what>.<ext>, replayed through the reader its fuzzer drives
  const char* cfg = "[net]\nwidth=8\nheight=8\nchannels=3\n"
                    "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
                    "[convolutional]\nfilters=18\nsize=1\nstride=1\npad=1\nactivation=linear\n"
                    "[yolo]\nmask=0,1,2\nanchors=1,1,2,2,3,3\nclasses=1\nnum=3\n";   // fuzz/fuzz_darknet_weights.cpp
  int replayed = 0;
  for (const auto& e : fs::directory_iterator(std::string(SSMTL_TEST_DATA_DIR) + "/fuzz_regressions")) {
    const std::string p = e.path().string(), name = e.path().filename().string();
    std::string err;
    if (name.rfind("darknet_weights_", 0) == 0) {
      darknet::Network net(darknet::parse_cfg_text(cfg, "fuzz.cfg"));
      err = error_of([&] { net.load_weights(p); });
    } else if (name.rfind("darknet_cfg_", 0) == 0) {
      err = error_of([&] { darknet::Network n(p); });
    } else if (name.rfind("class_probs_", 0) == 0) {
      err = error_of([&] { load_class_probs(p); });
    } else if (name.rfind("config_", 0) == 0) {
      err = model_error(util::read_file(p), p);
    } else {
      FAIL("no reader for " << name);
    }
    CHECK_MESSAGE(err != "(no error)", name);
    CHECK_MESSAGE(err.rfind(p, 0) == 0, name << ": " << err);   // the message names the file
    ++replayed;
  }
  CHECK(replayed >= 3);
  // fuzz_teacher_maps found it: a frame of 5.6e64 was cast to int64 (UBSan)
  TempDir d("inputs");
  const std::string f = d.write("p.txt", "# ssmtl class_probs v1 classes=1\n1e40,1,2,5,6,0.5,0.5\n");
  CHECK(error_of([&] { load_class_probs(f); }) == f + ":2: frame '1e40' is not a non-negative integer");
}
