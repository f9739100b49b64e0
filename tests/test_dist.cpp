// Data-parallel training and scoring (issue 15, dist/): `mpirun -np N ssmtl train|score|detect` on a tiny
// synthetic data set, compared with one process. Skipped with a message when the build has no MPI.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "dist/communicator.h"
#include "model/checkpoint.h"
#include "model/ssmtl.h"
#include "tensor/device.h"
#include "tests/eval_test_util.h"
#include "tests/run_program.h"
#include "tests/teacher_test_util.h"
#include "util/config.h"

using namespace ssmtl;
namespace fs = std::filesystem;

namespace {

const std::string kMpiexec = SSMTL_MPIEXEC;

bool have_mpi() {
  if (!kMpiexec.empty()) return true;
  MESSAGE("skipped: this build has no MPI (install libopenmpi-dev openmpi-bin and reconfigure)");
  return false;
}

// `ranks` = 0: the program alone (one process, no launcher); else under mpirun with that many ranks, one
// OpenMP thread each (2 cores, several ranks). stderr merged into output; `timeout` guards against a hang.
test::RunResult run(int ranks, const std::string& args, const std::string& env = "") {
  // (LeakSanitizer would count the MPI library's allocations kept until exit in an ASan build.)
  std::string cmd = "OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=0 timeout 120 ";
  if (ranks > 0)
    cmd += kMpiexec + " --oversubscribe --allow-run-as-root --bind-to none -np " + std::to_string(ranks) +
           " -x OMP_NUM_THREADS -x ASAN_OPTIONS" + (env.empty() ? "" : " -x " + env.substr(0, env.find('='))) + " ";
  return test::run_shell((env.empty() ? "" : env + " ") + cmd + test::ssmtl_program().string() + " " + args + " 2>&1");
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// T1+T2+T3 (+T5 when ../shared has the out-of-distribution images) on 32x32 crops; 24 objects an epoch in
// global batches of 6: 3 samples a rank on 2 ranks, 2 on 3. Adam's epsilon is 1e-5 in the runs compared with
// one process: with torch's 1e-8, Adam turns the rounding noise of near-zero gradients into steps of about
// lr (its first step is g / |g|), and the runs part by ~3e-4 (README, "Many GPUs, many machines").
std::string tiny_config(bool pseudo) {
  return std::string("model.name = ssmtl++v1-cpu\nmodel.backbone.channels = 4, 4, 8\nmodel.cvt.dim = 8\n"
                     "model.cvt.heads = 2\nmodel.head_hidden = 4\nmodel.decoder_hidden = 4\ntrain.epochs = 1\n"
                     "train.batch_size = 6\ntrain.max_objects_per_epoch = 24\ntrain.max_val_objects = 8\n"
                     "train.pseudo_start_epoch = 0\nmodel.tasks.pseudo_anomalies = ") +
         (pseudo ? "true" : "false") + "\n";
}

struct Setup {
  test::TempDir dir{"dist"};
  test::TinyDataset d = test::make_tiny_dataset(dir, 3, 41);
  bool pseudo = fs::is_directory(std::string(SSMTL_SHARED_DIR) + "/data/ood/textures_dtd");
  std::string config = dir.write("tiny.txt", tiny_config(pseudo));
  std::string train_args(const std::string& out, const std::string& extra = "") const {
    return "train --data " + d.root + " --detections " + d.detections + " --ood " + SSMTL_SHARED_DIR +
           "/data/ood --config " + config + " --out " + dir / out + " " + extra;
  }
};

// The weights of a checkpoint, by name.
std::vector<std::pair<std::string, std::vector<float>>> weights(const std::string& ckpt) {
  CheckpointMeta meta = read_checkpoint_meta(ckpt);
  util::Config cfg = util::Config::from_string(meta.config_text, ckpt);
  SSMTLModel m(ModelConfig::from_config(cfg), 0);
  load_checkpoint(ckpt, m);
  std::vector<std::pair<std::string, std::vector<float>>> w;
  for (auto& nt : m.named_tensors()) w.emplace_back(nt.name, nt.tensor->to_vector());
  return w;
}

// Largest |a - b| over all weights and buffers; checks it against `rel` times the largest |weight| (the
// weights' scale: a parameter whose gradient is zero in exact arithmetic, such as an attention key bias,
// holds nothing but rounding noise, which no relative test of its own can pass).
double compare(const std::string& a_ckpt, const std::string& b_ckpt, double rel) {
  const auto a = weights(a_ckpt), b = weights(b_ckpt);
  REQUIRE(a.size() == b.size());
  double worst = 0, scale = 0;
  std::string where;
  for (size_t i = 0; i < a.size(); ++i) {
    REQUIRE(a[i].second.size() == b[i].second.size());
    for (size_t k = 0; k < a[i].second.size(); ++k) {
      const double d = std::fabs(a[i].second[k] - b[i].second[k]);
      if (d > worst) {
        worst = d;
        where = a[i].first;
      }
      scale = std::max(scale, static_cast<double>(std::fabs(b[i].second[k])));
    }
  }
  CHECK_MESSAGE(worst <= rel * scale, "max |difference| " << worst << " (" << where << "), largest |weight| " << scale);
  return worst;
}

}  // namespace

TEST_CASE("dist: with sync_bn, 2 and 3 ranks equal one process on the same global batch, and the same N gives the same bits") {
  if (!have_mpi()) return;
  Setup s;
  if (!s.pseudo) MESSAGE("no ../shared/data/ood: T5 left out");
  const std::string eps = " --set train.adam_eps=1e-5";
  const test::RunResult one = run(0, s.train_args("one", eps));
  REQUIRE_MESSAGE(one.code == 0, one.output);
  const test::RunResult two = run(2, s.train_args("two", "--set train.sync_bn=true" + eps));
  REQUIRE_MESSAGE(two.code == 0, two.output);
  CHECK(two.output.find("data parallel over 2 ranks") != std::string::npos);
  const test::RunResult again = run(2, s.train_args("two_again", "--set train.sync_bn=true" + eps));
  REQUIRE_MESSAGE(again.code == 0, again.output);
  const test::RunResult three = run(3, s.train_args("three", "--set train.sync_bn=true" + eps));
  REQUIRE_MESSAGE(three.code == 0, three.output);
  const std::string ref = s.dir / "one/last.ckpt";
  MESSAGE("max |weight difference| 2 ranks vs 1 process: " << compare(s.dir / "two/last.ckpt", ref, 1e-5));
  MESSAGE("max |weight difference| 3 ranks vs 1 process: " << compare(s.dir / "three/last.ckpt", ref, 1e-5));
  // The same seed and N: the same file byte for byte (weights, Adam moments, trainer state).
  CHECK(read_all(s.dir / "two/last.ckpt") == read_all(s.dir / "two_again/last.ckpt"));
  // Rank 0 alone wrote the run folder: the same files as one process.
  for (const char* f : {"config.txt", "train_log.jsonl", "best.ckpt", "last.ckpt"})
    CHECK_MESSAGE(fs::exists(s.dir / (std::string("two/") + f)), f);
  CHECK(read_all(s.dir / "two/config.txt") != read_all(s.dir / "one/config.txt"));   // sync_bn is recorded
}

TEST_CASE("dist: per-rank BatchNorm statistics (the default) train identical replicas, unlike sync_bn") {
  if (!have_mpi()) return;
  Setup s;
  const test::RunResult one = run(0, s.train_args("one"));
  REQUIRE_MESSAGE(one.code == 0, one.output);
  const test::RunResult two = run(2, s.train_args("two"));
  REQUIRE_MESSAGE(two.code == 0, two.output);   // the trainer checks after each epoch that the replicas agree
  CHECK(two.output.find("BatchNorm per rank") != std::string::npos);
  // Statistics of 3 samples instead of 6: a different (and valid) run.
  const auto a = weights(s.dir / "one/last.ckpt"), b = weights(s.dir / "two/last.ckpt");
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t k = 0; k < a[i].second.size(); ++k)
      d = std::max(d, static_cast<double>(std::fabs(a[i].second[k] - b[i].second[k])));
  MESSAGE("max |weight difference| per-rank BatchNorm, 2 ranks vs 1 process: " << d);
  CHECK(d > 1e-4);
}

