#include "autograd/dropout.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "kernels/elementwise.h"

namespace ssmtl {
namespace k = kernels;

namespace {

struct DropoutNode : Node {
  Tensor mask;   // x's shape: 0 or 1 / (1 - p)
  explicit DropoutNode(Tensor m) : mask(std::move(m)) {}
  const char* name() const override { return "DropoutBackward"; }
  void backward(const Tensor& g) override {
    if (float* dx = autograd::grad_buffer(inputs[0]))
      SSMTL_DISPATCH(g.device(), k::mul_backward, dx, g.data(), mask.data(), g.numel());
  }
};

}  // namespace

Tensor dropout(const Tensor& x, float p, bool training, Rng& rng) {
  if (!(p >= 0.f && p <= 1.f)) throw std::invalid_argument("dropout: p must be in [0, 1], got " + std::to_string(p));
  if (!training || p == 0.f) return x;
  // The mask is drawn on the host from the caller's Rng (reproducible), then moved to x's device.
  const float keep_scale = p < 1.f ? 1.f / (1.f - p) : 0.f;
  std::vector<float> m(static_cast<size_t>(x.numel()));
  for (float& v : m) v = rng.uniform() < p ? 0.f : keep_scale;
  Tensor mask = Tensor::from_vector(x.shape(), m).to(x.device());
  Tensor y = Tensor::empty(x.shape(), x.device());
  SSMTL_DISPATCH(x.device(), k::mul_forward, y.data(), x.data(), mask.data(), x.numel());
  if (autograd::needs_grad({&x})) {
    auto n = std::make_shared<DropoutNode>(mask);
    n->inputs = {x};
    autograd::attach(y, n);
  }
  return y;
}

}  // namespace ssmtl
