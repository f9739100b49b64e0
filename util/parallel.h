// parallel_for(n, fn, chunk): fn(i) for i in [0, n) on OpenMP threads (dynamic schedule, `chunk` items at a
// time; 1 by default). The one exception-safe parallel loop of the engine: use it rather than a bare
// `#pragma omp parallel for` around code that may throw.
// An exception may not leave an OpenMP region (the process would abort), so each item's exception is
// caught and the one of the lowest index is rethrown after the loop: errors such as an unreadable frame
// reach the user as the same clear message as in serial code.
#pragma once
#include <cstdint>
#include <exception>
#include <vector>

namespace ssmtl::util {

template <class Fn>
void parallel_for(int64_t n, Fn&& fn, int chunk = 1) {
  std::vector<std::exception_ptr> errors(static_cast<size_t>(n > 0 ? n : 0));
#pragma omp parallel for schedule(dynamic, chunk)
  for (int64_t i = 0; i < n; ++i) {
    try {
      fn(i);
    } catch (...) {
      errors[static_cast<size_t>(i)] = std::current_exception();
    }
  }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace ssmtl::util
