#include "tensor/device.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

namespace ssmtl {

bool cuda_built() {
#ifdef SSMTL_WITH_CUDA
  return true;
#else
  return false;
#endif
}

bool cuda_available() {
#ifdef SSMTL_WITH_CUDA
  return cuda::available();
#else
  return false;
#endif
}

void require_cuda(const char* what) {
  if (!cuda_built())
    throw std::runtime_error(std::string(what) + ": this build has no CUDA backend (built without CUDA)");
  if (!cuda_available()) throw std::runtime_error(std::string(what) + ": no CUDA device is available");
}

float* device_alloc(size_t n, Device d) {
  if (d == Device::CUDA) {
    require_cuda("device_alloc");
#ifdef SSMTL_WITH_CUDA
    return cuda::alloc(n);
#endif
  }
  // 64-byte alignment for vector loads; at least one element so data() is never null.
  size_t bytes = ((std::max<size_t>(n, 1) * sizeof(float) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  return static_cast<float*>(p);
}

void device_free(float* p, size_t n, Device d) {
  if (!p) return;
  if (d == Device::CUDA) {
#ifdef SSMTL_WITH_CUDA
    cuda::free(p, n);
#endif
    return;
  }
  (void)n;
  std::free(p);
}

void device_fill(float* p, float v, size_t n, Device d) {
  if (d == Device::CUDA) {
    require_cuda("device_fill");
#ifdef SSMTL_WITH_CUDA
    cuda::fill(p, v, n);
#endif
    return;
  }
  std::fill(p, p + n, v);
}

void device_copy(float* dst, Device dst_dev, const float* src, Device src_dev, size_t n) {
  if (dst_dev == Device::CPU && src_dev == Device::CPU) {
    std::memcpy(dst, src, n * sizeof(float));
    return;
  }
  require_cuda("device_copy");
#ifdef SSMTL_WITH_CUDA
  cuda::copy(dst, dst_dev == Device::CUDA, src, src_dev == Device::CUDA, n);
#endif
}

}  // namespace ssmtl

namespace ssmtl {
void throw_no_cuda(const char* kernel) {
  throw std::runtime_error(std::string(kernel) + ": CUDA tensor, but this build has no CUDA backend (built without CUDA)");
}
}  // namespace ssmtl
