// linear_gelu (autograd/linear.h): gelu(linear(x, w, b)) as one op, with GELU fused into the product's row
// blocks on the CPU's panel path (kernels/matmul.h linear_gelu_forward_cpu).
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "autograd/activation.h"
#include "autograd/elementwise.h"
#include "autograd/engine.h"
#include "autograd/linear.h"
#include "kernels/activation.h"
#include "kernels/matmul.h"
#include "kernels/precision.h"
#include "tensor/rng.h"
#include "tests/gradcheck.h"
#include "tests/reference.h"

using namespace ssmtl;

namespace {

// y and the gradients of sum(y * r) for x, w, b (b undefined: none).
struct Result {
  std::vector<float> y, gx, gw, gb;
};

Result run(bool fused, const Tensor& x0, const Tensor& w0, const Tensor& b0, const Tensor& r) {
  Tensor x = x0.clone().set_requires_grad(), w = w0.clone().set_requires_grad();
  Tensor b = b0.defined() ? b0.clone().set_requires_grad() : Tensor();
  Tensor y = fused ? linear_gelu(x, w, b) : gelu(linear(x, w, b));
  autograd::backward(sum(mul(y, r)));
  return {y.to_vector(), x.grad().to_vector(), w.grad().to_vector(), b.defined() ? b.grad().to_vector()
                                                                                  : std::vector<float>{}};
}

// Bit patterns equal (so -0 != +0 and NaN == NaN of the same payload).
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return false;
  return true;
}

}  // namespace

TEST_CASE("linear_gelu: forward and gradients match PyTorch's F.gelu(F.linear(x, w, b))") {
  test::RefFile ref("linear_gelu");
  for (std::string name : {"small", "panel", "nobias"}) {
    CAPTURE(name);
    const bool bias = name != "nobias";
    Tensor x = ref.get(name + "/x").set_requires_grad(), w = ref.get(name + "/w").set_requires_grad();
    Tensor b = bias ? ref.get(name + "/b").set_requires_grad() : Tensor();
    Tensor y = linear_gelu(x, w, b);
    test::check_close(y, ref.get(name + "/y"), 2e-6, 1e-5, name + " y");
    autograd::backward(sum(mul(y, ref.get(name + "/r"))));
    test::check_close(x.grad(), ref.get(name + "/gx"), 1e-5, 1e-5, name + " grad x");
    test::check_close(w.grad(), ref.get(name + "/gw"), 1e-5, 1e-5, name + " grad w");
    if (bias) test::check_close(b.grad(), ref.get(name + "/gb"), 1e-5, 1e-5, name + " grad b");
  }
}

TEST_CASE("linear_gelu: finite-difference gradients, plain and panel paths (backward adds into gradients)") {
  Rng rng(41);
  auto f = [](const std::vector<Tensor>& t) { return linear_gelu(t[0], t[1], t.size() > 2 ? t[2] : Tensor()); };
  // 5 outputs: OpenBLAS then GELU; 32 outputs: the panel path with GELU in its epilogue.
  test::gradcheck(f, {randn({2, 3, 4}, rng).set_requires_grad(), randn({5, 4}, rng).set_requires_grad(),
                      randn({5}, rng).set_requires_grad()});
  test::gradcheck(f, {randn({13, 16}, rng).set_requires_grad(), randn({32, 16}, rng, 0.f, 0.3f).set_requires_grad(),
                      randn({32}, rng).set_requires_grad()});
  test::gradcheck(f, {randn({6, 8}, rng).set_requires_grad(), randn({16, 8}, rng).set_requires_grad()});
}

