// CUDA error checking that throws std::runtime_error with file and line (device code never aborts
// the process silently). Use CUDA_CHECK(cudaMalloc(...)) and CUDA_CHECK_LAST() after a launch.
// A fault inside a kernel (illegal address, ...) is only reported at the next synchronising call, i.e. at
// another file and line; with SSMTL_CUDA_SYNC=1 in the environment CUDA_CHECK_LAST also synchronises, so the
// fault is reported at the launch that caused it (slower; for debugging).
// It lives with the device memory (tensor/cuda/memory.cu); kernels/cuda/check.cuh adds cuBLAS to it.
#pragma once
#include <cuda_runtime.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace ssmtl::cuda {

inline void check(cudaError_t e, const char* expr, const char* file, int line) {
  if (e != cudaSuccess)
    throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + expr + ": " +
                             cudaGetErrorString(e));
}

inline void check_launch(const char* file, int line) {
  static const bool sync = [] {
    const char* v = std::getenv("SSMTL_CUDA_SYNC");
    return v != nullptr && v[0] != '\0' && v[0] != '0';
  }();
  check(cudaGetLastError(), "kernel launch", file, line);
  if (sync) check(cudaDeviceSynchronize(), "kernel execution (SSMTL_CUDA_SYNC)", file, line);
}

// Grid size for n elements at `block` threads, capped so huge tensors use grid-stride loops.
inline unsigned grid_for(long long n, int block = 256) {
  long long g = (n + block - 1) / block;
  if (g > 65535LL * 8) g = 65535LL * 8;
  return static_cast<unsigned>(g < 1 ? 1 : g);
}

}  // namespace ssmtl::cuda

#define CUDA_CHECK(expr) ::ssmtl::cuda::check((expr), #expr, __FILE__, __LINE__)
#define CUDA_CHECK_LAST() ::ssmtl::cuda::check_launch(__FILE__, __LINE__)
