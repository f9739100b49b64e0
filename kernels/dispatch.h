// Device dispatch for kernels: SSMTL_DISPATCH(device, kernels::name, args...) calls name_cpu(args...)
// or, for a CUDA tensor, its twin name_cuda(args...) with the same signature. In a build without
// CUDA the CUDA branch throws std::runtime_error naming the kernel ("built without CUDA").
// Each call is timed by the op profiler when it is on (tensor/profile.h; free when off).
#pragma once
#include "tensor/profile.h"
#include "tensor/tensor.h"

namespace ssmtl {
[[noreturn]] void throw_no_cuda(const char* kernel);
}

#ifdef SSMTL_WITH_CUDA
#define SSMTL_DISPATCH(dev, fn, ...)                      \
  do {                                                    \
    ::ssmtl::prof::KernelScope ssmtl_prof_scope_(#fn);      \
    if ((dev) == ::ssmtl::Device::CUDA) fn##_cuda(__VA_ARGS__); \
    else fn##_cpu(__VA_ARGS__);                           \
  } while (0)
#else
#define SSMTL_DISPATCH(dev, fn, ...)                      \
  do {                                                    \
    ::ssmtl::prof::KernelScope ssmtl_prof_scope_(#fn);      \
    if ((dev) == ::ssmtl::Device::CUDA) ::ssmtl::throw_no_cuda(#fn); \
    else fn##_cpu(__VA_ARGS__);                           \
  } while (0)
#endif
