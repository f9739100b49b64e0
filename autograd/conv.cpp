#include "autograd/conv.h"

#include <stdexcept>
#include <string>

#include "autograd/engine.h"
#include "autograd/eval_bn.h"
#include "kernels/conv3d.h"
#include "kernels/norm.h"
#include "kernels/pool.h"

namespace ssmtl {
using autograd::grad_buffer;
namespace k = kernels;

namespace {

bool is_depthwise(const k::Conv3dGeometry& g) { return g.groups == g.Cin && g.Cout == g.Cin; }

// Multiply-adds x 2 of one pass (forward, or one of the backward's dx / dw products), for the profiler.
double conv_flops(const k::Conv3dGeometry& g) {
  return 2.0 * g.N * g.Cout * g.Do * g.Ho * g.Wo * (g.Cin / g.groups) * g.kD * g.kH * g.kW;
}

// The profiler's shape of a convolution (`ssmtl profile --shapes`): N x Cin -> Cout, output D x H x W, kernel,
// stride and groups where not 1; `grads` names the backward's products ("" for a forward).
void note_conv_shape(const k::Conv3dGeometry& g, const char* grads = "") {
  SSMTL_PROF_SHAPE("%lldx%lld->%lld %lldx%lldx%lld k%lldx%lldx%lld%s%s%s", (long long)g.N, (long long)g.Cin,
                   (long long)g.Cout, (long long)g.Do, (long long)g.Ho, (long long)g.Wo, (long long)g.kD,
                   (long long)g.kH, (long long)g.kW, g.sD * g.sH * g.sW > 1 ? " strided" : "",
                   g.groups > 1 ? " grouped" : "", grads);
}

struct ConvNode : Node {
  k::Conv3dGeometry g;
  const char* op;
  ConvNode(const k::Conv3dGeometry& geo, const char* name) : g(geo), op(name) {}
  const char* name() const override { return op; }
  void backward(const Tensor& grad) override {
    // Write-first dx for the general kernels (a new gradient is written, not zero-filled and added into); the
    // NCDHW depthwise kernel adds.
    const autograd::GradOut dx = is_depthwise(g) ? autograd::GradOut{grad_buffer(inputs[0]), true}
                                                 : autograd::grad_out(inputs[0], inputs);
    float* dw = grad_buffer(inputs[1]);
    float* db = inputs.size() > 2 ? grad_buffer(inputs[2]) : nullptr;
    const float* x = inputs[0].data();
    const float* w = inputs[1].data();
    prof::add_flops(conv_flops(g) * ((dx.data ? 1 : 0) + (dw ? 1 : 0)));
    note_conv_shape(g, dx.data && dw ? " dx+dw" : dw ? " dw" : " dx");
    if (is_depthwise(g))
      SSMTL_DISPATCH(grad.device(), k::conv3d_depthwise_backward, dx.data, dw, db, grad.data(), x, w, g);
    else
      SSMTL_DISPATCH(grad.device(), k::conv3d_backward, dx.data, dw, db, grad.data(), x, w, dx.add, g);
  }
};

// x, w: 5-D views (or 4-D tensors whose memory is the D = 1 case); `spatial` = 3 or 2 for error messages and
// the output rank. Validates and returns the geometry and the output's shape.
k::Conv3dGeometry conv_geometry(const Tensor& x, const Tensor& w, const Tensor& bias, const int* stride,
                                const int* padding, int groups, int spatial, const char* op, Shape& os) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument(std::string(op) + ": " + why + " (x " +
                                (x.defined() ? shape_str(x.shape()) : std::string("undefined")) + ", w " +
                                (w.defined() ? shape_str(w.shape()) : std::string("undefined")) + ", bias " +
                                (bias.defined() ? shape_str(bias.shape()) : std::string("none")) + ")");
  };
  const int rank = spatial + 2;
  if (!x.defined() || !w.defined()) fail("x and w must be defined");
  if (x.dim() != rank) fail("x must have " + std::to_string(rank) + " dimensions");
  if (w.dim() != rank) fail("w must have " + std::to_string(rank) + " dimensions");
  if (groups < 1) fail("groups must be >= 1, got " + std::to_string(groups));
  k::Conv3dGeometry g{};
  g.N = x.size(0);
  g.Cin = x.size(1);
  g.Cout = w.size(0);
  g.groups = groups;
  if (g.Cin % groups != 0 || g.Cout % groups != 0)
    fail("groups = " + std::to_string(groups) + " must divide Cin and Cout");
  if (w.size(1) * groups != g.Cin)
    fail("w.size(1) must be Cin / groups = " + std::to_string(g.Cin / groups));
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != g.Cout)) fail("bias must be (Cout)");
  check_same_device(x, w, op);
  if (bias.defined()) check_same_device(x, bias, op);
  // Spatial sizes; the 2-D case has depth 1 and kernel depth 1.
  int64_t in[3] = {1, 1, 1}, ker[3] = {1, 1, 1}, s[3] = {1, 1, 1}, p[3] = {0, 0, 0}, out[3];
  for (int i = 0; i < spatial; ++i) {
    const int a = 3 - spatial + i;
    in[a] = x.size(2 + i);
    ker[a] = w.size(2 + i);
    s[a] = stride[i];
    p[a] = padding[i];
    if (s[a] < 1) fail("stride must be >= 1");
    if (p[a] < 0) fail("padding must be >= 0");
    if (ker[a] < 1 || in[a] + 2 * p[a] < ker[a]) fail("kernel larger than the padded input");
  }
  for (int a = 0; a < 3; ++a) out[a] = (in[a] + 2 * p[a] - ker[a]) / s[a] + 1;
  g.D = in[0], g.H = in[1], g.W = in[2];
  g.kD = ker[0], g.kH = ker[1], g.kW = ker[2];
  g.sD = s[0], g.sH = s[1], g.sW = s[2];
  g.pD = p[0], g.pH = p[1], g.pW = p[2];
  g.Do = out[0], g.Ho = out[1], g.Wo = out[2];

  os = {g.N, g.Cout};
  for (int i = 0; i < spatial; ++i) os.push_back(out[3 - spatial + i]);
  return g;
}

