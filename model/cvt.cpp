#include "model/cvt.h"

#include <cmath>
#include <stdexcept>

#include "autograd/activation.h"
#include "autograd/attention.h"
#include "autograd/conv.h"
#include "autograd/elementwise.h"
#include "autograd/engine.h"
#include "autograd/linear.h"
#include "autograd/shape.h"

namespace ssmtl {

Tensor tokens_to_volume(const Tensor& tokens, int T, int H, int W) {
  int64_t N = tokens.size(0), D = tokens.size(2);
  return permute(reshape(tokens, {N, T, H, W, D}), {0, 4, 1, 2, 3});
}

Tensor volume_to_tokens(const Tensor& x5) {
  int64_t N = x5.size(0), D = x5.size(1);
  return reshape(permute(x5, {0, 2, 3, 4, 1}), {N, -1, D});
}

ConvProjection::ConvProjection(int dim, bool temporal_kernel, int spatial_stride, Rng& rng) {
  Conv3dOptions o;
  int kt = temporal_kernel ? 3 : 1;
  o.padding[0] = kt / 2;
  o.padding[1] = o.padding[2] = 1;
  o.stride[1] = o.stride[2] = spatial_stride;
  o.groups = dim;
  depthwise = Conv3dLayer(dim, dim, {kt, 3, 3}, o, false, rng);
  bn = BatchNormLayer(dim);
  proj = LinearLayer(dim, dim, true, rng);
}

Tensor ConvProjection::forward(const Tensor& tokens, int T, int H, int W, bool training, int64_t* out_tokens) {
  // Channels last throughout: the depthwise conv reads the token rows, BN normalises the (N * L', D) rows.
  Tensor t;
  if (fuse_eval(bn, training)) {   // scoring, validation: BN applied as the conv writes each row (the same bits)
    t = conv3d_depthwise_tokens_bn_eval(tokens, depthwise.weight, depthwise.bias, T, H, W, depthwise.opt,
                                        eval_bn(bn));
  } else {
    Tensor y = conv3d_depthwise_tokens(tokens, depthwise.weight, depthwise.bias, T, H, W, depthwise.opt);
    const int64_t N = y.size(0), L = y.size(1), D = y.size(2);
    t = reshape(bn.forward(reshape(y, {N * L, D}), training), {N, L, D});
  }
  if (out_tokens) *out_tokens = t.size(1);
  return proj.forward(t);
}

void ConvProjection::visit(const std::string& p, std::vector<NamedTensor>& out) {
  depthwise.visit(p + "depthwise.", out);
  bn.visit(p + "bn.", out);
  proj.visit(p + "proj.", out);
}

CvtBlock::CvtBlock(int d, int h, int mlp_ratio, bool temporal_kernel, Rng& rng) : dim(d), heads(h) {
  if (d % h != 0)
    throw std::invalid_argument("CvtBlock: token dimension " + std::to_string(d) + " is not a multiple of " +
                                std::to_string(h) + " heads");
  ln1 = LayerNormLayer(d);
  ln2 = LayerNormLayer(d);
  q = ConvProjection(d, temporal_kernel, 1, rng);
  k = ConvProjection(d, temporal_kernel, 2, rng);
  v = ConvProjection(d, temporal_kernel, 2, rng);
  out_proj = LinearLayer(d, d, true, rng);
  fc1 = LinearLayer(d, d * mlp_ratio, true, rng);
  fc2 = LinearLayer(d * mlp_ratio, d, true, rng);
}

Tensor CvtBlock::forward(const Tensor& x, int T, int H, int W, bool training) {
  Tensor t = ln1.forward(x);   // the projections read these rows directly (channels-last depthwise conv)
  // heads stay in the token rows (N, L, heads * dh): no split / merge copies
  Tensor att = multi_head_attention(q.forward(t, T, H, W, training), k.forward(t, T, H, W, training),
                                    v.forward(t, T, H, W, training), heads);
  Tensor h1 = add(x, out_proj.forward(att));
  if (!training && !autograd::grad_enabled())   // scoring, validation: the MLP half in one op (the same bits)
    return mlp_residual_eval(h1, ln2.gamma, ln2.beta, ln2.eps, fc1.weight, fc1.bias, fc2.weight, fc2.bias);
  Tensor m = fc2.forward(fc1.forward_gelu(ln2.forward(h1)));
  return add(h1, m);
}

void CvtBlock::visit(const std::string& p, std::vector<NamedTensor>& out) {
  ln1.visit(p + "ln1.", out);
  ln2.visit(p + "ln2.", out);
  q.visit(p + "q.", out);
  k.visit(p + "k.", out);
  v.visit(p + "v.", out);
  out_proj.visit(p + "out_proj.", out);
  fc1.visit(p + "fc1.", out);
  fc2.visit(p + "fc2.", out);
}

}  // namespace ssmtl
