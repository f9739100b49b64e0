#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "autograd/elementwise.h"
#include "autograd/linear.h"
#include "kernels/cpu/gemm_panel.h"
#include "kernels/matmul.h"
#include "kernels/precision.h"
#include "tensor/rng.h"
#include "tests/gradcheck.h"
#include "tests/reference.h"

using namespace ssmtl;
using ssmtl::test::check_close;
using ssmtl::test::gradcheck;

namespace {

// Checks out = fn(inputs) and the gradients of sum(out * r) against the reference case `name`.
void check_reference(const test::RefFile& ref, const std::string& name, const std::vector<std::string>& keys,
                     const std::function<Tensor(const std::vector<Tensor>&)>& fn) {
  CAPTURE(name);
  std::vector<Tensor> in;
  for (const std::string& k : keys) in.push_back(ref.get(name + "/" + k).set_requires_grad());
  Tensor y = fn(in);
  check_close(y, ref.get(name + "/y"), 1e-5, 1e-5, name + " y");
  autograd::backward(sum(mul(y, ref.get(name + "/r"))));
  for (size_t i = 0; i < keys.size(); ++i)
    check_close(in[i].grad(), ref.get(name + "/g" + keys[i]), 1e-5, 1e-5, name + " grad " + keys[i]);
}

// Row-major product in double: c (M, N) = a (M, K) b (K, N).
std::vector<double> naive_mm(const float* a, const float* b, int64_t M, int64_t K, int64_t N) {
  std::vector<double> c(M * N, 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t n = 0; n < N; ++n) c[m * N + n] += static_cast<double>(a[m * K + k]) * b[k * N + n];
  return c;
}

Tensor transpose2d(const Tensor& t) {
  const int64_t R = t.size(0), C = t.size(1);
  std::vector<float> v(t.numel());
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < C; ++j) v[j * R + i] = t.data()[i * C + j];
  return Tensor::from_vector({C, R}, v);
}

Tensor to_tensor(const Shape& s, const std::vector<double>& v) { return Tensor::from_vector(s, {v.begin(), v.end()}); }

}  // namespace

TEST_CASE("linear and matmul: forward and gradients match PyTorch") {
  test::RefFile ref("linear");
  auto lin = [](const std::vector<Tensor>& t) { return linear(t[0], t[1], t.size() > 2 ? t[2] : Tensor()); };
  auto mm = [](const std::vector<Tensor>& t) { return matmul(t[0], t[1]); };
  check_reference(ref, "linear_bias", {"x", "w", "b"}, lin);
  check_reference(ref, "linear_nobias_1d", {"x", "w"}, lin);
  check_reference(ref, "matmul_batched", {"a", "b"}, mm);
  check_reference(ref, "matmul_shared", {"a", "b"}, mm);
  check_reference(ref, "matmul_2d", {"a", "b"}, mm);
}

TEST_CASE("linear and matmul: finite-difference gradients (backward adds into gradients)") {
  Rng rng(5);
  auto r = [&](const Shape& s) { return randn(s, rng).set_requires_grad(); };
  test::GradCheckOptions opt;
  opt.eps = 0.05f;   // bilinear: the central difference is exact up to rounding
  gradcheck([](const std::vector<Tensor>& t) { return linear(t[0], t[1], t[2]); }, {r({2, 3, 4}), r({5, 4}), r({5})},
            opt);
  gradcheck([](const std::vector<Tensor>& t) { return linear(t[0], t[1], Tensor()); }, {r({3, 6}), r({2, 6})}, opt);
  gradcheck([](const std::vector<Tensor>& t) { return matmul(t[0], t[1]); }, {r({2, 3, 4, 5}), r({2, 3, 5, 2})}, opt);
  gradcheck([](const std::vector<Tensor>& t) { return matmul(t[0], t[1]); }, {r({3, 4, 5}), r({5, 3})}, opt);
  // The same tensor on both sides: both gradient contributions accumulate.
  gradcheck([](const std::vector<Tensor>& t) { return matmul(t[0], t[0]); }, {r({2, 4, 4})}, opt);
}

