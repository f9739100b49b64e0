// bf16 product precision (kernels/precision.h): the register-blocked linear-layer GEMMs in bf16 against
// PyTorch's products of bfloat16-rounded factors (tests/reference/gen_bf16.py), rounding at ties, the
// precision setting itself, and determinism.
#include <doctest/doctest.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/bf16.h"
#include "kernels/cpu/gemm_panel.h"
#include "kernels/matmul.h"
#include "kernels/precision.h"
#include "tensor/rng.h"
#include "tests/reference.h"

using namespace ssmtl;

namespace {

// Largest |got - want| / (sum of |terms| of want's element): float32 summation of exact products of bf16
// factors is within (K/2 + 2) * 2^-24 of that sum (pairwise VDPBF16PS steps, one rounding each, doubled).
double sum_abs_terms(const std::vector<float>& a, int64_t sa_i, int64_t sa_k, const std::vector<float>& b,
                     int64_t sb_k, int64_t sb_j, int64_t i, int64_t j, int64_t K) {
  double s = 0;
  for (int64_t k = 0; k < K; ++k)
    s += std::fabs(static_cast<double>(kernels::bf16::round(a[i * sa_i + k * sa_k])) *
                   kernels::bf16::round(b[k * sb_k + j * sb_j]));
  return s;
}

bool skip_without_bf16() {
  if (kernels::cpu_has_bf16()) return false;
  MESSAGE("this CPU has no AVX512_BF16: bf16 tests skipped");
  return true;
}

}  // namespace

TEST_CASE("bf16: rounding to nearest even matches PyTorch's bfloat16 cast (denormals flushed as by VCVTNEPS2BF16)") {
  test::RefFile ref("bf16");
  const std::vector<float> ties = ref.get("ties").to_vector(), want = ref.get("ties_bf16").to_vector();
  REQUIRE(ties.size() == want.size());
  for (size_t i = 0; i < ties.size(); ++i) {
    const float got = kernels::bf16::round(ties[i]);
    if (std::fabs(ties[i]) < 1.17549435e-38f) CHECK(got == 0.f);   // the instruction's DAZ; PyTorch keeps it
    else CHECK(got == want[i]);
  }
  CHECK(kernels::bf16::round(1.f + 1.f / 256) == 1.f);                  // tie -> even mantissa
  CHECK(kernels::bf16::round(1.f + 3.f / 256) == 1.f + 1.f / 64);      // tie -> even mantissa (up)
  CHECK(std::isnan(kernels::bf16::round(NAN)));
  CHECK(std::isinf(kernels::bf16::round(INFINITY)));
}

