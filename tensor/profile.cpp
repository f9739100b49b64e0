#include "tensor/profile.h"

// GCC 12 flags the self-initialised undefined vectors inside its own AVX-512 intrinsics (a known false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <utility>
#include <vector>

#include "tensor/device.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ssmtl::prof {

namespace detail {
bool g_enabled = false;
thread_local Phase g_phase = Phase::Forward;
thread_local double g_pending_flops = 0;
thread_local double g_pending_bytes = 0;
bool g_shapes = false;
thread_local std::string g_pending_shape;

void note_shape(const char* fmt, ...) {
  char buf[160];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  g_pending_shape = buf;
}
}  // namespace detail

namespace {

thread_local int t_depth = 0;   // open scopes on this thread
std::mutex g_mutex;
using Key = std::tuple<std::string, int, std::string>;   // kernel, phase, shape
std::map<Key, Record>& table() {
  static std::map<Key, Record> t;
  return t;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::Forward: return "forward";
    case Phase::Backward: return "backward";
    case Phase::Optimizer: return "optimizer";
  }
  return "?";
}

void set_enabled(bool on) { detail::g_enabled = on; }
void set_by_shape(bool on) { detail::g_shapes = on; }

void reset() {
  std::lock_guard<std::mutex> lock(g_mutex);
  table().clear();
  detail::g_pending_flops = 0;
  detail::g_pending_bytes = 0;
  detail::g_pending_shape.clear();
}

void KernelScope::begin(const char* name) {
  open_ = true;
  if (t_depth++ > 0) return;   // nested: booked under the outer scope
  name_ = name;
  flops_ = detail::g_pending_flops;
  bytes_ = detail::g_pending_bytes;
  detail::g_pending_flops = 0;
  detail::g_pending_bytes = 0;
  shape_.swap(detail::g_pending_shape);
  detail::g_pending_shape.clear();
  t0_ = now_s();
}

void KernelScope::end() {
  const double dt = now_s() - t0_;
  --t_depth;
  if (!name_) return;
  std::string k = name_;
  if (k.rfind("kernels::", 0) == 0) k = k.substr(9);
  if (k.rfind("k::", 0) == 0) k = k.substr(3);
  const Phase ph = detail::g_phase;
  const double flops = flops_ + detail::g_pending_flops;   // flops announced by nested ops count here too
  const double bytes = bytes_ + detail::g_pending_bytes;
  detail::g_pending_flops = 0;
  detail::g_pending_bytes = 0;
  if (shape_.empty()) shape_.swap(detail::g_pending_shape);   // announced by a nested op
  detail::g_pending_shape.clear();
  if (!detail::g_shapes) shape_.clear();
  std::lock_guard<std::mutex> lock(g_mutex);
  Record& r = table()[Key{k, static_cast<int>(ph), shape_}];
  r.kernel = k;
  r.phase = ph;
  r.shape = shape_;
  ++r.calls;
  r.seconds += dt;
  r.flops += flops;
  r.bytes += bytes;
}

std::vector<Record> records() {
  std::lock_guard<std::mutex> lock(g_mutex);
  std::vector<Record> out;
  for (auto& [key, r] : table()) out.push_back(r);
  std::sort(out.begin(), out.end(), [](const Record& a, const Record& b) { return a.seconds > b.seconds; });
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Peak probes. Each thread runs kChains independent dependency chains (enough to cover the FMA latency
// on two ports); the values converge to a fixed point, so they never overflow or go subnormal.

namespace {

constexpr int kChains = 12;

int threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

template <class Body>
double run_probe(double seconds, double flops_per_iter, Body body) {
  body(1000);   // warm up (clock ramp, page-in)
  int64_t iters = 20000;
  for (;;) {   // calibrate so that one timed run lasts about `seconds`
    const double t0 = now_s();
    body(iters);
    const double dt = now_s() - t0;
    if (dt > seconds * 0.5) return flops_per_iter * static_cast<double>(iters) / dt * 1e-9;
    iters = dt > 1e-4 ? static_cast<int64_t>(static_cast<double>(iters) * seconds / dt) : iters * 8;
  }
}

volatile float g_sink;

__attribute__((target("avx512f"))) void fma_avx512(int64_t iters) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(1.f + 0.01f * c);
  const __m512 m = _mm512_set1_ps(0.9999999f), a = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], m, a);
  __m512 s = acc[0];
  for (int c = 1; c < kChains; ++c) s = _mm512_add_ps(s, acc[c]);
  g_sink = _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) void fma_avx2(int64_t iters) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(1.f + 0.01f * c);
  const __m256 m = _mm256_set1_ps(0.9999999f), a = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], m, a);
  float v[8];
  __m256 s = acc[0];
  for (int c = 1; c < kChains; ++c) s = _mm256_add_ps(s, acc[c]);
  _mm256_storeu_ps(v, s);
  g_sink = v[0];
}

