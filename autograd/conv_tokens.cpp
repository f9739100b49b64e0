// conv3d_depthwise_tokens (autograd/conv.h): the channels-last depthwise kernels behind one autograd node.
#include <stdexcept>
#include <string>

#include "autograd/conv.h"
#include "autograd/engine.h"
#include "autograd/eval_bn.h"
#include "kernels/conv3d.h"

namespace ssmtl {
using autograd::grad_buffer;
namespace k = kernels;

namespace {

double macs2(const k::Conv3dGeometry& g) { return 2.0 * g.N * g.Cout * g.Do * g.Ho * g.Wo * g.kD * g.kH * g.kW; }

// The profiler's shape (`ssmtl profile --shapes`): N x C channels, output D x H x W, kernel; `grads` as conv.cpp's.
void note_tokens_shape(const k::Conv3dGeometry& g, const char* grads = "") {
  SSMTL_PROF_SHAPE("%lldx%lld %lldx%lldx%lld k%lldx%lldx%lld%s", (long long)g.N, (long long)g.Cout, (long long)g.Do,
                   (long long)g.Ho, (long long)g.Wo, (long long)g.kD, (long long)g.kH, (long long)g.kW, grads);
}

struct DepthwiseTokensNode : Node {
  k::Conv3dGeometry g;
  explicit DepthwiseTokensNode(const k::Conv3dGeometry& geo) : g(geo) {}
  const char* name() const override { return "Conv3dDepthwiseTokensBackward"; }
  void backward(const Tensor& grad) override {
    const autograd::GradOut dx = autograd::grad_out(inputs[0], inputs);   // (written, not added, when new)
    float* dw = grad_buffer(inputs[1]);
    float* db = inputs.size() > 2 ? grad_buffer(inputs[2]) : nullptr;
    prof::add_flops(macs2(g) * ((dx.data ? 1 : 0) + (dw ? 1 : 0)));
    note_tokens_shape(g, dx.data && dw ? " dx+dw" : dw ? " dw" : " dx");
    SSMTL_DISPATCH(grad.device(), k::conv3d_depthwise_cl_backward, dx.data, dw, db, grad.data(), inputs[0].data(),
                   inputs[1].data(), dx.add, g);
  }
};

// The checked geometry of a depthwise convolution of token rows (errors name `op`).
k::Conv3dGeometry tokens_geometry(const Tensor& x, const Tensor& w, const Tensor& bias, int T, int H, int W,
                                  const Conv3dOptions& o, const char* op) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument(std::string(op) + ": " + why + " (x " +
                                (x.defined() ? shape_str(x.shape()) : std::string("undefined")) + ", w " +
                                (w.defined() ? shape_str(w.shape()) : std::string("undefined")) + ", bias " +
                                (bias.defined() ? shape_str(bias.shape()) : std::string("none")) + ", T H W " +
                                std::to_string(T) + " " + std::to_string(H) + " " + std::to_string(W) + ")");
  };
  if (!x.defined() || !w.defined()) fail("x and w must be defined");
  if (x.dim() != 3) fail("x must be (N, T*H*W, C)");
  if (T < 1 || H < 1 || W < 1 || x.size(1) != static_cast<int64_t>(T) * H * W) fail("x.size(1) must be T*H*W");
  const int64_t C = x.size(2);
  if (w.dim() != 5 || w.size(0) != C || w.size(1) != 1) fail("w must be (C, 1, kD, kH, kW)");
  if (o.groups != C) fail("groups must be C = " + std::to_string(C));
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != C)) fail("bias must be (C)");
  check_same_device(x, w, op);
  if (bias.defined()) check_same_device(x, bias, op);
  k::Conv3dGeometry g{};
  g.N = x.size(0), g.Cin = g.Cout = g.groups = C;
  g.D = T, g.H = H, g.W = W;
  g.kD = w.size(2), g.kH = w.size(3), g.kW = w.size(4);
  g.sD = o.stride[0], g.sH = o.stride[1], g.sW = o.stride[2];
  g.pD = o.padding[0], g.pH = o.padding[1], g.pW = o.padding[2];
  if (g.sD < 1 || g.sH < 1 || g.sW < 1) fail("stride must be >= 1");
  if (g.pD < 0 || g.pH < 0 || g.pW < 0) fail("padding must be >= 0");
  if (g.D + 2 * g.pD < g.kD || g.H + 2 * g.pH < g.kH || g.W + 2 * g.pW < g.kW)
    fail("kernel larger than the padded volume");
  g.Do = (g.D + 2 * g.pD - g.kD) / g.sD + 1;
  g.Ho = (g.H + 2 * g.pH - g.kH) / g.sH + 1;
  g.Wo = (g.W + 2 * g.pW - g.kW) / g.sW + 1;
  return g;
}

}  // namespace

Tensor conv3d_depthwise_tokens(const Tensor& x, const Tensor& w, const Tensor& bias, int T, int H, int W,
                               const Conv3dOptions& o) {
  const k::Conv3dGeometry g = tokens_geometry(x, w, bias, T, H, W, o, "conv3d_depthwise_tokens");
  const int64_t C = g.Cout;
  Tensor y = Tensor::empty({g.N, g.Do * g.Ho * g.Wo, C}, x.device());
  if (y.numel() == 0) return y;
  prof::add_flops(macs2(g));
  note_tokens_shape(g);
  SSMTL_DISPATCH(x.device(), k::conv3d_depthwise_cl_forward, y.data(), x.data(), w.data(),
                 bias.defined() ? bias.data() : nullptr, g);
  if (autograd::needs_grad({&x, &w, &bias})) {
    auto n = std::make_shared<DepthwiseTokensNode>(g);
    n->inputs = {x, w};
    if (bias.defined()) n->inputs.push_back(bias);
    autograd::attach(y, n);
  }
  return y;
}

Tensor conv3d_depthwise_tokens_bn_eval(const Tensor& x, const Tensor& w, const Tensor& bias, int T, int H, int W,
                                       const Conv3dOptions& o, const EvalBatchNorm& bn) {
  const char* op = "conv3d_depthwise_tokens_bn_eval";
  const k::Conv3dGeometry g = tokens_geometry(x, w, bias, T, H, W, o, op);
  Tensor invstd;
  const k::BnRelu e = detail::eval_bn_tables(op, x, w, bias, bn, g.Cout, invstd);
  Tensor y = Tensor::empty({g.N, g.Do * g.Ho * g.Wo, g.Cout}, x.device());
  if (y.numel() == 0) return y;
  prof::add_flops(macs2(g));
  note_tokens_shape(g);
  SSMTL_DISPATCH(x.device(), k::conv3d_depthwise_cl_bn_forward, y.data(), x.data(), w.data(),
                 bias.defined() ? bias.data() : nullptr, e, g);
  return y;
}

}  // namespace ssmtl
