// The caching device allocator (tensor/cuda/memory.cu): blocks come back to a cache when their last
// tensor goes, a request reuses the smallest cached block that fits (exact rounded size below 1 MiB, at
// most twice the request above), and empty_cache() returns every cached block. Skipped without a GPU;
// runs under the CPU emulator (make cuda-emu).
#include <doctest/doctest.h>

#include "tensor/device.h"
#include "tensor/tensor.h"

using namespace ssmtl;

TEST_CASE("cuda caching allocator reuses blocks up to twice the request and empty_cache returns them") {
#ifndef SSMTL_WITH_CUDA   // the allocator's functions exist only in a build with the CUDA backend
  MESSAGE("no CUDA device: skipped (built without CUDA)");
#else
  if (!cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  cuda::empty_cache();
  REQUIRE(cuda::cached_bytes() == 0);
  constexpr size_t MiB = size_t(1) << 20;
  const float* big = nullptr;
  {
    Tensor t = Tensor::zeros({1 << 20}, Device::CUDA);   // 4 MiB
    big = t.data();
  }
  CHECK(cuda::cached_bytes() == 4 * MiB);
  {
    Tensor t = Tensor::empty({600000}, Device::CUDA);    // 2.4 MB -> 3 MiB: the 4 MiB block fits (<= 2x)
    CHECK(t.data() == big);
    CHECK(cuda::cached_bytes() == 0);
  }
  CHECK(cuda::cached_bytes() == 4 * MiB);
  {
    Tensor t = Tensor::empty({1 << 18}, Device::CUDA);    // 1 MiB: 4 MiB is more than twice that, a new block
    CHECK(t.data() != big);
    Tensor u = Tensor::empty({1250000}, Device::CUDA);    // 5 MB -> 5 MiB: the 4 MiB block is too small
    CHECK(u.data() != big);
    CHECK(cuda::cached_bytes() == 4 * MiB);
  }
  CHECK(cuda::cached_bytes() == 10 * MiB);
  cuda::empty_cache();
  CHECK(cuda::cached_bytes() == 0);
  const float* small = nullptr;
  {
    Tensor t = Tensor::zeros({100}, Device::CUDA);   // 400 B -> 512 B
    small = t.data();
  }
  {
    Tensor same = Tensor::empty({64}, Device::CUDA);    // 256 B -> 512 B: reused
    CHECK(same.data() == small);
    Tensor other = Tensor::empty({200}, Device::CUDA);  // 800 B -> 1024 B: not a 512 B block
    CHECK(other.data() != small);
  }
  // Values survive reuse only if written: a reused block holds whatever was there (NaN in the emulator).
  Tensor a = Tensor::full({1000}, 2.5f, Device::CUDA);
  CHECK(a.to_vector() == std::vector<float>(1000, 2.5f));
  cuda::empty_cache();
  CHECK(cuda::cached_bytes() == 0);
  CHECK(a.to_vector() == std::vector<float>(1000, 2.5f));   // live blocks are untouched
#endif
}

TEST_CASE("cuda select_cuda_device: index modulo the GPU count (the emulator has one)") {
#ifndef SSMTL_WITH_CUDA
  MESSAGE("no CUDA device: skipped (built without CUDA)");
#else
  if (!cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  int n = 0;
  while (n < 64 && select_cuda_device(n + 1) == n + 1) ++n;   // n + 1 GPUs
  CHECK(select_cuda_device(n + 1) == 0);
  CHECK(select_cuda_device(2 * (n + 1) + n) == n);
  CHECK(select_cuda_device(0) == 0);
#endif
}
