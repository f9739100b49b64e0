#include "autograd/upsample_conv.h"

#include <stdexcept>
#include <string>

#include "autograd/engine.h"
#include "autograd/shape.h"
#include "kernels/elementwise.h"
#include "kernels/upsample_conv.h"

namespace ssmtl {
namespace k = kernels;

namespace {

// w (Cout, Cin, 3, 3) -> the phases' kernels (4 Cout, Cin, 2, 2).
struct FoldUpsampleWeightsNode : Node {
  int64_t Cout, Cin;
  FoldUpsampleWeightsNode(int64_t co, int64_t ci) : Cout(co), Cin(ci) {}
  const char* name() const override { return "FoldUpsampleWeightsBackward"; }
  void backward(const Tensor& grad) override {
    if (float* dw = autograd::grad_buffer(inputs[0]))   // zero-filled or another user's: the kernel adds
      SSMTL_DISPATCH(grad.device(), k::upsample_conv_fold_weights_backward, dw, grad.data(), Cout, Cin);
  }
};

// y (N, 4 C, H + 1, W + 1) -> out (N, C, 2 H, 2 W).
struct InterleavePhasesNode : Node {
  int64_t N, C, H, W;
  InterleavePhasesNode(int64_t n, int64_t c, int64_t h, int64_t w) : N(n), C(c), H(h), W(w) {}
  const char* name() const override { return "InterleavePhasesBackward"; }
  void backward(const Tensor& grad) override {
    const autograd::GradOut gy = autograd::grad_out(inputs[0]);
    if (!gy.data) return;
    if (!gy.add) {   // a new gradient: written whole (the unread border included)
      SSMTL_DISPATCH(grad.device(), k::upsample_conv_interleave_backward, gy.data, grad.data(), N, C, H, W);
      return;
    }
    Tensor t = Tensor::empty(inputs[0].shape(), grad.device());
    SSMTL_DISPATCH(grad.device(), k::upsample_conv_interleave_backward, t.data(), grad.data(), N, C, H, W);
    SSMTL_DISPATCH(grad.device(), k::axpy, gy.data, t.data(), 1.f, t.numel());
  }
};

void check_args(const char* op, const Tensor& x, const Tensor& w, const Tensor& bias) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument(std::string(op) + ": " + why + " (x " +
                                (x.defined() ? shape_str(x.shape()) : std::string("undefined")) + ", w " +
                                (w.defined() ? shape_str(w.shape()) : std::string("undefined")) + ", bias " +
                                (bias.defined() ? shape_str(bias.shape()) : std::string("none")) + ")");
  };
  if (!x.defined() || !w.defined()) fail("x and w must be defined");
  if (x.dim() != 4) fail("x must be (N, Cin, H, W)");
  if (x.size(2) < 1 || x.size(3) < 1) fail("x must have H, W >= 1");   // (as the composition: its 3x3 kernel needs them)
  if (w.dim() != 4 || w.size(1) != x.size(1) || w.size(2) != 3 || w.size(3) != 3) fail("w must be (Cout, Cin, 3, 3)");
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != w.size(0))) fail("bias must be (Cout)");
  check_same_device(x, w, op);
  if (bias.defined()) check_same_device(x, bias, op);
}

// bn's tensors: (C) each, running statistics defined, on x's device; errors name op (before they are repeated per
// phase, whose sizes would be 4 C).
void check_bn(const char* op, const Tensor& x, const EvalBatchNorm& bn, int64_t C) {
  auto one = [&](const Tensor& t, const char* name, bool required) {
    if (!t.defined()) {
      if (required) throw std::invalid_argument(std::string(op) + ": bn." + name + " must be defined");
      return;
    }
    if (t.dim() != 1 || t.size(0) != C)
      throw std::invalid_argument(std::string(op) + ": bn." + name + " must be (Cout) = (" + std::to_string(C) +
                                  "), got " + shape_str(t.shape()));
    check_same_device(x, t, op);
  };
  one(bn.gamma, "gamma", false);
  one(bn.beta, "beta", false);
  one(bn.running_mean, "running_mean", true);
  one(bn.running_var, "running_var", true);
}

Tensor fold_weights(const Tensor& w) {
  const int64_t Cout = w.size(0), Cin = w.size(1);
  Tensor w2 = Tensor::empty({4 * Cout, Cin, 2, 2}, w.device());
  SSMTL_DISPATCH(w.device(), k::upsample_conv_fold_weights, w2.data(), w.data(), Cout, Cin);
  if (autograd::needs_grad({&w})) {
    auto n = std::make_shared<FoldUpsampleWeightsNode>(Cout, Cin);
    n->inputs = {w};
    autograd::attach(w2, n);
  }
  return w2;
}

Tensor interleave(const Tensor& y, int64_t C, int64_t H, int64_t W) {
  const int64_t N = y.size(0);
  Tensor out = Tensor::empty({N, C, 2 * H, 2 * W}, y.device());
  if (out.numel() == 0) return out;
  SSMTL_DISPATCH(y.device(), k::upsample_conv_interleave_forward, out.data(), y.data(), N, C, H, W);
  if (autograd::needs_grad({&y})) {
    auto n = std::make_shared<InterleavePhasesNode>(N, C, H, W);
    n->inputs = {y};
    autograd::attach(out, n);
  }
  return out;
}

// A per-channel (C) tensor repeated for the 4 phases (4 C); undefined stays undefined.
Tensor per_phase(const Tensor& t) { return t.defined() ? concat({t, t, t, t}, 0) : t; }

Conv2dOptions pad1() {
  Conv2dOptions o;
  o.padding[0] = o.padding[1] = 1;
  return o;
}

}  // namespace

Tensor upsample2x_conv2d(const Tensor& x, const Tensor& w, const Tensor& bias) {
  check_args("upsample2x_conv2d", x, w, bias);
  const Tensor y = conv2d(x, fold_weights(w), per_phase(bias), pad1());
  return interleave(y, w.size(0), x.size(2), x.size(3));
}

Tensor upsample2x_conv2d_bn_relu_eval(const Tensor& x, const Tensor& w, const Tensor& bias, const EvalBatchNorm& bn) {
  const char* op = "upsample2x_conv2d_bn_relu_eval";
  check_args(op, x, w, bias);
  check_bn(op, x, bn, w.size(0));
  if (autograd::needs_grad({&x, &w, &bias, &bn.gamma, &bn.beta}))
    throw std::invalid_argument(std::string(op) + ": records no gradient; run it under autograd::NoGradGuard");
  const EvalBatchNorm bn4{per_phase(bn.gamma), per_phase(bn.beta), per_phase(bn.running_mean),
                          per_phase(bn.running_var), bn.eps};
  const Tensor y = conv2d_bn_relu_eval(x, fold_weights(w), per_phase(bias), bn4, pad1());
  return interleave(y, w.size(0), x.size(2), x.size(3));
}

}  // namespace ssmtl
