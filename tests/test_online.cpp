// The live pipeline (online/): queues and their drop policy, the per-frame frame scores against the offline
// functions, the causal smoother, a synthetic stream against the offline detect + score path, a slow stage
// under both drop policies, and sources that end mid-frame, stall or fail.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <thread>
#include <tuple>

#include "eval/frame_scores.h"
#include "eval/postprocess.h"
#include "eval/task_normalize.h"
#include "online/frame_scorer.h"
#include "online/queue.h"
#include "online/stats.h"
#include "tests/online_test_util.h"
#include "tensor/rng.h"

using namespace ssmtl;
using namespace ssmtl::online;

TEST_CASE("online queue: drop oldest hands back every skipped item, none makes the producer wait") {
  BoundedQueue<int> q(2);
  CHECK(q.push(0, DropPolicy::kOldest).empty());
  CHECK(q.push(1, DropPolicy::kOldest).empty());
  CHECK(q.push(2, DropPolicy::kOldest) == std::vector<int>{0});
  CHECK(q.push(3, DropPolicy::kOldest) == std::vector<int>{1});
  CHECK(*q.pop() == 2);
  CHECK(*q.pop() == 3);
  CHECK(!q.try_pop());

  BoundedQueue<int> w(1);
  w.push(10, DropPolicy::kNone);
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    w.push(11, DropPolicy::kNone);   // waits until the consumer took 10
    pushed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(!pushed);
  CHECK(*w.pop() == 10);
  producer.join();
  CHECK(pushed);
  CHECK(*w.pop() == 11);
  w.close();
  CHECK(!w.pop());
  bool accepted = true;
  w.push(12, DropPolicy::kNone, &accepted);
  CHECK(!accepted);
  CHECK_THROWS_AS(parse_drop_policy("newest"), std::invalid_argument);
  CHECK(parse_drop_policy("none") == DropPolicy::kNone);
}

TEST_CASE("online stats: quantiles interpolate between order statistics (numpy's default)") {
  CHECK(quantile({}, 0.5) == 0);
  CHECK(quantile({5}, 0.99) == 5);
  CHECK(quantile({4, 1, 3, 2}, 0.5) == doctest::Approx(2.5));
  CHECK(quantile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 0.99) == doctest::Approx(10.9));
  CHECK_THROWS_AS(quantile({1}, 1.5), std::invalid_argument);
}

TEST_CASE("half-Gaussian smoother: causal kernel values, 'nearest' start, equal to the streaming class") {
  // sigma 1, truncate 3: r = 3, w_k = exp(-k^2/2) / sum_{j=0..3} exp(-j^2/2)
  const double z = 1 + std::exp(-0.5) + std::exp(-2.0) + std::exp(-4.5);
  auto w = eval::half_gaussian_kernel(1.0);
  REQUIRE(w.size() == 4);
  CHECK(w[0] == doctest::Approx(1 / z).epsilon(1e-14));
  CHECK(w[3] == doctest::Approx(std::exp(-4.5) / z).epsilon(1e-14));
  // a step at frame 2: y[1] = 0 (the past repeats frame 0), y[2] = w0, y[3] = w0 + w1 ... never before the step
  auto y = eval::half_gaussian_smooth({0, 0, 1, 1, 1, 1, 1}, 1.0);
  CHECK(y[1] == 0);
  CHECK(y[2] == doctest::Approx(w[0]));
  CHECK(y[3] == doctest::Approx(w[0] + w[1]));
  CHECK(y[6] == doctest::Approx(1.0));
  auto c = eval::half_gaussian_smooth({2, 2, 2}, 3.0);   // the first value fills the past: constants stay
  for (double v : c) CHECK(v == doctest::Approx(2.0).epsilon(1e-15));
  CHECK(eval::half_gaussian_smooth({1, 5}, 0.0) == std::vector<double>{1, 5});
  CHECK_THROWS_AS(eval::smooth_scores({1}, "box", 1.0), std::invalid_argument);
  eval::CausalSmoother s(2.0);
  std::vector<double> x = {0.3, 0.9, 0.1, 0.5, 0.7, 0.2, 0.8, 0.4};
  auto whole = eval::half_gaussian_smooth(x, 2.0);
  for (size_t i = 0; i < x.size(); ++i) CHECK(s.push(x[i]) == whole[i]);
}

