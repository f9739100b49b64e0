#include "tensor/device.h"

#include <sys/mman.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

namespace ssmtl {

bool cuda_built() {
#ifdef SSMTL_WITH_CUDA
  return true;
#else
  return false;
#endif
}

bool cuda_available() {
#ifdef SSMTL_WITH_CUDA
  return cuda::available();
#else
  return false;
#endif
}

void require_cuda(const char* what) {
  if (!cuda_built())
    throw std::runtime_error(std::string(what) + ": this build has no CUDA backend (built without CUDA)");
  if (!cuda_available()) throw std::runtime_error(std::string(what) + ": no CUDA device is available");
}

int select_cuda_device(int index) {
  require_cuda("select_cuda_device");
#ifdef SSMTL_WITH_CUDA
  return cuda::select(index);
#else
  return index;   // (unreachable: require_cuda threw)
#endif
}

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::CPU;
  if (name != "cuda") throw std::invalid_argument("unknown device '" + name + "' (cpu or cuda)");
  require_cuda("device cuda");
  return Device::CUDA;
}

namespace {
// CPU buffers of 64 KiB and more are cached after release and reused for a request of the same rounded
// size: a training step allocates the same activation and gradient sizes every time, and fresh memory
// from the OS costs a page fault per 4 KiB page (measured: 400 ms for a 117 MB buffer). Below 1 MiB, malloc
// would serve them from the heap, whose top it gives back to the OS between steps (measured: ~2000 page faults
// per paper-size training step, most of them in the zero fill of gradient buffers). Buffers of 1 MiB and
// more are 2 MiB-aligned and asked to be backed by huge pages. At most kMaxCachedBytes stay cached.
// From 1 MiB on, a request takes the smallest cached block that fits when it is at most twice the request (as the
// CUDA cache does): a batch of another size (the last, partial batch of each video in `ssmtl score`) reuses the
// full batch's blocks instead of faulting in fresh ones (measured: 9% of a Ped2 scoring run in the kernel's page
// zeroing before). Below 1 MiB the sizes must match.
constexpr size_t kCachedBytes = size_t(64) << 10;
constexpr size_t kLargeBytes = size_t(1) << 20;
constexpr size_t kHugePage = size_t(2) << 20;
#ifdef __SANITIZE_ADDRESS__
constexpr size_t kMaxCachedBytes = 0;   // under AddressSanitizer every buffer goes back, so misuse is seen
#else
constexpr size_t kMaxCachedBytes = size_t(6) << 30;
#endif
struct HostCache {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;
  std::unordered_map<void*, size_t> larger;   // blocks handed out for a smaller request: their real size
  size_t cached = 0;
  ~HostCache() {
    for (auto& [b, p] : free_blocks) std::free(p);
  }
};
HostCache& host_cache() {
  static HostCache c;
  return c;
}
// Rounded sizes: 64 bytes (a cache line) below kCachedBytes, 4 KiB (a page) up to kLargeBytes, 2 MiB above,
// so that requests of nearly the same size share cached blocks.
size_t host_bytes(size_t n) {
  const size_t bytes = std::max<size_t>(n, 1) * sizeof(float);
  const size_t unit = bytes >= kLargeBytes ? kHugePage : bytes >= kCachedBytes ? size_t(4096) : size_t(64);
  return (bytes + unit - 1) / unit * unit;
}

// Fills of at least this many floats (16 MiB, beyond the caches of most CPUs) write with non-temporal stores:
// a normal store first reads the line it writes (read-for-ownership), so it moves twice the bytes; the
// buffer is read back from memory by the next kernel either way. Measured: 2x the GB/s of std::fill on this
// machine (BM_GradZeroFill).
constexpr int64_t kStreamFillFloats = int64_t{1} << 22;

// p[0, n) = v with streaming stores where the CPU has them, the unaligned head and the tail with plain ones.
void stream_fill(float* p, float v, int64_t n) {
#if defined(__AVX512F__)
  for (; n > 0 && (reinterpret_cast<uintptr_t>(p) & 63) != 0; --n) *p++ = v;
  const __m512 vv = _mm512_set1_ps(v);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_stream_ps(p + i, vv);
  for (; i < n; ++i) p[i] = v;
  _mm_sfence();   // streaming stores are weakly ordered: visible before the kernels that read the buffer
#else
  std::fill(p, p + n, v);
#endif
}

}  // namespace

