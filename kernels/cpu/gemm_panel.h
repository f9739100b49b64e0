// Register-blocked GEMM for the tall, narrow products of linear layers (many token rows, K and N of a few
// hundred: the CvT's projections and MLP), where OpenBLAS spends a large share of its time packing and
// re-reading C for a short K. C (M, N) = A (M, K) op(B) [+ bias broadcast over rows] [+ C].
// op(B) = B stored (K, N) row-major, or B stored (N, K) when trans_b (it is re-laid out in 32-column panels
// once per call). Rows are split across the OpenMP threads in blocks; each element is summed over k in order
// by one thread, so the result does not depend on the thread count.
// Returns false without touching C when this path does not apply (no AVX-512 at run time, N not a multiple
// of 16, or already inside a parallel region); the caller then uses gemm_cpu.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/activation.h"
#include "kernels/cpu/aligned.h"

namespace ssmtl::kernels {

// Called on the computing thread as soon as rows [r0, r1) of C are final (every column), while they are still
// in cache: how an elementwise op that follows the product (the GELU of linear_gelu_forward_cpu) is fused in.
struct RowEpilogue {
  void (*fn)(const void* ctx, int64_t r0, int64_t r1);
  const void* ctx;
};

bool gemm_panel_cpu(float* c, const float* a, const float* b, const float* bias, int64_t M, int64_t N, int64_t K,
                    bool trans_b, bool accumulate, const RowEpilogue* epilogue = nullptr);

namespace detail {
// The GELU epilogue of the products that feed it (linear_gelu_forward_cpu, mlp_residual_forward_cpu): rows
// [r0, r1) of y (rows of `cols`) = gelu(z), in place when y == z (kernels/activation.h detail::gelu_rows).
struct GeluRows {
  float* y;
  const float* z;
  int64_t cols;
  static void run(const void* ctx, int64_t r0, int64_t r1) {
    const auto& g = *static_cast<const GeluRows*>(ctx);
    gelu_rows(g.y + r0 * g.cols, g.z + r0 * g.cols, (r1 - r0) * g.cols);
  }
};
}  // namespace detail

// The weight gradient of a linear layer: C (Na, Nb) += A^T B with A (R, Na), B (R, Nb) row-major and a long
// reduction R (token rows). Rows of C are split across the threads (each element summed over r in order by
// one thread); R is walked in blocks that stay in L2. Same conditions as gemm_panel_cpu (Nb a multiple of 16).
bool gemm_panel_at_b_cpu(float* c, const float* a, const float* b, int64_t R, int64_t Na, int64_t Nb);

// True when gemm_panel_cpu's path applies to N columns on this CPU (AVX-512 at run time, N a positive multiple
// of 16), whatever the calling context.
bool panel_path_applies(int64_t N);

// op(B) packed once for the product path of the current precision (fp32 panels, AVX512_BF16 pairs or AMX tiles:
// kernels/precision.h, read at construction), then multiplied by any number of row ranges on the calling thread,
// also inside a parallel region: how a fused op runs several products over its own chunks of rows on each thread
// with one parallel region and one packing (kernels/cpu/mlp_block.cpp); on AMX, not while the calling thread holds
// an amx::AmxTiles of its own (rows() configures and releases the thread's tiles). Each row comes out bitwise as
// gemm_panel_cpu's (the same micro-kernels; a row's sum over k does not depend on the rows around it).
// Throws std::invalid_argument when !panel_path_applies(N) or K <= 0.
class PackedPanelB {
 public:
  // b: (K, N) row-major, or (N, K) when trans_b; read only here.
  PackedPanelB(const float* b, int64_t N, int64_t K, bool trans_b);
  // C (M, N), row stride N, = A (M, K) op(B) (+ bias (N)) (+ C when accumulate); epilogue as gemm_panel_cpu's,
  // with row indices relative to c.
  void rows(float* c, const float* a, const float* bias, int64_t M, bool accumulate,
            const RowEpilogue* epilogue = nullptr) const;
  int64_t n() const { return N_; }
  int64_t k() const { return K_; }