TEST_CASE("online frame scores equal eval::frame_scores_from_maps / frame_scores_max frame by frame") {
  Rng rng(17);
  for (int n : {1, 2, 3, 9}) {
    std::vector<Region> objs;
    for (int f = 0; f < n; ++f)
      for (int k = 0; k < static_cast<int>(rng.uniform() * 3); ++k) {
        double x = rng.uniform() * 80, y = rng.uniform() * 50;
        objs.push_back({f, {x, y, x + 5 + rng.uniform() * 30, y + 5 + rng.uniform() * 20}, rng.uniform()});
      }
    for (const char* mode : {"map", "max"}) {
      FrameScoreOptions o;
      o.frame_mode = mode;
      o.smooth_sigma = 1.5;
      std::vector<double> want = o.frame_mode == "map" ? eval::frame_scores_from_maps(objs, n, 96, 64, o.map)
                                                       : eval::frame_scores_max(objs, n);
      std::vector<double> want_s = eval::half_gaussian_smooth(want, 1.5);
      OnlineFrameScores s(o, 96, 64);
      std::vector<ScoredFrame> got;
      for (int f = 0; f < n; ++f) {
        std::vector<Region> mine;
        for (const Region& r : objs)
          if (r.frame == f) mine.push_back(r);
        for (auto& g : s.add(mine)) got.push_back(g);
        CHECK(static_cast<int>(got.size()) == std::max(0, f + 1 - s.lookahead()));   // map: 1 frame late
      }
      for (auto& g : s.finish()) got.push_back(g);
      REQUIRE(static_cast<int>(got.size()) == n);
      for (int f = 0; f < n; ++f) {
        CHECK(got[f].position == f);
        CHECK(got[f].raw == want[f]);   // the same functions in the same order: bitwise
        CHECK(got[f].smoothed == want_s[f]);
      }
    }
  }
}

TEST_CASE("watch on a synthetic stream: every frame in order, scores equal the offline detect + score path") {
  auto model = test::tiny_watch_model();
  // Both window policies at the video ends; 7 and 8 frames: the shortest streams with shifted windows (and the
  // last frames' windows start at 0 and 1); 5 and 6: shorter than a window, so clamped either way.
  for (WindowEnds ends : {WindowEnds::kShift, WindowEnds::kClamp})
    for (const int n : {14, 8, 7, 6, 5}) {
      CAPTURE(window_ends_name(ends));
      CAPTURE(n);
      test::TempDir tmp("watch_synthetic");
      test::write_squares_folder(tmp.path + "/testing/frames/sq", n);
      DetectVideoOptions d;
      d.method = DetectMethod::kFlow;
      ScoreOptions so;
      so.window_ends = ends;
      VideoScores off = test::offline_scores(*model, nullptr, d, tmp.path, "sq", so);
      REQUIRE(off.regions.size() >= static_cast<size_t>(n));   // the squares move: motion objects in every frame

      for (bool folder : {false, true}) {
        WatchOptions o;
        o.detect = d;
        o.drop = DropPolicy::kNone;
        o.window_ends = ends;
        o.batch_size = 3;   // objects of several frames split over calls: scores must not depend on it
        if (folder) o.source.input = tmp.path + "/testing/frames/sq";
        else o.open = [n] { return std::make_unique<test::SyntheticSource>(n); };
        StatsSnapshot st;
        auto res = test::watch_results(*model, nullptr, o, &st);
        REQUIRE(res.size() == static_cast<size_t>(n));
        CHECK(st.frames_in == n);
        CHECK(st.frames_out == n);
        CHECK(st.dropped == 0);
        std::vector<double> raw;
        size_t objects = 0;
        for (int f = 0; f < n; ++f) {
          CHECK(res[f].frame == f);
          CHECK(!res[f].dropped);
          raw.push_back(res[f].raw_score);
          objects += res[f].objects.size();
          CHECK(res[f].raw_score == doctest::Approx(off.frame_scores[f]).epsilon(1e-5));
        }
        CHECK(objects == off.regions.size());
        auto smooth = eval::half_gaussian_smooth(raw, 3.0);
        for (int f = 0; f < n; ++f) CHECK(res[f].score == doctest::Approx(smooth[f]).epsilon(1e-12));
      }
    }
}

