// Scratch buffers on 64-byte boundaries for the hand-vectorised CPU kernels (CPU-internal). Why: std::vector's
// memory comes from malloc, 16-byte aligned, so in three buffers out of four every 64-byte vector load from a
// packed panel or a padded sample straddles two cache lines; on this project's Zen 4 a loop of 24 multiply-adds and
// 13 such loads took 43.5 cycles instead of 28.8 aligned (docs/RESULTS.md section 47). Tensors' storage is already
// 64-byte aligned (tensor/device.cpp); these are the kernels' own buffers.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

namespace ssmtl::kernels::detail {

template <class T>
struct Aligned64 {
  using value_type = T;
  Aligned64() = default;
  template <class U>
  Aligned64(const Aligned64<U>&) noexcept {}
  T* allocate(std::size_t n) {
    const std::size_t bytes = (n * sizeof(T) + 63) / 64 * 64;   // aligned_alloc wants a multiple of the alignment
    if (void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes)) return static_cast<T*>(p);
    throw std::bad_alloc();
  }
  void deallocate(T* p, std::size_t) noexcept { std::free(p); }
  template <class U>
  bool operator==(const Aligned64<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const Aligned64<U>&) const noexcept { return false; }
};

// A std::vector whose data() is 64-byte aligned.
template <class T>
using avector = std::vector<T, Aligned64<T>>;

}  // namespace ssmtl::kernels::detail

namespace ssmtl::kernels {
using detail::avector;
}  // namespace ssmtl::kernels
