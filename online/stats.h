// Throughput and latency of a live pipeline: frames in (decoded) and out (scored), frames dropped by the
// drop policy, and the latency from a frame's arrival (its last byte read from the source) to its score.
// Thread-safe: stages record, the reporter reads.
#pragma once
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace ssmtl::online {

using Clock = std::chrono::steady_clock;

// The pipeline's stages whose busy time is recorded (wall time of the calls on the stage's thread): where a frame's
// time goes. decode = the source's next() (incl. waiting for ffmpeg), detector = the network's call, flow = optical
// flow + motion objects, crops = the t-3..t+3 crops, model = the scoring models' calls, frames = object -> frame
// scores + smoothing.
enum class Stage { kDecode, kDetector, kFlow, kCrops, kModel, kFrames, kCount };
const char* stage_name(Stage s);

struct StatsSnapshot {
  double seconds = 0;            // since the pipeline started (opening the source and the warm-up included)
  int64_t frames_in = 0;         // decoded from the source
  int64_t frames_out = 0;        // scored
  int64_t dropped = 0;           // skipped by the drop policy (never scored)
  int64_t reconnects = 0;
  double fps_in = 0, fps_out = 0;               // frames / seconds since the first frame arrived
  double latency_p50_ms = 0, latency_p99_ms = 0, latency_max_ms = 0;   // over every scored frame
  double stage_seconds[static_cast<int>(Stage::kCount)] = {};   // busy time per stage, whole run
  double stage_ms_per_frame(Stage s) const;   // busy time / frames out (0 before the first frame out)
  std::string line() const;      // "watch: 12.0 s, in 30.1 FPS, out 29.9 FPS, latency p50 ... p99 ..., dropped 0"
  std::string stages_line() const;   // "watch: busy ms per frame: decode 3.1, detector 20.5, flow 12.0, ..."
  std::string json() const;      // the same as a JSON object
};

// The q-quantile (0..1) of `values` by linear interpolation between order statistics (numpy's default);
// 0 for an empty list. Throws std::invalid_argument for q outside [0, 1].
double quantile(std::vector<double> values, double q);

class PipelineStats {
 public:
  PipelineStats() : start_(Clock::now()) {}
  void frame_in();
  void frame_out(double latency_ms);
  void dropped(int64_t n);
  void reconnect();
  void busy(Stage s, double seconds);
  StatsSnapshot snapshot() const;

 private:
  Clock::time_point start_, first_in_;
  mutable std::mutex mu_;
  int64_t in_ = 0, out_ = 0, dropped_ = 0, reconnects_ = 0;
  std::vector<double> latencies_;
  double stage_seconds_[static_cast<int>(Stage::kCount)] = {};
};

}  // namespace ssmtl::online
