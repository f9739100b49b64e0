// Memory on a device: allocation, fill and copies between devices. The CPU parts are plain C++;
// the CUDA parts live in tensor/cuda/memory.cu and exist only in a build with CUDA. In a build
// without CUDA every CUDA request throws std::runtime_error("... built without CUDA").
#pragma once
#include <cstddef>
#include <string>
#include "tensor/tensor.h"

namespace ssmtl {

bool cuda_built();                 // compiled with the CUDA backend
bool cuda_available();             // compiled with it and a GPU is present
void require_cuda(const char* what);   // throws std::runtime_error naming `what` when CUDA is unavailable
// "cpu" or "cuda" (command lines, train.device); std::invalid_argument for another name, and
// std::runtime_error (require_cuda) for "cuda" in a build or on a machine without it.
Device parse_device(const std::string& name);
// One GPU per process of a multi-process job: makes GPU `index` modulo the GPU count current (cudaSetDevice)
// and returns its number. Call it before the first CUDA allocation. Throws std::runtime_error (require_cuda)
// where CUDA is unavailable, and with CUDA's message when the GPU cannot be selected.
int select_cuda_device(int index);

// Raw buffers of n floats on device d (what Tensor storage is made of). On the CPU, buffers of 64 KiB and more
// come from a cache of released buffers of the same rounded size when one is there, from 1 MiB on the smallest
// one of at most twice the size (a training step asks for the same sizes every time, a partial batch for
// smaller ones; fresh memory costs a page fault per page); device_free puts them back (up to
// 6 GiB cached, then to the OS). device_alloc throws std::bad_alloc when memory runs out and
// std::runtime_error (require_cuda) for CUDA without it; device_free must get the n of the allocation.
float* device_alloc(size_t n, Device d);
void device_free(float* p, size_t n, Device d);
// A fresh CPU block of `bytes` (a multiple of 2 MiB), 2 MiB-aligned and asked to be backed by huge pages (madvise),
// as device_alloc makes its blocks of 1 MiB and more; not from the cache: release it with std::free. Throws
// std::bad_alloc when memory runs out.
float* host_alloc_huge(size_t bytes);
// Gives every cached (released) CPU buffer back to the OS; returns the bytes freed. Buffers still in use return
// to the cache when released.
size_t empty_host_cache();
// p[0, n) = v; large CPU fills use every OpenMP thread, and from 4 Mi floats non-temporal stores (they
// bypass the caches: the next kernel reads such a buffer from memory anyway).
void device_fill(float* p, float v, size_t n, Device d);
void device_copy(float* dst, Device dst_dev, const float* src, Device src_dev, size_t n);

// Twins implemented in tensor/cuda/memory.cu (declared here so that tensor/*.cpp needs no CUDA headers).
namespace cuda {
bool available();
int select(int index);             // select_cuda_device
float* alloc(size_t n);            // from the caching allocator
void free(float* p, size_t n);
void empty_cache();                // returns every cached (free) block to the driver
size_t cached_bytes();             // bytes held in free cached blocks
void fill(float* p, float v, size_t n);
void copy(float* dst, bool dst_on_gpu, const float* src, bool src_on_gpu, size_t n);
}  // namespace cuda

}  // namespace ssmtl
