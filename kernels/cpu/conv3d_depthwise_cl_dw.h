// The channels-last depthwise conv3d's weight and bias gradients with all taps in registers (CPU-internal; the
// public function is conv3d_depthwise_cl_backward_cpu in kernels/conv3d.h). Why: a tap-by-tap loop loads a dout
// and an x vector per multiply-add; here one dout vector serves all taps (27 for 3x3x3), 2x faster on the CvT's
// q projection (bench/bench_depthwise_tokens.cpp). Each tap is summed over the output rows in ascending order
// per sample, then the samples in order in double: the generic loop's order and fused multiply-adds, so the
// results are bitwise the generic loop's, for any thread count (tests/test_depthwise_cl.cpp). Also the
// backward's pass that does dx with dw, one sample at a time, and its per-sample dx rows; and the forward a line
// of outputs at a time (conv3d_depthwise_cl_lines.cpp) with the batch norm it may apply to each row.
#pragma once
#include <cstdint>
#include <type_traits>

#include "kernels/conv3d.h"
#include "kernels/cpu/simd.h"

namespace ssmtl::kernels::detail {

// dw += ..., dbias += ... (either may be nullptr) for kH == kW == 3, kD in {1, 3}, and either C a whole number
// of vectors <= 8 (any strides and padding) or stride 1 along W (any C); returns false and does nothing
// otherwise (the caller runs its own loops).
// dw: (C, taps) ; dbias: (C) ; dout: (N, Do, Ho, Wo, C) ; x: (N, D, H, W, C)
bool depthwise_cl_dw_taps(float* dw, float* dbias, const float* dout, const float* x, const Conv3dGeometry& g,
                          bool parallel);

// The zero-padded path (conv3d_depthwise_cl_padded.cpp), called by depthwise_cl_dw_taps first: for 3x3 spatial
// kernels, kD in {1, 3} and C a whole number of vectors <= 8 (the CvT's 96 = 6 on AVX-512), any strides and
// padding; the same sums in the same order as dw_all, bitwise for finite dout. Returns false and does nothing
// where it does not apply. Same buffers as depthwise_cl_dw_taps.
bool depthwise_cl_dw_padded(float* dw, float* dbias, const float* dout, const float* x, const Conv3dGeometry& g,
                            bool parallel);

// dx, dw and dbias in one pass over the samples (conv3d_depthwise_cl_padded.cpp): per sample the dw sums of
// depthwise_cl_dw_padded, then the sample's dx rows (depthwise_cl_dx_sample) while its dout rows are still in
// cache, so dout is read from memory once instead of twice. dx += ... (dx = ... when add_dx is false); wt (taps, C)
// the weights transposed. False, doing nothing, where either part does not apply (depthwise_cl_dx_applies).
bool depthwise_cl_backward_padded(float* dx, float* dw, float* dbias, const float* dout, const float* x,
                                  const float* wt, const Conv3dGeometry& g, bool add_dx, bool parallel);

// The input rows of sample n (conv3d_depthwise_cl_dx.cpp): dx += ..., or dx = ... when add is false, summed per
// row in the order of the taps as the row loop of conv3d_depthwise_cl.cpp (bitwise its results), for C a whole
// number of vectors <= 8, kH == kW == 3, kD <= 3 and stride 1 or 2 along W (depthwise_cl_dx_applies).
bool depthwise_cl_dx_applies(const Conv3dGeometry& g);
void depthwise_cl_dx_sample(float* dx, const float* dout, const float* wt, const Conv3dGeometry& g, int64_t n,
                            bool add);

// Eval-mode batch norm of one output row of C channels in place (mu == nullptr: nothing), with the expression of
// batch_norm_forward_cpu (kernels/cpu/bn_affine.h): s = invstd * gamma, b = beta, per channel.
struct RowBatchNorm {
  const float* mu = nullptr;
  const float* s = nullptr;
  const float* b = nullptr;
  void apply(float* o, int64_t C) const;
};

// The forward a line of outputs (n, od, oh) at a time (conv3d_depthwise_cl_lines.cpp): out = bias + the taps
// in the order kd, kh, kw, then `bn` per row; bitwise the row loop of conv3d_depthwise_cl.cpp (both sum with fused
// multiply-adds: the row loop's `+=` contracted by the compiler at -O2 and above). For C a whole number of AVX-512
// vectors (at most 6 of them at stride 2), kW == 3, stride 1 or 2 and padding <= 2 along W, on a build with
// AVX-512; false, doing nothing, otherwise.
// out: (N, Do, Ho, Wo, C) ; x: (N, D, H, W, C) ; wt: (taps, C) the weights transposed ; bias: (C) or nullptr
bool depthwise_cl_forward_lines(float* out, const float* x, const float* wt, const float* bias,
                                const Conv3dGeometry& g, const RowBatchNorm& bn, bool parallel);

// Calls f(std::integral_constant<int, NV>{}) for C = NV * VL channels with NV <= 8 (the register-blocked and
// zero-padded variants) and returns true; false for any other C (the generic loops).
template <class F>
bool with_vectors(int64_t C, F&& f) {
  if (C % simd::VL != 0) return false;
  switch (C / simd::VL) {
    case 1: f(std::integral_constant<int, 1>{}); return true;
    case 2: f(std::integral_constant<int, 2>{}); return true;
    case 3: f(std::integral_constant<int, 3>{}); return true;
    case 4: f(std::integral_constant<int, 4>{}); return true;
    case 5: f(std::integral_constant<int, 5>{}); return true;
    case 6: f(std::integral_constant<int, 6>{}); return true;
    case 7: f(std::integral_constant<int, 7>{}); return true;
    case 8: f(std::integral_constant<int, 8>{}); return true;
    default: return false;
  }
}

// dw[c, t] += sum over n of part[n, t, c] and dbias[c] += sum over n of part[n, taps, c], the samples added in
// order in double (either output may be nullptr). part: (N, taps + 1, C) per-sample float sums; dw: (C, taps).
void add_sample_partials(float* dw, float* dbias, const float* part, int64_t N, int64_t taps, int64_t C,
                         bool parallel);

}  // namespace ssmtl::kernels::detail
