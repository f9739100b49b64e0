// Progress line for long work: "<label> 120/2010 (6%) 35.2 items/s ETA 0:54" on stderr, redrawn in
// place on a terminal and printed every `every_s` seconds otherwise (logs and CI stay readable).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace ssmtl::util {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "items", double every_s = 5.0);
  void add(int64_t n = 1);      // n more items done
  // n items done before this process started (a resumed epoch): counted as done, left out of the rate and ETA.
  void resume_from(int64_t n);
  void finish();                // final line with the total time and mean rate
  double elapsed_s() const;
  double rate() const;          // items per second since construction, those of resume_from left out
  void set_suffix(const std::string& s) { suffix_ = s; }   // e.g. current loss
  // Process-wide: no progress lines at all (the ranks other than 0 of a data-parallel job).
  static void silence(bool on);
 private:
  void draw(bool final);
  std::string label_, unit_, suffix_;
  int64_t total_, done_ = 0, before_ = 0;
  double every_s_, last_draw_ = -1e9;
  bool tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace ssmtl::util