TEST_CASE("watch with each flow frame policy: the detection stage's wait gives the offline boxes and scores") {
  // The detection stage hands a frame on as soon as its flow field exists (frame 0 waits for frame 1 by default,
  // every frame for the next with kNextFieldLastReuses): the boxes must still be the offline ones.
  auto model = test::tiny_watch_model();
  for (FlowFramePolicy pol : {FlowFramePolicy::kPreviousFieldFrame0Reuses, FlowFramePolicy::kPreviousFieldFrame0Empty,
                              FlowFramePolicy::kNextFieldLastReuses})
    for (bool overlap : {true, false}) {
      CAPTURE(static_cast<int>(pol));
      CAPTURE(overlap);
      test::TempDir tmp("watch_policy");
      const int n = 9;
      test::write_squares_folder(tmp.path + "/testing/frames/sq", n);
      DetectVideoOptions d;
      d.method = DetectMethod::kFlow;
      d.motion.policy = pol;
      ScoreOptions so;
      VideoScores off = test::offline_scores(*model, nullptr, d, tmp.path, "sq", so);
      WatchOptions o;
      o.detect = d;
      o.overlap_flow = overlap;
      o.drop = DropPolicy::kNone;
      o.open = [n] { return std::make_unique<test::SyntheticSource>(n); };
      auto res = test::watch_results(*model, nullptr, o, nullptr);
      REQUIRE(res.size() == static_cast<size_t>(n));
      size_t objects = 0;
      for (int f = 0; f < n; ++f) {
        objects += res[f].objects.size();
        CHECK(res[f].raw_score == doctest::Approx(off.frame_scores[f]).epsilon(1e-5));
      }
      CHECK(objects == off.regions.size());
      if (pol == FlowFramePolicy::kPreviousFieldFrame0Empty) CHECK(res[0].objects.empty());   // frame 0: no field
    }
}

TEST_CASE("watch on a static 5-frame stream: no object and a zero score on every frame (PITFALLS 11 and 13)") {
  // 5 identical frames: 4 zero flow fields, so no motion object, frame 0 included (whatever the frame policy); every
  // frame still gets its score, 0 before smoothing, also with shifted windows in a stream shorter than a window.
  auto model = test::tiny_watch_model();
  test::TempDir tmp("watch_static");
  const std::string dir = tmp.path + "/still";
  std::filesystem::create_directories(dir);
  const Image im = test::moving_squares(0);
  for (int t = 0; t < 5; ++t)
    util::write_png_rgb(dir + "/00" + std::to_string(t) + ".png", im.width, im.height, im.rgb.data());
  for (FlowFramePolicy pol : {FlowFramePolicy::kPreviousFieldFrame0Reuses, FlowFramePolicy::kPreviousFieldFrame0Empty,
                              FlowFramePolicy::kNextFieldLastReuses})
    for (WindowEnds ends : {WindowEnds::kShift, WindowEnds::kClamp}) {
      CAPTURE(static_cast<int>(pol));
      CAPTURE(window_ends_name(ends));
      WatchOptions o;
      o.detect.method = DetectMethod::kFlow;
      o.detect.motion.policy = pol;
      o.window_ends = ends;
      o.drop = DropPolicy::kNone;
      o.source.input = dir;
      auto res = test::watch_results(*model, nullptr, o, nullptr);
      REQUIRE(res.size() == 5);
      for (int f = 0; f < 5; ++f) {
        CHECK(res[f].frame == f);
        CHECK(res[f].objects.empty());
        CHECK(res[f].raw_score == 0.0);
        CHECK(res[f].score == 0.0);
      }
    }
}

