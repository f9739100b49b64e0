// The CPU emulator's scheduler (see emu/emu.h): blocks of a launch over OpenMP threads, the threads of a
// block as fibers with real barriers, launch checks, and the runtime API's errors. Device memory:
// emu/memory.cpp.
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "emu/fiber.h"
#include "emu/include/cuda_runtime.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace emu {
namespace {

constexpr size_t kMaxSharedBytes = 48 * 1024;   // static + dynamic shared memory per block (no opt-in here)
constexpr unsigned char kPoison = 0xFF;          // every float / double made of these bytes is a NaN

using Order = ThreadOrder;

Order order_from_env() {
  const char* s = std::getenv("SSMTL_EMU_ORDER");
  if (!s || !*s || std::strcmp(s, "forward") == 0) return Order::Forward;
  if (std::strcmp(s, "reverse") == 0) return Order::Reverse;
  if (std::strcmp(s, "shuffle") == 0) return Order::Shuffle;
  std::fprintf(stderr, "SSMTL_EMU_ORDER=%s: expected forward, reverse or shuffle\n", s);
  std::abort();
}

int threads_from_env() {
  const char* s = std::getenv("SSMTL_EMU_THREADS");
  if (s && *s) return std::max(1, std::atoi(s));
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

enum class State { Ready, AtSync, AtWarp, Done };

struct Thread {
  State state = State::Ready;
  Fiber fiber;
  int stack = -1;   // index into Worker::stacks while the fiber lives
  // warp exchange
  unsigned mask = 0;
  int lane_xor = 0, width = 32;
  const char* what = nullptr;
  uint64_t value = 0;
};

// Why a block cannot go on; thrown out of the block as std::runtime_error.
struct Fault {
  std::string message;
};

// Per OS thread: the fibers of the block it runs.
struct Worker {
  FiberStacks stacks;
  std::vector<Thread> threads;
  std::vector<int> free_stacks;
  int current = -1;
  unsigned nthreads = 0;
  dim3 block;
  KernelBody body{};
  std::exception_ptr error;   // thrown by kernel code
  std::vector<void*> shared_seen;
  size_t shared_bytes = 0;
  std::vector<unsigned char> dynamic;
  size_t dynamic_bytes = 0;
  const char* file = "";
  int line = 0;
};

thread_local Worker* tls_worker = nullptr;

Worker& worker() {
  thread_local Worker w;
  tls_worker = &w;
  return w;
}

std::string site(const Worker& w) {
  return std::string(w.file) + ":" + std::to_string(w.line) + ": kernel launch, block (" +
         std::to_string(blockIdx.x) + "," + std::to_string(blockIdx.y) + "," + std::to_string(blockIdx.z) + ")";
}

std::string thread_name(const Worker& w, unsigned t) {
  const unsigned x = t % w.block.x, y = (t / w.block.x) % w.block.y, z = t / (w.block.x * w.block.y);
  return "thread (" + std::to_string(x) + "," + std::to_string(y) + "," + std::to_string(z) + ")";
}

void set_thread_index(const Worker& w, unsigned t) {
  threadIdx = uint3{t % w.block.x, (t / w.block.x) % w.block.y, t / (w.block.x * w.block.y)};
}

// Entry of every fiber: runs the kernel for the current thread, then marks it done and never returns.
void fiber_main() {
  Worker& w = *tls_worker;
  fiber_started(w.threads[w.current].fiber);
  try {
    w.body.run(w.body.ctx);
  } catch (...) {
    if (!w.error) w.error = std::current_exception();
  }
  Thread& t = w.threads[w.current];
  t.state = State::Done;
  fiber_exit(t.fiber);
}

// Suspends the current fiber in state s (called from kernel code).
void suspend(State s) {
  Worker* w = tls_worker;
  if (!w || w->current < 0) {
    std::fprintf(stderr, "emu: a barrier was called outside a kernel launch\n");
    std::abort();
  }
  Thread& t = w->threads[w->current];
  t.state = s;
  fiber_yield(t.fiber);
}

void resume(Worker& w, unsigned i) {
  Thread& t = w.threads[i];
  if (t.stack < 0) {   // first run of this thread: a stack from the pool
    if (w.free_stacks.empty()) {
      w.free_stacks.push_back(w.stacks.count());
      w.stacks.grow();
    }
    t.stack = w.free_stacks.back();
    w.free_stacks.pop_back();
    fiber_init(t.fiber, w.stacks.get(t.stack), &fiber_main);
  }
  set_thread_index(w, i);
  w.current = static_cast<int>(i);
  fiber_resume(t.fiber);
  w.current = -1;
  if (t.state == State::Done) {
    w.free_stacks.push_back(t.stack);
    t.stack = -1;
  }
}

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Releases a warp whose live lanes all wait at a warp intrinsic, after checking the masks.
void release_warp(Worker& w, unsigned first, unsigned end) {
  unsigned arrived = 0, exited = 0;
  for (unsigned i = first; i < end; ++i) {
    if (w.threads[i].state == State::AtWarp) arrived |= 1u << (i - first);
    if (w.threads[i].state == State::Done) exited |= 1u << (i - first);
  }
  const unsigned first_arrived = first + static_cast<unsigned>(__builtin_ctz(arrived));
  uint64_t result[32];
  for (unsigned i = first; i < end; ++i) {
    const Thread& t = w.threads[i];
    if (t.state != State::AtWarp) continue;
    const unsigned lane = i - first;
    // Messages are built only on failure (this runs for every lane of every shuffle).
    auto who = [&] { return site(w) + ", " + thread_name(w, i) + " (lane " + std::to_string(lane) + "): " + t.what; };
    auto mask_hex = [&] {
      char s[16];
      std::snprintf(s, sizeof s, "%08x", t.mask);
      return std::string(s);
    };
    if (!(t.mask >> lane & 1u)) throw Fault{who() + " with mask 0x" + mask_hex() + " that does not name the lane itself"};
    if ((arrived & ~t.mask) != 0)
      throw Fault{who() + ": mask 0x" + mask_hex() + " leaves out lanes that call it at the same time"};
    if ((t.mask & exited) != 0)
      throw Fault{who() + ": mask 0x" + mask_hex() + " names lanes that have exited (undefined behaviour)"};
    if (t.what != w.threads[first_arrived].what && std::strcmp(t.what, w.threads[first_arrived].what) != 0)
      throw Fault{who() + ": other lanes of the warp wait at " + w.threads[first_arrived].what};
    if (t.width < 1 || t.width > 32 || (t.width & (t.width - 1)) != 0)
      throw Fault{who() + ": width " + std::to_string(t.width) + " is not a power of two up to 32"};
    const unsigned src = lane ^ static_cast<unsigned>(t.lane_xor);
    const unsigned seg = lane & ~static_cast<unsigned>(t.width - 1);
    if ((src & ~static_cast<unsigned>(t.width - 1)) != seg || src >= 32) {
      result[lane] = t.value;   // outside the lane's segment: CUDA returns the lane's own value
    } else if (!(arrived >> src & 1u)) {
      throw Fault{who() + " reads lane " + std::to_string(src) + ", which does not take part (undefined value)"};
    } else {
      result[lane] = w.threads[first + src].value;
    }
  }
  for (unsigned i = first; i < end; ++i) {
    Thread& t = w.threads[i];
    if (t.state != State::AtWarp) continue;
    t.value = result[i - first];
    t.state = State::Ready;
  }
}

std::string describe_states(const Worker& w) {
  unsigned done = 0, sync = 0, warp = 0;
  long first_done = -1, first_sync = -1, first_warp = -1;
  for (unsigned i = 0; i < w.nthreads; ++i) {
    switch (w.threads[i].state) {
      case State::Done: ++done; if (first_done < 0) first_done = i; break;
      case State::AtSync: ++sync; if (first_sync < 0) first_sync = i; break;
      case State::AtWarp: ++warp; if (first_warp < 0) first_warp = i; break;
      case State::Ready: break;
    }
  }
  std::string s = std::to_string(sync) + " threads wait at __syncthreads";
  if (sync) s += " (first " + thread_name(w, first_sync) + ")";
  s += ", " + std::to_string(warp) + " at a warp intrinsic";
  if (warp) s += " (first " + thread_name(w, first_warp) + ")";
  s += ", " + std::to_string(done) + " have exited";
  if (done) s += " (first " + thread_name(w, first_done) + ")";
  return s;
}

void run_block(Worker& w, Order order, uint64_t block_linear) {
  for (unsigned i = 0; i < w.nthreads; ++i) {
    Thread& t = w.threads[i];
    if (t.stack >= 0) w.free_stacks.push_back(t.stack);   // left behind by a failed block
    t = Thread{};
  }
  w.error = nullptr;
  w.shared_seen.clear();
  w.shared_bytes = w.dynamic_bytes;
  if (w.dynamic_bytes) std::memset(w.dynamic.data(), kPoison, w.dynamic_bytes);
  // Warps run one at a time, each until all its live threads wait at __syncthreads or have exited (a
  // legal GPU schedule: a warp may run ahead of the others up to a block barrier); warp intrinsics are
  // resolved as soon as the warp's live lanes all arrive. Warps and lanes go in the chosen order.
  const unsigned nwarps = (w.nthreads + 31) / 32;
  std::vector<unsigned> warps(nwarps), lanes(32);
  uint64_t seed = block_linear * 0x2545F4914F6CDD1Dull + 1;
  auto arrange = [&](std::vector<unsigned>& v, unsigned n) {
    for (unsigned k = 0; k < n; ++k) v[k] = order == Order::Reverse ? n - 1 - k : k;
    if (order == Order::Shuffle)
      for (unsigned k = n; k > 1; --k) std::swap(v[k - 1], v[splitmix(seed) % k]);
  };
  for (;;) {
    arrange(warps, nwarps);
    bool all_done = true;
    for (unsigned k = 0; k < nwarps; ++k) {
      const unsigned first = warps[k] * 32, end = std::min(first + 32, w.nthreads);
      for (;;) {
        arrange(lanes, end - first);
        for (unsigned l = 0; l < end - first; ++l)
          if (w.threads[first + lanes[l]].state == State::Ready) {
            resume(w, first + lanes[l]);
            if (w.error) std::rethrow_exception(w.error);
          }
        bool any_warp = false, all_warp = true;
        for (unsigned i = first; i < end; ++i) {
          const State st = w.threads[i].state;
          if (st == State::AtWarp) any_warp = true;
          if (st != State::AtWarp && st != State::Done) all_warp = false;
        }
        if (!(any_warp && all_warp)) break;
        release_warp(w, first, end);
      }
      for (unsigned i = first; i < end; ++i) all_done = all_done && w.threads[i].state == State::Done;
    }
    if (all_done) return;
    unsigned at_sync = 0;
    for (unsigned i = 0; i < w.nthreads; ++i) at_sync += w.threads[i].state == State::AtSync;
    if (at_sync == w.nthreads) {
      for (unsigned i = 0; i < w.nthreads; ++i) w.threads[i].state = State::Ready;
      continue;
    }
    throw Fault{site(w) + ": deadlock: " + describe_states(w) +
                " (a barrier not reached by every thread: hangs or is undefined behaviour on a GPU)"};
  }
}

// ---- errors and device memory ----
thread_local cudaError_t last_error = cudaSuccess;

bool valid_config(dim3 grid, dim3 block, size_t smem) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || block.x == 0 || block.y == 0 || block.z == 0) return false;
  if (grid.x > 2147483647u || grid.y > 65535u || grid.z > 65535u) return false;
  if (block.x > 1024u || block.y > 1024u || block.z > 64u) return false;
  if (static_cast<uint64_t>(block.x) * block.y * block.z > 1024u) return false;
  return smem <= kMaxSharedBytes;
}

}  // namespace

