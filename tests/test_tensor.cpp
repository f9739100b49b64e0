#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>

#include "tensor/device.h"
#include "tensor/rng.h"

using namespace ssmtl;

TEST_CASE("tensor: views share storage and clone does not") {
  Tensor t = Tensor::from_vector({2, 3}, {0, 1, 2, 3, 4, 5});
  Tensor v = t.view({3, -1});
  CHECK(v.shape() == Shape{3, 2});
  v.data()[0] = 42.f;
  CHECK(t.data()[0] == 42.f);
  Tensor row = t.narrow0(1, 1);
  CHECK(row.to_vector() == std::vector<float>{3, 4, 5});
  Tensor c = t.clone();
  c.data()[1] = -1.f;
  CHECK(t.data()[1] == 1.f);
  CHECK_THROWS_AS(t.view({4, 2}), std::invalid_argument);
  CHECK_THROWS_AS(Tensor::zeros({1, 1, 1, 1, 1, 1, 1}), std::invalid_argument);
  CHECK_THROWS_AS(t.size(2), std::out_of_range);
}

TEST_CASE("rng: one seed reproduces every draw bit for bit and another seed differs") {
  Rng a(123), b(123), c(124);
  std::vector<float> va = randn({1000}, a).to_vector(), vb = randn({1000}, b).to_vector();
  std::vector<float> vc = randn({1000}, c).to_vector();
  CHECK(va == vb);
  CHECK(va != vc);
  // Sample moments of N(0,1) over 1000 draws.
  double m = 0, s = 0;
  for (float x : va) m += x;
  m /= va.size();
  for (float x : va) s += (x - m) * (x - m);
  s = std::sqrt(s / va.size());
  CHECK(std::fabs(m) < 0.1);
  CHECK(std::fabs(s - 1.0) < 0.1);
  Rng r(7);
  for (int i = 0; i < 1000; ++i) {
    int64_t k = r.randint(3, 5);
    CHECK((k == 3 || k == 4));
  }
}

TEST_CASE("device: a released CPU buffer of 64 KiB or more is reused for the same size, and fills reach every element") {
  // 238 KB (the 64 KiB - 1 MiB class, rounded to 4 KiB) and 13.6 MB (the huge-page class, rounded to 2 MiB); 1 KB
  // (malloc). The cache is emptied first: run in one process after other tests (build/ssmtl_tests without a
  // filter), a block of the 14 MiB class they released was found instead of the one released here.
  empty_host_cache();
  for (size_t n : {size_t(59500), size_t(3400001), size_t(256)}) {
    CAPTURE(n);
    float* a = device_alloc(n, Device::CPU);
    device_fill(a, 2.5f, n, Device::CPU);
    size_t wrong = 0;
    for (size_t i = 0; i < n; ++i) wrong += a[i] != 2.5f;
    CHECK(wrong == 0);
    device_free(a, n, Device::CPU);
    float* b = device_alloc(n + 1, Device::CPU);   // the same rounded size (within 4 KiB / 2 MiB) above 64 KiB
#ifndef __SANITIZE_ADDRESS__
    if (n * sizeof(float) >= (size_t(64) << 10)) CHECK(b == a);
#endif
    device_fill(b, -1.f, n + 1, Device::CPU);
    CHECK(b[0] == -1.f);
    CHECK(b[n] == -1.f);
    device_free(b, n + 1, Device::CPU);
  }
}

TEST_CASE("device: from 1 MiB a smaller request reuses a cached block of at most twice its size") {
#ifndef __SANITIZE_ADDRESS__
  empty_host_cache();   // the cache holds only the blocks released here
  const size_t n = 5250001, half = n / 2 + 1000, small = n / 3;   // 21.0 MB, 10.5 MB, 7.0 MB
  float* a = device_alloc(n, Device::CPU);
  device_free(a, n, Device::CPU);
  float* b = device_alloc(half, Device::CPU);   // a partial batch: the full batch's block
  CHECK(b == a);
  float* c = device_alloc(small, Device::CPU);   // under half of the only cached block: fresh memory
  CHECK(c != a);
  device_fill(c, 1.f, small, Device::CPU);
  device_free(c, small, Device::CPU);
  device_free(b, half, Device::CPU);   // back under its real size: the full request finds it again
  float* d = device_alloc(n, Device::CPU);
  CHECK(d == a);
  device_fill(d, 3.f, n, Device::CPU);   // every element of the full size is there
  CHECK(d[n - 1] == 3.f);
  device_free(d, n, Device::CPU);
  // Below 1 MiB only the same rounded size is reused.
  const size_t m = 200000;   // 800 KB
  float* e = device_alloc(m, Device::CPU);
  device_free(e, m, Device::CPU);
  float* f = device_alloc(m - 5000, Device::CPU);   // 780 KB: another 4 KiB class
  CHECK(f != e);
  device_free(f, m - 5000, Device::CPU);
#endif
}

TEST_CASE("device: a streamed fill (4 Mi floats and more) reaches every element from any alignment and no further") {
  const size_t n = (size_t(1) << 22) + 1000;
  float* a = device_alloc(n, Device::CPU);
  for (size_t off : {size_t(0), size_t(1), size_t(7)}) {   // 64-byte aligned, then unaligned heads
    CAPTURE(off);
    device_fill(a, 9.f, n, Device::CPU);
    const size_t len = n - off - 3 - (off == 7 ? size_t(1) << 10 : 0);   // odd tails; the last just below 4 Mi
    device_fill(a + off, -0.5f, len, Device::CPU);
    size_t wrong = 0;
    for (size_t i = 0; i < n; ++i) wrong += a[i] != (i >= off && i < off + len ? -0.5f : 9.f);
    CHECK(wrong == 0);
  }
  device_free(a, n, Device::CPU);
}

TEST_CASE("device: a CUDA tensor in a build or machine without CUDA is a clear error") {
  if (cuda_available()) return;
  CHECK_THROWS_AS(Tensor::zeros({2}, Device::CUDA), std::runtime_error);
}

TEST_CASE("device: select_cuda_device in a build or machine without CUDA is a clear error") {
  if (cuda_available()) return;   // (tests/test_cuda_memory.cpp checks the choice itself)
  CHECK_THROWS_WITH_AS(select_cuda_device(0), doctest::Contains("CUDA"), std::runtime_error);
}
