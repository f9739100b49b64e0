// cuBLAS SGEMM for the CPU emulator (see emu/emu.h): CBLAS in column-major order, as cuBLAS, with
// cuBLAS's argument checks (a bad leading dimension is CUBLAS_STATUS_INVALID_VALUE, not a wrong result).
#include <cblas.h>

#include <algorithm>

#include "emu/include/cublas_v2.h"

struct cublasContext {
  int magic = 0x5e5e;
};

namespace {

CBLAS_TRANSPOSE op(cublasOperation_t o) { return o == CUBLAS_OP_N ? CblasNoTrans : CblasTrans; }

bool valid_op(cublasOperation_t o) { return o == CUBLAS_OP_N || o == CUBLAS_OP_T || o == CUBLAS_OP_C; }

// The checks cuBLAS documents for gemm: sizes >= 0, lda >= rows of A as stored, ldb likewise, ldc >= m.
bool valid(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float* alpha,
           const float* beta, int lda, int ldb, int ldc) {
  if (!h || h->magic != 0x5e5e) return false;
  if (!valid_op(ta) || !valid_op(tb) || m < 0 || n < 0 || k < 0 || !alpha || !beta) return false;
  const int rows_a = ta == CUBLAS_OP_N ? m : k, rows_b = tb == CUBLAS_OP_N ? k : n;
  return lda >= std::max(1, rows_a) && ldb >= std::max(1, rows_b) && ldc >= std::max(1, m);
}

// The extent in floats of a column-major matrix with `rows` x `cols` elements at leading dimension ld.
long long extent(int rows, int cols, int ld) {
  return rows == 0 || cols == 0 ? 0 : static_cast<long long>(cols - 1) * ld + rows;
}

// Operands must be device memory: a host pointer given to cuBLAS is a fault on a GPU.
bool on_device(const float* p, long long floats) {
  if (floats == 0) return true;
  return emu::in_device_memory(p, static_cast<size_t>(floats) * sizeof(float));
}

}  // namespace

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const float* alpha, const float* A, int lda, long long sa,
                                         const float* B, int ldb, long long sb, const float* beta, float* C, int ldc,
                                         long long sc, int batch) {
  if (!valid(h, ta, tb, m, n, k, alpha, beta, lda, ldb, ldc) || batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;
  const int ar = ta == CUBLAS_OP_N ? m : k, ac = ta == CUBLAS_OP_N ? k : m;
  const int br = tb == CUBLAS_OP_N ? k : n, bc = tb == CUBLAS_OP_N ? n : k;
  const long long last = batch - 1;
  if (!on_device(A, k ? last * sa + extent(ar, ac, lda) : 0) || !on_device(B, k ? last * sb + extent(br, bc, ldb) : 0) ||
      !on_device(C, last * sc + extent(m, n, ldc)))
    return CUBLAS_STATUS_INVALID_VALUE;
  const emu::DeviceAccess access;
  for (long long i = 0; i < batch; ++i) {
    if (k == 0) {   // C = beta C; cuBLAS never reads C when beta is 0
      for (int j = 0; j < n; ++j)
        for (int r = 0; r < m; ++r) {
          float& c = C[i * sc + static_cast<long long>(j) * ldc + r];
          c = *beta == 0.f ? 0.f : *beta * c;
        }
      continue;
    }
    cblas_sgemm(CblasColMajor, op(ta), op(tb), m, n, k, *alpha, A + i * sa, lda, B + i * sb, ldb, *beta, C + i * sc,
                ldc);
  }
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float* alpha, const float* A, int lda, const float* B, int ldb, const float* beta,
                           float* C, int ldc) {
  return cublasSgemmStridedBatched(h, ta, tb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}