namespace {
std::atomic<Order>& order_setting() {
  static std::atomic<Order> o{order_from_env()};
  return o;
}
}  // namespace
ThreadOrder thread_order() { return order_setting().load(); }
void set_thread_order(ThreadOrder order) { order_setting().store(order); }

// ---- kernel-side entry points ----
void syncthreads() { suspend(State::AtSync); }

uint64_t warp_exchange(unsigned mask, uint64_t value, int lane_xor, int width, const char* what) {
  Worker* w = tls_worker;
  if (!w || w->current < 0) {
    std::fprintf(stderr, "emu: %s called outside a kernel launch\n", what);
    std::abort();
  }
  Thread& t = w->threads[w->current];
  t.mask = mask, t.value = value, t.lane_xor = lane_xor, t.width = width, t.what = what;
  suspend(State::AtWarp);
  return w->threads[w->current].value;
}

void shared_declare(void* p, size_t bytes) {
  Worker& w = *tls_worker;
  if (std::find(w.shared_seen.begin(), w.shared_seen.end(), p) != w.shared_seen.end()) return;
  w.shared_seen.push_back(p);
  std::memset(p, kPoison, bytes);
  w.shared_bytes += bytes;
  if (w.shared_bytes > kMaxSharedBytes)
    throw std::runtime_error(site(w) + ": " + std::to_string(w.shared_bytes) +
                             " bytes of shared memory per block exceed 48 KiB");
}

