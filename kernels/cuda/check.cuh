// cuBLAS on top of the CUDA checks of tensor/cuda/check.cuh: CUDA_CHECK(cublasSgemm(...)) throws
// std::runtime_error with file, line and the cuBLAS status; one cuBLAS handle per process.
#pragma once
#include <cublas_v2.h>

#include <stdexcept>
#include <string>

#include "tensor/cuda/check.cuh"

namespace ssmtl::cuda {

inline void check(cublasStatus_t s, const char* expr, const char* file, int line) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + expr + ": cuBLAS status " +
                             std::to_string(static_cast<int>(s)));
}

cublasHandle_t cublas();   // one handle per process (kernels/cuda/cublas.cu)

}  // namespace ssmtl::cuda
