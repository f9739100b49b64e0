// The CPU emulator of the CUDA backend itself (emu/emu.h; built with -DSSMTL_CUDA_EMULATOR=ON): launch
// checks as on a GPU, __syncthreads and warp shuffles as real barriers in every thread order, a missing
// barrier caught by some order, deadlocks and host pointers reported. Kernels are launched through the
// emulator's API directly (the form emu/rewrite.cmake gives `k<<<grid, block>>>(args)`).
#ifdef SSMTL_CUDA_EMULATED
#include <cuda_runtime.h>
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr int kN = 256;

// Tree reduction of kN values in shared memory; `barriers` false drops the __syncthreads inside the tree.
void tree_sum_k(float* out, const float* in, bool barriers) {
  __shared__ float buf[kN];
  emu::shared_declare(buf, sizeof(buf));
  buf[threadIdx.x] = in[blockIdx.x * kN + threadIdx.x];
  __syncthreads();
  for (unsigned w = kN / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) buf[threadIdx.x] += buf[threadIdx.x + w];
    if (barriers) __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = buf[0];
}

// Butterfly sum over each warp: every lane gets its warp's total.
void warp_sum_k(float* out, const float* in) {
  float v = in[threadIdx.x];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  out[threadIdx.x] = v;
}

// Only the first half of the block reaches the barrier: a deadlock on a GPU.
void divergent_barrier_k(float* out) {
  if (threadIdx.x < blockDim.x / 2) __syncthreads();
  out[threadIdx.x] = 1.f;
}

void fill_k(float* out, float v) { out[blockIdx.x * blockDim.x + threadIdx.x] = v; }

template <class... A>
void launch(dim3 grid, dim3 block, size_t smem, void (*k)(A...), A... args) {
  emu::Launch(__FILE__, __LINE__, grid, block, smem)([k](auto... a) { k(a...); }, args...);
}