void* dynamic_shared_raw() { return tls_worker->dynamic.data(); }

void check_device_pointer(const void* p, const char* file, int line, int arg) {
  if (p && !in_device_memory(p, 0))
    throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": kernel argument " +
                             std::to_string(arg) + " is not a device pointer (not from cudaMalloc)");
}

void run_launch(const char* file, int line, dim3 grid, dim3 block, size_t smem, KernelBody body) {
  if (!valid_config(grid, block, smem)) {
    last_error = cudaErrorInvalidConfiguration;
    return;
  }
  const DeviceAccess access;   // kernels may touch device memory
  const Order order = thread_order();
  static const int max_threads = threads_from_env();
  const uint64_t nblocks = static_cast<uint64_t>(grid.x) * grid.y * grid.z;
  const unsigned nthreads = block.x * block.y * block.z;
  int os_threads = static_cast<int>(std::min<uint64_t>(max_threads, nblocks));
  if (nblocks * nthreads < 8192) os_threads = 1;   // not worth waking the thread pool
  std::string fault;
  uint64_t fault_block = UINT64_MAX;
  std::exception_ptr error;
  std::mutex mu;
#pragma omp parallel num_threads(os_threads) if (os_threads > 1)
  {
    Worker& w = worker();
    w.nthreads = nthreads;
    w.block = block;
    w.body = body;
    w.file = file;
    w.line = line;
    w.error = nullptr;
    w.threads.resize(std::max<size_t>(w.threads.size(), nthreads));
    w.dynamic_bytes = smem;
    if (w.dynamic.size() < smem) w.dynamic.resize(smem);
    blockDim = block;
    gridDim = grid;
#pragma omp for schedule(dynamic, 16)
    for (int64_t b = 0; b < static_cast<int64_t>(nblocks); ++b) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (static_cast<uint64_t>(b) > fault_block) continue;   // a block before failed: skip the rest
      }
      const uint64_t ub = static_cast<uint64_t>(b);
      blockIdx = uint3{static_cast<unsigned>(ub % grid.x), static_cast<unsigned>(ub / grid.x % grid.y),
                       static_cast<unsigned>(ub / grid.x / grid.y)};
      try {
        run_block(w, order, ub);
      } catch (const Fault& f) {
        std::lock_guard<std::mutex> lock(mu);
        if (ub < fault_block) fault_block = ub, fault = f.message, error = nullptr;
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (ub < fault_block) fault_block = ub, fault.clear(), error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
  if (fault_block != UINT64_MAX) throw std::runtime_error(fault);
}

}  // namespace emu

// ---- the runtime API ----
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
  }
  return "unknown error";
}

cudaError_t cudaGetLastError() {
  const cudaError_t e = emu::last_error;
  emu::last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return emu::last_error; }

cudaError_t emu::fail(cudaError_t e) {
  last_error = e;
  return e;
}

cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;   // the emulated device
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : emu::fail(cudaErrorInvalidValue); }
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

#if defined(__x86_64__)
// void emu_switch_stack(void** save_sp, void* to_sp): pushes the callee-saved registers, stores the stack
// pointer in *save_sp, loads to_sp and pops the registers saved there (System V ABI; MXCSR and the x87
// control word are left alone: nothing here changes them).
asm(R"(
  .text
  .globl emu_switch_stack
  .type emu_switch_stack, @function
emu_switch_stack:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size emu_switch_stack, .-emu_switch_stack
  .section .note.GNU-stack,"",@progbits
  .text
)");
#endif
