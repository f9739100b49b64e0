// The process's cuBLAS handle (kernels/cuda/check.cuh), created on first use.
#include "kernels/cuda/check.cuh"

namespace ssmtl::cuda {

cublasHandle_t cublas() {
  static cublasHandle_t h = [] {
    cublasHandle_t x;
    CUDA_CHECK(cublasCreate(&x));
    return x;
  }();
  return h;
}

}  // namespace ssmtl::cuda
