// CUDA emulator (SSMTL_CUDA_EMULATOR=ON): runs the unmodified kernels of kernels/cuda/*.cu on the CPU so
// that the CUDA parity tests execute without a GPU. The .cu sources are compiled as C++ through the shim
// headers of emu/include after emu/rewrite.cmake turned each `k<<<grid, block, smem>>>(args)` into
// `::emu::Launch(__FILE__, __LINE__, grid, block, smem)([](auto... a) { k(a...); }, args)`.
//
// Execution model (emu/runtime.cpp): the blocks of a launch run one after another (or split over OpenMP
// threads, each block wholly on one OS thread); the threads of a block run as fibers on that OS thread. A
// fiber runs until it returns or reaches a barrier: __syncthreads (all threads of the block) or a warp
// intrinsic (the live lanes of its warp, 32 by linear thread index). A barrier that can never complete
// (some threads exited or wait elsewhere) throws std::runtime_error naming the launch site: on a GPU it
// would hang or be undefined behaviour. Launch configurations are checked like a GPU does (the error is
// returned by cudaGetLastError). Pointer arguments of kernels must point into cudaMalloc memory.
//
// SSMTL_EMU_ORDER=forward (default) | reverse | shuffle: the order in which the runnable threads of a block
// run between barriers; a kernel missing a __syncthreads usually gives a different result in some order.
// SSMTL_EMU_PROTECT=1: see protect_mode below.
// SSMTL_EMU_THREADS=n: OS threads for the blocks of one launch (default: OpenMP's maximum).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};

// The built-in variables of the running emulated thread (set by the scheduler before each resume).
inline thread_local uint3 threadIdx{0, 0, 0};
inline thread_local uint3 blockIdx{0, 0, 0};
inline thread_local dim3 blockDim{1, 1, 1};
inline thread_local dim3 gridDim{1, 1, 1};

namespace emu {

// One kernel body: run(ctx) executes the kernel for the current emulated thread.
struct KernelBody {
  void (*run)(const void* ctx);
  const void* ctx;
};

// Runs a launch after checking its configuration; a bad configuration sets the error that
// cudaGetLastError returns and runs nothing. Throws std::runtime_error on a deadlock or a fault.
void run_launch(const char* file, int line, dim3 grid, dim3 block, size_t dynamic_smem, KernelBody body);

// Throws std::runtime_error unless p is null or points into (or one past) a live cudaMalloc block.
void check_device_pointer(const void* p, const char* file, int line, int arg);

// The order of runnable threads between barriers (initially from SSMTL_EMU_ORDER); for tests.
enum class ThreadOrder { Forward, Reverse, Shuffle };
ThreadOrder thread_order();
void set_thread_order(ThreadOrder order);

// True when [p, p + bytes] lies within one live cudaMalloc block (p may be its end when bytes is 0).
bool in_device_memory(const void* p, size_t bytes);

// SSMTL_EMU_PROTECT=1: device memory lives in one reserved region that is inaccessible (PROT_NONE) except
// during kernel launches and the runtime's own copies, so host code that reads or writes device memory
// directly (a crash on a GPU) faults here too, with a message naming the address. Without it, cudaMalloc
// uses the heap (AddressSanitizer sees the blocks).
bool protect_mode();
// Device memory is accessible while at least one DeviceAccess lives (nests; host threads share it).
class DeviceAccess {
 public:
  DeviceAccess();
  ~DeviceAccess();
  DeviceAccess(const DeviceAccess&) = delete;
  DeviceAccess& operator=(const DeviceAccess&) = delete;
};

// Barriers, called from kernel code.
void syncthreads();
uint64_t warp_exchange(unsigned mask, uint64_t value, int src_lane_xor, int width, const char* what);

// Static __shared__ arrays: the first thread of a block to declare one poisons it (NaN bytes), as shared
// memory starts undefined on a GPU. Dynamic shared memory: the launch's buffer, poisoned at block start.
void shared_declare(void* p, size_t bytes);
void* dynamic_shared_raw();
template <class T>
T* dynamic_shared() {
  return static_cast<T*>(dynamic_shared_raw());
}

template <class A>
void check_arg(const A& a, const char* file, int line, int i) {
  if constexpr (std::is_pointer_v<A>) check_device_pointer(static_cast<const void*>(a), file, line, i);
}

// The object a rewritten launch builds: Launch(site, grid, block, smem, stream)(body, args...).
class Launch {
 public:
  Launch(const char* file, int line, dim3 grid, dim3 block, size_t smem = 0, void* /*stream*/ = nullptr)
      : file_(file), line_(line), grid_(grid), block_(block), smem_(smem) {}

  template <class F, class... A>
  void operator()(F f, A... args) const {
    static_assert((sizeof(A) + ... + size_t{0}) <= 32764, "kernel parameters exceed CUDA's 32764 bytes");
    int i = 0;
    (check_arg(args, file_, line_, i++), ...);
    struct Pack {
      F f;
      std::tuple<A...> args;
    };
    const Pack pack{f, std::tuple<A...>(args...)};
    // Each emulated thread gets its own copies of the arguments (kernel parameters are per thread).
    run_launch(file_, line_, grid_, block_, smem_,
               KernelBody{[](const void* c) {
                            const Pack& p = *static_cast<const Pack*>(c);
                            std::apply(p.f, p.args);
                          },
                          &pack});
  }

 private:
  const char* file_;
  int line_;
  dim3 grid_, block_;
  size_t smem_;
};

}  // namespace emu