float* host_alloc_huge(size_t bytes) {
  void* p = std::aligned_alloc(kHugePage, bytes);
  if (!p) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  madvise(p, bytes, MADV_HUGEPAGE);
#endif
  return static_cast<float*>(p);
}

float* device_alloc(size_t n, Device d) {
  if (d == Device::CUDA) {
    require_cuda("device_alloc");
#ifdef SSMTL_WITH_CUDA
    return cuda::alloc(n);
#endif
  }
  size_t bytes = host_bytes(n);
  if (bytes >= kCachedBytes) {
    HostCache& c = host_cache();
    {
      std::lock_guard<std::mutex> lock(c.mu);
      auto it = bytes >= kLargeBytes ? c.free_blocks.lower_bound(bytes) : c.free_blocks.find(bytes);
      if (it != c.free_blocks.end() && it->first <= 2 * bytes) {
        void* p = it->second;
        if (it->first != bytes) c.larger[p] = it->first;
        c.cached -= it->first;
        c.free_blocks.erase(it);
        return static_cast<float*>(p);
      }
    }
    if (bytes >= kLargeBytes) return host_alloc_huge(bytes);
    void* p = std::aligned_alloc(4096, bytes);
    if (!p) throw std::bad_alloc();
    return static_cast<float*>(p);
  }
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  return static_cast<float*>(p);
}

size_t empty_host_cache() {
  HostCache& c = host_cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto& [b, p] : c.free_blocks) std::free(p);
  c.free_blocks.clear();
  const size_t freed = c.cached;
  c.cached = 0;
  return freed;
}

void device_free(float* p, size_t n, Device d) {
  if (!p) return;
  if (d == Device::CUDA) {
#ifdef SSMTL_WITH_CUDA
    cuda::free(p, n);
#endif
    return;
  }
  size_t bytes = host_bytes(n);
  if (bytes >= kCachedBytes) {
    HostCache& c = host_cache();
    std::lock_guard<std::mutex> lock(c.mu);
    if (!c.larger.empty()) {
      auto it = c.larger.find(p);
      if (it != c.larger.end()) bytes = it->second, c.larger.erase(it);
    }
    if (c.cached + bytes <= kMaxCachedBytes) {
      c.free_blocks.insert({bytes, p});
      c.cached += bytes;
      return;
    }
  }
  std::free(p);
}

void device_fill(float* p, float v, size_t n, Device d) {
  if (d == Device::CUDA) {
    require_cuda("device_fill");
#ifdef SSMTL_WITH_CUDA
    cuda::fill(p, v, n);
#endif
    return;
  }
  // Gradient buffers are zero-filled before the backward kernels add into them (tens of MB per buffer in a
  // training step): large fills use every thread, as the kernels do, and bypass the caches.
  const int64_t len = static_cast<int64_t>(n);
  if (len >= kStreamFillFloats) {
#pragma omp parallel
    {
#ifdef _OPENMP
      const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
      const int64_t t = 0, nt = 1;
#endif
      const int64_t a = len * t / nt, b = len * (t + 1) / nt;
      stream_fill(p + a, v, b - a);
    }
    return;
  }
#pragma omp parallel for schedule(static) if (len > (int64_t{1} << 18))
  for (int64_t i = 0; i < len; i += 4096) std::fill(p + i, p + std::min<int64_t>(len, i + 4096), v);
}

void device_copy(float* dst, Device dst_dev, const float* src, Device src_dev, size_t n) {
  if (dst_dev == Device::CPU && src_dev == Device::CPU) {
    std::memcpy(dst, src, n * sizeof(float));
    return;
  }
  require_cuda("device_copy");
#ifdef SSMTL_WITH_CUDA
  cuda::copy(dst, dst_dev == Device::CUDA, src, src_dev == Device::CUDA, n);
#endif
}

}  // namespace ssmtl

namespace ssmtl {
void throw_no_cuda(const char* kernel) {
  throw std::runtime_error(std::string(kernel) + ": CUDA tensor, but this build has no CUDA backend (built without CUDA)");
}
}  // namespace ssmtl
