// OpenMP threads that spin while they wait steal the CPU from the threads doing the work whenever the
// machine has any other load (measured: training on 2 loaded cores ran at 19 samples/s spinning and 93
// passive; the detector swung between 3 and 243 frames/s). libgomp reads OMP_WAIT_POLICY when it loads,
// so a program that wants the passive policy sets it and re-executes itself once, unless the user chose.
#pragma once

namespace ssmtl::util {
// Call first in main(). Returns only when the policy is already set (or re-execution failed).
void ensure_passive_omp_wait(char** argv);
}  // namespace ssmtl::util