struct DeviceBuffer {
  float* p = nullptr;
  size_t n;
  explicit DeviceBuffer(size_t n_) : n(n_) { REQUIRE(cudaMalloc(&p, n * sizeof(float)) == cudaSuccess); }
  ~DeviceBuffer() { cudaFree(p); }
  void put(const std::vector<float>& v) {
    REQUIRE(cudaMemcpy(p, v.data(), n * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess);
  }
  std::vector<float> get() const {
    std::vector<float> v(n);
    REQUIRE(cudaMemcpy(v.data(), p, n * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
    return v;
  }
};

struct OrderGuard {
  emu::ThreadOrder saved = emu::thread_order();
  ~OrderGuard() { emu::set_thread_order(saved); }
};

const emu::ThreadOrder kOrders[] = {emu::ThreadOrder::Forward, emu::ThreadOrder::Reverse, emu::ThreadOrder::Shuffle};

}  // namespace

TEST_CASE("cuda emulator rejects launch configurations a GPU rejects") {
  DeviceBuffer out(2048);
  out.put(std::vector<float>(2048, 0.f));
  const struct {
    dim3 grid, block;
    size_t smem;
    const char* what;
  } bad[] = {{dim3(1), dim3(2048), 0, "2048 threads per block"},
             {dim3(1), dim3(32, 1, 65), 0, "block.z 65"},
             {dim3(1, 65536), dim3(32), 0, "grid.y 65536"},
             {dim3(0), dim3(32), 0, "empty grid"},
             {dim3(1), dim3(32), 49 * 1024, "49 KiB of dynamic shared memory"}};
  for (const auto& b : bad) {
    INFO(b.what);
    CHECK(cudaGetLastError() == cudaSuccess);
    launch(b.grid, b.block, b.smem, fill_k, out.p, 1.f);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
    CHECK(cudaGetLastError() == cudaSuccess);   // reading the error clears it, as in CUDA
  }
  for (float v : out.get()) REQUIRE(v == 0.f);   // nothing ran
  launch(dim3(2), dim3(1024), 48 * 1024, fill_k, out.p, 2.f);   // the largest valid block
  CHECK(cudaGetLastError() == cudaSuccess);
  for (float v : out.get()) REQUIRE(v == 2.f);
}

TEST_CASE("cuda emulator: __syncthreads is a barrier in every thread order, a missing one is caught") {
  OrderGuard guard;
  const int blocks = 3;
  std::vector<float> in(blocks * kN);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i % 17);   // small integers: exact sums
  DeviceBuffer x(in.size()), out(blocks);
  x.put(in);
  int wrong_without_barriers = 0;
  for (emu::ThreadOrder order : kOrders) {
    INFO("order " << static_cast<int>(order));
    emu::set_thread_order(order);
    launch(dim3(blocks), dim3(kN), 0, tree_sum_k, out.p, static_cast<const float*>(x.p), true);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    const std::vector<float> got = out.get();
    for (int b = 0; b < blocks; ++b) {
      float want = 0.f;
      for (int i = 0; i < kN; ++i) want += in[b * kN + i];
      CHECK(got[b] == want);
    }
    launch(dim3(blocks), dim3(kN), 0, tree_sum_k, out.p, static_cast<const float*>(x.p), false);
    const std::vector<float> racy = out.get();
    float want0 = 0.f;
    for (int i = 0; i < kN; ++i) want0 += in[i];
    wrong_without_barriers += racy[0] != want0;
  }
  CHECK(wrong_without_barriers > 0);
}

TEST_CASE("cuda emulator: warp shuffles exchange between lanes in every order") {
  OrderGuard guard;
  std::vector<float> in(96);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i);
  DeviceBuffer x(in.size()), out(in.size());
  x.put(in);
  for (emu::ThreadOrder order : kOrders) {
    emu::set_thread_order(order);
    launch(dim3(1), dim3(96), 0, warp_sum_k, out.p, static_cast<const float*>(x.p));
    const std::vector<float> got = out.get();
    for (int i = 0; i < 96; ++i) {
      const int w = i / 32;
      const float want = static_cast<float>(32 * 32 * w + 31 * 32 / 2);
      CHECK(got[i] == want);
    }
  }
}

TEST_CASE("cuda emulator reports deadlocks and host pointers") {
  DeviceBuffer out(64);
  CHECK_THROWS_WITH_AS(launch(dim3(1), dim3(64), 0, divergent_barrier_k, out.p),
                       doctest::Contains("deadlock"), std::runtime_error);
  std::vector<float> host(64);
  CHECK_THROWS_WITH_AS(launch(dim3(1), dim3(64), 0, fill_k, host.data(), 1.f),
                       doctest::Contains("not a device pointer"), std::runtime_error);
  // copies whose pointers are not what the kind says, and ranges past the end of a block
  CHECK(cudaMemcpy(out.p, host.data(), 64 * sizeof(float), cudaMemcpyDeviceToHost) == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(host.data(), out.p, 65 * sizeof(float), cudaMemcpyDeviceToHost) == cudaErrorInvalidValue);
  CHECK(cudaMemset(out.p + 1, 0, 64 * sizeof(float)) == cudaErrorInvalidValue);
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(host.data(), out.p, 64 * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess);
  // a warp shuffle whose mask leaves out lanes that take part
  DeviceBuffer x(32);
  x.put(std::vector<float>(32, 1.f));
  auto half_mask_k = [](float* o, const float* i) { o[threadIdx.x] = __shfl_xor_sync(0xffffu, i[threadIdx.x], 1); };
  CHECK_THROWS_WITH_AS(emu::Launch(__FILE__, __LINE__, dim3(1), dim3(32))(half_mask_k, out.p,
                                                                         static_cast<const float*>(x.p)),
                       doctest::Contains("leaves out lanes"), std::runtime_error);
}
#endif  // SSMTL_CUDA_EMULATED
