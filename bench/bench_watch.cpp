// ssmtl watch against the offline pipeline, on UCSD Ped2 test video 01 (first 120 frames) encoded as .mp4 at run
// time with ffmpeg from ../shared's frames (nothing committed). Same process, same machine load:
//   BM_OfflineMp4/<model>  ffmpeg decodes the .mp4 to a frame folder (as `ssmtl prepare`), then detect_video_full
//                          (hybrid: Yolo-Fastest + optical flow) and score_video (as `ssmtl detect` + `ssmtl score`);
//                          frames/s of the whole.
//   BM_WatchMp4/<model>    the live pipeline on the .mp4 as fast as it goes (drop none): frames/s and the ratio to
//                          the offline frames/s of the same model measured just before (watch_vs_offline).
//   BM_WatchMp4Serial/<model>  as BM_WatchMp4 without the flow worker (flow after the detector on one thread).
//   BM_WatchMp4Paced/<model>  the .mp4 played as a live 30 FPS source with drop oldest: latency p50/p99 from a
//                          frame's arrival to its score (4 frames of look-ahead = 133 ms at 30 FPS included),
//                          frames out per second, frames dropped; p99 as a ratio to the offline time per frame.
// Counters ms_<stage>: busy milliseconds per scored frame of each stage (online/stats.h Stage): where the time goes.
// Models: the demo's CPU preset (ssmtl++v1-cpu), two of them averaged (/2: make demo's best + last ensemble) and
// the paper-size SSMTL++v1, random-init (speed does not
// depend on the weights; the objects per frame come from the detector, the same for both).
// Run: OMP_WAIT_POLICY=passive build/ssmtl_bench --benchmark_filter='Watch|Offline' (needs ffmpeg and ../shared;
// skips otherwise). The passive wait policy matters on a loaded machine: the bench program does not set it as
// `ssmtl` does (util/omp_env.h), and spinning OpenMP threads steal the CPU from the threads doing the work.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <unistd.h>

#include "data/detect/detect_video.h"
#include "data/detect/detector.h"
#include "data/video/prepare.h"
#include "model/sampler.h"
#include "model/scoring.h"
#include "online/pipeline.h"
#include "regions/region_file.h"

