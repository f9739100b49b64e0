#include "model/layers.h"

#include <stdexcept>

#include "autograd/engine.h"
#include "autograd/linear.h"
#include "autograd/norm.h"
#include "autograd/upsample_conv.h"
#include "model/bn_window.h"

namespace ssmtl {

static void add(std::vector<NamedTensor>& out, const std::string& prefix, const char* name, Tensor& t,
                bool buffer = false) {
  if (t.defined()) out.push_back({prefix + name, &t, buffer});
}

Conv3dLayer::Conv3dLayer(int cin, int cout, std::array<int, 3> k, Conv3dOptions o, bool with_bias, Rng& rng)
    : opt(o) {
  int64_t fan_in = static_cast<int64_t>(cin / o.groups) * k[0] * k[1] * k[2];
  weight = init_uniform_fan_in({cout, cin / o.groups, k[0], k[1], k[2]}, fan_in, rng);
  if (with_bias) bias = init_uniform_fan_in({cout}, fan_in, rng);
}
Tensor Conv3dLayer::forward(const Tensor& x) const { return conv3d(x, weight, bias, opt); }
void Conv3dLayer::visit(const std::string& p, std::vector<NamedTensor>& out) {
  add(out, p, "weight", weight);
  add(out, p, "bias", bias);
}

Conv2dLayer::Conv2dLayer(int cin, int cout, int k, int stride, int pad, int groups, bool with_bias, Rng& rng) {
  opt.stride[0] = opt.stride[1] = stride;
  opt.padding[0] = opt.padding[1] = pad < 0 ? k / 2 : pad;
  opt.groups = groups;
  int64_t fan_in = static_cast<int64_t>(cin / groups) * k * k;
  weight = init_uniform_fan_in({cout, cin / groups, k, k}, fan_in, rng);
  if (with_bias) bias = init_uniform_fan_in({cout}, fan_in, rng);
}
Tensor Conv2dLayer::forward(const Tensor& x) const { return conv2d(x, weight, bias, opt); }
void Conv2dLayer::visit(const std::string& p, std::vector<NamedTensor>& out) {
  add(out, p, "weight", weight);
  add(out, p, "bias", bias);
}

BatchNormLayer::BatchNormLayer(int c) {
  gamma = Tensor::ones({c}).set_requires_grad(true);
  beta = Tensor::zeros({c}).set_requires_grad(true);
  running_mean = Tensor::zeros({c});
  running_var = Tensor::ones({c});
}
BatchNormLayer::Use BatchNormLayer::statistics(bool training) {
  const int w = bn_window::current();
  if (w >= 0 && training && bn_window::estimating() && running_mean.defined()) {
    WindowStats& s = window_stats[w];
    if (s.generation != bn_window::generation()) s = WindowStats{Tensor(), Tensor(), 0, bn_window::generation()};
    if (s.batches == 0) {   // (momentum 1 below replaces these values entirely)
      s.mean = running_mean.clone();
      s.var = running_var.clone();
    }
    ++s.batches;
    return {&s.mean, &s.var, 1.f / static_cast<float>(s.batches)};
  }
  if (w >= 0 && !training) {
    auto it = window_stats.find(w);
    if (it != window_stats.end() && it->second.mean.defined()) return {&it->second.mean, &it->second.var, 0.1f};
  }
  return {&running_mean, &running_var, 0.1f};
}
Tensor BatchNormLayer::forward(const Tensor& x, bool training) {
  const Use u = statistics(training);
  return batch_norm(x, gamma, beta, *u.mean, *u.var, training, u.momentum);
}
Tensor BatchNormLayer::forward_relu(const Tensor& x, bool training) {
  const Use u = statistics(training);
  return batch_norm_relu(x, gamma, beta, *u.mean, *u.var, training, u.momentum);
}
Tensor BatchNormLayer::forward_relu_pool(const Tensor& x, bool training) {
  const Use u = statistics(training);
  return batch_norm_relu_pool(x, gamma, beta, *u.mean, *u.var, training, u.momentum);
}
bool fuse_eval(const BatchNormLayer& bn, bool training) {
  return !training && !autograd::grad_enabled() && bn.running_mean.defined();
}
EvalBatchNorm eval_bn(BatchNormLayer& bn) {
  const BatchNormLayer::Use u = bn.statistics(false);
  return {bn.gamma, bn.beta, *u.mean, *u.var};
}

Tensor conv_bn_relu(const Conv3dLayer& conv, BatchNormLayer& bn, const Tensor& x, bool training) {
  if (fuse_eval(bn, training)) return conv3d_bn_relu_eval(x, conv.weight, conv.bias, eval_bn(bn), conv.opt);
  return bn.forward_relu(conv.forward(x), training);
}

Tensor conv_bn_relu_pool(const Conv3dLayer& conv, BatchNormLayer& bn, const Tensor& x, bool training) {
  if (fuse_eval(bn, training)) return conv3d_bn_relu_pool_eval(x, conv.weight, conv.bias, eval_bn(bn), conv.opt);
  return bn.forward_relu_pool(conv.forward(x), training);
}

Tensor conv_bn_relu(const Conv2dLayer& conv, BatchNormLayer& bn, const Tensor& x, bool training) {
  if (fuse_eval(bn, training)) return conv2d_bn_relu_eval(x, conv.weight, conv.bias, eval_bn(bn), conv.opt);
  return bn.forward_relu(conv.forward(x), training);
}

Tensor upsample_conv_bn_relu(const Conv2dLayer& conv, BatchNormLayer& bn, const Tensor& x, bool training) {
  const Conv2dOptions& o = conv.opt;
  const bool fits = conv.weight.dim() == 4 && conv.weight.size(2) == 3 && conv.weight.size(3) == 3 &&
                    o.stride[0] == 1 && o.stride[1] == 1 && o.padding[0] == 1 && o.padding[1] == 1 && o.groups == 1;
  if (!fits)
    throw std::invalid_argument("upsample_conv_bn_relu: the convolution must be 3x3 with stride 1, padding 1 and "
                                "groups 1 (weight " + shape_str(conv.weight.shape()) + ")");
  if (fuse_eval(bn, training)) return upsample2x_conv2d_bn_relu_eval(x, conv.weight, conv.bias, eval_bn(bn));
  return bn.forward_relu(upsample2x_conv2d(x, conv.weight, conv.bias), training);
}

void BatchNormLayer::visit(const std::string& p, std::vector<NamedTensor>& out) {
  add(out, p, "weight", gamma);
  add(out, p, "bias", beta);
  add(out, p, "running_mean", running_mean, true);
  add(out, p, "running_var", running_var, true);
  if (!running_mean.defined()) return;
  for (int w : bn_window::kWindows) {
    WindowStats& s = window_stats[w];
    const std::string k = p + "window" + std::to_string(w) + ".";
    out.push_back({k + "mean", &s.mean, true, &running_mean});
    out.push_back({k + "var", &s.var, true, &running_var});
  }
}

LinearLayer::LinearLayer(int in, int outf, bool with_bias, Rng& rng) {
  weight = init_uniform_fan_in({outf, in}, in, rng);
  if (with_bias) bias = init_uniform_fan_in({outf}, in, rng);
}
Tensor LinearLayer::forward(const Tensor& x) const { return linear(x, weight, bias); }
Tensor LinearLayer::forward_gelu(const Tensor& x) const { return linear_gelu(x, weight, bias); }
void LinearLayer::visit(const std::string& p, std::vector<NamedTensor>& out) {
  add(out, p, "weight", weight);
  add(out, p, "bias", bias);
}

LayerNormLayer::LayerNormLayer(int dim) {
  gamma = Tensor::ones({dim}).set_requires_grad(true);
  beta = Tensor::zeros({dim}).set_requires_grad(true);
}
Tensor LayerNormLayer::forward(const Tensor& x) const { return layer_norm(x, gamma, beta, eps); }
void LayerNormLayer::visit(const std::string& p, std::vector<NamedTensor>& out) {
  add(out, p, "weight", gamma);
  add(out, p, "bias", beta);
}

}  // namespace ssmtl
