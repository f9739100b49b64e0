#include "util/omp_env.h"

#include <unistd.h>

#include <cstdlib>

namespace ssmtl::util {
void ensure_passive_omp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY")) return;
  setenv("OMP_WAIT_POLICY", "passive", 1);
  execv("/proc/self/exe", argv);   // on failure: go on with the default policy
}
}  // namespace ssmtl::util