TEST_CASE("dist: a run stopped on 2 ranks and resumed on 3 equals one process") {
  if (!have_mpi()) return;
  Setup s;
  const std::string eps = " --set train.adam_eps=1e-5";
  const test::RunResult one = run(0, s.train_args("one", eps));
  REQUIRE_MESSAGE(one.code == 0, one.output);
  const test::RunResult first = run(2, s.train_args("moved", "--set train.sync_bn=true --set train.stop_after_steps=2" + eps));
  REQUIRE_MESSAGE(first.code == 0, first.output);
  const test::RunResult rest =
      run(3, s.train_args("moved", "--set train.sync_bn=true --resume " + s.dir / "moved/last.ckpt" + eps));
  REQUIRE_MESSAGE(rest.code == 0, rest.output);
  CHECK(rest.output.find("resumed from") != std::string::npos);
  MESSAGE("max |weight difference| 2 then 3 ranks vs 1 process: "
          << compare(s.dir / "moved/last.ckpt", s.dir / "one/last.ckpt", 1e-5));
}

TEST_CASE("dist: a rank that throws ends the whole job with its rank and error, exit status 1") {
  if (!have_mpi()) return;
  Setup s;
  const test::RunResult r = run(3, s.train_args("fail"), "SSMTL_FAIL_RANK=1:2");
  CHECK(r.code != 0);
  CHECK(r.code != 124);   // not the timeout: the other ranks did not hang
  CHECK_MESSAGE(r.output.find("ssmtl train (rank 1/3): error: injected failure (SSMTL_FAIL_RANK) before step 3") !=
                    std::string::npos,
                r.output);
}

