// Device memory of the CPU emulator (see emu/emu.h): cudaMalloc / cudaFree / cudaMemset / cudaMemcpy with
// a registry of live blocks (so kernels, copies and cuBLAS can check that pointers are device pointers),
// fresh memory poisoned with NaN bytes, and the optional protected arena (SSMTL_EMU_PROTECT=1).
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>

#include "emu/include/cuda_runtime.h"

namespace emu {
namespace {

constexpr unsigned char kPoison = 0xFF;   // every float / double made of these bytes is a NaN

struct Registry {
  std::mutex mu;
  std::map<uintptr_t, size_t> blocks;   // start -> bytes
};
Registry& registry() {
  static Registry* r = new Registry;   // never destroyed: static destructors may still call cudaFree
  return *r;
}

// ---- the protected arena: a bump allocator over one reserved range; freed pages go back to the system ----
constexpr size_t kArenaBytes = size_t{1} << 40;   // address space only (MAP_NORESERVE, PROT_NONE)
constexpr size_t kPage = 4096;

struct Arena {
  std::mutex mu;
  char* base = nullptr;
  size_t top = 0;     // bytes handed out so far (page multiple)
  int open = 0;       // live DeviceAccess guards
};
Arena& arena() {
  static Arena* a = new Arena;
  return *a;
}

void on_fault(int sig, siginfo_t* info, void*) {
  const Arena& a = arena();
  const char* p = static_cast<const char*>(info->si_addr);
  if (a.base && p >= a.base && p < a.base + kArenaBytes) {
    char msg[200];
    const int n = std::snprintf(msg, sizeof msg,
                                "emu: host code touched device memory at %p outside a kernel launch or CUDA call "
                                "(a crash on a GPU; run under gdb for the backtrace)\n",
                                info->si_addr);
    if (write(2, msg, static_cast<size_t>(n)) < 0) {}
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

bool init_protect() {
  const char* s = std::getenv("SSMTL_EMU_PROTECT");
  if (!s || std::strcmp(s, "1") != 0) return false;
  void* p = mmap(nullptr, kArenaBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    std::fprintf(stderr, "emu: SSMTL_EMU_PROTECT=1 but the device arena cannot be reserved\n");
    std::abort();
  }
  arena().base = static_cast<char*>(p);
  struct sigaction sa {};
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, nullptr);
  return true;
}

void set_access(Arena& a, bool on) {
  if (a.top) mprotect(a.base, a.top, on ? PROT_READ | PROT_WRITE : PROT_NONE);
}

void* arena_alloc(size_t bytes) {
  Arena& a = arena();
  std::lock_guard<std::mutex> lock(a.mu);
  const size_t n = (std::max<size_t>(bytes, 1) + kPage - 1) / kPage * kPage;
  if (a.top + n > kArenaBytes) return nullptr;
  char* p = a.base + a.top;
  a.top += n;
  if (a.open) mprotect(p, n, PROT_READ | PROT_WRITE);
  return p;
}

}  // namespace

bool protect_mode() {
  static const bool on = init_protect();
  return on;
}

DeviceAccess::DeviceAccess() {
  if (!protect_mode()) return;
  Arena& a = arena();
  std::lock_guard<std::mutex> lock(a.mu);
  if (a.open++ == 0) set_access(a, true);
}

DeviceAccess::~DeviceAccess() {
  if (!protect_mode()) return;
  Arena& a = arena();
  std::lock_guard<std::mutex> lock(a.mu);
  if (--a.open == 0) set_access(a, false);
}

bool in_device_memory(const void* p, size_t bytes) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.blocks.upper_bound(a);
  if (it == r.blocks.begin()) return false;
  --it;
  return a >= it->first && a - it->first + bytes <= it->second;
}

}  // namespace emu

cudaError_t cudaMalloc(void** p, size_t bytes) {
  if (!p) return emu::fail(cudaErrorInvalidValue);
  const size_t rounded = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
  void* q = emu::protect_mode() ? emu::arena_alloc(bytes) : std::aligned_alloc(256, rounded);
  if (!q) return emu::fail(cudaErrorMemoryAllocation);
  {
    const emu::DeviceAccess access;
    std::memset(q, emu::kPoison, bytes);   // fresh device memory holds garbage
  }
  emu::Registry& r = emu::registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.blocks[reinterpret_cast<uintptr_t>(q)] = bytes;
  *p = q;
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  size_t bytes = 0;
  {
    emu::Registry& r = emu::registry();
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.blocks.find(reinterpret_cast<uintptr_t>(p));
    if (it == r.blocks.end()) return emu::fail(cudaErrorInvalidDevicePointer);
    bytes = it->second;
    r.blocks.erase(it);
  }
  if (emu::protect_mode())   // the address range is not reused; its pages go back to the system
    madvise(p, (std::max<size_t>(bytes, 1) + emu::kPage - 1) / emu::kPage * emu::kPage, MADV_DONTNEED);
  else
    std::free(p);
  return cudaSuccess;
}

cudaError_t cudaMemset(void* p, int value, size_t bytes) {
  if (bytes == 0) return cudaSuccess;
  if (!emu::in_device_memory(p, bytes)) return emu::fail(cudaErrorInvalidValue);
  const emu::DeviceAccess access;
  std::memset(p, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemset2D(void* p, size_t pitch, int value, size_t width, size_t height) {
  if (width == 0 || height == 0) return cudaSuccess;
  if (width > pitch || !emu::in_device_memory(p, pitch * (height - 1) + width))
    return emu::fail(cudaErrorInvalidValue);
  const emu::DeviceAccess access;
  for (size_t r = 0; r < height; ++r) std::memset(static_cast<char*>(p) + r * pitch, value, width);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) return emu::fail(cudaErrorInvalidMemcpyDirection);
  // Each side must be what the kind says (a device pointer into one cudaMalloc block, or host memory).
  const bool dst_dev = emu::in_device_memory(dst, bytes), src_dev = emu::in_device_memory(src, bytes);
  if (kind != cudaMemcpyDefault) {
    const bool want_dst = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    const bool want_src = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (dst_dev != want_dst || src_dev != want_src) return emu::fail(cudaErrorInvalidValue);
  }
  const emu::DeviceAccess access;
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