namespace {

const std::string kShared = [] {
  if (const char* env = std::getenv("SSMTL_SHARED_DIR")) return std::string(env);
  const std::string here = __FILE__;   // <repo>/bench/bench_watch.cpp
  return here.substr(0, here.rfind('/')) + "/../../shared";
}();
const int kFrames = 120;

// The .mp4 (made once per process) in a temporary folder; empty when ffmpeg or the data is missing.
const std::string& ped2_mp4() {
  static const std::string path = [] {
    const std::string dir = (std::filesystem::temp_directory_path() / ("ssmtl_bench_watch_" + std::to_string(getpid()))).string();
    std::filesystem::create_directories(dir);
    const std::string mp4 = dir + "/ped2_test01.mp4";
    const std::string cmd = "ffmpeg -nostdin -loglevel error -y -framerate 10 -i " + kShared +
                            "/data/ped2/testing/frames/01/%03d.jpg -frames:v " + std::to_string(kFrames) +
                            " -c:v libx264 -pix_fmt yuv420p -crf 18 " + mp4;
    return std::system(cmd.c_str()) == 0 ? mp4 : std::string();
  }();
  return path;
}

const ssmtl::Detector& detector() {
  static const ssmtl::Detector d = [] {
    ssmtl::DetectorOptions o;
    o.conf_threshold = 0.5f;   // as make demo detects
    const std::string w = kShared + "/weights/yolo-fastest/yolo-fastest-1.1-xl";
    return ssmtl::Detector(w + ".cfg", w + ".weights", o);
  }();
  return d;
}

// 0: the demo's CPU preset, 1: the paper-size SSMTL++v1, 2: two CPU-preset models averaged per object (what make
// demo scores with: best.ckpt + last.ckpt; the task-score normalisation costs next to nothing and is left out).
const char* model_name(int i) { return i == 0 ? "ssmtl++v1-cpu" : i == 1 ? "ssmtl++v1" : "ssmtl++v1-cpu x2"; }
std::vector<std::unique_ptr<ssmtl::SSMTLModel>> make_models(int i) {
  std::vector<std::unique_ptr<ssmtl::SSMTLModel>> out;
  for (int k = 0; k < (i == 2 ? 2 : 1); ++k)
    out.push_back(std::make_unique<ssmtl::SSMTLModel>(ssmtl::ModelConfig::preset(i == 1 ? "ssmtl++v1" : "ssmtl++v1-cpu"),
                                                      1 + static_cast<uint64_t>(k)));
  return out;
}
std::map<int, double> g_offline_fps;   // per model, from BM_OfflineMp4

void BM_OfflineMp4(benchmark::State& state) {
  if (ped2_mp4().empty()) return state.SkipWithError("no ffmpeg or no ../shared Ped2 frames");
  auto models = make_models(static_cast<int>(state.range(0)));
  const std::string root = std::filesystem::path(ped2_mp4()).parent_path().string() + "/offline";
  double fps = 0;
  for (auto _ : state) {
    std::filesystem::remove_all(root);
    const auto t0 = std::chrono::steady_clock::now();
    ssmtl::prepare_video(ped2_mp4(), root + "/testing/frames");
    ssmtl::Video v(root + "/testing/frames/ped2_test01");
    std::vector<std::vector<ssmtl::Box>> boxes;
    for (auto& f : ssmtl::detect_video_full(v, &detector(), {})) {
      boxes.emplace_back();
      for (auto& d : f) boxes.back().push_back(d.box);
    }
    std::filesystem::create_directories(root + "/det");
    ssmtl::save_regions(root + "/det/ped2_test01.txt", ssmtl::regions_of(boxes));
    ssmtl::ObjectPool pool = ssmtl::ObjectPool::load(root, "testing", root + "/det", 0.0, true, {"ped2_test01"});
    std::vector<ssmtl::VideoScores> runs;
    for (auto& m : models) runs.push_back(ssmtl::score_video(*m, pool, 0, {}));
    ssmtl::VideoScores s = runs.size() == 1 ? runs[0] : ssmtl::average_video_scores(runs, pool.video(0), {});
    benchmark::DoNotOptimize(s.frame_scores.data());
    fps = s.num_frames / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.counters["objects"] = static_cast<double>(s.regions.size());
  }
  g_offline_fps[static_cast<int>(state.range(0))] = fps;
  state.counters["fps"] = fps;
  state.SetLabel(model_name(static_cast<int>(state.range(0))));
}

void run_watch(benchmark::State& state, double pace, bool overlap_flow = true) {
  if (ped2_mp4().empty()) return state.SkipWithError("no ffmpeg or no ../shared Ped2 frames");
  const int m = static_cast<int>(state.range(0));
  auto models = make_models(m);
  std::vector<ssmtl::online::ScoringModel> ensemble;
  for (auto& x : models) ensemble.push_back({x.get(), nullptr});
  ssmtl::online::StatsSnapshot st;
  for (auto _ : state) {
    ssmtl::online::WatchOptions o;
    o.source.input = ped2_mp4();
    o.pace_fps = pace;
    o.overlap_flow = overlap_flow;
    o.drop = pace > 0 ? ssmtl::online::DropPolicy::kOldest : ssmtl::online::DropPolicy::kNone;
    ssmtl::online::WatchPipeline p(ensemble, &detector(), o);
    p.run([](const ssmtl::online::FrameResult& r) { benchmark::DoNotOptimize(r.score); });
    st = p.stats();
  }
  state.counters["fps_out"] = st.fps_out;
  state.counters["latency_p50_ms"] = st.latency_p50_ms;
  state.counters["latency_p99_ms"] = st.latency_p99_ms;
  state.counters["dropped"] = static_cast<double>(st.dropped);
  for (int i = 0; i < static_cast<int>(ssmtl::online::Stage::kCount); ++i)   // where a frame's time goes
    state.counters[std::string("ms_") + ssmtl::online::stage_name(static_cast<ssmtl::online::Stage>(i))] =
        st.stage_ms_per_frame(static_cast<ssmtl::online::Stage>(i));
  if (g_offline_fps.count(m) && g_offline_fps[m] > 0) {
    state.counters["offline_fps"] = g_offline_fps[m];
    if (pace == 0) state.counters["watch_vs_offline"] = st.fps_out / g_offline_fps[m];
    else state.counters["p99_vs_offline_frame_time"] = st.latency_p99_ms / (1000.0 / g_offline_fps[m]);
  }
  state.SetLabel(model_name(m));
}

void BM_WatchMp4(benchmark::State& state) { run_watch(state, 0); }
void BM_WatchMp4Paced(benchmark::State& state) { run_watch(state, 30); }
// A/B of the flow worker (WatchOptions::overlap_flow) in one process: the detect stage with flow after the detector.
void BM_WatchMp4Serial(benchmark::State& state) { run_watch(state, 0, false); }

}  // namespace

// Order: offline, then watch, per model (the ratios use the offline run just before).
BENCHMARK(BM_OfflineMp4)->Arg(0)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(BM_WatchMp4)->Arg(0)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(BM_WatchMp4Paced)->Arg(0)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(BM_WatchMp4Serial)->Arg(0)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(BM_OfflineMp4)->Arg(2)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(BM_WatchMp4)->Arg(2)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(BM_WatchMp4Paced)->Arg(2)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(BM_OfflineMp4)->Arg(1)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(BM_WatchMp4)->Arg(1)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(BM_WatchMp4Paced)->Arg(1)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
