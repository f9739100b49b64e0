#include "kernels/precision.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace ssmtl::kernels {

namespace {
std::atomic<int> g_precision{static_cast<int>(MatmulPrecision::fp32)};
std::atomic<bool> g_amx{[] {
  const char* e = std::getenv("SSMTL_AMX");
  return !(e && std::strcmp(e, "0") == 0);
}()};
std::atomic<Bf16Attention> g_bf16_attention{[] {
  const char* e = std::getenv("SSMTL_BF16_ATTENTION");
  if (e && std::strcmp(e, "1") == 0) return Bf16Attention::always;
  if (e && std::strcmp(e, "0") == 0) return Bf16Attention::never;
  return Bf16Attention::inference;
}()};
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

bool cpu_has_amx_bf16() {
#if defined(__x86_64__) && defined(__linux__)
  static const bool has = [] {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const bool tile = (d >> 24) & 1u, bf16 = (d >> 22) & 1u;   // CPUID.(7,0):EDX AMX-TILE, AMX-BF16
    if (!tile || !bf16 || !cpu_has_bf16()) return false;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if (((lo >> 17) & 3u) != 3u) return false;   // XTILECFG and XTILEDATA state enabled by the OS
    constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;   // Linux's arch_prctl ABI
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return has;
#else
  return false;
#endif
}

void set_amx_enabled(bool on) { g_amx.store(on, std::memory_order_relaxed); }
bool amx_enabled() { return g_amx.load(std::memory_order_relaxed); }
void set_bf16_attention(Bf16Attention mode) { g_bf16_attention.store(mode, std::memory_order_relaxed); }
Bf16Attention bf16_attention() { return g_bf16_attention.load(std::memory_order_relaxed); }
const char* bf16_attention_name(Bf16Attention mode) {
  return mode == Bf16Attention::always ? "always" : mode == Bf16Attention::inference ? "inference" : "never";
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
