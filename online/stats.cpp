#include "online/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace ssmtl::online {

double quantile(std::vector<double> v, double q) {
  if (!(q >= 0 && q <= 1)) throw std::invalid_argument("quantile: q must be in [0, 1]");
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

void PipelineStats::frame_in() {
  std::lock_guard<std::mutex> lk(mu_);
  if (in_++ == 0) first_in_ = Clock::now();
}
void PipelineStats::frame_out(double latency_ms) {
  std::lock_guard<std::mutex> lk(mu_);
  ++out_;
  latencies_.push_back(latency_ms);
}
void PipelineStats::dropped(int64_t n) {
  std::lock_guard<std::mutex> lk(mu_);
  dropped_ += n;
}
const char* stage_name(Stage s) {
  static const char* names[] = {"decode", "detector", "flow", "crops", "model", "frames"};
  return names[static_cast<int>(s)];
}

void PipelineStats::busy(Stage s, double seconds) {
  std::lock_guard<std::mutex> lk(mu_);
  stage_seconds_[static_cast<int>(s)] += seconds;
}

double StatsSnapshot::stage_ms_per_frame(Stage s) const {
  return frames_out > 0 ? 1000.0 * stage_seconds[static_cast<int>(s)] / static_cast<double>(frames_out) : 0.0;
}

std::string StatsSnapshot::stages_line() const {
  std::string out = "watch: busy ms per frame out:";
  for (int i = 0; i < static_cast<int>(Stage::kCount); ++i) {
    char b[64];
    std::snprintf(b, sizeof b, "%s %s %.1f", i ? "," : "", stage_name(static_cast<Stage>(i)),
                  stage_ms_per_frame(static_cast<Stage>(i)));
    out += b;
  }
  return out;
}

void PipelineStats::reconnect() {
  std::lock_guard<std::mutex> lk(mu_);
  ++reconnects_;
}

StatsSnapshot PipelineStats::snapshot() const {
  std::lock_guard<std::mutex> lk(mu_);
  StatsSnapshot s;
  s.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  s.frames_in = in_;
  s.frames_out = out_;
  s.dropped = dropped_;
  s.reconnects = reconnects_;
  for (int i = 0; i < static_cast<int>(Stage::kCount); ++i) s.stage_seconds[i] = stage_seconds_[i];
  const double streamed = in_ > 0 ? std::chrono::duration<double>(Clock::now() - first_in_).count() : 0.0;
  if (streamed > 0) {
    s.fps_in = static_cast<double>(in_) / streamed;
    s.fps_out = static_cast<double>(out_) / streamed;
  }
  s.latency_p50_ms = quantile(latencies_, 0.5);
  s.latency_p99_ms = quantile(latencies_, 0.99);
  s.latency_max_ms = latencies_.empty() ? 0 : *std::max_element(latencies_.begin(), latencies_.end());
  return s;
}

std::string StatsSnapshot::line() const {
  char b[320];
  std::snprintf(b, sizeof b,
                "watch: %.1f s, in %lld frames (%.1f FPS), out %lld (%.1f FPS), latency p50 %.0f ms p99 %.0f ms "
                "max %.0f ms, dropped %lld, reconnects %lld",
                seconds, static_cast<long long>(frames_in), fps_in, static_cast<long long>(frames_out), fps_out,
                latency_p50_ms, latency_p99_ms, latency_max_ms, static_cast<long long>(dropped),
                static_cast<long long>(reconnects));
  return b;
}

std::string StatsSnapshot::json() const {
  char b[400];
  std::snprintf(b, sizeof b,
                "{\"seconds\": %.3f, \"frames_in\": %lld, \"frames_out\": %lld, \"dropped\": %lld, \"reconnects\": %lld, "
                "\"fps_in\": %.3f, \"fps_out\": %.3f, \"latency_p50_ms\": %.3f, \"latency_p99_ms\": %.3f, "
                "\"latency_max_ms\": %.3f",
                seconds, static_cast<long long>(frames_in), static_cast<long long>(frames_out),
                static_cast<long long>(dropped), static_cast<long long>(reconnects), fps_in, fps_out, latency_p50_ms,
                latency_p99_ms, latency_max_ms);
  std::string out = b;
  out += ", \"busy_ms_per_frame\": {";
  for (int i = 0; i < static_cast<int>(Stage::kCount); ++i) {
    char c[64];
    std::snprintf(c, sizeof c, "%s\"%s\": %.3f", i ? ", " : "", stage_name(static_cast<Stage>(i)),
                  stage_ms_per_frame(static_cast<Stage>(i)));
    out += c;
  }
  return out + "}}";
}

}  // namespace ssmtl::online
