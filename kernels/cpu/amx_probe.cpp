// The AMX throughput probe of `ssmtl profile` (kernels/precision.h): 4 independent TDPBF16PS accumulators per
// thread (tiles 0-3), A and B tiles loaded once, so the loop is the instruction's issue rate alone.
#include <omp.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "kernels/cpu/amx.h"
#include "kernels/precision.h"

namespace ssmtl::kernels {

namespace {

SSMTL_AMX_TARGET void amx_chains(int64_t iters) {
  const amx::AmxTiles tiles(amx::full_tiles());
  alignas(64) static const uint16_t ones[16 * 32] = {};   // zeros: the sums stay 0 (no overflow, no denormals)
  alignas(64) float out[16 * 16];
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, ones, 64);
  _tile_loadd(5, ones, 64);
  _tile_loadd(6, ones, 64);
  _tile_loadd(7, ones, 64);
  for (int64_t i = 0; i < iters; ++i) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, out, 64);
  volatile float sink = out[0];
  (void)sink;
}

void amx_all_threads(int64_t iters) {
#pragma omp parallel
  amx_chains(iters);
}

}  // namespace

double measure_peak_gflops_amx(double seconds) {
  if (!cpu_has_amx_bf16()) return 0;
  const double flops = omp_get_max_threads() * 4.0 * 16 * 16 * 32 * 2;   // per iteration, all threads
  using Clock = std::chrono::steady_clock;
  amx_all_threads(1000);   // warm up
  int64_t iters = 20000;
  for (;;) {
    const auto t0 = Clock::now();
    amx_all_threads(iters);
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (dt > seconds * 0.5) return flops * static_cast<double>(iters) / dt * 1e-9;
    iters = dt > 1e-4 ? static_cast<int64_t>(static_cast<double>(iters) * seconds / dt) : iters * 8;
  }
}

}  // namespace ssmtl::kernels
