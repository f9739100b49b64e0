#include "kernels/matmul.h"

#include "kernels/activation.h"
#include "kernels/cpu/aligned.h"
#include "kernels/cpu/gemm_panel.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <climits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace ssmtl::kernels {

namespace {

// Products below this many flops are not worth waking a second thread for.
constexpr double kParallelFlops = 4e6;

// OpenBLAS keeps its own thread pool; the engine's parallelism is OpenMP (see kernels/matmul.h).
void blas_single_threaded() {
  static std::once_flag once;
  std::call_once(once, [] {
#ifdef OPENBLAS_VERSION
    openblas_set_num_threads(1);
#endif
  });
}

int blas_int(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX)
    throw std::invalid_argument(std::string("gemm: ") + what + " = " + std::to_string(v) + " out of BLAS range");
  return static_cast<int>(v);
}

// Number of threads a product of this size may use from here.
int gemm_threads(int64_t M, int64_t N, int64_t K) {
  if (omp_in_parallel()) return 1;
  if (2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K) < kParallelFlops) return 1;
  return omp_get_max_threads();
}

}  // namespace

void gemm_serial_cpu(float* c, const float* a, const float* b, int64_t M, int64_t N, int64_t K, bool trans_a,
                     bool trans_b, float alpha, float beta, int64_t lda, int64_t ldb, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {   // BLAS would only scale C; do it here so that beta = 0 never reads C
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) c[i * ldc + j] = beta == 0.f ? 0.f : beta * c[i * ldc + j];
    return;
  }
  blas_single_threaded();
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              blas_int(M, "M"), blas_int(N, "N"), blas_int(K, "K"), alpha, a, blas_int(lda, "lda"), b,
              blas_int(ldb, "ldb"), beta, c, blas_int(ldc, "ldc"));
}

void gemm_cpu(float* c, const float* a, const float* b, int64_t M, int64_t N, int64_t K, bool trans_a,
              bool trans_b, float alpha, float beta, int64_t lda, int64_t ldb, int64_t ldc) {
  for (int64_t v : {M, N, K, lda, ldb, ldc}) blas_int(v, "size");   // throw here, never inside the region
  const int nt = gemm_threads(M, N, K);
  // Split the longer side of C; column blocks stay multiples of 16 so each thread's panel is whole vectors.
  const bool split_rows = M >= N;
  const int64_t len = split_rows ? M : N, quantum = split_rows ? 4 : 16;
  const int parts = static_cast<int>(std::min<int64_t>(nt, std::max<int64_t>(1, len / quantum)));
  if (parts <= 1) {
    gemm_serial_cpu(c, a, b, M, N, K, trans_a, trans_b, alpha, beta, lda, ldb, ldc);
    return;
  }
  auto bound = [&](int t) { return t == parts ? len : (len * t / parts) / quantum * quantum; };
#pragma omp parallel for num_threads(parts) schedule(static, 1)
  for (int t = 0; t < parts; ++t) {
    const int64_t lo = bound(t), n = bound(t + 1) - lo;
    if (split_rows)
      gemm_serial_cpu(c + lo * ldc, trans_a ? a + lo : a + lo * lda, b, n, N, K, trans_a, trans_b, alpha, beta,
                      lda, ldb, ldc);
    else
      gemm_serial_cpu(c + lo, a, trans_b ? b + lo * ldb : b + lo, M, n, K, trans_a, trans_b, alpha, beta, lda,
                      ldb, ldc);
  }
}

void linear_forward_cpu(float* y, const float* x, const float* w, const float* bias, int64_t M, int64_t in,
                        int64_t out) {
  if (gemm_panel_cpu(y, x, w, bias, M, out, in, true, false)) return;   // bias added in the same pass
  if (bias) {
#pragma omp parallel for schedule(static) if (M * out > 65536)
    for (int64_t m = 0; m < M; ++m) std::copy(bias, bias + out, y + m * out);
  }
  gemm_cpu(y, x, w, M, out, in, false, true, 1.f, bias ? 1.f : 0.f, in, in, out);
}

void linear_gelu_forward_cpu(float* y, float* z, const float* x, const float* w, const float* bias, int64_t M,
                             int64_t in, int64_t out) {
  float* pre = z ? z : y;   // without z, GELU runs in place over the product's rows
  const detail::GeluRows rows{y, pre, out};
  const RowEpilogue epilogue{&detail::GeluRows::run, &rows};
  if (gemm_panel_cpu(pre, x, w, bias, M, out, in, true, false, &epilogue)) return;
  linear_forward_cpu(pre, x, w, bias, M, in, out);
  gelu_forward_cpu(y, pre, M * out);
}

namespace {

// sums[o] += sum over the M rows of a (M, cols) of column o: in double, rows in order, so deterministic and
// accurate for many rows. Threads take blocks of columns (each column is summed by one thread in the same
// order), so the bits do not depend on the thread count.
void add_column_sums(float* sums, const float* a, int64_t M, int64_t cols) {
  constexpr int64_t kCols = 48;   // doubles per block: 6 AVX-512 accumulators
  const int64_t blocks = (cols + kCols - 1) / kCols;
#pragma omp parallel for schedule(static) if (blocks > 1 && M * cols > (int64_t{1} << 16))
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t o0 = b * kCols, n = std::min(kCols, cols - o0);
    double acc[kCols] = {};
    for (int64_t m = 0; m < M; ++m) {
      const float* row = a + m * cols + o0;
#pragma omp simd
      for (int64_t o = 0; o < n; ++o) acc[o] += row[o];
    }
    for (int64_t o = 0; o < n; ++o) sums[o0 + o] += static_cast<float>(acc[o]);
  }
}

}  // namespace