// Validates, runs the forward kernel and records the node.
Tensor conv_impl(const Tensor& x, const Tensor& w, const Tensor& bias, const int* stride, const int* padding,
                 int groups, int spatial, const char* op) {
  Shape os;
  const k::Conv3dGeometry g = conv_geometry(x, w, bias, stride, padding, groups, spatial, op, os);
  Tensor y = Tensor::empty(os, x.device());
  if (y.numel() == 0) return y;   // empty batch or no channels: nothing to compute
  const float* b = bias.defined() ? bias.data() : nullptr;
  prof::add_flops(conv_flops(g));
  note_conv_shape(g);
  if (is_depthwise(g))
    SSMTL_DISPATCH(x.device(), k::conv3d_depthwise_forward, y.data(), x.data(), w.data(), b, g);
  else
    SSMTL_DISPATCH(x.device(), k::conv3d_forward, y.data(), x.data(), w.data(), b, g);
  if (autograd::needs_grad({&x, &w, &bias})) {
    auto n = std::make_shared<ConvNode>(g, spatial == 3 ? "Conv3dBackward" : "Conv2dBackward");
    n->inputs = {x, w};
    if (bias.defined()) n->inputs.push_back(bias);
    autograd::attach(y, n);
  }
  return y;
}

// conv_impl's convolution with eval-mode batch norm + ReLU applied as it writes (no node: inference only).
Tensor conv_bn_relu_impl(const Tensor& x, const Tensor& w, const Tensor& bias, const EvalBatchNorm& bn,
                         const int* stride, const int* padding, int groups, int spatial, const char* op) {
  Shape os;
  const k::Conv3dGeometry g = conv_geometry(x, w, bias, stride, padding, groups, spatial, op, os);
  Tensor invstd;
  const k::BnRelu e = detail::eval_bn_tables(op, x, w, bias, bn, g.Cout, invstd);
  Tensor y = Tensor::empty(os, x.device());
  if (y.numel() == 0) return y;
  prof::add_flops(conv_flops(g));
  note_conv_shape(g);
  SSMTL_DISPATCH(x.device(), k::conv3d_bn_relu_forward, y.data(), x.data(), w.data(),
                 bias.defined() ? bias.data() : nullptr, e, g);
  return y;
}

}  // namespace