TEST_CASE("dist: score and detect on 2 ranks write the same files as one process, byte for byte") {
  if (!have_mpi()) return;
  Setup s;
  const test::RunResult trained = run(0, s.train_args("model", "--set train.stop_after_steps=1"));
  REQUIRE_MESSAGE(trained.code == 0, trained.output);
  // Every file of two folders (relative names), the same bytes.
  auto same_tree = [](const std::string& a, const std::string& b) {
    int files = 0;
    for (const auto& e : fs::recursive_directory_iterator(a)) {
      if (!e.is_regular_file()) continue;
      const std::string rel = fs::relative(e.path(), a).string();
      CHECK_MESSAGE(read_all(e.path().string()) == read_all(b + "/" + rel), rel);
      ++files;
    }
    int other = 0;
    for (const auto& e : fs::recursive_directory_iterator(b)) other += e.is_regular_file();
    CHECK(files == other);
    return files;
  };
  const std::string score = "score --split training --data " + s.d.root + " --detections " + s.d.detections +
                            " --checkpoint " + s.dir / "model/last.ckpt" + " --batch 4 --out ";
  const test::RunResult one = run(0, score + s.dir / "score1");
  REQUIRE_MESSAGE(one.code == 0, one.output);
  const test::RunResult two = run(2, score + s.dir / "score2");
  REQUIRE_MESSAGE(two.code == 0, two.output);
  CHECK(two.output.find("score (2 ranks)") != std::string::npos);
  CHECK(same_tree(s.dir / "score1", s.dir / "score2") == 10);   // 3 videos x 3 files + score_config.txt
  const std::string detect = "detect --split training --method background --data " + s.d.root + " --out ";
  const test::RunResult d1 = run(0, detect + s.dir / "det1");
  REQUIRE_MESSAGE(d1.code == 0, d1.output);
  const test::RunResult d2 = run(2, detect + s.dir / "det2");
  REQUIRE_MESSAGE(d2.code == 0, d2.output);
  CHECK(same_tree(s.dir / "det1", s.dir / "det2") == 4);   // 3 region files + detect_config.txt
  // The totals printed by rank 0 cover both ranks' videos.
  CHECK(d1.output.substr(d1.output.find("background:")) .substr(0, 40) ==
        d2.output.substr(d2.output.find("background:")).substr(0, 40));
}

// On a GPU (scripts/gpu_check.sh runs the cuda* cases): the NCCL path with one rank -- the unique id
// broadcast over MPI, the GPU chosen from the node-local rank, the gradients summed by ncclAllReduce -- trains
// the same weights as the GPU run without a launcher.
TEST_CASE("cuda dist: one rank through NCCL trains what one process trains on the GPU") {
  if (!cuda_available()) {
    MESSAGE("no CUDA device: skipped");
    return;
  }
  if (!have_mpi()) return;
  if (!dist::built_with_nccl()) {
    MESSAGE("skipped: this build has no NCCL");
    return;
  }
  Setup s;
  const std::string eps = " --device cuda --set train.adam_eps=1e-5";
  const test::RunResult one = run(0, s.train_args("one", eps));
  REQUIRE_MESSAGE(one.code == 0, one.output);
  const test::RunResult nccl = run(1, s.train_args("nccl", eps));
  REQUIRE_MESSAGE(nccl.code == 0, nccl.output);
  MESSAGE("max |weight difference| NCCL 1 rank vs 1 process (GPU): "
          << compare(s.dir / "nccl/last.ckpt", s.dir / "one/last.ckpt", 1e-5));
}
