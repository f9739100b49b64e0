// Elementwise and reduction kernels on raw float pointers (llm.c style: outputs first, then inputs,
// then sizes). The _cpu functions are in kernels/cpu/elementwise.cpp; their _cuda twins (same signature,
// device pointers) in kernels/cuda/elementwise.cu, declared here and called through SSMTL_DISPATCH.
// Backward kernels ADD into the gradient buffers they are given (never assign).
#pragma once
#include <cstdint>

#include "kernels/dispatch.h"

namespace ssmtl::kernels {

// out[n] = a[n] + alpha * b[n]  (alpha = -1 gives subtraction)
void add_forward_cpu(float* out, const float* a, const float* b, float alpha, int64_t n);
// out[n] = a[n] * b[n]
void mul_forward_cpu(float* out, const float* a, const float* b, int64_t n);
// out[n] = s * a[n] + c
void affine_forward_cpu(float* out, const float* a, float s, float c, int64_t n);
// dst[n] += s * src[n]
void axpy_cpu(float* dst, const float* src, float s, int64_t n);
// da[n] += dout[n] * b[n]   (backward of mul for one operand)
void mul_backward_cpu(float* da, const float* dout, const float* b, int64_t n);
// out[0] = sum of n values (accumulated in double, fixed order: deterministic)
void sum_forward_cpu(float* out, const float* a, int64_t n);
// da[n] += s * dout[0]   (backward of a scaled sum/mean; dout is one element)
void sum_backward_cpu(float* da, const float* dout, float s, int64_t n);
// Broadcast add of a bias along the channel axis: out[o, c, i] = a[o, c, i] + bias[c]
// a, out: (outer, C, inner) contiguous
void add_channel_bias_cpu(float* out, const float* a, const float* bias, int64_t outer, int64_t C, int64_t inner);
// dbias[c] += sum over (outer, inner) of dout[o, c, i]
void channel_sum_backward_cpu(float* dbias, const float* dout, int64_t outer, int64_t C, int64_t inner);

#ifdef SSMTL_WITH_CUDA
void add_forward_cuda(float* out, const float* a, const float* b, float alpha, int64_t n);
void mul_forward_cuda(float* out, const float* a, const float* b, int64_t n);
void affine_forward_cuda(float* out, const float* a, float s, float c, int64_t n);
void axpy_cuda(float* dst, const float* src, float s, int64_t n);
void mul_backward_cuda(float* da, const float* dout, const float* b, int64_t n);
void sum_forward_cuda(float* out, const float* a, int64_t n);
void sum_backward_cuda(float* da, const float* dout, float s, int64_t n);
void add_channel_bias_cuda(float* out, const float* a, const float* bias, int64_t outer, int64_t C, int64_t inner);
void channel_sum_backward_cuda(float* dbias, const float* dout, int64_t outer, int64_t C, int64_t inner);
#endif

}  // namespace ssmtl::kernels
