// The OpenMP team of a parallel loop, for kernels that give each thread its own scratch buffer: the number of
// buffers to allocate before the loop, and this thread's index inside it. 1 and 0 in a build without OpenMP.
// CPU-internal helper of kernels/cpu/*.cpp.
#pragma once

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ssmtl::kernels {

inline int worker_count() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline int worker_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

}  // namespace ssmtl::kernels
