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
  ++in_;
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
  if (s.seconds > 0) {
    s.fps_in = static_cast<double>(in_) / s.seconds;
    s.fps_out = static_cast<double>(out_) / s.seconds;
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
                "\"latency_max_ms\": %.3f}",
                seconds, static_cast<long long>(frames_in), static_cast<long long>(frames_out),
                static_cast<long long>(dropped), static_cast<long long>(reconnects), fps_in, fps_out, latency_p50_ms,
                latency_p99_ms, latency_max_ms);
  return b;
}

}  // namespace ssmtl::online
