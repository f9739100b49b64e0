// Device memory of the engine (the CUDA twins declared in tensor/device.h): a caching allocator (so training
// steps do not call cudaMalloc: freed blocks are kept in per-size free lists and reused), fills and copies.
// A request reuses the smallest cached block of at least its rounded size, and of at most twice that size
// for blocks of 1 MiB and more (the last, smaller batch of an epoch or of a scored video then reuses the
// full batch's blocks instead of piling up blocks of new sizes). When cudaMalloc fails, every cached block is
// released and the allocation retried once; empty_cache() releases them on request.
#include <map>
#include <mutex>
#include <vector>

#include "tensor/cuda/check.cuh"
#include "tensor/device.h"

namespace ssmtl::cuda {

namespace {
// Sizes are rounded up (512-byte granularity below 1 MiB, 1 MiB above) so that blocks are reusable.
size_t round_bytes(size_t bytes) {
  if (bytes < (1u << 20)) return ((bytes + 511) / 512) * 512;
  return ((bytes + (1u << 20) - 1) >> 20) << 20;
}
struct Cache {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;   // size -> block
  std::map<void*, size_t> sizes;              // live and cached blocks
  void release_free_blocks() {                // with mu held
    for (auto& [s, p] : free_blocks) {
      cudaFree(p);
      sizes.erase(p);
    }
    free_blocks.clear();
  }
  ~Cache() {
    for (auto& [s, p] : free_blocks) cudaFree(p);
  }
};
Cache& cache() {
  static Cache c;
  return c;
}
}  // namespace

bool available() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

int select(int index) {
  int n = 0;
  CUDA_CHECK(cudaGetDeviceCount(&n));
  const int device = index % n;
  CUDA_CHECK(cudaSetDevice(device));
  return device;
}

float* alloc(size_t n) {
  size_t bytes = round_bytes(std::max<size_t>(n, 1) * sizeof(float));
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.free_blocks.lower_bound(bytes);
  const size_t largest_fit = bytes < (1u << 20) ? bytes : 2 * bytes;
  if (it != c.free_blocks.end() && it->first <= largest_fit) {
    void* p = it->second;
#ifdef SSMTL_CUDA_EMULATED   // the CPU emulator: a reused block reads as NaN until written, as fresh ones do
    CUDA_CHECK(cudaMemset(p, 0xFF, it->first));
#endif
    c.free_blocks.erase(it);
    return static_cast<float*>(p);
  }
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess) {   // release the cache once and retry before giving up
    cudaGetLastError();
    c.release_free_blocks();
    CUDA_CHECK(cudaMalloc(&p, bytes));
  }
  c.sizes[p] = bytes;
  return static_cast<float*>(p);
}

void free(float* p, size_t) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.sizes.find(p);
  if (it == c.sizes.end()) return;
  c.free_blocks.insert({it->second, p});
}

void empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.release_free_blocks();
}

size_t cached_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  size_t total = 0;
  for (auto& [s, p] : c.free_blocks) total += s;
  return total;
}

__global__ void fill_kernel(float* p, float v, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    p[i] = v;
}

void fill(float* p, float v, size_t n) {
  if (n == 0) return;
  fill_kernel<<<grid_for(n), 256>>>(p, v, static_cast<long long>(n));
  CUDA_CHECK_LAST();
}

void copy(float* dst, bool dst_gpu, const float* src, bool src_gpu, size_t n) {
  cudaMemcpyKind kind = dst_gpu ? (src_gpu ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                : (src_gpu ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  CUDA_CHECK(cudaMemcpy(dst, src, n * sizeof(float), kind));
}

}  // namespace ssmtl::cuda
