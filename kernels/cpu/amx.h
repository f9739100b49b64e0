// AMX tile support of the CPU kernels (CPU-internal; chosen through kernels::use_amx_products()). A kernel that
// uses tiles configures them on its own thread with AmxTiles for the length of its work and releases them after,
// so that the next kernel (or thread) starts from a known configuration and the OS need not save idle tile
// state. Tile shapes follow Intel's palette 1: 8 tiles of up to 16 rows x 64 bytes. For TDPBF16PS
// C (M x N float32) += A (M x K bf16) B (K x N bf16), K <= 32 and even: A is M rows of K bf16 (colsb = 2 K), B is
// K / 2 rows of N pairs ("VNNI" layout: B[k][n] at row k / 2, element 2 n + k % 2; colsb = 4 N), C is M rows of N
// float32 (colsb = 4 N). Intel SDM vol. 1 chapter 20 / the Intel Intrinsics Guide's AMX section.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#define SSMTL_AMX_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,amx-tile,amx-bf16")))

namespace ssmtl::kernels::amx {

// The 64-byte operand of LDTILECFG.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
  void set(int tile, int rows_, int colsb_) {
    rows[tile] = static_cast<uint8_t>(rows_);
    colsb[tile] = static_cast<uint16_t>(colsb_);
  }
};
static_assert(sizeof(TileConfig) == 64, "LDTILECFG reads 64 bytes");

// All eight tiles at their largest, 16 rows x 64 bytes: the configuration of every kernel that keeps its tile
// shapes fixed and handles short edges in its scratch buffers.
inline TileConfig full_tiles() {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) cfg.set(t, 16, 64);
  return cfg;
}

// Loads `cfg` on this thread; releases the tiles on destruction.
class AmxTiles {
 public:
  SSMTL_AMX_TARGET explicit AmxTiles(const TileConfig& cfg) { _tile_loadconfig(&cfg); }
  SSMTL_AMX_TARGET ~AmxTiles() { _tile_release(); }
  AmxTiles(const AmxTiles&) = delete;
  AmxTiles& operator=(const AmxTiles&) = delete;
};

// r[i] lane j <-> r[j] lane i (32-bit lanes, e.g. 16 rows of bf16 pairs into the pair-rows of a B tile): unpacks
// of 32 then 64 bits, then two shuffles of 128-bit lanes.
SSMTL_AMX_TARGET inline void transpose16(__m512i (&r)[16]) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int h = 0; h < 16; h += 8)
    for (int i = 0; i < 4; ++i) {
      t[h + i] = _mm512_shuffle_i32x4(r[h + i], r[h + i + 4], 0x88);
      t[h + i + 4] = _mm512_shuffle_i32x4(r[h + i], r[h + i + 4], 0xdd);
    }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
  }
}


// The operands of one block of C tiles: A tile s of tile row i at a + i a_next + s a_step (its rows a_stride bytes
// apart), B tile s of tile column j at b + j b_next + s b_step (its rows b_stride bytes apart), s < steps; offsets
// in bf16 elements.
struct Operands {
  const uint16_t* a;
  int64_t a_step, a_stride, a_next;
  const uint16_t* b;
  int64_t b_step, b_stride, b_next, steps;
};

// C rows [0, 16 MI) x columns [0, 16 NJ) (at c, rows ldc floats apart) = (the old C when `load`, else 0) + the sum
// over the steps of A B, in step order. Tiles: C in tmm0-3, A in tmm4-5, B in tmm6-7 (all 16 rows x 64 bytes).
template <int MI, int NJ>
SSMTL_AMX_TARGET void block_product(float* c, int64_t ldc, bool load, const Operands& o) {
  __asm__ volatile("" ::: "memory");   // the tile loads are asm statements that do not say they read memory
  if (load) {
    _tile_loadd(0, c, ldc * 4);
    if constexpr (NJ > 1) _tile_loadd(1, c + 16, ldc * 4);
    if constexpr (MI > 1) _tile_loadd(2, c + 16 * ldc, ldc * 4);
    if constexpr (MI > 1 && NJ > 1) _tile_loadd(3, c + 16 * ldc + 16, ldc * 4);
  } else {
    _tile_zero(0);
    if constexpr (NJ > 1) _tile_zero(1);
    if constexpr (MI > 1) _tile_zero(2);
    if constexpr (MI > 1 && NJ > 1) _tile_zero(3);
  }
  for (int64_t s = 0; s < o.steps; ++s) {
    _tile_loadd(4, o.a + s * o.a_step, o.a_stride);
    if constexpr (MI > 1) _tile_loadd(5, o.a + o.a_next + s * o.a_step, o.a_stride);
    _tile_loadd(6, o.b + s * o.b_step, o.b_stride);
    if constexpr (NJ > 1) _tile_loadd(7, o.b + o.b_next + s * o.b_step, o.b_stride);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (NJ > 1) _tile_dpbf16ps(1, 4, 7);
    if constexpr (MI > 1) _tile_dpbf16ps(2, 5, 6);
    if constexpr (MI > 1 && NJ > 1) _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, c, ldc * 4);
  if constexpr (NJ > 1) _tile_stored(1, c + 16, ldc * 4);
  if constexpr (MI > 1) _tile_stored(2, c + 16 * ldc, ldc * 4);
  if constexpr (MI > 1 && NJ > 1) _tile_stored(3, c + 16 * ldc + 16, ldc * 4);
}

// The tile numbers are immediates: one instance per block shape (the last tile row or column may be single).
inline void block_product(int mi, int nj, float* c, int64_t ldc, bool load, const Operands& o) {
  if (mi > 1 && nj > 1) block_product<2, 2>(c, ldc, load, o);
  else if (mi > 1) block_product<2, 1>(c, ldc, load, o);
  else if (nj > 1) block_product<1, 2>(c, ldc, load, o);
  else block_product<1, 1>(c, ldc, load, o);
}

}  // namespace ssmtl::kernels::amx
