#include "kernels/precision.h"

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>

namespace ssmtl::kernels {

namespace {
std::atomic<int> g_precision{static_cast<int>(MatmulPrecision::fp32)};
}

bool cpu_has_bf16() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0 && __builtin_cpu_supports("avx512bf16") != 0;
  }();
  return has;
#else
  return false;
#endif
}

void set_matmul_precision(MatmulPrecision p) {
  if (p == MatmulPrecision::bf16 && !cpu_has_bf16())
    throw std::invalid_argument(
        "bf16 products need a CPU with AVX512_BF16 (VDPBF16PS); this CPU does not have it: use fp32");
  g_precision.store(static_cast<int>(p), std::memory_order_relaxed);
}

MatmulPrecision matmul_precision() {
  return static_cast<MatmulPrecision>(g_precision.load(std::memory_order_relaxed));
}

MatmulPrecision parse_matmul_precision(const char* text) {
  if (std::strcmp(text, "fp32") == 0) return MatmulPrecision::fp32;
  if (std::strcmp(text, "bf16") == 0) return MatmulPrecision::bf16;
  throw std::invalid_argument(std::string("precision must be fp32 or bf16, got '") + text + "'");
}

const char* matmul_precision_name(MatmulPrecision p) { return p == MatmulPrecision::bf16 ? "bf16" : "fp32"; }

MatmulPrecision checked_matmul_precision(const std::string& text, bool on_cuda, const std::string& what) {
  const MatmulPrecision p = parse_matmul_precision(text.c_str());
  if (p == MatmulPrecision::bf16 && on_cuda)
    throw std::invalid_argument(what + " = bf16 is implemented for the CPU only (use fp32 with --device cuda)");
  if (p == MatmulPrecision::bf16 && !cpu_has_bf16())
    throw std::invalid_argument(what + " = bf16: this CPU has no AVX512_BF16 instructions (use fp32)");
  return p;
}

}  // namespace ssmtl::kernels
