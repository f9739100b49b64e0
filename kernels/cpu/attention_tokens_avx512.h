// The two paths of attention_tokens_forward_cpu / attention_tokens_backward_cpu (kernels/attention.h), same
// arguments, same results up to rounding: the portable kernels (attention_tokens.cpp; any width, any x86 or
// other CPU; the reference the AVX-512 ones are tested and benchmarked against) and the AVX-512 ones
// (attention_tokens_avx512.cpp).
// Head widths E = Ev = 8 (the paper's CvT: 96 / 12 heads) and 16 have register-blocked copies.
// Return false without touching any buffer when this path does not apply (no AVX-512 at run time, other widths);
// the forward and the backward decide alike, so a forward's lse always meets the backward of the same path.
// Deterministic: one thread per (sample, head), every sum in a fixed order.
#pragma once
#include <cstdint>

namespace ssmtl::kernels {

// Portable kernels: 16 queries (keys) in the vector lanes, two backward passes (dq; dk and dv). lse in base 2.
void attention_tokens_forward_portable(float* out, float* lse, const float* q, const float* k, const float* v,
                                       int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t E, int64_t Ev);
void attention_tokens_backward_portable(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                        const float* k, const float* v, const float* out, const float* lse,
                                        bool add_dq, bool add_dk, bool add_dv, int64_t B, int64_t H, int64_t Lq,
                                        int64_t Lk, int64_t E, int64_t Ev);

// AVX-512 kernels:
bool attention_tokens_forward_avx512(float* out, float* lse, const float* q, const float* k, const float* v,
                                     int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t E, int64_t Ev);
bool attention_tokens_backward_avx512(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                      const float* k, const float* v, const float* out, const float* lse, bool add_dq,
                                      bool add_dk, bool add_dv, int64_t B, int64_t H, int64_t Lq, int64_t Lk,
                                      int64_t E, int64_t Ev);

// bf16 kernels (attention_tokens_bf16.cpp): every product on VDPBF16PS, taken where
// attention_tokens_bf16_applies(E, Ev, training) (kernels/attention.h; the backward is training); false otherwise,
// without touching any buffer.
// The forward's lse meets only the backward of the same path: the precision must not change between the two.
bool attention_tokens_forward_bf16(float* out, float* lse, const float* q, const float* k, const float* v, int64_t B,
                                   int64_t H, int64_t Lq, int64_t Lk, int64_t E, int64_t Ev, bool training);
bool attention_tokens_backward_bf16(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                    const float* k, const float* v, const float* out, const float* lse, bool add_dq,
                                    bool add_dk, bool add_dv, int64_t B, int64_t H, int64_t Lq, int64_t Lk,
                                    int64_t E, int64_t Ev);

}  // namespace ssmtl::kernels
