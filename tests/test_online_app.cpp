// `ssmtl watch` as a program: JSON lines written atomically with a header and a summary, alerts at --threshold,
// Ctrl-C (SIGINT) flushing what was decoded, a source that ends mid-frame (exit 1, the frames before it written),
// --calibrate choosing the threshold from normal videos, usage errors.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/online_test_util.h"
#include "tests/run_program.h"

using namespace ssmtl;

namespace {

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

int count_frames(const std::vector<std::string>& lines, const char* what = "\"frame\": ") {
  int n = 0;
  for (const auto& l : lines) n += l.find(what) != std::string::npos;
  return n;
}

}  // namespace

TEST_CASE("ssmtl watch writes JSON lines atomically: header, one line per frame with its objects, summary") {
  test::TempDir tmp("watch_app");
  test::save_tiny_watch_checkpoint(tmp.path + "/m.ckpt");
  test::write_squares_folder(tmp.path + "/sq", 12);
  const std::string out = tmp.path + "/o.jsonl";
  auto r = test::run_ssmtl("watch --checkpoint " + tmp.path + "/m.ckpt --input " + tmp.path +
                           "/sq --method flow --drop none --threshold 0 --out " + out);
  REQUIRE_MESSAGE(r.code == 0, r.output);
  CHECK(r.output.find("look-ahead 4 frames") != std::string::npos);
  CHECK(r.output.find("in 12 frames") != std::string::npos);
  auto lines = lines_of(out);
  REQUIRE(lines.size() == 14);
  CHECK(lines[0].find("{\"format\": \"ssmtl-watch\", \"version\": 1") == 0);
  CHECK(lines[0].find("\"smoother\": \"half-gaussian\"") != std::string::npos);
  for (int f = 0; f < 12; ++f) {
    CHECK(lines[f + 1].find("{\"frame\": " + std::to_string(f) + ", \"timestamp\": ") == 0);
    CHECK(lines[f + 1].find("\"alert\": true") != std::string::npos);   // threshold 0: every score >= 0
    CHECK(lines[f + 1].find("\"objects\": [{\"box\": [") != std::string::npos);   // the moving squares
  }
  CHECK(lines[13].find("{\"summary\": {") == 0);
  CHECK(lines[13].find("\"frames_out\": 12, \"dropped\": 0") != std::string::npos);
  CHECK(lines[13].find("\"error\": null") != std::string::npos);
  for (const auto& e : std::filesystem::directory_iterator(tmp.path))   // no temporary file left
    CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
}

TEST_CASE("ssmtl watch: Ctrl-C stops the source, scores what was decoded and closes the output") {
  test::TempDir tmp("watch_sigint");
  test::save_tiny_watch_checkpoint(tmp.path + "/m.ckpt");
  test::write_squares_folder(tmp.path + "/sq", 60);
  const std::string out = tmp.path + "/o.jsonl";
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "ssmtl";
  const std::string ckpt = tmp.path + "/m.ckpt", input = tmp.path + "/sq";
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    freopen("/dev/null", "w", stderr);
    execl(exe.c_str(), "ssmtl", "watch", "--checkpoint", ckpt.c_str(), "--input", input.c_str(), "--method", "flow",
          "--fps", "20", "--out", out.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));   // 60 frames at 20 FPS take 3 s
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  auto lines = lines_of(out);
  REQUIRE(lines.size() >= 3);
  const int frames = count_frames(lines);
  CHECK(frames > 5);
  CHECK(frames < 60);
  CHECK(lines.back().find("{\"summary\": {") == 0);
  CHECK(lines.back().find("\"frames_in\": " + std::to_string(frames)) != std::string::npos);   // all decoded were scored
}

