// The AMX products of the linear layers (kernels/cpu/gemm_panel_amx.cpp): against double sums of the same
// bf16-rounded factors over every tail of the tiles (rows, K, columns, token rows), the epilogue, independence of
// the thread count, the SSMTL_AMX switch (off: the AVX512_BF16 path's bits), and the public linear ops with AMX
// on and off. Skipped with a message on a CPU without AMX-BF16.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cpu/bf16.h"
#include "kernels/cpu/gemm_panel.h"
#include "kernels/matmul.h"
#include "kernels/precision.h"
#include "tensor/rng.h"

using namespace ssmtl;

namespace {

bool skip_without_amx() {
  if (kernels::cpu_has_amx_bf16()) return false;
  MESSAGE("this CPU (or OS) has no AMX-BF16 tiles: AMX product tests skipped");
  return true;
}

// Sets the AMX switch for the lifetime of the object and restores it.
class AmxSwitch {
 public:
  explicit AmxSwitch(bool on) : previous_(kernels::amx_enabled()) { kernels::set_amx_enabled(on); }
  ~AmxSwitch() { kernels::set_amx_enabled(previous_); }

 private:
  bool previous_;
};

std::vector<float> random(int64_t n, Rng& rng) { return randn({n}, rng).to_vector(); }

double rounded(float x) { return kernels::bf16::round(x); }

// |got - want| <= tol * scale with scale = sum of |terms| of the element: float32 sums of exact products are within
// (number of additions) x 2^-24 of it; capped at 1e-5 (the worst case grows with K, the actual error does not).
double tolerance(int64_t terms) { return std::min(1e-5, (terms + 4) * std::ldexp(1.0, -24)); }

struct Case {
  int64_t M, N, K;
  bool trans_b, bias, accumulate;
};

// C = A op(B) (+ bias) (+ C0) with the AMX kernel (or the AVX512_BF16 one), checked element by element against
// the double reference.
void check_forward(const Case& s, Rng& rng, bool amx = true) {
  const std::vector<float> a = random(s.M * s.K, rng), b = random(s.K * s.N, rng), bias = random(s.N, rng);
  const std::vector<float> c0 = random(s.M * s.N, rng);
  std::vector<float> c = s.accumulate ? c0 : std::vector<float>(s.M * s.N, 1e9f);
  const auto product = amx ? kernels::detail::gemm_panel_amx : kernels::detail::gemm_panel_bf16;
  product(c.data(), a.data(), b.data(), s.bias ? bias.data() : nullptr, s.M, s.N, s.K, s.trans_b, s.accumulate,
          nullptr);
  double worst = 0;
  for (int64_t i = 0; i < s.M; ++i)
    for (int64_t j = 0; j < s.N; ++j) {
      double want = 0, scale = 0;
      for (int64_t k = 0; k < s.K; ++k) {
        const double t = rounded(a[i * s.K + k]) * rounded(s.trans_b ? b[j * s.K + k] : b[k * s.N + j]);
        want += t, scale += std::fabs(t);
      }
      if (s.bias) want += bias[j], scale += std::fabs(bias[j]);
      if (s.accumulate) want += c0[i * s.N + j], scale += std::fabs(c0[i * s.N + j]);
      worst = std::max(worst, std::fabs(c[i * s.N + j] - want) / (tolerance(s.K) * scale));
    }
  INFO("M=" << s.M << " N=" << s.N << " K=" << s.K << " trans_b=" << s.trans_b << " bias=" << s.bias
            << " accumulate=" << s.accumulate);
  CHECK(worst <= 1.0);
}

// C (Na, Nb) = C0 + A^T B with the AMX kernel (or the AVX512_BF16 one) against the double reference.
void check_at_b(int64_t R, int64_t Na, int64_t Nb, Rng& rng, bool amx = true) {
  const std::vector<float> a = random(R * Na, rng), b = random(R * Nb, rng), c0 = random(Na * Nb, rng);
  std::vector<float> c = c0;
  (amx ? kernels::detail::gemm_panel_at_b_amx : kernels::detail::gemm_panel_at_b_bf16)(c.data(), a.data(), b.data(),
                                                                                        R, Na, Nb);
  double worst = 0;
  for (int64_t i = 0; i < Na; ++i)
    for (int64_t j = 0; j < Nb; ++j) {
      double want = c0[i * Nb + j], scale = std::fabs(c0[i * Nb + j]);
      for (int64_t r = 0; r < R; ++r) {
        const double t = rounded(a[r * Na + i]) * rounded(b[r * Nb + j]);
        want += t, scale += std::fabs(t);
      }
      worst = std::max(worst, std::fabs(c[i * Nb + j] - want) / (tolerance(R) * scale));
    }
  INFO("R=" << R << " Na=" << Na << " Nb=" << Nb);
  CHECK(worst <= 1.0);
}

// Output of both products in one vector: forward (M, N) then the weight gradient (N, K) over M rows.
std::vector<float> both_products(const std::vector<float>& a, const std::vector<float>& w, const std::vector<float>& dy,
                                 int64_t M, int64_t K, int64_t N, bool via_dispatch) {
  std::vector<float> y(M * N), dw(N * K, 0.25f);
  if (via_dispatch) {
    REQUIRE(kernels::gemm_panel_cpu(y.data(), a.data(), w.data(), nullptr, M, N, K, true, false));
    REQUIRE(kernels::gemm_panel_at_b_cpu(dw.data(), dy.data(), a.data(), M, N, K));
  } else {
    kernels::detail::gemm_panel_amx(y.data(), a.data(), w.data(), nullptr, M, N, K, true, false, nullptr);
    kernels::detail::gemm_panel_at_b_amx(dw.data(), dy.data(), a.data(), M, N, K);
  }
  y.insert(y.end(), dw.begin(), dw.end());
  return y;
}

}  // namespace

