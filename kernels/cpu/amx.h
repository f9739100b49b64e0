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

// Loads `cfg` on this thread; releases the tiles on destruction.
class AmxTiles {
 public:
  SSMTL_AMX_TARGET explicit AmxTiles(const TileConfig& cfg) { _tile_loadconfig(&cfg); }
  SSMTL_AMX_TARGET ~AmxTiles() { _tile_release(); }
  AmxTiles(const AmxTiles&) = delete;
  AmxTiles& operator=(const AmxTiles&) = delete;
};

}  // namespace ssmtl::kernels::amx