TEST_CASE("ssmtl watch: a stream that ends mid-frame exits 1 naming the frame, the whole frames are written") {
  test::TempDir tmp("watch_midframe");
  test::save_tiny_watch_checkpoint(tmp.path + "/m.ckpt");
  const std::string fake = tmp.path + "/ffmpeg.sh";
  std::ofstream(fake) << "#!/bin/sh\nhead -c 46080 /dev/urandom\n";   // 2.5 frames of 96x64 RGB
  std::filesystem::permissions(fake, std::filesystem::perms::owner_all);
  std::ofstream(tmp.path + "/cam.raw") << "x";
  const std::string out = tmp.path + "/o.jsonl";
  auto r = test::run_ssmtl("watch --checkpoint " + tmp.path + "/m.ckpt --input " + tmp.path + "/cam.raw --size 96x64 " +
                           "--ffmpeg " + fake + " --ffprobe false --method flow --out " + out);
  CHECK(r.code == 1);
  CHECK(r.output.find("the stream ended mid-frame: frame 2 has 9216 of 18432 bytes") != std::string::npos);
  auto lines = lines_of(out);
  CHECK(count_frames(lines) == 2);
  CHECK(lines.back().find("\"error\": \"") != std::string::npos);

  auto bad = test::run_ssmtl("watch --checkpoint " + tmp.path + "/m.ckpt --input " + tmp.path + "/cam.raw --drop newest");
  CHECK(bad.code == 2);
  CHECK(bad.output.find("drop policy must be oldest or none") != std::string::npos);
  auto missing = test::run_ssmtl("watch --checkpoint " + tmp.path + "/m.ckpt --input " + tmp.path + "/nothing.mp4 --method flow");
  CHECK(missing.code == 1);
  CHECK(missing.output.find("nothing.mp4: no such file, folder or device") != std::string::npos);
}

TEST_CASE("ssmtl watch --calibrate: the threshold lets at most the asked share of normal frames alert") {
  test::TempDir tmp("watch_calibrate");
  test::save_tiny_watch_checkpoint(tmp.path + "/m.ckpt");
  test::write_squares_folder(tmp.path + "/normal/a", 10);
  test::write_squares_folder(tmp.path + "/normal/b", 10);
  // Clamped windows: with shifted ones (the default) frames 0-3 of these videos share frames 0..6 and their one
  // box (the whole frame), so frames 0-2 tie at the top score, and a tie breaks the count below.
  auto r = test::run_ssmtl("watch --checkpoint " + tmp.path + "/m.ckpt --calibrate " + tmp.path +
                           "/normal --false-alarms 0.1 --method flow --window-ends clamp", "2>/dev/null");
  REQUIRE_MESSAGE(r.code == 0, r.output);
  REQUIRE(r.output.find("calibrated threshold ") == 0);
  const std::string rest = r.output.substr(std::string("calibrated threshold ").size());
  const std::string t = rest.substr(0, rest.find(':'));
  CHECK(r.output.find("20 normal frames") != std::string::npos);
  CHECK(r.output.find("at most 2 (0.1) above it") != std::string::npos);
  // the same videos watched with that threshold: exactly 2 alerts over the 20 frames (scores are distinct)
  int alerts = 0;
  for (const char* v : {"a", "b"}) {
    auto w = test::run_ssmtl("watch --checkpoint " + tmp.path + "/m.ckpt --input " + tmp.path + "/normal/" + v +
                             " --method flow --drop none --window-ends clamp --threshold " + t, "2>/dev/null");
    REQUIRE(w.code == 0);
    std::istringstream in(w.output);
    for (std::string l; std::getline(in, l);) alerts += l.find("\"alert\": true") != std::string::npos;
  }
  CHECK(alerts == 2);
}

