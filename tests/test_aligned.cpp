// kernels/cpu/aligned.h: the kernels' scratch vectors start on 64-byte boundaries, whatever their size, after
// growing, and for the element types the kernels use (float, bf16 values as uint16_t, bf16 pairs as uint32_t).
#include <doctest/doctest.h>

#include <cstdint>

#include "kernels/cpu/aligned.h"

using ssmtl::kernels::avector;

namespace {
template <class T>
bool on_64(const avector<T>& v) {
  return reinterpret_cast<std::uintptr_t>(v.data()) % 64 == 0;
}
}  // namespace

TEST_CASE("avector: data() on a 64-byte boundary for any size, after growth and copies") {
  for (size_t n : {1u, 3u, 15u, 16u, 17u, 1000u, 100003u}) {
    CAPTURE(n);
    avector<float> f(n, 1.5f);
    avector<std::uint16_t> h(n, 7);
    avector<std::uint32_t> d(n);
    CHECK(on_64(f));
    CHECK(on_64(h));
    CHECK(on_64(d));
    CHECK(f[n - 1] == 1.5f);
    CHECK(h[n - 1] == 7);
    f.resize(3 * n + 5, 2.f);   // reallocates
    CHECK(on_64(f));
    CHECK(f[n - 1] == 1.5f);
    CHECK(f[3 * n + 4] == 2.f);
    const avector<float> copy = f;
    CHECK(on_64(copy));
    CHECK(copy == f);
  }
}
