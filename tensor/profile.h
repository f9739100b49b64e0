// Op profiler (`ssmtl profile`): wall time, calls and floating-point operations per kernel, forward, backward
// and optimizer apart. Every kernel call goes through SSMTL_DISPATCH (kernels/dispatch.h), which opens a
// KernelScope named after the kernel; when profiling is off a scope costs one load and one branch of a global
// flag, nothing else. Ops that know their arithmetic (convolutions, matrix products, attention) announce it
// with add_flops() right before they dispatch; the next scope opened on the thread takes it. Memory-bound ops
// (normalisations, activations, elementwise, permutes) announce their memory traffic with add_bytes() the same
// way, to be compared with the bandwidth the program measures (measure_bandwidth_gbs).
//
// Times are host wall-clock around the kernel call: exact for the CPU backend; on CUDA run with
// SSMTL_CUDA_SYNC=1 so that each kernel has finished when its call returns.
// Not thread-safe against concurrent profiled calls from several host threads (the engine dispatches from
// one thread; kernels parallelise inside themselves).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ssmtl::prof {

enum class Phase { Forward = 0, Backward = 1, Optimizer = 2 };
const char* phase_name(Phase p);   // "forward", "backward", "optimizer"

namespace detail {
extern bool g_enabled;
extern thread_local Phase g_phase;
extern thread_local double g_pending_flops;
extern thread_local double g_pending_bytes;
extern bool g_shapes;
void note_shape(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
}  // namespace detail

inline bool enabled() { return detail::g_enabled; }
void set_enabled(bool on);   // keeps the records: see reset()
void reset();                // forget every record
// Keep one record per shape (`ssmtl profile --shapes`) instead of one per kernel and phase: the shapes that
// ops announce with SSMTL_PROF_SHAPE become part of each record's key. Off by default.
void set_by_shape(bool on);

// The phase that kernel calls on this thread are booked under (the engine sets Backward during
// run_backward). Restores the previous phase on exit.
class PhaseGuard {
 public:
  explicit PhaseGuard(Phase p) : prev_(detail::g_phase) { detail::g_phase = p; }
  ~PhaseGuard() { detail::g_phase = prev_; }
  PhaseGuard(const PhaseGuard&) = delete;
  PhaseGuard& operator=(const PhaseGuard&) = delete;
 private:
  Phase prev_;
};

// Floating-point operations (a multiply-add counts 2) of the next kernel dispatched on this thread.
inline void add_flops(double flops) {
  if (detail::g_enabled) detail::g_pending_flops += flops;
}

// Bytes of memory traffic of the next kernel dispatched on this thread, counted as the least an ideal
// single-pass kernel moves: every input read once, every output written once, a gradient that is added
// into (+=) read and written once. Caches are ignored: an op whose data fit in L2 can beat the bandwidth.
inline void add_bytes(double bytes) {
  if (detail::g_enabled) detail::g_pending_bytes += bytes;
}

// The shape of the next kernel dispatched on this thread, printf-style (e.g. "64x3->16 8x64x64 k3x3x3"),
// announced like add_flops(). Formatted only while profiling by shape (set_by_shape), so the call costs one
// branch otherwise. Kernels that announce nothing get an empty shape.
#define SSMTL_PROF_SHAPE(...)                                                            \
  do {                                                                                   \
    if (::ssmtl::prof::detail::g_enabled && ::ssmtl::prof::detail::g_shapes)             \
      ::ssmtl::prof::detail::note_shape(__VA_ARGS__);                                    \
  } while (0)

// Times one kernel call; `name` is the kernel's name as written at the call ("kernels::conv3d_forward").
// Scopes opened inside an open scope are not recorded separately (their time is the outer one's).
class KernelScope {
 public:
  explicit KernelScope(const char* name) {
    if (detail::g_enabled) begin(name);
  }
  ~KernelScope() {
    if (open_) end();
  }
  KernelScope(const KernelScope&) = delete;
  KernelScope& operator=(const KernelScope&) = delete;
  // True when this scope gets its own row (profiling on, not nested in another scope). Bytes or flops
  // announced while it is open are booked on it; a nested scope's go to the outer one.
  bool recorded() const { return name_ != nullptr; }
 private:
  void begin(const char* name);
  void end();
  const char* name_ = nullptr;   // null for a scope nested in another (not recorded)
  bool open_ = false;
  double t0_ = 0, flops_ = 0, bytes_ = 0;
  std::string shape_;            // announced before the scope opened (profiling by shape only)
};

struct Record {
  std::string kernel;   // without the "kernels::" prefix
  Phase phase = Phase::Forward;
  std::string shape;    // as announced with SSMTL_PROF_SHAPE; empty unless profiling by shape
  int64_t calls = 0;
  double seconds = 0, flops = 0, bytes = 0;
};
// Every kernel/phase (and shape, see set_by_shape) seen since the last reset(), largest total time first.
std::vector<Record> records();

// Measured arithmetic peak of this machine on all OpenMP threads, in GFLOP/s (a multiply-add counts 2):
// independent chains of fused multiply-adds in the widest vector registers the build targets (AVX-512,
// AVX2 or scalar), run for about `seconds`. bf16: the AVX512_BF16 dot-product instruction (vdpbf16ps, 2
// multiply-adds per fp32 lane), or 0 when the CPU does not have it (detected at run time).
double measure_peak_gflops_fp32(double seconds = 0.2);
double measure_peak_gflops_bf16(double seconds = 0.2);
bool cpu_has_avx512_bf16();

// Measured memory bandwidth in GB/s (1e9 bytes) on all OpenMP threads: the STREAM triad a = b + s c over three
// 256 MB arrays (beyond this machine's caches, also when a VM's vCPUs sit on two L3s), counted as STREAM counts it,
// 12 bytes per element (two reads, one write; the write-allocate read is not counted, as add_bytes does not count
// it either), for about `seconds`, on huge pages where the OS grants them (as the tensors' large buffers).
double measure_bandwidth_gbs(double seconds = 0.2);

}  // namespace ssmtl::prof