TEST_CASE("ssmtl watch: a run's scoring (2 checkpoints, --normalization) and detection settings (--detect-config)") {
  test::TempDir tmp("watch_run_files");
  const std::string a = tmp.path + "/a.ckpt", b = tmp.path + "/b.ckpt";
  test::save_tiny_watch_checkpoint(a, 3);
  test::save_tiny_watch_checkpoint(b, 8);
  test::write_squares_folder(tmp.path + "/sq", 8);
  // zscore statistics for the tiny model's tasks (T1 arrow, T2 irregularity, T3 middle)
  auto norm_file = [&](const std::string& name, const std::string& ckpt, const std::vector<std::string>& tasks) {
    std::string text = "# test\nformat = 1\ncheckpoint = " + ckpt + "\nmode = zscore\n";
    for (const auto& t : tasks) text += t + " mean 0.25 std 0.5 count 10\n";
    std::ofstream(tmp.path + "/" + name) << text;
    return tmp.path + "/" + name;
  };
  const std::vector<std::string> tasks = {"arrow", "irregularity", "middle"};
  const std::string na = norm_file("na.txt", a, tasks), nb = norm_file("nb.txt", "elsewhere/b.ckpt", tasks);
  std::ofstream(tmp.path + "/detect_config.txt") << "# ssmtl detect\ndata = x\nsplit = testing\nmethod = flow\n"
                                                    "model = yolo-fastest-1.1-xl\nconf = 0.5\nclasses = all\nflow_scale = 1\n"
                                                    "motion_threshold = 1\nmotion_min_area_ref = 1500\n";
  const std::string base = "watch --input " + tmp.path + "/sq --drop none --checkpoint " + a + " --checkpoint " + b;
  const std::string out = tmp.path + "/o.jsonl";
  // method flow comes from the file (no detector is loaded: the default hybrid would need one)
  auto r = test::run_ssmtl(base + " --normalization " + na + " --normalization " + nb + " --detect-config " + tmp.path +
                           "/detect_config.txt --out " + out);
  REQUIRE_MESSAGE(r.code == 0, r.output);
  auto lines = lines_of(out);
  REQUIRE(lines.size() == 10);
  CHECK(lines[0].find("\"checkpoints\": [\"" + a + "\", \"" + b + "\"]") != std::string::npos);
  CHECK(lines[0].find("\"task_normalize\": \"zscore\"") != std::string::npos);
  CHECK(lines[0].find("\"method\": \"flow\"") != std::string::npos);
  CHECK(lines[0].find("\"window_ends\": \"shift\"") != std::string::npos);
  // format 1 files hold statistics of clamped windows: said once per file, the run goes on
  CHECK(r.output.find("na.txt holds statistics of normal objects scored with clamp windows at the videos' ends, this "
                      "run scores with shift windows") != std::string::npos);
  auto c = test::run_ssmtl(base + " --window-ends clamp --normalization " + na + " --normalization " + nb +
                           " --detect-config " + tmp.path + "/detect_config.txt --out " + tmp.path + "/c.jsonl");
  REQUIRE_MESSAGE(c.code == 0, c.output);
  CHECK(c.output.find("warning") == std::string::npos);
  CHECK(lines_of(tmp.path + "/c.jsonl")[0].find("\"window_ends\": \"clamp\"") != std::string::npos);
  auto u = test::run_ssmtl(base + " --window-ends mirror --out " + tmp.path + "/u.jsonl");
  CHECK(u.code == 2);   // a usage error
  CHECK(u.output.find("--window-ends must be clamp or shift, got 'mirror'") != std::string::npos);

  auto fails = [&](const std::string& args, const std::string& needle) {
    auto e = test::run_ssmtl(base + " " + args + " --out " + tmp.path + "/e.jsonl");
    CHECK(e.code != 0);
    CHECK_MESSAGE(e.output.find(needle) != std::string::npos, e.output);
  };
  fails("--normalization " + na, "one file per checkpoint");
  fails("--normalization " + nb + " --normalization " + na + " --method flow", "statistics of checkpoint elsewhere/b.ckpt, not of " + a);
  fails("--normalization " + norm_file("nc.txt", a, {"arrow", "middle"}) + " --normalization " + nb + " --method flow",
        "no normal statistics for task irregularity");
  std::ofstream(tmp.path + "/bad_config.txt") << "method = flow\nthreshold = 2\n";
  fails("--detect-config " + tmp.path + "/bad_config.txt", "bad_config.txt:2: unknown key 'threshold'");
}

namespace {
std::vector<double> raw_scores(const std::string& jsonl) {
  std::vector<double> out;
  for (const auto& l : lines_of(jsonl)) {
    const size_t at = l.find("\"raw_score\": ");
    if (at != std::string::npos) out.push_back(std::strtod(l.c_str() + at + 13, nullptr));
  }
  return out;
}
}  // namespace

