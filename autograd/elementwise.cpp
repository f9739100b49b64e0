#include "autograd/elementwise.h"

#include <stdexcept>

#include "autograd/engine.h"
#include "kernels/elementwise.h"

namespace ssmtl {
using autograd::grad_buffer;
namespace k = kernels;

namespace {

// dst += alpha g, the gradient of a sum; 3 floats of memory traffic per element (g read, dst read and written).
void axpy_grad(float* dst, const Tensor& g, float alpha) {
  autograd::book_bytes(4.0 * 3 * g.numel(), g);
  SSMTL_DISPATCH(g.device(), k::axpy, dst, g.data(), alpha, g.numel());
}

struct AddNode : Node {
  float alpha;
  explicit AddNode(float al) : alpha(al) {}
  const char* name() const override { return alpha == 1.f ? "AddBackward" : "SubBackward"; }
  void backward(const Tensor& g) override {
    // Write-first: one input may take g's buffer itself; the other then gets a copy (or adds into its own).
    const bool taken = autograd::pass_grad(inputs[1], g, alpha, true);
    autograd::pass_grad(inputs[0], g, 1.f, !taken);
  }
};

struct MulNode : Node {
  const char* name() const override { return "MulBackward"; }
  void backward(const Tensor& g) override {
    if (float* ga = grad_buffer(inputs[0]))
      SSMTL_DISPATCH(g.device(), k::mul_backward, ga, g.data(), inputs[1].data(), g.numel());
    if (float* gb = grad_buffer(inputs[1]))
      SSMTL_DISPATCH(g.device(), k::mul_backward, gb, g.data(), inputs[0].data(), g.numel());
  }
};

struct AffineNode : Node {
  float s;
  explicit AffineNode(float s_) : s(s_) {}
  const char* name() const override { return "ScaleBackward"; }
  void backward(const Tensor& g) override {
    if (float* ga = grad_buffer(inputs[0])) axpy_grad(ga, g, s);
  }
};

struct SumNode : Node {
  float s;
  explicit SumNode(float s_) : s(s_) {}
  const char* name() const override { return "SumBackward"; }
  void backward(const Tensor& g) override {
    if (float* ga = grad_buffer(inputs[0]))
      SSMTL_DISPATCH(g.device(), k::sum_backward, ga, g.data(), s, inputs[0].numel());
  }
};

struct ChannelBiasNode : Node {
  int64_t outer, C, inner;
  ChannelBiasNode(int64_t o, int64_t c, int64_t i) : outer(o), C(c), inner(i) {}
  const char* name() const override { return "AddChannelBiasBackward"; }
  void backward(const Tensor& g) override {
    if (float* gx = grad_buffer(inputs[0])) axpy_grad(gx, g, 1.f);
    if (float* gb = grad_buffer(inputs[1]))
      SSMTL_DISPATCH(g.device(), k::channel_sum_backward, gb, g.data(), outer, C, inner);
  }
};

struct ReshapeNode : Node {
  const char* name() const override { return "ReshapeBackward"; }
  void backward(const Tensor& g) override { autograd::pass_grad(inputs[0], g, 1.f, true); }
};

Tensor add_impl(const Tensor& a, const Tensor& b, float alpha) {
  check_same_shape(a, b, alpha == 1.f ? "add" : "sub");
  check_same_device(a, b, alpha == 1.f ? "add" : "sub");
  Tensor out = Tensor::empty(a.shape(), a.device());
  autograd::book_bytes(4.0 * 3 * a.numel(), a);   // a, b read, out written
  SSMTL_DISPATCH(a.device(), k::add_forward, out.data(), a.data(), b.data(), alpha, a.numel());
  if (autograd::needs_grad({&a, &b})) {
    auto n = std::make_shared<AddNode>(alpha);
    n->inputs = {a, b};
    autograd::attach(out, n);
  }
  return out;
}

Tensor affine_impl(const Tensor& a, float s, float c) {
  Tensor out = Tensor::empty(a.shape(), a.device());
  SSMTL_DISPATCH(a.device(), k::affine_forward, out.data(), a.data(), s, c, a.numel());
  if (autograd::needs_grad({&a})) {
    auto n = std::make_shared<AffineNode>(s);
    n->inputs = {a};
    autograd::attach(out, n);
  }
  return out;
}

Tensor sum_impl(const Tensor& a, float s) {
  Tensor out = Tensor::empty({}, a.device());
  SSMTL_DISPATCH(a.device(), k::sum_forward, out.data(), a.data(), a.numel());
  if (s != 1.f) SSMTL_DISPATCH(a.device(), k::affine_forward, out.data(), out.data(), s, 0.f, 1);
  if (autograd::needs_grad({&a})) {
    auto n = std::make_shared<SumNode>(s);
    n->inputs = {a};
    autograd::attach(out, n);
  }
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return add_impl(a, b, 1.f); }
Tensor sub(const Tensor& a, const Tensor& b) { return add_impl(a, b, -1.f); }

Tensor mul(const Tensor& a, const Tensor& b) {
  check_same_shape(a, b, "mul");
  check_same_device(a, b, "mul");
  Tensor out = Tensor::empty(a.shape(), a.device());
  autograd::book_bytes(4.0 * 3 * a.numel(), a);   // a, b read, out written
  SSMTL_DISPATCH(a.device(), k::mul_forward, out.data(), a.data(), b.data(), a.numel());
  if (autograd::needs_grad({&a, &b})) {
    auto n = std::make_shared<MulNode>();
    n->inputs = {a, b};
    autograd::attach(out, n);
  }
  return out;
}

Tensor scale(const Tensor& a, float s) { return affine_impl(a, s, 0.f); }
Tensor add_scalar(const Tensor& a, float c) { return affine_impl(a, 1.f, c); }
Tensor sum(const Tensor& a) { return sum_impl(a, 1.f); }
Tensor mean(const Tensor& a) {
  if (a.numel() == 0) throw std::invalid_argument("mean: empty tensor");
  return sum_impl(a, 1.f / static_cast<float>(a.numel()));
}

Tensor add_channel_bias(const Tensor& x, const Tensor& bias) {
  if (x.dim() < 2 || bias.dim() != 1 || bias.size(0) != x.size(1))
    throw std::invalid_argument("add_channel_bias: x " + shape_str(x.shape()) + ", bias " + shape_str(bias.shape()));
  check_same_device(x, bias, "add_channel_bias");
  int64_t outer = x.size(0), C = x.size(1), inner = x.numel() / std::max<int64_t>(outer * C, 1);
  Tensor out = Tensor::empty(x.shape(), x.device());
  SSMTL_DISPATCH(x.device(), k::add_channel_bias, out.data(), x.data(), bias.data(), outer, C, inner);
  if (autograd::needs_grad({&x, &bias})) {
    auto n = std::make_shared<ChannelBiasNode>(outer, C, inner);
    n->inputs = {x, bias};
    autograd::attach(out, n);
  }
  return out;
}

Tensor reshape(const Tensor& a, const Shape& shape) {
  Tensor out = a.view(shape);
  if (autograd::needs_grad({&a})) {
    auto n = std::make_shared<ReshapeNode>();
    n->inputs = {a};
    autograd::attach(out, n);
  }
  return out;
}

}  // namespace ssmtl