TEST_CASE("score: shifted windows change the objects of a video's first and last 3 frames only") {
  auto model = test::tiny_watch_model();
  test::TempDir tmp("score_window_ends");
  const int n = 14;
  test::write_squares_folder(tmp.path + "/testing/frames/sq", n);
  DetectVideoOptions d;
  d.method = DetectMethod::kFlow;
  ScoreOptions shift, clamp;
  clamp.window_ends = WindowEnds::kClamp;
  const VideoScores a = test::offline_scores(*model, nullptr, d, tmp.path, "sq", shift);
  const VideoScores b = test::offline_scores(*model, nullptr, d, tmp.path, "sq", clamp);
  REQUIRE(a.regions.size() == b.regions.size());
  int ends = 0, interior = 0;
  for (size_t k = 0; k < a.regions.size(); ++k) {
    const int f = a.regions[k].frame;
    CAPTURE(f);
    if (f >= 3 && f < n - 3) {
      CHECK(a.regions[k].score == b.regions[k].score);   // the same 7 frames: bitwise the same score
      ++interior;
    } else {
      CHECK(a.regions[k].score != b.regions[k].score);   // e.g. frames 0..6 against 0,0,0,0,1,2,3 (and the mirror)
      ++ends;
    }
  }
  CHECK(ends >= 6);
  CHECK(interior >= n - 6);
}

TEST_CASE("watch with 2 checkpoints and log-zscore files: the frame scores of ssmtl score's normalised ensemble") {
  // As make demo scores: --normalize log-zscore, --checkpoint best --checkpoint last (two models here), the
  // statistics going through the file score writes and watch reads.
  auto a = test::tiny_watch_model(3), b = test::tiny_watch_model(8);
  test::TempDir tmp("watch_ensemble");
  const int n = 12;
  test::write_squares_folder(tmp.path + "/testing/frames/sq", n);
  DetectVideoOptions d;
  d.method = DetectMethod::kFlow;
  ScoreOptions plain;
  VideoScores raw_a = test::offline_scores(*a, nullptr, d, tmp.path, "sq", plain);
  VideoScores raw_b = test::offline_scores(*b, nullptr, d, tmp.path, "sq", plain);
  REQUIRE(raw_a.regions.size() > 10);
  // Statistics "of normal objects": this video's own task scores (a test of the arithmetic, not of a method).
  eval::TaskNormalizer fit_a("log-zscore"), fit_b("log-zscore");
  fit_a.fit(raw_a.task_scores);
  fit_b.fit(raw_b.task_scores);
  std::vector<eval::NormalizationFile> files;
  for (auto* f : {&fit_a, &fit_b}) {
    const std::string path = tmp.path + "/norm_" + std::to_string(files.size()) + ".txt";
    std::ofstream(path) << eval::normalization_file_text(*f, "ckpt", "test", "shift");
    files.push_back(eval::read_normalization_file(path));
  }
  ScoreOptions sa = plain, sb = plain;
  sa.normalizer = &fit_a;
  sb.normalizer = &fit_b;
  std::vector<VideoScores> runs{test::offline_scores(*a, nullptr, d, tmp.path, "sq", sa),
                                test::offline_scores(*b, nullptr, d, tmp.path, "sq", sb)};
  Video video(video_dir(tmp.path, "testing", "sq"));
  VideoScores off = average_video_scores(runs, video, plain);   // as ssmtl score writes it

  WatchOptions o;
  o.detect = d;
  o.drop = DropPolicy::kNone;
  o.batch_size = 4;
  o.open = [n] { return std::make_unique<test::SyntheticSource>(n); };
  WatchPipeline p({{a.get(), &files[0].normalizer}, {b.get(), &files[1].normalizer}}, nullptr, o);
  std::vector<FrameResult> res;
  p.run([&](const FrameResult& r) { res.push_back(r); });
  REQUIRE(res.size() == static_cast<size_t>(n));
  size_t k = 0;
  double far_from_single = 0;
  for (int f = 0; f < n; ++f) {
    CHECK(res[f].raw_score == doctest::Approx(off.frame_scores[f]).epsilon(1e-5));
    far_from_single = std::max(far_from_single, std::abs(res[f].raw_score - raw_a.frame_scores[f]));
    for (const Region& r : res[f].objects) {
      REQUIRE(k < off.regions.size());
      CHECK(off.regions[k].frame == f);
      // (model calls of 4 objects here, of a whole video there: last-bit differences in the task scores, which
      // the log and a small std enlarge to ~2e-6 absolute)
      CHECK(r.score == doctest::Approx(off.regions[k].score).epsilon(1e-5));
      ++k;
    }
  }
  CHECK(k == off.regions.size());
  // Normalised ensemble scores are on another scale than the plain single-model ones (z-scores around 0).
  CHECK(far_from_single > 0.1);
}