TEST_CASE("linear: products split across threads (rows or columns) match direct loops") {
  Rng rng(9);
  // (M, in, out): the forward and gradient products split by rows in one case and by columns in the other.
  const int64_t shapes[][3] = {{300, 128, 80}, {8, 256, 1200}};
  for (const auto& s : shapes) {
    const int64_t M = s[0], in = s[1], out = s[2];
    Tensor x = randn({M, in}, rng).set_requires_grad(), w = randn({out, in}, rng).set_requires_grad();
    Tensor b = randn({out}, rng).set_requires_grad();
    Tensor y = linear(x, w, b);
    std::vector<double> ref = naive_mm(x.data(), transpose2d(w).data(), M, in, out);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t o = 0; o < out; ++o) ref[m * out + o] += b.data()[o];
    check_close(y, to_tensor({M, out}, ref), 1e-3, 1e-4, "y");
    Tensor g = randn({M, out}, rng);
    autograd::backward(y, g);
    check_close(x.grad(), to_tensor({M, in}, naive_mm(g.data(), w.data(), M, out, in)), 1e-3, 1e-4, "grad x");
    check_close(w.grad(), to_tensor({out, in}, naive_mm(transpose2d(g).data(), x.data(), out, M, in)), 1e-3, 1e-4,
                "grad w");
    std::vector<double> gb(out, 0.0);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t o = 0; o < out; ++o) gb[o] += g.data()[m * out + o];
    check_close(b.grad(), to_tensor({out}, gb), 1e-3, 1e-4, "grad bias");
  }
}

TEST_CASE("linear: the bias gradient is the double column sum in row order, added, for 1 and 2 threads alike") {
  Rng rng(21);
  const int64_t M = 700, in = 8, out = 200;   // 200 columns: blocks of 48 and a partial one over the threads
  const std::vector<float> dy = randn({M, out}, rng).to_vector(), x = randn({M, in}, rng).to_vector();
  const std::vector<float> w = randn({out, in}, rng).to_vector(), db0 = randn({out}, rng).to_vector();
  std::vector<float> ref = db0;
  for (int64_t o = 0; o < out; ++o) {
    double s = 0;
    for (int64_t m = 0; m < M; ++m) s += dy[m * out + o];
    ref[o] += static_cast<float>(s);
  }
  const int before = omp_get_max_threads();
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    std::vector<float> db = db0;
    kernels::linear_backward_cpu(nullptr, nullptr, db.data(), dy.data(), x.data(), w.data(), true, M, in, out);
    CHECK(db == ref);
  }
  omp_set_num_threads(before);
}

TEST_CASE("linear: with dx, the bias gradient comes from dx's product in groups of 16 rows, the same bits on every path") {
  // The panel GEMM's epilogue sums groups of 16 rows (float, in order) that are then added in order in double:
  // within float rounding of the double column sums, and bitwise the same for 1 and 2 threads and for fp32,
  // bf16 and AMX products (the sums read dy, not the products).
  Rng rng(22);
  const int64_t M = 1001, in = 96, out = 48;   // dx (M, 96): the panel path; M not a multiple of 16, 32 or 48
  const std::vector<float> dy = randn({M, out}, rng).to_vector(), x = randn({M, in}, rng).to_vector();
  const std::vector<float> w = randn({out, in}, rng).to_vector(), db0 = randn({out}, rng).to_vector();
  std::vector<double> ref(out);
  for (int64_t o = 0; o < out; ++o) {
    double s = 0;
    for (int64_t m = 0; m < M; ++m) s += dy[m * out + o];
    ref[o] = db0[o] + s;
  }
  const int before = omp_get_max_threads();
  std::vector<float> first;
  const bool amx_before = kernels::amx_enabled();
  for (const auto& [threads, precision, amx] : std::vector<std::tuple<int, kernels::MatmulPrecision, bool>>{
           {1, kernels::MatmulPrecision::fp32, false}, {2, kernels::MatmulPrecision::fp32, false},
           {2, kernels::MatmulPrecision::bf16, false}, {2, kernels::MatmulPrecision::bf16, true}}) {
    if (precision == kernels::MatmulPrecision::bf16 && !kernels::cpu_has_bf16()) continue;
    CAPTURE(threads);
    CAPTURE(amx);
    omp_set_num_threads(threads);
    kernels::MatmulPrecisionScope scope(precision);
    kernels::set_amx_enabled(amx);
    std::vector<float> db = db0, dx(static_cast<size_t>(M * in));
    kernels::linear_backward_cpu(dx.data(), nullptr, db.data(), dy.data(), x.data(), w.data(), false, M, in, out);
    for (int64_t o = 0; o < out; ++o) CHECK(std::abs(db[o] - ref[o]) <= 1e-5 * (1 + std::abs(ref[o])));
    if (first.empty()) first = db;
    CHECK(db == first);
  }
  kernels::set_amx_enabled(amx_before);
  omp_set_num_threads(before);
}