TEST_CASE("amx gemm: forward equals the double sums of bf16-rounded factors for row and K and column tails") {
  if (skip_without_amx()) return;
  Rng rng(11);
  int n = 0;
  for (const int64_t M : {1, 15, 17, 33, 49})
    for (const int64_t K : {3, 24, 96, 97, 384})
      for (const int64_t N : {16, 48, 96, 384})
        for (const bool trans_b : {false, true}) {
          ++n;   // bias and accumulate in all four combinations across the shapes
          check_forward({M, N, K, trans_b, n % 2 == 0, n / 2 % 2 == 0}, rng);
        }
  // Several row blocks of 32 rows and a tail of 4, all four options.
  for (const int64_t N : {48, 96, 384})
    for (const bool bias : {false, true})
      for (const bool accumulate : {false, true}) check_forward({100, N, 96, true, bias, accumulate}, rng);
}

TEST_CASE("bf16 avx512 gemm: the path of SSMTL_AMX off and of CPUs without AMX still equals the double sums") {
  if (!kernels::cpu_has_bf16()) {
    MESSAGE("this CPU has no AVX512_BF16: skipped");
    return;
  }
  Rng rng(18);   // on an AMX CPU the other bf16 tests run the AMX kernel: the AVX512_BF16 one keeps its own check
  for (const int64_t M : {1, 17, 49})
    for (const int64_t K : {3, 97})
      check_forward({M, 48, K, M % 2 == 1, M > 1, M != 17}, rng, false);
  check_at_b(33, 40, 48, rng, false);
  check_at_b(5000, 16, 96, rng, false);
}

TEST_CASE("amx gemm: the epilogue sees each row once with its final values") {
  if (skip_without_amx()) return;
  Rng rng(12);
  for (const int64_t M : {1, 49, 1000}) {   // 1000 x 48 x 96 takes both threads
    const int64_t N = 48, K = 96;
    const std::vector<float> a = random(M * K, rng), w = random(N * K, rng), bias = random(N, rng);
    std::vector<float> c(M * N), seen(M * N);
    std::vector<int> calls(M, 0);
    struct Ctx {
      const float* c;
      float* seen;
      int* calls;
      int64_t N;
    } ctx{c.data(), seen.data(), calls.data(), N};
    const kernels::RowEpilogue epilogue{[](const void* p, int64_t r0, int64_t r1) {
                                          const Ctx& x = *static_cast<const Ctx*>(p);
                                          for (int64_t r = r0; r < r1; ++r) {
                                            ++x.calls[r];
                                            std::copy(x.c + r * x.N, x.c + (r + 1) * x.N, x.seen + r * x.N);
                                          }
                                        },
                                        &ctx};
    kernels::detail::gemm_panel_amx(c.data(), a.data(), w.data(), bias.data(), M, N, K, true, false, &epilogue);
    CHECK(std::all_of(calls.begin(), calls.end(), [](int k) { return k == 1; }));
    CHECK(seen == c);
  }
}

TEST_CASE("amx gemm: weight gradient A^T B equals the double sums for token row and column tails") {
  if (skip_without_amx()) return;
  Rng rng(13);
  for (const int64_t R : {1, 33, 2048, 5000})
    for (const int64_t Na : {16, 40, 96})
      for (const int64_t Nb : {16, 48, 96}) check_at_b(R, Na, Nb, rng);
  check_at_b(300, 384, 96, rng);   // the MLP's shapes
  check_at_b(300, 96, 384, rng);
}