TEST_CASE("bf16: the precision setting parses and names and restores itself and fp32 is the default") {
  CHECK(kernels::matmul_precision() == kernels::MatmulPrecision::fp32);
  CHECK(kernels::parse_matmul_precision("bf16") == kernels::MatmulPrecision::bf16);
  CHECK(std::string(kernels::matmul_precision_name(kernels::MatmulPrecision::fp32)) == "fp32");
  CHECK_THROWS_WITH_AS(kernels::parse_matmul_precision("fp16"), "precision must be fp32 or bf16, got 'fp16'",
                       std::invalid_argument);
  // the check every front end (train, score, profile) makes: bf16 never on CUDA, never without AVX512_BF16
  CHECK(kernels::checked_matmul_precision("fp32", true, "train.precision") == kernels::MatmulPrecision::fp32);
  CHECK_THROWS_WITH_AS(kernels::checked_matmul_precision("bf16", true, "--precision"),
                       "--precision = bf16 is implemented for the CPU only (use fp32 with --device cuda)",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(kernels::checked_matmul_precision("half", false, "x"), "precision must be fp32 or bf16, got 'half'",
                       std::invalid_argument);
  if (kernels::cpu_has_bf16())
    CHECK(kernels::checked_matmul_precision("bf16", false, "x") == kernels::MatmulPrecision::bf16);
  else
    CHECK_THROWS_WITH_AS(kernels::checked_matmul_precision("bf16", false, "x"),
                         "x = bf16: this CPU has no AVX512_BF16 instructions (use fp32)", std::invalid_argument);
  if (!kernels::cpu_has_bf16()) {
    CHECK_THROWS_AS(kernels::set_matmul_precision(kernels::MatmulPrecision::bf16), std::invalid_argument);
    return;
  }
  {
    kernels::MatmulPrecisionScope scope(kernels::MatmulPrecision::bf16);
    CHECK(kernels::use_bf16_products());
  }
  CHECK(kernels::matmul_precision() == kernels::MatmulPrecision::fp32);
}

TEST_CASE("bf16 linear panels: forward and dx and dw equal PyTorch's products of bf16-rounded factors") {
  if (skip_without_bf16()) return;
  test::RefFile ref("bf16");
  const std::vector<float> x = ref.get("x").to_vector(), w = ref.get("w").to_vector(), b = ref.get("b").to_vector(),
                           dy = ref.get("dy").to_vector();
  const std::vector<float> y_ref = ref.get("y").to_vector(), dx_ref = ref.get("dx").to_vector(),
                           dw_ref = ref.get("dw").to_vector();
  const int64_t M = 37, K = 45, N = 48;
  kernels::MatmulPrecisionScope scope(kernels::MatmulPrecision::bf16);
  auto check = [](const std::vector<float>& got, const std::vector<float>& want, int64_t rows, int64_t cols,
                  int64_t K, auto terms, auto exact) {
    double worst = 0, diff = 0;
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) {
        const double e = std::fabs(got[i * cols + j] - static_cast<double>(want[i * cols + j]));
        worst = std::max(worst, e / ((K / 2.0 + 2) * std::ldexp(1.0, -24) * (terms(i, j) + 1e-30)));
        diff = std::max(diff, std::fabs(got[i * cols + j] - exact(i, j)));
      }
    CHECK(worst <= 1.0);
    CHECK(diff > 1e-3);   // the unrounded float products differ visibly: the factors really were rounded
  };
  // y (M, N) = x w^T + b: the forward assigns
  std::vector<float> y(M * N, 1e9f);
  REQUIRE(kernels::gemm_panel_cpu(y.data(), x.data(), w.data(), b.data(), M, N, K, true, false));
  check(y, y_ref, M, N, K, [&](int64_t i, int64_t j) { return sum_abs_terms(x, K, 1, w, 1, K, i, j, K) + std::fabs(b[j]); },
        [&](int64_t i, int64_t j) {
          double s = b[j];
          for (int64_t k = 0; k < K; ++k) s += static_cast<double>(x[i * K + k]) * w[j * K + k];
          return s;
        });
  // dx (M, K) += dy w and dw (N, K) += dy^T x have output width K = 45, which the panels decline (not a
  // multiple of 16): run them with K zero-padded to 48 and compare the first 45 columns.
  const int64_t Kp = 48;
  std::vector<float> wp(N * Kp, 0.f), xp(M * Kp, 0.f);
  for (int64_t j = 0; j < N; ++j)
    for (int64_t k = 0; k < K; ++k) wp[j * Kp + k] = w[j * K + k];
  for (int64_t i = 0; i < M; ++i)
    for (int64_t k = 0; k < K; ++k) xp[i * Kp + k] = x[i * K + k];
  std::vector<float> dx(M * Kp, 0.5f);   // pre-filled: the backward adds
  REQUIRE(kernels::gemm_panel_cpu(dx.data(), dy.data(), wp.data(), nullptr, M, Kp, N, false, true));
  std::vector<float> dx_got(M * K), dx_want(M * K);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t k = 0; k < K; ++k) dx_got[i * K + k] = dx[i * Kp + k], dx_want[i * K + k] = dx_ref[i * K + k] + 0.5f;
  check(dx_got, dx_want, M, K, N, [&](int64_t i, int64_t k) { return sum_abs_terms(dy, N, 1, w, K, 1, i, k, N) + 0.5; },
        [&](int64_t i, int64_t k) {
          double s = 0.5;
          for (int64_t j = 0; j < N; ++j) s += static_cast<double>(dy[i * N + j]) * w[j * K + k];
          return s;
        });
  // dw (N, Kp) += dy^T x, pre-filled; R = M = 37 rows: an odd count (a zero partner row)
  std::vector<float> dw(N * Kp, -0.25f);
  REQUIRE(kernels::gemm_panel_at_b_cpu(dw.data(), dy.data(), xp.data(), M, N, Kp));
  std::vector<float> dw_got(N * K), dw_want(N * K);
  for (int64_t j = 0; j < N; ++j)
    for (int64_t k = 0; k < K; ++k) dw_got[j * K + k] = dw[j * Kp + k], dw_want[j * K + k] = dw_ref[j * K + k] - 0.25f;
  check(dw_got, dw_want, N, K, M, [&](int64_t j, int64_t k) { return sum_abs_terms(dy, 1, N, x, K, 1, j, k, M) + 0.25; },
        [&](int64_t j, int64_t k) {
          double s = -0.25;
          for (int64_t i = 0; i < M; ++i) s += static_cast<double>(dy[i * N + j]) * x[i * K + k];
          return s;
        });
}

