// One progress line (util::Progress, on rank 0) for work shared out over the ranks of a job: `ssmtl score`
// and `ssmtl detect` under mpirun deal the videos out and rank 0 counts the items of every rank.
#pragma once
#include <cstdint>
#include <string>

#include "dist/communicator.h"
#include "util/progress.h"

namespace ssmtl::dist {

// The videos of rank `rank` of `size`: video v goes to rank v % size.
inline bool my_video(int v, const Communicator& c) { return v % c.size() == c.rank(); }

class SharedProgress {
 public:
  // total: the items of all ranks; mine: this rank's share of them.
  SharedProgress(Communicator& c, const std::string& label, int64_t total, int64_t mine, const std::string& unit)
      : comm_(c), progress_(label, total, unit), others_left_(total - mine) {}
  // n more items done here; rank 0 also adds the reports of the others that have arrived.
  void add(int64_t n) {
    if (comm_.rank() != 0) return comm_.post_progress(n);
    const int64_t got = comm_.poll_progress();
    others_left_ -= got;
    progress_.add(n + got);
  }
  // Rank 0 waits for the other ranks' last reports, then prints the final line.
  void finish() {
    if (comm_.rank() == 0)
      while (others_left_ > 0) {
        const int64_t got = comm_.wait_progress();
        others_left_ -= got;
        progress_.add(got);
      }
    progress_.finish();
  }
  double elapsed_s() const { return progress_.elapsed_s(); }

 private:
  Communicator& comm_;
  util::Progress progress_;
  int64_t others_left_;
};

}  // namespace ssmtl::dist