TEST_CASE("linear_gelu: bitwise gelu(linear(...)), values and gradients, fp32 and bf16, 1 and 2 threads") {
  Rng rng(42);
  // (rows, in, out): row blocks of 48 with a tail and panels of 32 / 48 columns with a 16 tail; the CvT's MLP
  // widths; an output width that is no multiple of 16 (no panel path); and a single row.
  const std::vector<std::tuple<int64_t, int64_t, int64_t>> shapes = {
      {101, 16, 48}, {200, 96, 384}, {37, 20, 13}, {1, 32, 16}, {130, 7, 80}};
  std::vector<kernels::MatmulPrecision> precisions = {kernels::MatmulPrecision::fp32};
  if (kernels::cpu_has_bf16()) precisions.push_back(kernels::MatmulPrecision::bf16);
  const int threads = omp_get_max_threads();
  for (auto p : precisions) {
    kernels::MatmulPrecisionScope scope(p);
    for (auto [M, in, out] : shapes) {
      const Tensor x = randn({M, in}, rng), w = randn({out, in}, rng, 0.f, 0.5f), b = randn({out}, rng);
      const Tensor r = randn({M, out}, rng);
      for (int nt : {1, 2}) {
        const int precision = static_cast<int>(p);
        CAPTURE(M);
        CAPTURE(in);
        CAPTURE(out);
        CAPTURE(nt);
        CAPTURE(precision);
        omp_set_num_threads(nt);
        const Result a = run(true, x, w, b, r), e = run(false, x, w, b, r);
        CHECK(same_bits(a.y, e.y));
        CHECK(same_bits(a.gx, e.gx));
        CHECK(same_bits(a.gw, e.gw));
        CHECK(same_bits(a.gb, e.gb));
        const Result a0 = run(true, x, w, Tensor(), r), e0 = run(false, x, w, Tensor(), r);
        CHECK(same_bits(a0.y, e0.y));
        CHECK(same_bits(a0.gx, e0.gx));
      }
      omp_set_num_threads(threads);
    }
  }
}

TEST_CASE("linear_gelu: the kernel without z (inference) gives the same y, and with z the pre-activation") {
  Rng rng(43);
  for (auto [M, in, out] : {std::tuple<int64_t, int64_t, int64_t>{101, 16, 48}, {9, 5, 7}}) {
    CAPTURE(out);
    const std::vector<float> x = randn({M, in}, rng).to_vector(), w = randn({out, in}, rng).to_vector();
    const std::vector<float> b = randn({out}, rng).to_vector();
    std::vector<float> y(M * out, 7.f), z(M * out, 7.f), y_only(M * out, 7.f), pre(M * out), want(M * out);
    kernels::linear_gelu_forward_cpu(y.data(), z.data(), x.data(), w.data(), b.data(), M, in, out);
    kernels::linear_gelu_forward_cpu(y_only.data(), nullptr, x.data(), w.data(), b.data(), M, in, out);
    kernels::linear_forward_cpu(pre.data(), x.data(), w.data(), b.data(), M, in, out);
    kernels::gelu_forward_cpu(want.data(), pre.data(), M * out);
    CHECK(same_bits(z, pre));
    CHECK(same_bits(y, want));
    CHECK(same_bits(y_only, want));
    // against the formula with the C library's erf (erf_approx is within 3.5e-7)
    CHECK(std::fabs(want[0] - 0.5 * pre[0] * (1 + std::erf(pre[0] / std::sqrt(2.0)))) < 1e-6 * (1 + std::fabs(pre[0])));
  }
  autograd::NoGradGuard ng;
  Rng r2(44);
  const Tensor x = randn({50, 32}, r2), w = randn({48, 32}, r2), b = randn({48}, r2);
  CHECK(same_bits(linear_gelu(x, w, b).to_vector(), gelu(linear(x, w, b)).to_vector()));
}

TEST_CASE("linear_gelu: wrong shapes throw, naming the op and the shapes") {
  const Tensor x = Tensor::zeros({3, 4}), w = Tensor::zeros({5, 4}), b = Tensor::zeros({5});
  CHECK_THROWS_WITH_AS(linear_gelu(x, Tensor::zeros({5, 3}), b), doctest::Contains("linear_gelu: x must be"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(linear_gelu(x, w, Tensor::zeros({4})), doctest::Contains("linear_gelu: bias must be (out) (x [3, 4], w [5, 4], bias [4])"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(linear_gelu(x, Tensor::zeros({20}), b), doctest::Contains("w must be (out, in)"),
                       std::invalid_argument);
}
