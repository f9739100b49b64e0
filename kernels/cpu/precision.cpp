#include "kernels/precision.h"

#include <atomic>
#include <cstdio>
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
// SSMTL_BF16_ATTENTION's mode, read once; named false where it is unset or names none (then a warning).
struct EnvironmentMode {
  bool named = false;
  Bf16Attention mode = Bf16Attention::never;
};
const EnvironmentMode& environment_bf16_attention() {
  static const EnvironmentMode m = [] {
    EnvironmentMode r;
    const char* e = std::getenv("SSMTL_BF16_ATTENTION");
    if (!e) return r;
    const std::string v = e;
    r.named = true;
    if (v == "1" || v == "on" || v == "always") r.mode = Bf16Attention::always;
    else if (v == "0" || v == "off" || v == "never") r.mode = Bf16Attention::never;
    else if (v == "inference") r.mode = Bf16Attention::inference;
    else {
      std::fprintf(stderr, "warning: SSMTL_BF16_ATTENTION=%s is none of 1/on/always, 0/off/never, inference: "
                           "ignored\n", e);
      r.named = false;
    }
    return r;
  }();
  return m;
}
// -1 until first used: the environment is read then, not at static initialisation (before util/omp_env.cpp's
// re-exec, which would print its warning twice).
std::atomic<int> g_bf16_attention{-1};
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
void set_bf16_attention(Bf16Attention mode) { g_bf16_attention.store(static_cast<int>(mode), std::memory_order_relaxed); }
Bf16Attention bf16_attention() {
  int m = g_bf16_attention.load(std::memory_order_relaxed);
  if (m < 0) {   // first use: the environment's mode, unless a setter came first
    int unset = -1;
    g_bf16_attention.compare_exchange_strong(unset, static_cast<int>(environment_bf16_attention().mode));
    m = g_bf16_attention.load(std::memory_order_relaxed);
  }
  return static_cast<Bf16Attention>(m);
}
void use_scoring_bf16_attention() {
  if (!environment_bf16_attention().named) set_bf16_attention(Bf16Attention::inference);
}
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