TEST_CASE("watch drop policy under an artificially slow stage: oldest skips (counted, reported in order), none waits") {
  auto model = test::tiny_watch_model();
  const int n = 40;
  for (DropPolicy policy : {DropPolicy::kOldest, DropPolicy::kNone}) {
    WatchOptions o;
    o.detect.method = DetectMethod::kFlow;
    o.drop = policy;
    o.queue_frames = 2;
    o.score_delay = std::chrono::milliseconds(15);   // the source is instantaneous: the score stage is the bottleneck
    o.open = [n] { return std::make_unique<test::SyntheticSource>(n); };
    StatsSnapshot st;
    auto res = test::watch_results(*model, nullptr, o, &st);
    REQUIRE(res.size() == static_cast<size_t>(n));   // every frame appears once, scored or marked dropped
    int64_t dropped = 0;
    for (int f = 0; f < n; ++f) {
      CHECK(res[f].frame == f);
      dropped += res[f].dropped;
      if (res[f].dropped) CHECK(res[f].objects.empty());
    }
    CHECK(st.frames_in == n);
    CHECK(st.dropped == dropped);
    CHECK(st.frames_out + st.dropped == n);
    CHECK(!res.back().dropped);   // drop oldest never drops the newest frame
    if (policy == DropPolicy::kOldest) CHECK(dropped > 0);
    else CHECK(dropped == 0);
  }
}

TEST_CASE("watch is deterministic: a backlog (slow stage) or none, flow on the worker or not, warm-up or not: bitwise the same") {
  auto model = test::tiny_watch_model();
  const int n = 16;
  std::vector<std::vector<double>> runs;
  // with a slow stage frames pile up before detection and scoring; without the flow worker the field is computed
  // after the detector on the detect stage's thread; the warm-up's model and flow calls leave no state behind
  for (auto [delay, overlap, warm] : {std::tuple{0, true, true}, std::tuple{20, true, true}, std::tuple{0, false, true},
                                      std::tuple{0, true, false}}) {
    WatchOptions o;
    o.warm_up = warm;
    o.detect.method = DetectMethod::kFlow;
    o.drop = DropPolicy::kNone;
    o.batch_size = 2;
    o.score_delay = std::chrono::milliseconds(delay);
    o.overlap_flow = overlap;
    o.open = [n] { return std::make_unique<test::SyntheticSource>(n); };
    std::vector<double> v;
    for (const FrameResult& r : test::watch_results(*model, nullptr, o)) {
      v.push_back(r.raw_score);
      for (const Region& g : r.objects) {
        v.push_back(g.score);
        for (double c : {g.box.x0, g.box.y0, g.box.x1, g.box.y1}) v.push_back(c);
      }
    }
    runs.push_back(v);
  }
  REQUIRE(runs[0].size() > static_cast<size_t>(n));
  CHECK(runs[0] == runs[1]);
  CHECK(runs[0] == runs[2]);
  CHECK(runs[0] == runs[3]);
}