 private:
  enum class Path { fp32, bf16, amx } path_ = Path::fp32;
  int64_t N_, K_;
  avector<float> f32_;
  avector<uint16_t> b16_;
};

// Both products take the bf16 path (kernels/cpu/gemm_panel_bf16.cpp, AVX512_BF16) when
// kernels::use_bf16_products(): factors rounded to bfloat16, float32 sums (kernels/precision.h); on AMX tiles
// instead (kernels/cpu/gemm_panel_amx.cpp) when kernels::use_amx_products().
namespace detail {
void gemm_panel_bf16(float* c, const float* a, const float* b, const float* bias, int64_t M, int64_t N, int64_t K,
                     bool trans_b, bool accumulate, const RowEpilogue* epilogue);
void gemm_panel_at_b_bf16(float* c, const float* a, const float* b, int64_t R, int64_t Na, int64_t Nb);

// The packings and the row loops behind them, shared with PackedPanelB: pack_panels_bf16 / _amx lay out op(B);
// gemm_panel_bf16_rows computes C rows [r0, r_end) (at most kBf16Block) with the scratch ab (kBf16Block x
// 2 ceil(K / 2) bf16, zero-initialised once); gemm_panel_amx_rows computes C rows [0, M) on the calling thread
// (it configures the thread's tiles itself and releases them at its end: not to be called while the thread holds
// an amx::AmxTiles of its own).
constexpr int64_t kBf16Block = 48;
avector<uint16_t> pack_panels_bf16(const float* b, int64_t N, int64_t K, bool trans_b);
void gemm_panel_bf16_rows(float* c, const float* a, const uint16_t* packed, const float* bias, int64_t N, int64_t K,
                          int64_t r0, int64_t r_end, bool accumulate, uint16_t* ab);
avector<uint16_t> pack_panels_amx(const float* b, int64_t N, int64_t K, bool trans_b);
void gemm_panel_amx_rows(float* c, const float* a, const uint16_t* packed, const float* bias, int64_t M, int64_t N,
                         int64_t K, bool accumulate, const RowEpilogue* epilogue);

// The MLP half of mlp_residual_forward_cpu on AMX tiles for rows [0, M) of x and y (M, D), on the calling thread,
// with the hidden layer (H) kept in bf16 (kernels/cpu/mlp_block_amx.cpp): y = x + fc2(gelu(fc1(LayerNorm(x)))).
// packed1 = pack_panels_amx(w1 (H, D), H, D, true), packed2 = pack_panels_amx(w2 (D, H), D, H, true); D and H
// multiples of 16. The same bits as the composition of the four kernels on the AMX path. Configures and releases
// the thread's tiles itself (not while the thread holds an amx::AmxTiles of its own). Throws only std::bad_alloc.
void mlp_residual_amx_rows(float* y, const float* x, const float* ln_gamma, const float* ln_beta, float eps,
                           const uint16_t* packed1, const float* b1, const uint16_t* packed2, const float* b2,
                           int64_t M, int64_t D, int64_t H);

// The same two products on AMX tiles (kernels/cpu/gemm_panel_amx.cpp), chosen instead of the two above when
// kernels::use_amx_products(); the caller has checked the shapes (N, Nb multiples of 16; M, K, R, Na > 0) and
// that the CPU has AMX-BF16 (cpu_has_amx_bf16()). Same contracts, factors rounded the same way; only the order
// of the float32 sums differs. Throw nothing but std::bad_alloc (scratch buffers).
void gemm_panel_amx(float* c, const float* a, const float* b, const float* bias, int64_t M, int64_t N, int64_t K,
                    bool trans_b, bool accumulate, const RowEpilogue* epilogue);
void gemm_panel_at_b_amx(float* c, const float* a, const float* b, int64_t R, int64_t Na, int64_t Nb);

// The cache lines of rows a weight-gradient product reads next (the next chunk of A (rows of na floats) and of B
// (nb)), shared out evenly over the `tiles` tile calls of the current chunk; each tile fetches its share one line
// per reduction step (at(step)), so the loads from memory overlap the products instead of stalling the bf16
// conversion of every chunk (one thread over 57344 rows of 96 + 96 columns: 140 -> 168 GFLOP/s). Not in the fp32
// product, which reads A and B in place: there it cost (384 x 96 on two threads: 194 -> 145 GFLOP/s).
// Here, not beside its only user in gemm_panel_bf16.cpp: declared in that file's anonymous namespace, GCC 12
// cloned the weight-gradient tiles and emitted none of these fetches (48 prefetcht0 in the object -> 0; 57344
// rows, 96 x 96: 345 -> 265 GFLOP/s, sessions 25-26; RESULTS 46).
struct RowLines {
  const char* p[2] = {nullptr, nullptr};
  int64_t n[2] = {0, 0};
  // Tile `tile` of `tiles`: its share of rows [0, rows) of a and b (row lengths na, nb floats).
  static RowLines share(const float* a, int64_t na, const float* b, int64_t nb, int64_t rows, int64_t tile,
                        int64_t tiles) {
    const int64_t lines_a = rows * na * 4 / 64, lines = lines_a + rows * nb * 4 / 64;
    const int64_t l0 = lines * tile / tiles, l1 = lines * (tile + 1) / tiles;
    RowLines r;
    r.p[0] = reinterpret_cast<const char*>(a) + std::min(l0, lines_a) * 64;
    r.n[0] = std::max<int64_t>(0, std::min(l1, lines_a) - l0);
    r.p[1] = reinterpret_cast<const char*>(b) + (std::max(l0, lines_a) - lines_a) * 64;
    r.n[1] = std::max<int64_t>(0, l1 - std::max(l0, lines_a));
    return r;
  }
  void at(int64_t step) const {
    if (step < n[0]) __builtin_prefetch(p[0] + step * 64, 0, 3);
    else if (step - n[0] < n[1]) __builtin_prefetch(p[1] + (step - n[0]) * 64, 0, 3);
  }
};

// C[i] += sum over groups g in order of partial[g * stride + i], for i < n: the weight gradients' per-group sums
// (fixed row groups, so that the result does not depend on the thread count) added up in group order.
inline void add_group_partials(float* c, const float* partial, int64_t groups, int64_t stride, int64_t n) {
#pragma omp parallel for schedule(static) if (n * groups > 65536)
  for (int64_t i = 0; i < n; ++i) {
    float s = 0.f;
    for (int64_t g = 0; g < groups; ++g) s += partial[g * stride + i];
    c[i] += s;
  }
}

// The end of a micro-tile of both kernels: C rows [0, R) x columns [0, 16 V) = acc (+ bias) (+ the old C).
template <int R, int V>
__attribute__((target("avx512f"))) inline void store_tile(float* c, int64_t ldc, const __m512 (&acc)[R][V],
                                                           const float* bias, bool accumulate) {
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) {
      float* cp = c + r * ldc + 16 * v;
      __m512 x = acc[r][v];
      if (bias) x = _mm512_add_ps(x, _mm512_loadu_ps(bias + 16 * v));
      if (accumulate) x = _mm512_add_ps(x, _mm512_loadu_ps(cp));
      _mm512_storeu_ps(cp, x);
    }
}
}  // namespace detail

}  // namespace ssmtl::kernels
