// Scaled dot-product attention kernels (Vaswani et al., "Attention Is All You Need", NeurIPS 2017, eq. 1):
//   out = softmax(q k^T / sqrt(E)) v, the softmax taken over the keys; no mask, no dropout
//   (the same as torch.nn.functional.scaled_dot_product_attention with its defaults).
// Batch and heads are flattened into BH independent problems. All buffers are contiguous, row-major.
// Sizes: Lq queries, Lk keys/values, E = query/key width, Ev = value width.
// Backward kernels ADD into the gradient buffers they are given (attention_tokens_backward_cpu: unless its
// add_* flag says the buffer is new, then it writes); a null gradient pointer means that input needs no gradient
// and its work is skipped.
// The _cpu functions are in kernels/cpu/attention.cpp (one single-threaded GEMM per problem, OpenMP
// over BH: deterministic for a fixed thread count).
#pragma once
#include <cstdint>

#include "kernels/dispatch.h"

namespace ssmtl::kernels {

// out:   (BH, Lq, Ev)  result
// probs: (BH, Lq, Lk)  attention probabilities (rows sum to 1), written here and kept for backward
// q: (BH, Lq, E) ; k: (BH, Lk, E) ; v: (BH, Lk, Ev)
void attention_forward_cpu(float* out, float* probs, const float* q, const float* k, const float* v, int64_t BH,
                           int64_t Lq, int64_t Lk, int64_t E, int64_t Ev);

// dq: (BH, Lq, E) or null ; dk: (BH, Lk, E) or null ; dv: (BH, Lk, Ev) or null   (all += )
// dout: (BH, Lq, Ev) gradient of out ; q, k, v as in forward ; probs: (BH, Lq, Lk) from forward.
// With P = probs, dS = P * (dout v^T - rowsum(P * dout v^T)) (softmax backward):
//   dv += P^T dout ; dq += dS k / sqrt(E) ; dk += dS^T q / sqrt(E)
void attention_backward_cpu(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                            const float* v, const float* probs, int64_t BH, int64_t Lq, int64_t Lk, int64_t E,
                            int64_t Ev);

// The same attention for H heads read and written in token-major layout, as linear layers produce and consume
// it (no head split / merge permutes), and without the (Lq, Lk) probabilities: the forward keeps one
// log-sum-exp per query and the backward recomputes the probabilities from it. CPU paths: AVX-512 kernels for
// head widths 8 and 16 (kernels/cpu/attention_tokens_avx512.cpp), portable ones otherwise (attention_tokens.cpp),
// and at width 8 the bf16 ones where attention_tokens_bf16_applies(E, Ev, true) (below); the forward and backward
// take the same path as long as the precision and the bf16-attention mode do not change in between.
// Head h of token t uses columns [h E, (h + 1) E) of q / k and [h Ev, (h + 1) Ev) of v / out.
// out: (B, Lq, H*Ev) ; lse: (B, H, Lq) log2 sum_j exp(q_i k_j / sqrt(E)) per query (base 2: the kernels work
// with exp2), written for backward
// q: (B, Lq, H*E) ; k: (B, Lk, H*E) ; v: (B, Lk, H*Ev)
// CPU only (kernels/cpu/attention_tokens.cpp); the CUDA path composes attention_forward_cuda with permutes.
void attention_tokens_forward_cpu(float* out, float* lse, const float* q, const float* k, const float* v, int64_t B,
                                  int64_t H, int64_t Lq, int64_t Lk, int64_t E, int64_t Ev);
// The same forward where no backward will follow: the bf16 kernels are taken where
// attention_tokens_bf16_applies(E, Ev, false), which in the mode Bf16Attention::inference (kernels/precision.h; what
// `ssmtl score` sets) includes bf16 products at width 8 without the training opt-in. Same arguments and outputs.
void attention_tokens_inference_cpu(float* out, float* lse, const float* q, const float* k, const float* v,
                                    int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t E, int64_t Ev);
// dq (B, Lq, H*E), dk (B, Lk, H*E), dv (B, Lk, H*Ev): += (= where its add_* flag is false: the buffer need not
// be initialised, autograd/engine.h grad_out); each may be null. dout (B, Lq, H*Ev); out and lse from the forward. Same formulas as attention_backward_cpu with D_i = dout_i . out_i in place of
// rowsum(P * dout v^T) (equal, as out_i = sum_j P_ij v_j).
void attention_tokens_backward_cpu(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                   const float* k, const float* v, const float* out, const float* lse, bool add_dq,
                                   bool add_dk, bool add_dv, int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t E,
                                   int64_t Ev);
// Whether the attention_tokens kernels take their bf16 kernels now, for heads of widths E / Ev: bf16 products
// (kernels/precision.h), E = Ev = 8, and bf16_attention() always, or inference with training false (the forward of
// attention_tokens_inference_cpu; training true: attention_tokens_forward_cpu and the backward). The forward's out
// and lse meet only the backward of the same path, so a caller that may change those settings in between records
// this at the forward and checks it at the backward (autograd/attention.cpp does: it throws std::logic_error when
// they differ).
bool attention_tokens_bf16_applies(int64_t E, int64_t Ev, bool training);

#ifdef SSMTL_WITH_CUDA
void attention_forward_cuda(float* out, float* probs, const float* q, const float* k, const float* v, int64_t BH,
                            int64_t Lq, int64_t Lk, int64_t E, int64_t Ev);
void attention_backward_cuda(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                             const float* v, const float* probs, int64_t BH, int64_t Lq, int64_t Lk, int64_t E,
                             int64_t Ev);
// The CUDA forward has two paths: a fused kernel for narrow heads (E, Ev <= 32, k and v of one problem in
// shared memory) and a general one (cuBLAS GEMMs + softmax kernel), which attention_forward_cuda takes
// otherwise. The general path is exposed here so that tests and benchmarks can compare the two.
void attention_forward_cublas_cuda(float* out, float* probs, const float* q, const float* k, const float* v,
                                   int64_t BH, int64_t Lq, int64_t Lk, int64_t E, int64_t Ev);
#endif

}  // namespace ssmtl::kernels