TEST_CASE("matmul: a batch spread over threads matches per-item products") {
  Rng rng(13);
  const int64_t B = 6, M = 20, K = 30, N = 25;
  Tensor a = randn({B, M, K}, rng).set_requires_grad(), b = randn({B, K, N}, rng).set_requires_grad();
  Tensor c = matmul(a, b);
  Tensor g = randn(c.shape(), rng);
  autograd::backward(c, g);
  for (int64_t i = 0; i < B; ++i) {
    CAPTURE(i);
    Tensor ai = a.detach().narrow0(i, 1).view({M, K}), bi = b.detach().narrow0(i, 1).view({K, N});
    Tensor gi = g.narrow0(i, 1).view({M, N});
    check_close(c.detach().narrow0(i, 1).view({M, N}), to_tensor({M, N}, naive_mm(ai.data(), bi.data(), M, K, N)),
                1e-4, 1e-4, "c");
    check_close(a.grad().narrow0(i, 1).view({M, K}),
                to_tensor({M, K}, naive_mm(gi.data(), transpose2d(bi).data(), M, N, K)), 1e-4, 1e-4, "grad a");
    check_close(b.grad().narrow0(i, 1).view({K, N}),
                to_tensor({K, N}, naive_mm(transpose2d(ai).data(), gi.data(), K, M, N)), 1e-4, 1e-4, "grad b");
  }
}

