#include "util/progress.h"

#include <unistd.h>

#include <cstdio>

namespace ssmtl::util {

Progress::Progress(std::string label, int64_t total, std::string unit, double every_s)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), every_s_(every_s),
      tty_(::isatty(2)), start_(std::chrono::steady_clock::now()) {}

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::add(int64_t n) {
  done_ += n;
  double t = elapsed_s();
  if (t - last_draw_ >= (tty_ ? 0.2 : every_s_) || done_ >= total_) {
    last_draw_ = t;
    draw(false);
  }
}

double Progress::rate() const {
  const double t = elapsed_s();
  return t > 0 ? static_cast<double>(done_ - before_) / t : 0.0;
}

void Progress::resume_from(int64_t n) {
  done_ += n;
  before_ += n;
}

static std::string hms(double s) {
  if (s < 0 || s > 1e7) return "?";
  long v = static_cast<long>(s + 0.5);
  char b[32];
  if (v >= 3600) std::snprintf(b, sizeof b, "%ld:%02ld:%02ld", v / 3600, v / 60 % 60, v % 60);
  else std::snprintf(b, sizeof b, "%ld:%02ld", v / 60, v % 60);
  return b;
}

namespace {
bool g_silent = false;
}
void Progress::silence(bool on) { g_silent = on; }

void Progress::draw(bool final) {
  if (g_silent) return;
  double t = elapsed_s();
  const double rate = this->rate();   // of this process's items
  double eta = rate > 0 ? (total_ - done_) / rate : -1;
  int pct = total_ > 0 ? static_cast<int>(100.0 * done_ / total_) : 100;
  std::fprintf(stderr, "%s%s %lld/%lld (%d%%) %.1f %s/s %s %s%s%s%s", tty_ ? "\r\033[K" : "", label_.c_str(),
               static_cast<long long>(done_), static_cast<long long>(total_), pct, rate, unit_.c_str(),
               final ? "took" : "ETA", hms(final ? t : eta).c_str(), suffix_.empty() ? "" : "  ",
               suffix_.c_str(), (tty_ && !final) ? "" : "\n");
  std::fflush(stderr);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

}  // namespace ssmtl::util