TEST_CASE("amx gemm: a NaN factor reaches only its own row of C (padding and stale rows stay out of the sums)") {
  if (skip_without_amx()) return;
  Rng rng(17);
  // forward: M = 49 rows in blocks of 32; row 20's NaN stays behind in the scratch rows that block 2 does not use
  const int64_t M = 49, K = 97, N = 48;
  std::vector<float> a = random(M * K, rng);
  const std::vector<float> w = random(N * K, rng);
  a[20 * K + 96] = NAN;
  std::vector<float> c(M * N);
  kernels::detail::gemm_panel_amx(c.data(), a.data(), w.data(), nullptr, M, N, K, true, false, nullptr);
  for (int64_t i = 0; i < M; ++i) {
    INFO("row " << i);
    CHECK(std::isnan(c[i * N]) == (i == 20));
    CHECK(std::isnan(c[i * N + N - 1]) == (i == 20));
  }
  // weight gradient: A (R, Na) with Na = 40 (a padded tile row), a NaN in column 3 poisons row 3 of C only
  const int64_t R = 77, Na = 40, Nb = 32;
  std::vector<float> x = random(R * Na, rng);
  const std::vector<float> y = random(R * Nb, rng);
  x[76 * Na + 3] = NAN;
  std::vector<float> dw(Na * Nb, 0.f);
  kernels::detail::gemm_panel_at_b_amx(dw.data(), x.data(), y.data(), R, Na, Nb);
  for (int64_t i = 0; i < Na; ++i) {
    INFO("row " << i);
    CHECK(std::isnan(dw[i * Nb]) == (i == 3));
    CHECK(std::isnan(dw[i * Nb + Nb - 1]) == (i == 3));
  }
}

TEST_CASE("amx gemm: the same bits with 1 and 2 threads") {
  if (skip_without_amx()) return;
  Rng rng(14);
  const int64_t M = 5000, K = 96, N = 384;   // forward in parallel row blocks, weight gradient in 3 row groups
  const std::vector<float> a = random(M * K, rng), w = random(N * K, rng), dy = random(M * N, rng);
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  const std::vector<float> one = both_products(a, w, dy, M, K, N, false);
  omp_set_num_threads(2);
  const std::vector<float> two = both_products(a, w, dy, M, K, N, false);
  omp_set_num_threads(before);
  CHECK(one == two);
}

TEST_CASE("amx gemm: SSMTL_AMX off gives the AVX512_BF16 path's bits and on the AMX kernel's") {
  if (skip_without_amx()) return;
  Rng rng(15);
  const int64_t M = 300, K = 384, N = 96;
  const std::vector<float> a = random(M * K, rng), w = random(N * K, rng), dy = random(M * N, rng);
  kernels::MatmulPrecisionScope scope(kernels::MatmulPrecision::bf16);
  std::vector<float> avx(M * N), dw_avx(N * K, 0.25f);
  kernels::detail::gemm_panel_bf16(avx.data(), a.data(), w.data(), nullptr, M, N, K, true, false, nullptr);
  kernels::detail::gemm_panel_at_b_bf16(dw_avx.data(), dy.data(), a.data(), M, N, K);
  avx.insert(avx.end(), dw_avx.begin(), dw_avx.end());
  const std::vector<float> amx = both_products(a, w, dy, M, K, N, false);
  std::vector<float> off, on;
  {
    AmxSwitch sw(false);
    CHECK_FALSE(kernels::use_amx_products());
    off = both_products(a, w, dy, M, K, N, true);
  }
  {
    AmxSwitch sw(true);
    CHECK(kernels::use_amx_products());
    on = both_products(a, w, dy, M, K, N, true);
  }
  CHECK(off == avx);
  CHECK(on == amx);
  CHECK(on != off);   // the order of the float32 sums differs: the switch really switches
}

TEST_CASE("amx gemm: bf16 linear layer forward and backward and linear+GELU agree with AMX on and off") {
  if (skip_without_amx()) return;
  Rng rng(16);
  const int64_t M = 1000, in = 96, out = 384;
  const std::vector<float> x = random(M * in, rng), w = random(out * in, rng), b = random(out, rng);
  const std::vector<float> dy = random(M * out, rng);
  kernels::MatmulPrecisionScope scope(kernels::MatmulPrecision::bf16);
  auto run = [&](bool amx) {
    AmxSwitch sw(amx);
    std::vector<float> y(M * out), g(M * out), z(M * out), dx(M * in, 0.f), dw(out * in, 0.f), db(out, 0.f);
    kernels::linear_forward_cpu(y.data(), x.data(), w.data(), b.data(), M, in, out);
    kernels::linear_gelu_forward_cpu(g.data(), z.data(), x.data(), w.data(), b.data(), M, in, out);
    kernels::linear_backward_cpu(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), true, M, in, out);
    return std::vector<std::vector<float>>{y, g, z, dx, dw};
  };
  const auto on = run(true), off = run(false);
  for (size_t t = 0; t < on.size(); ++t) {
    double magnitude = 0, diff = 0;
    for (size_t i = 0; i < on[t].size(); ++i) {
      magnitude = std::max(magnitude, std::fabs(static_cast<double>(off[t][i])));
      diff = std::max(diff, std::fabs(static_cast<double>(on[t][i]) - off[t][i]));
    }
    INFO("output " << t);
    CHECK(diff <= 1e-5 * magnitude);
  }
}