TEST_CASE("linear and matmul: wrong shapes throw, naming the op and the shapes") {
  CHECK_THROWS_WITH_AS(linear(Tensor::zeros({2, 3}), Tensor::zeros({5, 4}), Tensor()),
                       "linear: x must be (..., in) with in = w.size(1) (x [2, 3], w [5, 4], bias none)",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(linear(Tensor::zeros({2, 4}), Tensor::zeros({5, 4}), Tensor::zeros({4})),
                       "linear: bias must be (out) (x [2, 4], w [5, 4], bias [4])", std::invalid_argument);
  CHECK_THROWS_AS(linear(Tensor::zeros({2, 4}), Tensor::zeros({4}), Tensor()), std::invalid_argument);
  CHECK_THROWS_WITH_AS(matmul(Tensor::zeros({2, 3, 4}), Tensor::zeros({3, 4, 2})),
                       "matmul: batch dimensions differ (b must have a's leading dimensions, or be 2-D), "
                       "a [2, 3, 4] @ b [3, 4, 2]",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(matmul(Tensor::zeros({3, 4}), Tensor::zeros({5, 2})),
                       "matmul: inner sizes differ, a [3, 4] @ b [5, 2]", std::invalid_argument);
  CHECK_THROWS_AS(matmul(Tensor::zeros({4}), Tensor::zeros({4, 2})), std::invalid_argument);
}

// ---- the register-blocked panels of linear layers (kernels/cpu/gemm_panel.h) vs OpenBLAS --------------------

TEST_CASE("linear panels: forward, dx and dw equal OpenBLAS's products at row / panel tails, adding into outputs") {
  Rng rng(31);
  // M = 101: two 48-row blocks and a 5-row tail; N = 48: one 32-column panel and one of 16; K = 7.
  for (auto [M, K, N] : {std::tuple<int64_t, int64_t, int64_t>{101, 7, 48}, {6, 96, 384}, {50, 384, 96}}) {
    const std::vector<float> a = randn({M, K}, rng).to_vector(), w = randn({N, K}, rng).to_vector();
    const std::vector<float> bias = randn({N}, rng).to_vector(), dy = randn({M, N}, rng).to_vector();
    // y = a w^T + bias (assigns)
    std::vector<float> y(M * N, 1e9f), ref(M * N);
    REQUIRE(kernels::gemm_panel_cpu(y.data(), a.data(), w.data(), bias.data(), M, N, K, true, false));
    for (int64_t i = 0; i < M; ++i) std::copy(bias.begin(), bias.end(), ref.begin() + i * N);
    kernels::gemm_cpu(ref.data(), a.data(), w.data(), M, N, K, false, true, 1.f, 1.f, K, K, N);
    // float sums of K products of N(0, 1) numbers in another order: rounding grows with K
    const double tol = 2e-6 * static_cast<double>(std::max(K, N)) + 1e-6;
    auto close = [&](float u, float v) { return std::fabs(static_cast<double>(u) - v) <= tol * (1 + std::fabs(v)); };
    for (size_t i = 0; i < y.size(); ++i) REQUIRE(close(y[i], ref[i]));
    // dx (M, K) += dy w: here with K as the output width it needs K % 16 == 0, else the panel declines
    std::vector<float> dx(M * K, 0.5f), dref(M * K, 0.5f);
    const bool took = kernels::gemm_panel_cpu(dx.data(), dy.data(), w.data(), nullptr, M, K, N, false, true);
    CHECK(took == (K % 16 == 0));
    if (took) {
      kernels::gemm_cpu(dref.data(), dy.data(), w.data(), M, K, N, false, false, 1.f, 1.f, N, K, K);
      for (size_t i = 0; i < dx.size(); ++i) REQUIRE(close(dx[i], dref[i]));
    }
    // dw (N, K) += dy^T a, pre-filled: needs K % 16 == 0 as well
    std::vector<float> dw(N * K), wref(N * K);
    for (size_t i = 0; i < dw.size(); ++i) dw[i] = wref[i] = 0.25f * static_cast<float>(i % 7);
    const bool took_w = kernels::gemm_panel_at_b_cpu(dw.data(), dy.data(), a.data(), M, N, K);
    CHECK(took_w == (K % 16 == 0));
    if (took_w) {
      kernels::gemm_cpu(wref.data(), dy.data(), a.data(), N, K, M, true, false, 1.f, 1.f, N, K, K);
      for (size_t i = 0; i < dw.size(); ++i) REQUIRE(std::fabs(dw[i] - wref[i]) <= 2e-6 * M * (1 + std::fabs(wref[i])));
    }
  }
}

TEST_CASE("linear: finite-difference gradients through the panel path (widths multiples of 16)") {
  Rng rng(32);
  Tensor x = randn({13, 16}, rng).set_requires_grad(), w = randn({32, 16}, rng).set_requires_grad();
  Tensor b = randn({32}, rng).set_requires_grad();
  test::gradcheck([](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); }, {x, w, b});
}

TEST_CASE("linear backward: add_dx false writes every element of dx (NaN-filled) as adding into zeros does") {
  // Widths 32 (the AVX-512 panel path where the CPU has it) and 20 (OpenBLAS with beta 0), fp32.
  Rng rng(21);
  for (int64_t in : {32, 20}) {
    const int64_t M = 37, out = 48;
    const std::vector<float> dy = randn({M, out}, rng).to_vector(), x = randn({M, in}, rng).to_vector(),
                             w = randn({out, in}, rng).to_vector();
    std::vector<float> written(static_cast<size_t>(M * in), std::numeric_limits<float>::quiet_NaN());
    std::vector<float> added(static_cast<size_t>(M * in), 0.f), pre = randn({M, in}, rng).to_vector(), sum = pre;
    kernels::linear_backward_cpu(written.data(), nullptr, nullptr, dy.data(), x.data(), w.data(), false, M, in, out);
    kernels::linear_backward_cpu(added.data(), nullptr, nullptr, dy.data(), x.data(), w.data(), true, M, in, out);
    kernels::linear_backward_cpu(sum.data(), nullptr, nullptr, dy.data(), x.data(), w.data(), true, M, in, out);
    CAPTURE(in);
    CHECK(written == added);   // (a NaN left anywhere fails: NaN != NaN)
    double worst = 0;
    for (size_t i = 0; i < sum.size(); ++i) worst = std::max(worst, std::fabs(double(sum[i]) - pre[i] - added[i]));
    CHECK(worst < 1e-4);       // add_dx true still adds
  }
}
