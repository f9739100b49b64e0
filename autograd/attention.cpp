#include "autograd/attention.h"

#include <stdexcept>
#include <string>

#include "autograd/elementwise.h"
#include "autograd/engine.h"
#include "autograd/shape.h"
#include "kernels/attention.h"

namespace ssmtl {
using autograd::grad_buffer;

namespace {

// The profiler's shape (`ssmtl profile --shapes`): samples x heads, query and key tokens, head width.
void note_attention_shape(int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t E) {
  SSMTL_PROF_SHAPE("%lldx%lld heads Lq %lld Lk %lld E %lld", (long long)B, (long long)H, (long long)Lq,
                   (long long)Lk, (long long)E);
}

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
    note_attention_shape(probs.size(0), probs.size(1), Lq, Lk, E);   // as the forward announced it
    SSMTL_DISPATCH(g.device(), kernels::attention_backward, grad_buffer(q), grad_buffer(k), grad_buffer(v), g.data(),
                   q.data(), k.data(), v.data(), probs.data(), BH, Lq, Lk, E, Ev);
  }
};

struct TokenAttentionNode : Node {
  Tensor out, lse;   // forward output (B, Lq, H*Ev) and log-sum-exp (B, H, Lq)
  int64_t B, H, Lq, Lk, E, Ev;
  bool bf16;         // the forward took the bf16 kernels (its lse is theirs)
  TokenAttentionNode(int64_t b, int64_t h, int64_t lq, int64_t lk, int64_t e, int64_t ev)
      : B(b), H(h), Lq(lq), Lk(lk), E(e), Ev(ev), bf16(kernels::attention_tokens_bf16_applies(e, ev, true)) {}
  const char* name() const override { return "MultiHeadAttentionBackward"; }
  void backward(const Tensor& g) override {
    const Tensor &q = inputs[0], &k = inputs[1], &v = inputs[2];
    if (kernels::attention_tokens_bf16_applies(E, Ev, true) != bf16)
      throw std::logic_error(std::string("multi_head_attention backward: the forward ran with ") +
                             (bf16 ? "bf16" : "float32") + " attention products and the backward would run with " +
                             (bf16 ? "float32" : "bf16") +
                             " (train.precision or SSMTL_BF16_ATTENTION / set_bf16_attention changed in between)");
    // recomputed scores, dP, dq, dk, dv: 5 products of Lq x Lk x width per head
    prof::add_flops(2.0 * B * H * Lq * Lk * (3 * E + 2 * Ev));
    note_attention_shape(B, H, Lq, Lk, E);
    // CPU only (multi_head_attention composes other ops on CUDA), hence no SSMTL_DISPATCH
    prof::KernelScope timed("kernels::attention_tokens_backward");
    // Write-first: each of dq, dk, dv that is new is written, not zero-filled and added into.
    const autograd::GradOut dq = autograd::grad_out(q), dk = autograd::grad_out(k), dv = autograd::grad_out(v);
    kernels::attention_tokens_backward_cpu(dq.data, dk.data, dv.data, g.data(), q.data(), k.data(), v.data(),
                                           out.data(), lse.data(), dq.add, dk.add, dv.add, B, H, Lq, Lk, E, Ev);
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
  note_attention_shape(B, H, Lq, Lk, E);
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

namespace ssmtl {

Tensor multi_head_attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads) {
  bool ok = q.defined() && k.defined() && v.defined() && q.dim() == 3 && k.dim() == 3 && v.dim() == 3 && heads >= 1;
  if (ok)
    ok = k.size(0) == q.size(0) && v.size(0) == q.size(0) && v.size(1) == k.size(1) && k.size(2) == q.size(2) &&
         q.size(2) % heads == 0 && v.size(2) % heads == 0 && q.numel() > 0 && k.numel() > 0 && v.numel() > 0;
  if (!ok)
    throw std::invalid_argument("multi_head_attention: expected q (B, Lq, heads*E), k (B, Lk, heads*E), v (B, Lk, "
                                "heads*Ev) with no zero size and heads = " + std::to_string(heads) + " dividing the "
                                "widths; got q " + (q.defined() ? shape_str(q.shape()) : "undefined") + ", k " +
                                (k.defined() ? shape_str(k.shape()) : "undefined") + ", v " +
                                (v.defined() ? shape_str(v.shape()) : "undefined"));
  check_same_device(q, k, "multi_head_attention");
  check_same_device(q, v, "multi_head_attention");
  const int64_t B = q.size(0), Lq = q.size(1), Lk = k.size(1), E = q.size(2) / heads, Ev = v.size(2) / heads;
  if (q.device() != Device::CPU) {   // CUDA: split heads, attention, merge (the fused kernel is CPU only)
    auto split = [&](const Tensor& t, int64_t w) {
      return permute(reshape(t, {B, t.size(1), heads, w}), {0, 2, 1, 3});
    };
    Tensor att = scaled_dot_product_attention(split(q, E), split(k, E), split(v, Ev));
    return reshape(permute(att, {0, 2, 1, 3}), {B, Lq, heads * Ev});
  }
  Tensor out = Tensor::empty({B, Lq, heads * Ev}, q.device());
  Tensor lse = Tensor::empty({B, heads, Lq}, q.device());
  prof::add_flops(2.0 * B * heads * Lq * Lk * (E + Ev));
  note_attention_shape(B, heads, Lq, Lk, E);
  const bool training = autograd::needs_grad({&q, &k, &v});
  {
    prof::KernelScope timed("kernels::attention_tokens_forward");
    (training ? kernels::attention_tokens_forward_cpu : kernels::attention_tokens_inference_cpu)(
        out.data(), lse.data(), q.data(), k.data(), v.data(), B, heads, Lq, Lk, E, Ev);
  }
  if (training) {
    auto n = std::make_shared<TokenAttentionNode>(B, heads, Lq, Lk, E, Ev);
    n->inputs = {q, k, v};
    n->out = out.detach();
    n->lse = lse;
    autograd::attach(out, n);
  }
  return out;
}

}  // namespace ssmtl
