// Finite-difference gradient check for doctest tests.
//
// L(inputs) = sum_i f(inputs)_i * R_i with a fixed random projection R (so every output element
// matters). The analytic gradient comes from backward; each input's gradient buffer is first
// pre-filled with a known random G0 and G0 is subtracted afterwards, which proves that backward ADDS
// into gradients. The numeric gradient is the central difference (L(x+eps) - L(x-eps)) / (2 eps),
// with L accumulated in double. Passes when |analytic - numeric| <= atol + rtol * |numeric| for
// every element of every input that requires a gradient.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "tensor/rng.h"

namespace ssmtl::test {

struct GradCheckOptions {
  float eps = 1e-2f;
  double atol = 2e-3;
  double rtol = 2e-2;
  uint64_t seed = 12345;
  // Fraction of elements allowed outside the tolerance. 0 for single ops; a whole network's check
  // may allow a few elements whose +-eps step crosses a ReLU or max-pool kink (say so where used).
  double max_bad_fraction = 0.0;
};

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

inline double projected_loss(const Fn& f, const std::vector<Tensor>& in, const std::vector<float>& r) {
  autograd::NoGradGuard ng;
  Tensor y = f(in);
  std::vector<float> v = y.to_vector();
  REQUIRE(v.size() == r.size());
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += static_cast<double>(v[i]) * r[i];
  return s;
}

// Inputs that should be checked must have requires_grad set; they are CPU tensors.
inline void gradcheck(const Fn& f, std::vector<Tensor> inputs, GradCheckOptions o = {}) {
  Rng rng(o.seed);
  Tensor y0;
  {
    autograd::NoGradGuard ng;
    y0 = f(inputs);
  }
  std::vector<float> r = randn(y0.shape(), rng).to_vector();
  // Analytic, with pre-filled gradients.
  std::vector<std::vector<float>> g0(inputs.size());
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!inputs[k].requires_grad()) continue;
    Tensor pre = randn(inputs[k].shape(), rng);
    g0[k] = pre.to_vector();
    inputs[k].zero_grad();
    float* gb = autograd::grad_buffer(inputs[k]);
    std::copy(g0[k].begin(), g0[k].end(), gb);
  }
  Tensor y = f(inputs);
  autograd::backward(y, Tensor::from_vector(y.shape(), r));
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!inputs[k].requires_grad()) continue;
    REQUIRE_MESSAGE(inputs[k].grad().defined(), "input " << k << " got no gradient");
    std::vector<float> ga = inputs[k].grad().to_vector();
    float* x = inputs[k].data();
    int bad = 0;
    for (size_t i = 0; i < ga.size(); ++i) {
      float keep = x[i];
      x[i] = keep + o.eps;
      double lp = projected_loss(f, inputs, r);
      x[i] = keep - o.eps;
      double lm = projected_loss(f, inputs, r);
      x[i] = keep;
      double num = (lp - lm) / (2.0 * o.eps);
      double ana = static_cast<double>(ga[i]) - g0[k][i];
      if (std::fabs(ana - num) > o.atol + o.rtol * std::fabs(num)) {
        if (bad++ < 5 && o.max_bad_fraction == 0.0)
          FAIL_CHECK("input " << k << " element " << i << ": analytic " << ana << " vs numeric " << num);
      }
    }
    CHECK_MESSAGE(bad <= o.max_bad_fraction * static_cast<double>(ga.size()),
                  "input " << k << ": " << bad << " of " << ga.size() << " gradient elements off");
    inputs[k].zero_grad();
  }
}

// Element-wise closeness of two tensors: |a - b| <= atol + rtol * |b|; reports the worst element.
inline void check_close(const Tensor& a, const Tensor& b, double atol = 1e-5, double rtol = 1e-4,
                        const std::string& what = "") {
  REQUIRE_MESSAGE(a.shape() == b.shape(), what << ": shape " << shape_str(a.shape()) << " vs " << shape_str(b.shape()));
  std::vector<float> va = a.to_vector(), vb = b.to_vector();
  double worst = 0;
  size_t wi = 0;
  int bad = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    double d = std::fabs(static_cast<double>(va[i]) - vb[i]);
    if (!(d <= atol + rtol * std::fabs(vb[i]))) {
      ++bad;
      if (!(d <= worst)) { worst = d; wi = i; }
    }
  }
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " of " << va.size() << " elements differ; worst at " << wi
                               << ": " << (va.empty() ? 0.f : va[wi]) << " vs " << (vb.empty() ? 0.f : vb[wi]));
}

}  // namespace ssmtl::test
