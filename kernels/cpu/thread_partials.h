// Per-thread partial sums over contiguous sample ranges (the weight-gradient kernels): thread `me` of `nt` sums
// samples [N me / nt, N (me + 1) / nt) into its own `asize` floats, so each partial runs in a fixed order and the
// caller adds the partials in thread order (deterministic for a fixed thread count).
#pragma once
#include <omp.h>

#include <cstdint>
#include <vector>

#include "kernels/cpu/aligned.h"

namespace ssmtl::kernels::detail {

// Returns nt * asize floats, thread th's partial at th * asize (zero-initialised before fn adds into it);
// fn(float* partial, int64_t n0, int64_t n1). nt = omp_get_max_threads() when parallel, else 1.
template <class F>
avector<float> thread_partials(int64_t N, bool parallel, int64_t asize, int& nt, F fn) {
  nt = parallel ? omp_get_max_threads() : 1;
  avector<float> part(static_cast<size_t>(nt * asize), 0.f);
  const int team_size = nt;
#pragma omp parallel num_threads(team_size)
  {
    const int me = omp_get_thread_num(), team = omp_get_num_threads();
    fn(part.data() + me * asize, N * me / team, N * (me + 1) / team);
  }
  return part;
}

}  // namespace ssmtl::kernels::detail