namespace {

// The bias gradient inside the input gradient's GEMM, which reads every row of dy anyway: its epilogue, called
// with rows [r0, r1) of dy still in cache, sums each group of kBiasRows rows per column (float, rows in order)
// into part (groups, out); then the groups are added in order in double. Every GEMM path's row blocks are a
// multiple of kBiasRows (48 or 32 rows), so each group is summed by one thread, in one order, whatever the path
// or thread count: the bits depend on neither. Saves the separate pass over dy (M x out floats from memory).
constexpr int64_t kBiasRows = 16;

struct BiasGroups {
  float* part;
  const float* dy;
  int64_t out;
  static void run(const void* ctx, int64_t r0, int64_t r1) {
    const auto& b = *static_cast<const BiasGroups*>(ctx);
    for (int64_t g0 = r0; g0 < r1; g0 += kBiasRows) {
      float* sums = b.part + g0 / kBiasRows * b.out;
      std::fill(sums, sums + b.out, 0.f);
      for (int64_t r = g0; r < std::min(r1, g0 + kBiasRows); ++r) {
        const float* row = b.dy + r * b.out;
#pragma omp simd
        for (int64_t o = 0; o < b.out; ++o) sums[o] += row[o];
      }
    }
  }
};

void add_group_sums(float* dbias, const float* part, int64_t groups, int64_t out) {
  std::vector<double> acc(static_cast<size_t>(out), 0.0);
  for (int64_t g = 0; g < groups; ++g)
#pragma omp simd
    for (int64_t o = 0; o < out; ++o) acc[o] += part[g * out + o];
  for (int64_t o = 0; o < out; ++o) dbias[o] += static_cast<float>(acc[o]);
}

}  // namespace

void linear_backward_cpu(float* dx, float* dw, float* dbias, const float* dy, const float* x, const float* w,
                         bool add_dx, int64_t M, int64_t in, int64_t out) {
  if (dx) {
    const int64_t groups = (M + kBiasRows - 1) / kBiasRows;
    // kept between calls (a few MB): a fresh buffer would be fresh pages from the OS every training step
    static thread_local avector<float> part;
    if (dbias && part.size() < static_cast<size_t>(groups * out)) part.resize(static_cast<size_t>(groups * out));
    const BiasGroups bias_groups{part.data(), dy, out};
    const RowEpilogue epilogue{&BiasGroups::run, &bias_groups};
    if (gemm_panel_cpu(dx, dy, w, nullptr, M, in, out, false, add_dx, dbias ? &epilogue : nullptr)) {
      if (dbias) add_group_sums(dbias, part.data(), groups, out);
      dbias = nullptr;   // done
    } else {
      gemm_cpu(dx, dy, w, M, in, out, false, false, 1.f, add_dx ? 1.f : 0.f, out, in, in);   // (beta 0: C not read)
    }
  }
  if (dw && !gemm_panel_at_b_cpu(dw, dy, x, M, out, in)) gemm_cpu(dw, dy, x, out, in, M, true, false, 1.f, 1.f, out, in, in);
  if (dbias) add_column_sums(dbias, dy, M, out);
}

void matmul_forward_cpu(float* c, const float* a, const float* b, int64_t batch, int64_t M, int64_t K, int64_t N,
                        bool b_shared) {
  if (b_shared) {   // one product with the batch folded into the rows of a
    gemm_cpu(c, a, b, batch * M, N, K, false, false, 1.f, 0.f, K, N, N);
    return;
  }
  if (batch >= omp_get_max_threads() && !omp_in_parallel()) {
#pragma omp parallel for schedule(static) if (batch * M * N * K > 65536)
    for (int64_t i = 0; i < batch; ++i)
      gemm_serial_cpu(c + i * M * N, a + i * M * K, b + i * K * N, M, N, K, false, false, 1.f, 0.f, K, N, N);
    return;
  }
  for (int64_t i = 0; i < batch; ++i)
    gemm_cpu(c + i * M * N, a + i * M * K, b + i * K * N, M, N, K, false, false, 1.f, 0.f, K, N, N);
}

void matmul_backward_cpu(float* da, float* db, const float* dc, const float* a, const float* b, int64_t batch,
                         int64_t M, int64_t K, int64_t N, bool b_shared) {
  if (b_shared) {
    if (da) gemm_cpu(da, dc, b, batch * M, K, N, false, true, 1.f, 1.f, N, N, K);
    if (db) gemm_cpu(db, a, dc, K, N, batch * M, true, false, 1.f, 1.f, K, N, N);
    return;
  }
  auto one = [&](int64_t i, bool serial) {
    auto g = serial ? gemm_serial_cpu : gemm_cpu;
    if (da) g(da + i * M * K, dc + i * M * N, b + i * K * N, M, K, N, false, true, 1.f, 1.f, N, N, K);
    if (db) g(db + i * K * N, a + i * M * K, dc + i * M * N, K, N, M, true, false, 1.f, 1.f, K, N, N);
  };
  if (batch >= omp_get_max_threads() && !omp_in_parallel()) {
#pragma omp parallel for schedule(static) if (batch * M * N * K > 65536)
    for (int64_t i = 0; i < batch; ++i) one(i, true);
    return;
  }
  for (int64_t i = 0; i < batch; ++i) one(i, false);
}

}  // namespace ssmtl::kernels
