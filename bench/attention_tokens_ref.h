// The previous attention_tokens kernels (bench/attention_tokens_ref.cpp): the same arguments as
// kernels::attention_tokens_forward_cpu / attention_tokens_backward_cpu (kernels/attention.h), except that lse
// is the natural-log log-sum-exp. Benchmark reference only.
#pragma once
#include <cstdint>

namespace ssmtl::bench_ref {

void attention_tokens_forward_ref(float* out, float* lse, const float* q, const float* k, const float* v, int64_t B,
                                  int64_t H, int64_t Lq, int64_t Lk, int64_t E, int64_t Ev);
void attention_tokens_backward_ref(float* dq, float* dk, float* dv, const float* dout, const float* q,
                                   const float* k, const float* v, const float* out, const float* lse, int64_t B,
                                   int64_t H, int64_t Lq, int64_t Lk, int64_t E, int64_t Ev);

}  // namespace ssmtl::bench_ref