TEST_CASE("ssmtl watch --normalize fits the statistics as ssmtl score --normalize: the same frame scores") {
  test::TempDir tmp("watch_normalize");
  const std::string root = tmp.path + "/data", ckpt = tmp.path + "/m.ckpt";
  test::write_squares_folder(root + "/training/frames/sq", 9);
  test::write_squares_folder(root + "/testing/frames/sq", 10);
  test::save_tiny_watch_checkpoint(ckpt, 5);
  for (const char* split : {"training", "testing"}) {
    auto d = test::run_ssmtl("detect --data " + root + " --split " + split + " --method flow --out " + tmp.path + "/d_" + split);
    REQUIRE_MESSAGE(d.code == 0, d.output);
  }
  const std::string normal = " --normal-detections " + tmp.path + "/d_training --normal-videos sq";
  auto s = test::run_ssmtl("score --data " + root + " --detections " + tmp.path + "/d_testing --checkpoint " + ckpt +
                           " --out " + tmp.path + "/scores --normalize log-zscore" + normal);
  REQUIRE_MESSAGE(s.code == 0, s.output);
  const std::string watch = "watch --checkpoint " + ckpt + " --input " + root + "/testing/frames/sq --method flow --drop none";
  auto w = test::run_ssmtl(watch + " --normalize log-zscore --normal-data " + root + normal + " --out " + tmp.path + "/fit.jsonl");
  REQUIRE_MESSAGE(w.code == 0, w.output);
  auto r = test::run_ssmtl(watch + " --normalization " + tmp.path + "/scores/normalization.txt --out " + tmp.path + "/read.jsonl");
  REQUIRE_MESSAGE(r.code == 0, r.output);
  auto p = test::run_ssmtl(watch + " --out " + tmp.path + "/plain.jsonl");
  REQUIRE(p.code == 0);
  const std::vector<double> fit = raw_scores(tmp.path + "/fit.jsonl"), read = raw_scores(tmp.path + "/read.jsonl"),
                            plain = raw_scores(tmp.path + "/plain.jsonl");
  std::vector<double> offline;
  std::ifstream in(tmp.path + "/scores/frame_scores/sq.txt");
  for (double x; in >> x;) offline.push_back(x);
  REQUIRE(fit.size() == 10);
  REQUIRE(offline.size() == 10);
  CHECK(fit == read);   // fitted here or read from score's file (17 digits): the same doubles, the same scores
  double moved = 0;
  // The two programs' float32 evaluations differ by rounding, which the z-score of log scores magnifies: the
  // frame scores (~0.56) differed by up to 0.9e-5 with the by-rows convolutions, 1.6e-5 with the shifted layout of
  // kernels/cpu/conv3d_direct.cpp (another order of the same sums); other statistics move them by > 0.1.
  for (size_t f = 0; f < fit.size(); ++f) {
    CHECK(fit[f] == doctest::Approx(offline[f]).epsilon(1e-4));
    moved = std::max(moved, std::abs(fit[f] - plain[f]));
  }
  CHECK(moved > 0.1);   // the normalised scores are not the plain mean's
  CHECK(w.output.find("statistics of normal objects (training videos sq) of " + ckpt) != std::string::npos);
  auto bad = test::run_ssmtl(watch + " --normalize zscore --normal-data " + root);
  CHECK(bad.code == 2);
  CHECK(bad.output.find("--normal-detections") != std::string::npos);
}

TEST_CASE("ssmtl watch --out to a FIFO (or a device) writes into it: no temporary file renamed over it") {
  test::TempDir tmp("watch_fifo");
  test::save_tiny_watch_checkpoint(tmp.path + "/m.ckpt");
  test::write_squares_folder(tmp.path + "/sq", 6);
  const std::string fifo = tmp.path + "/out.fifo";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  const int fd = open(fifo.c_str(), O_RDONLY | O_NONBLOCK);   // a reader first, so that the writer's open succeeds
  REQUIRE(fd >= 0);
  std::atomic<bool> done{false};
  test::RunResult r;
  std::thread prog([&] {
    r = test::run_ssmtl("watch --checkpoint " + tmp.path + "/m.ckpt --input " + tmp.path +
                        "/sq --method flow --drop none --out " + fifo);
    done = true;
  });
  std::string got;
  for (;;) {   // non-blocking reads until the program has ended and the FIFO is drained (never hangs)
    const bool finished = done;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
    if (finished) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  prog.join();
  close(fd);
  REQUIRE_MESSAGE(r.code == 0, r.output);
  CHECK(std::filesystem::is_fifo(fifo));   // still the FIFO
  std::istringstream lines(got);
  int n = 0;
  for (std::string l; std::getline(lines, l);) ++n;
  CHECK(n == 8);   // header, 6 frames, summary
  CHECK(got.find("{\"summary\": {") != std::string::npos);
  for (const auto& e : std::filesystem::directory_iterator(tmp.path))
    CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
}
