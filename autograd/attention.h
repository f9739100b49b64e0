// Multi-head scaled dot-product attention (Vaswani et al., "Attention Is All You Need", NeurIPS 2017,
// eq. 1), as used by the 3D and 2D CvT blocks of SSMTL++ (paper section 3.2; notes/DESIGN.md section 5).
#pragma once
#include "tensor/tensor.h"

namespace ssmtl {

// out[b, h] = softmax(q[b, h] k[b, h]^T / sqrt(E)) v[b, h], the softmax taken over the keys.
//   q: (B, H, Lq, E) ; k: (B, H, Lk, E) ; v: (B, H, Lk, Ev) -> out: (B, H, Lq, Ev)
// Contiguous row-major tensors on one device; heads are already split (the caller reshapes its
// (B, tokens, H * E) projections). No mask and no dropout: the same as
// torch.nn.functional.scaled_dot_product_attention(q, k, v) with its defaults.
// With gradients recorded, the attention probabilities (B, H, Lq, Lk) are kept for backward, which gives
// the gradients of q, k and v.
// Throws std::invalid_argument naming the op and the three shapes when they are not 4-D, disagree in
// B, H, Lk or E, or have a zero size; when the devices differ.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v);

// The same for `heads` heads in token-major layout, as linear projections give them:
//   q: (B, Lq, heads * E) ; k: (B, Lk, heads * E) ; v: (B, Lk, heads * Ev) -> out: (B, Lq, heads * Ev)
// where head h is columns [h E, (h + 1) E) (resp. Ev): equal to splitting the heads with
// permute(reshape(t, {B, L, heads, E}), {0, 2, 1, 3}), scaled_dot_product_attention, and merging them back.
// On the CPU one fused kernel (kernels/attention.h, attention_tokens_*) that keeps one log-sum-exp per query
// instead of the (B, heads, Lq, Lk) probabilities; on CUDA exactly that composition.
// Throws std::invalid_argument naming the shapes when they are not 3-D, disagree in B or Lk, or a width is
// not a multiple of `heads`; when the devices differ.
Tensor multi_head_attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads);

}  // namespace ssmtl
