// GPU-versus-CPU comparison of differentiable ops for the CUDA tests (tests/test_cuda_*.cpp).
//
// check_op runs an op on CPU copies and on CUDA copies of the same inputs, compares the forward output and
// then, after backward with the same random output gradient, every input gradient. It also checks on the
// GPU that a repeated forward is bit-identical (deterministic kernels) and that a second backward ADDS the
// same gradient again (the kernels' accumulate contract).
// Tolerance per element: |gpu - cpu| <= atol + rtol * |cpu| (NaN never passes).
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "tensor/device.h"
#include "tensor/rng.h"

namespace ssmtl::test {

struct Tol {
  float atol, rtol;
};

// Counts the elements outside the tolerance and reports the worst one.
inline void expect_close(const std::vector<float>& got, const std::vector<float>& want, Tol tol,
                         const std::string& what) {
  REQUIRE_MESSAGE(got.size() == want.size(), what << ": " << got.size() << " vs " << want.size() << " elements");
  size_t bad = 0, worst = 0;
  double worst_excess = -1.0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    const double lim = tol.atol + tol.rtol * std::fabs(static_cast<double>(want[i]));
    const bool ok = err <= lim;   // false for NaN
    const double excess = ok ? err / (lim > 0 ? lim : 1.0) : 1e300;
    if (!ok) ++bad;
    if (excess > worst_excess) worst_excess = excess, worst = i;
  }
  if (got.empty()) return;
  INFO(what << ": " << bad << " of " << got.size() << " elements outside atol " << tol.atol << " rtol " << tol.rtol
            << "; worst at " << worst << ": gpu " << got[worst] << ", cpu " << want[worst]);
  CHECK(bad == 0);
}

inline void expect_close(const Tensor& got, const Tensor& want, Tol tol, const std::string& what) {
  REQUIRE_MESSAGE(got.defined(), what << ": GPU tensor undefined");
  REQUIRE_MESSAGE(want.defined(), what << ": CPU tensor undefined");
  CHECK_MESSAGE(got.shape() == want.shape(), what << ": shapes " << shape_str(got.shape()) << " vs "
                                                  << shape_str(want.shape()));
  expect_close(got.to_vector(), want.to_vector(), tol, what);
}

inline void expect_identical(const Tensor& a, const Tensor& b, const std::string& what) {
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  REQUIRE(x.size() == y.size());
  size_t differ = 0;
  for (size_t i = 0; i < x.size(); ++i) differ += std::memcmp(&x[i], &y[i], sizeof(float)) != 0;
  CHECK_MESSAGE(differ == 0, what << ": " << differ << " of " << x.size() << " elements differ between two runs");
}

using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;

struct OpCase {
  std::string name;
  std::vector<Tensor> inputs;   // CPU tensors
  std::vector<bool> grad;       // which inputs get a gradient (empty: all)
  OpFn f;
  Tol fwd{1e-6f, 1e-5f};
  Tol bwd{1e-6f, 1e-5f};
};

inline std::vector<Tensor> copies_on(const OpCase& c, Device d) {
  std::vector<Tensor> out;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    Tensor t = d == Device::CPU ? c.inputs[i].clone() : c.inputs[i].to(d);
    if (c.grad.empty() || c.grad[i]) t.set_requires_grad();
    out.push_back(t);
  }
  return out;
}

inline void check_op(const OpCase& c, uint64_t seed = 7) {
  INFO("op " << c.name);
  std::vector<Tensor> xc = copies_on(c, Device::CPU), xg = copies_on(c, Device::CUDA);
  Tensor yc = c.f(xc), yg = c.f(xg);
  REQUIRE(yg.device() == Device::CUDA);
  expect_close(yg, yc, c.fwd, c.name + " forward");
  {
    autograd::NoGradGuard ng;
    expect_identical(c.f(xg), yg, c.name + " forward (repeat)");
  }
  if (!yc.requires_grad()) return;
  Rng rng(seed);
  const Tensor gout = randn(yc.shape(), rng);
  const Tensor gout_gpu = gout.to(Device::CUDA);
  autograd::backward(yc, gout);
  autograd::backward(yg, gout_gpu);
  std::vector<std::vector<float>> first(xg.size());
  for (size_t i = 0; i < xg.size(); ++i) {
    if (!xg[i].requires_grad()) continue;
    REQUIRE_MESSAGE(xg[i].grad().defined(), c.name << ": input " << i << " got no gradient on the GPU");
    expect_close(xg[i].grad(), xc[i].grad(), c.bwd, c.name + " gradient of input " + std::to_string(i));
    first[i] = xg[i].grad().to_vector();
  }
  // A second backward adds the same gradient again (and, the kernels being deterministic, exactly twice it
  // up to the rounding of that one addition).
  autograd::backward(c.f(xg), gout_gpu);
  for (size_t i = 0; i < xg.size(); ++i) {
    if (first[i].empty()) continue;
    std::vector<float> twice(first[i]);
    for (float& v : twice) v *= 2.f;
    expect_close(xg[i].grad().to_vector(), twice, Tol{1e-5f, 1e-5f},
                 c.name + " gradient of input " + std::to_string(i) + " after a second backward");
  }
}

}  // namespace ssmtl::test
