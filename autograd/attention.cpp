#include "autograd/attention.h"

#include <stdexcept>

#include "autograd/engine.h"
#include "kernels/attention.h"

namespace ssmtl {
using autograd::grad_buffer;

namespace {

struct AttentionNode : Node {
  Tensor probs;   // (B, H, Lq, Lk) softmax output saved by the forward
  int64_t BH, Lq, Lk, E, Ev;
  AttentionNode(Tensor p, int64_t bh, int64_t lq, int64_t lk, int64_t e, int64_t ev)
      : probs(std::move(p)), BH(bh), Lq(lq), Lk(lk), E(e), Ev(ev) {}
  const char* name() const override { return "ScaledDotProductAttentionBackward"; }
  void backward(const Tensor& g) override {
    const Tensor &q = inputs[0], &k = inputs[1], &v = inputs[2];
    // dv = P^T dout, dP = dout v^T, dq = dS k, dk = dS^T q (each 2 flops per multiply-add)
    prof::add_flops(2.0 * BH * Lq * Lk * (2 * Ev + 2 * E));
    SSMTL_DISPATCH(g.device(), kernels::attention_backward, grad_buffer(q), grad_buffer(k), grad_buffer(v), g.data(),
                   q.data(), k.data(), v.data(), probs.data(), BH, Lq, Lk, E, Ev);
  }
};

void check_shapes(const Tensor& q, const Tensor& k, const Tensor& v) {
  bool ok = q.dim() == 4 && k.dim() == 4 && v.dim() == 4;
  if (ok) {
    for (int d = 0; d < 2; ++d) ok = ok && k.size(d) == q.size(d) && v.size(d) == q.size(d);
    ok = ok && k.size(3) == q.size(3) && v.size(2) == k.size(2);
    ok = ok && q.numel() > 0 && k.numel() > 0 && v.numel() > 0;
  }
  if (!ok)
    throw std::invalid_argument("scaled_dot_product_attention: expected q (B, H, Lq, E), k (B, H, Lk, E), "
                                "v (B, H, Lk, Ev) with no zero size; got q " + shape_str(q.shape()) + ", k " +
                                shape_str(k.shape()) + ", v " + shape_str(v.shape()));
  check_same_device(q, k, "scaled_dot_product_attention");
  check_same_device(q, v, "scaled_dot_product_attention");
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v) {
  check_shapes(q, k, v);
  const int64_t B = q.size(0), H = q.size(1), Lq = q.size(2), E = q.size(3), Lk = k.size(2), Ev = v.size(3);
  Tensor out = Tensor::empty({B, H, Lq, Ev}, q.device());
  Tensor probs = Tensor::empty({B, H, Lq, Lk}, q.device());
  prof::add_flops(2.0 * B * H * Lq * Lk * (E + Ev));   // q k^T and P v
  SSMTL_DISPATCH(q.device(), kernels::attention_forward, out.data(), probs.data(), q.data(), k.data(), v.data(),
                 B * H, Lq, Lk, E, Ev);
  if (autograd::needs_grad({&q, &k, &v})) {
    auto n = std::make_shared<AttentionNode>(std::move(probs), B * H, Lq, Lk, E, Ev);
    n->inputs = {q, k, v};
    autograd::attach(out, n);
  }
  return out;
}

}  // namespace ssmtl