TEST_CASE("bf16 linear layer: same result with 1 and 2 threads and fp32 mode untouched by a bf16 scope") {
  if (skip_without_bf16()) return;
  Rng rng(5);
  const int64_t M = 500, K = 96, N = 384;   // large enough to take both threads
  const std::vector<float> x = randn({M, K}, rng).to_vector(), w = randn({N, K}, rng).to_vector();
  const std::vector<float> dy = randn({M, N}, rng).to_vector();
  auto run = [&](int threads, kernels::MatmulPrecision p) {
    kernels::MatmulPrecisionScope scope(p);
    const int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    std::vector<float> y(M * N), dx(M * K, 0.f), dw(N * K, 0.f);
    kernels::linear_forward_cpu(y.data(), x.data(), w.data(), nullptr, M, K, N);
    kernels::linear_backward_cpu(dx.data(), dw.data(), nullptr, dy.data(), x.data(), w.data(), true, M, K, N);
    omp_set_num_threads(before);
    y.insert(y.end(), dx.begin(), dx.end());
    y.insert(y.end(), dw.begin(), dw.end());
    return y;
  };
  const std::vector<float> one = run(1, kernels::MatmulPrecision::bf16), two = run(2, kernels::MatmulPrecision::bf16);
  CHECK(one == two);
  const std::vector<float> f1 = run(2, kernels::MatmulPrecision::fp32);
  CHECK(f1 != one);
  CHECK(run(2, kernels::MatmulPrecision::fp32) == f1);
}

TEST_CASE("bf16 linear weight gradient over many rows: groups of rows summed in order equal the rounded products") {
  if (skip_without_bf16()) return;
  // R = 4501 rows: three groups of 2048 rows (the last one partial and odd), each to its own partial sum.
  Rng rng(9);
  const int64_t R = 4501, Na = 40, Nb = 32;
  const std::vector<float> a = randn({R, Na}, rng).to_vector(), b = randn({R, Nb}, rng).to_vector();
  std::vector<float> c(Na * Nb, 1.f);
  kernels::MatmulPrecisionScope scope(kernels::MatmulPrecision::bf16);
  REQUIRE(kernels::gemm_panel_at_b_cpu(c.data(), a.data(), b.data(), R, Na, Nb));
  double worst = 0;
  for (int64_t i = 0; i < Na; ++i)
    for (int64_t j = 0; j < Nb; ++j) {
      double s = 1, terms = 1;
      for (int64_t r = 0; r < R; ++r) {
        const double t = static_cast<double>(kernels::bf16::round(a[r * Na + i])) * kernels::bf16::round(b[r * Nb + j]);
        s += t, terms += std::fabs(t);
      }
      worst = std::max(worst, std::fabs(c[i * Nb + j] - s) / ((2048 / 2.0 + 4) * std::ldexp(1.0, -24) * terms));
    }
  CHECK(worst <= 1.0);
}