namespace detail {
kernels::BnRelu eval_bn_tables(const char* op, const Tensor& x, const Tensor& w, const Tensor& bias,
                               const EvalBatchNorm& bn, int64_t C, Tensor& invstd) {
  if (autograd::needs_grad({&x, &w, &bias, &bn.gamma, &bn.beta}))
    throw std::invalid_argument(std::string(op) + ": inference only, but gradients are being recorded for an input "
                                "(run it under autograd::NoGradGuard)");
  check_eval_batch_norm(bn, C, x, op);
  invstd = Tensor::empty({C}, x.device());
  if (C > 0) SSMTL_DISPATCH(x.device(), k::batch_norm_invstd, invstd.data(), bn.running_var.data(), bn.eps, C);
  return {bn.running_mean.data(), invstd.data(), bn.gamma.defined() ? bn.gamma.data() : nullptr,
          bn.beta.defined() ? bn.beta.data() : nullptr};
}
}  // namespace detail

void check_eval_batch_norm(const EvalBatchNorm& bn, int64_t C, const Tensor& x, const char* op) {
  const Tensor* vecs[] = {&bn.gamma, &bn.beta, &bn.running_mean, &bn.running_var};
  const char* names[] = {"gamma", "beta", "running_mean", "running_var"};
  for (int i = 0; i < 4; ++i) {
    const Tensor& t = *vecs[i];
    if (!t.defined()) {
      if (i < 2) continue;   // no affine: gamma 1, beta 0
      throw std::invalid_argument(std::string(op) + ": " + names[i] +
                                  " must be defined (eval mode uses the running statistics)");
    }
    if (t.dim() != 1 || t.size(0) != C)
      throw std::invalid_argument(std::string(op) + ": " + names[i] + " must be (Cout) = (" + std::to_string(C) +
                                  "), got " + shape_str(t.shape()));
    check_same_device(x, t, op);
  }
}

Tensor conv3d_bn_relu_pool_eval(const Tensor& x, const Tensor& w, const Tensor& bias, const EvalBatchNorm& bn,
                                const Conv3dOptions& o) {
  const char* op = "conv3d_bn_relu_pool_eval";
  Shape os;
  const k::Conv3dGeometry g = conv_geometry(x, w, bias, o.stride, o.padding, o.groups, 3, op, os);
  Tensor invstd;
  const k::BnRelu e = detail::eval_bn_tables(op, x, w, bias, bn, g.Cout, invstd);
  Tensor y = Tensor::empty({g.N, g.Cout, g.Do, g.Ho / 2, g.Wo / 2}, x.device());
  if (y.numel() == 0) return y;
  prof::add_flops(conv_flops(g));
  note_conv_shape(g);
  const float* b = bias.defined() ? bias.data() : nullptr;
  if (x.device() == Device::CPU && !k::conv3d_bn_relu_pool_per_sample_pays(g)) {   // batched: the same bits
    Tensor act = Tensor::empty(os, x.device());
    SSMTL_DISPATCH(x.device(), k::conv3d_bn_relu_forward, act.data(), x.data(), w.data(), b, e, g);
    SSMTL_DISPATCH(x.device(), k::max_pool3d_forward, y.data(), nullptr, act.data(),
                   k::pool_1x2x2_geometry(g.N * g.Cout, g.Do, g.Ho, g.Wo));
    return y;
  }
  SSMTL_DISPATCH(x.device(), k::conv3d_bn_relu_pool_forward, y.data(), x.data(), w.data(), b, e, g);
  return y;
}

Tensor conv3d_bn_relu_eval(const Tensor& x, const Tensor& w, const Tensor& bias, const EvalBatchNorm& bn,
                           const Conv3dOptions& o) {
  return conv_bn_relu_impl(x, w, bias, bn, o.stride, o.padding, o.groups, 3, "conv3d_bn_relu_eval");
}

Tensor conv2d_bn_relu_eval(const Tensor& x, const Tensor& w, const Tensor& bias, const EvalBatchNorm& bn,
                           const Conv2dOptions& o) {
  return conv_bn_relu_impl(x, w, bias, bn, o.stride, o.padding, o.groups, 2, "conv2d_bn_relu_eval");
}

Tensor conv3d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv3dOptions& o) {
  return conv_impl(x, w, bias, o.stride, o.padding, o.groups, 3, "conv3d");
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dOptions& o) {
  return conv_impl(x, w, bias, o.stride, o.padding, o.groups, 2, "conv2d");
}

}  // namespace ssmtl