namespace {

// A stand-in for ffmpeg: a shell script that writes raw RGB bytes (or stalls, or fails) on stdout.
std::string fake_ffmpeg(const std::string& dir, const std::string& body) {
  const std::string path = dir + "/fake_ffmpeg.sh";
  std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
  return path;
}

std::string source_error(SourceOptions so) {
  try {
    auto src = open_source(so);
    Image im;
    while (src->next(im)) {
    }
  } catch (const SourceError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("watch sources: a stream that ends mid-frame, stalls or fails is a clear error naming the frame") {
  test::TempDir tmp("watch_source");
  const std::string input = tmp.path + "/clip.raw";
  std::ofstream(input) << "x";
  SourceOptions so;
  so.input = input;
  so.width = 4;
  so.height = 2;   // 24 bytes a frame
  so.ffprobe = "false";
  so.ffmpeg = fake_ffmpeg(tmp.path, "head -c 60 /dev/zero");   // 2.5 frames
  CHECK(source_error(so).find("ended mid-frame: frame 2 has 12 of 24 bytes") != std::string::npos);
  so.ffmpeg = fake_ffmpeg(tmp.path, "head -c 24 /dev/zero; exec sleep 5");
  so.stall_timeout = 0.3;
  const std::string stalled = source_error(so);
  CHECK(stalled.find("stalled: no data for") != std::string::npos);
  CHECK(stalled.find("while reading frame 1 (0 of 24 bytes)") != std::string::npos);
  so.ffmpeg = fake_ffmpeg(tmp.path, "head -c 48 /dev/zero; exit 3");
  CHECK(source_error(so).find("exited with status 3 after 2 frames") != std::string::npos);
  so.ffmpeg = tmp.path + "/no_such_program";
  CHECK(source_error(so).find("cannot run") != std::string::npos);
  so.input = tmp.path + "/missing.mp4";
  CHECK(source_error(so).find("no such file, folder or device") != std::string::npos);

  // Through the pipeline: the two whole frames are scored and handed out, then the error is raised.
  auto model = test::tiny_watch_model();
  WatchOptions o;
  o.detect.method = DetectMethod::kFlow;
  o.source = so;
  o.source.input = input;
  o.source.width = 96;
  o.source.height = 64;
  o.source.ffmpeg = fake_ffmpeg(tmp.path, "head -c 46080 /dev/urandom");   // 2.5 frames of 96x64x3
  online::WatchPipeline p(*model, nullptr, o);
  std::vector<FrameResult> got;
  CHECK_THROWS_WITH_AS(p.run([&](const FrameResult& r) { got.push_back(r); }),
                       doctest::Contains("ended mid-frame: frame 2 has 9216 of 18432 bytes"), SourceError);
  CHECK(got.size() == 2);

  // With --reconnect the source is opened again: here the first opening gives 2.5 frames, the next ones fail
  // at once; after 2 re-opens in a row without a frame the error stands.
  o.reconnect = 2;
  o.reconnect_wait = 0.01;
  o.source.ffmpeg = fake_ffmpeg(tmp.path, "n=$(cat " + tmp.path + "/count 2>/dev/null || echo 0); echo $((n+1)) > " +
                                              tmp.path + "/count; if [ $n = 0 ]; then head -c 46080 /dev/urandom; else exit 1; fi");
  online::WatchPipeline again(*model, nullptr, o);
  got.clear();
  CHECK_THROWS_WITH_AS(again.run([&](const FrameResult& r) { got.push_back(r); }),
                       doctest::Contains("exited with status 1 after 0 frames"), SourceError);
  CHECK(again.stats().reconnects == 2);
  CHECK(got.size() == 2);
}

TEST_CASE("watch source: ffmpeg decodes a real video file to raw frames of the probed size") {
  if (std::system("ffmpeg -version >/dev/null 2>&1") != 0) {
    MESSAGE("skipped: no ffmpeg program");
    return;
  }
  test::TempDir tmp("watch_ffmpeg");
  const std::string mp4 = tmp.path + "/t.mp4";
  REQUIRE(std::system(("ffmpeg -nostdin -loglevel error -f lavfi -i testsrc=size=64x48:rate=10 -frames:v 7 "
                       "-pix_fmt yuv420p " + mp4).c_str()) == 0);
  SourceOptions so;
  so.input = mp4;
  auto src = open_source(so);
  CHECK(src->width() == 64);
  CHECK(src->height() == 48);
  CHECK(src->nominal_fps() == doctest::Approx(10));
  Image im;
  int frames = 0;
  while (src->next(im)) {
    CHECK(im.width == 64);
    ++frames;
  }
  CHECK(frames == 7);
  so.width = 32;
  so.height = 24;   // --size: ffmpeg scales
  auto small = open_source(so);
  REQUIRE(small->next(im));
  CHECK(im.rgb.size() == 32u * 24 * 3);
}
