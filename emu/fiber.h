// Fibers of the CPU emulator (emu/runtime.cpp): one per emulated GPU thread, switched by hand. On x86-64 a
// switch saves the callee-saved registers and swaps stack pointers (no system call, unlike swapcontext,
// which also saves the signal mask); elsewhere ucontext is used. AddressSanitizer is told about each
// switch so that it follows the stacks.
#pragma once
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMU_ASAN 1
#endif
#endif
#ifdef EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace emu {

struct Stack {
  char* lo = nullptr;
  size_t size = 0;
};

struct Fiber {
  Stack stack;
#if defined(__x86_64__)
  void* sp = nullptr;          // the fiber's saved stack pointer
  void* caller_sp = nullptr;   // the scheduler's
#else
  ucontext_t ctx, caller;
#endif
#ifdef EMU_ASAN
  void* fake = nullptr;
  void* caller_fake = nullptr;
  const void* caller_bottom = nullptr;
  size_t caller_size = 0;
#endif
};

// Stacks of one OS thread's fibers, reused from block to block; each has a guard page below it.
class FiberStacks {
 public:
  static constexpr size_t kBytes = 256 * 1024;
  static constexpr size_t kGuard = 4096;
  FiberStacks() = default;
  FiberStacks(const FiberStacks&) = delete;
  FiberStacks& operator=(const FiberStacks&) = delete;
  ~FiberStacks() {
    for (const Stack& s : stacks_) munmap(s.lo - kGuard, s.size + kGuard);
  }
  int count() const { return static_cast<int>(stacks_.size()); }
  void grow() {
    void* p = mmap(nullptr, kBytes + kGuard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("emu: cannot map a fiber stack");
    mprotect(p, kGuard, PROT_NONE);
    stacks_.push_back(Stack{static_cast<char*>(p) + kGuard, kBytes});
  }
  Stack get(int i) const { return stacks_[static_cast<size_t>(i)]; }

 private:
  std::vector<Stack> stacks_;
};

#if defined(__x86_64__)
extern "C" void emu_switch_stack(void** save_sp, void* to_sp);
#endif

// Prepares f to run entry() on stack s at its first fiber_resume; entry must end with fiber_exit.
inline void fiber_init(Fiber& f, Stack s, void (*entry)()) {
  f.stack = s;
#ifdef EMU_ASAN
  __asan_unpoison_memory_region(s.lo, s.size);   // frames of a fiber abandoned after an error
#endif
#if defined(__x86_64__)
  uintptr_t top = (reinterpret_cast<uintptr_t>(s.lo) + s.size) & ~uintptr_t{15};
  void** sp = reinterpret_cast<void**>(top);
  *--sp = nullptr;                           // entry's return address (it never returns)
  *--sp = reinterpret_cast<void*>(entry);    // where emu_switch_stack's ret goes
  for (int i = 0; i < 6; ++i) *--sp = nullptr;   // rbp, rbx, r12-r15
  f.sp = sp;
#else
  getcontext(&f.ctx);
  f.ctx.uc_stack.ss_sp = s.lo;
  f.ctx.uc_stack.ss_size = s.size;
  f.ctx.uc_link = nullptr;
  makecontext(&f.ctx, entry, 0);
#endif
}

// Scheduler side: run f until it yields or exits.
inline void fiber_resume(Fiber& f) {
#ifdef EMU_ASAN
  __sanitizer_start_switch_fiber(&f.caller_fake, f.stack.lo, f.stack.size);
#endif
#if defined(__x86_64__)
  emu_switch_stack(&f.caller_sp, f.sp);
#else
  swapcontext(&f.caller, &f.ctx);
#endif
#ifdef EMU_ASAN
  __sanitizer_finish_switch_fiber(f.caller_fake, nullptr, nullptr);
#endif
}

// Fiber side, first thing in entry().
inline void fiber_started([[maybe_unused]] Fiber& f) {
#ifdef EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &f.caller_bottom, &f.caller_size);
#endif
}

// Fiber side: back to the scheduler; returns when resumed.
inline void fiber_yield(Fiber& f) {
#ifdef EMU_ASAN
  __sanitizer_start_switch_fiber(&f.fake, f.caller_bottom, f.caller_size);
#endif
#if defined(__x86_64__)
  emu_switch_stack(&f.sp, f.caller_sp);
#else
  swapcontext(&f.ctx, &f.caller);
#endif
#ifdef EMU_ASAN
  __sanitizer_finish_switch_fiber(f.fake, &f.caller_bottom, &f.caller_size);
#endif
}

// Fiber side: back to the scheduler for good.
[[noreturn]] inline void fiber_exit(Fiber& f) {
#ifdef EMU_ASAN
  __sanitizer_start_switch_fiber(nullptr, f.caller_bottom, f.caller_size);
#endif
#if defined(__x86_64__)
  emu_switch_stack(&f.sp, f.caller_sp);
#else
  swapcontext(&f.ctx, &f.caller);
#endif
  __builtin_unreachable();
}

}  // namespace emu