__attribute__((target("avx512f,avx512bf16"))) void dot_bf16(int64_t iters) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_setzero_ps();
  const __m512bh x = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(1e-3f));
  for (int64_t i = 0; i < iters; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_dpbf16_ps(acc[c], x, x);
  __m512 s = acc[0];
  for (int c = 1; c < kChains; ++c) s = _mm512_add_ps(s, acc[c]);
  g_sink = _mm512_reduce_add_ps(s);
}

template <class F>
void on_all_threads(F f, int64_t iters) {
#pragma omp parallel num_threads(threads())
  f(iters);
}

}  // namespace

bool cpu_has_avx512_bf16() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
}

double measure_peak_gflops_fp32(double seconds) {
  __builtin_cpu_init();
  const double nt = threads();
  if (__builtin_cpu_supports("avx512f"))
    return run_probe(seconds, nt * kChains * 16 * 2, [](int64_t n) { on_all_threads(fma_avx512, n); });
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return run_probe(seconds, nt * kChains * 8 * 2, [](int64_t n) { on_all_threads(fma_avx2, n); });
  return run_probe(seconds, nt * 2, [](int64_t n) {   // scalar fallback: one multiply-add per iteration
#pragma omp parallel num_threads(threads())
    {
      float a = 1.f;
      for (int64_t i = 0; i < n; ++i) a = a * 0.9999999f + 1e-7f;
      g_sink = a;
    }
  });
}

double measure_peak_gflops_bf16(double seconds) {
  if (!cpu_has_avx512_bf16()) return 0;
  // one vdpbf16ps: 16 fp32 lanes x 2 bf16 products, each a multiply-add
  return run_probe(seconds, threads() * kChains * 16 * 2 * 2.0, [](int64_t n) { on_all_threads(dot_bf16, n); });
}

double measure_bandwidth_gbs(double seconds) {
  // 256 MB per array, 768 MB in all: well beyond the caches, also where the two vCPUs of a VM sit on two L3s (with
  // 32 MB arrays the probe swung between 38 and 75 GB/s from run to run; with these, 34-35 in a standalone loop).
  // Huge pages where the OS grants them, as the tensors' large buffers (tensor/device.h host_alloc_huge), but not
  // kept in the tensors' cache afterwards.
  const int64_t n = int64_t{64} << 20;
  using HostArray = std::unique_ptr<float, void (*)(void*)>;
  auto array = [n] { return HostArray(host_alloc_huge(static_cast<size_t>(n) * sizeof(float)), std::free); };
  const HostArray a = array(), b = array(), c = array();
  float* pa = a.get();
  float* pb = b.get();
  float* pc = c.get();
  std::fill(pb, pb + n, 1.f);
  std::fill(pc, pc + n, 2.f);
  auto triad = [&](int64_t iters) {
    for (int64_t it = 0; it < iters; ++it) {
#pragma omp parallel for schedule(static) num_threads(threads())
      for (int64_t i = 0; i < n; ++i) pa[i] = pb[i] + 0.5f * pc[i];
    }
  };
  triad(1);   // warm up (page-in, clock ramp)
  for (int64_t iters = 1;; iters *= 2) {   // each pass takes milliseconds: double until a run lasts long enough
    const double t0 = now_s();
    triad(iters);
    const double dt = now_s() - t0;
    if (dt > seconds * 0.5 || iters >= (int64_t{1} << 20)) {
      g_sink = pa[n / 2];
      return 12.0 * static_cast<double>(n) * static_cast<double>(iters) / dt * 1e-9;
    }
  }
}

}  // namespace ssmtl::prof
