// 3-D convolution kernels (PyTorch torch.nn.functional.conv3d semantics: cross-correlation, zero padding,
// groups, no dilation). 2-D convolution uses the same kernels with D = kD = 1 (NCHW is NC1HW in memory).
//
//   out[n, co, od, oh, ow] = bias[co] + sum_{ci in group(co), kd, kh, kw}
//       w[co, ci - g0(co), kd, kh, kw] * x[n, ci, od*sD - pD + kd, oh*sH - pH + kh, ow*sW - pW + kw]
// (x read as 0 outside the volume). Backward: dx and dw are the transposed sums of the same terms; dbias[co]
// sums dout over n and the output volume.
//
// conv3d_forward/backward_cpu choose among three CPU paths:
//  - stride 1 (not 1x1x1): direct register-blocked kernels on a zero-padded copy of each sample, no column
//    matrix (kernels/cpu/conv3d_direct.cpp): the backbone's 3x3x3 'same' convolutions;
//  - 1x1x1 stride 1: one GEMM per sample on the input itself;
//  - otherwise: vol2col on a chunk of output rows of one sample (a bounded buffer that stays in cache, never a
//    column matrix for the whole batch) followed by a single-threaded GEMM.
// OpenMP threads take whole samples or chunks; GEMMs run single-threaded inside (kernels/matmul.h).
// Depthwise kernels (groups == Cin == Cout): vector loops over each flattened, zero-padded channel volume.
//
// All buffers are contiguous float32:
//   x (N, Cin, D, H, W), w (Cout, Cin/groups, kD, kH, kW), bias (Cout), out (N, Cout, Do, Ho, Wo).
// Backward kernels ADD into dx, dw, dbias (dx is written instead where an add_dx flag is false: a new gradient);
// each of them may be nullptr (not needed: skipped).
// Results are deterministic for a fixed number of OpenMP threads.
// Precision (kernels/precision.h): in bf16 mode the direct stride-1 path rounds its factors to bfloat16 and sums
// in float32 (forward, dx, dw); the GEMM-based paths compute as the GEMM does (precision.h lists which kernels
// have a bf16 variant); the CUDA kernels compute in fp32 in both modes.
#pragma once
#include <cstdint>

#include "kernels/dispatch.h"

namespace ssmtl::kernels {

// Sizes of one convolution; the caller validates them (autograd/conv.cpp).
struct Conv3dGeometry {
  int64_t N, Cin, D, H, W;          // input
  int64_t Cout, kD, kH, kW;         // weight (Cout, Cin / groups, kD, kH, kW)
  int64_t sD, sH, sW;               // stride >= 1
  int64_t pD, pH, pW;               // zero padding >= 0 on both sides
  int64_t groups;                   // divides Cin and Cout
  int64_t Do, Ho, Wo;               // output: (in + 2 p - k) / s + 1, each >= 1
};

// General path (any groups). bias may be nullptr.
void conv3d_forward_cpu(float* out, const float* x, const float* w, const float* bias, const Conv3dGeometry& g);
// dx (N, Cin, D, H, W) += ..., dw (Cout, Cin/groups, kD, kH, kW) += ..., dbias (Cout) += ...
// add_dx false: dx = ... instead of dx += ... (dx need not be initialised: a new gradient, autograd/engine.h
// grad_out); dw and dbias are always added into.
// dout: (N, Cout, Do, Ho, Wo); x and w are the forward inputs.
void conv3d_backward_cpu(float* dx, float* dw, float* dbias, const float* dout, const float* x, const float* w,
                         bool add_dx, const Conv3dGeometry& g);

// Eval-mode batch norm + ReLU over a convolution's output channels (running statistics, inference only): each
// (Cout) array; gamma / beta may be nullptr (1 / 0). invstd = 1 / sqrt(running_var + eps) (batch_norm_invstd).
struct BnRelu {
  const float* mean;
  const float* invstd;
  const float* gamma;
  const float* beta;
};

// out = max(0, fma(conv(x, w) + bias - mean[c], invstd[c] * gamma[c], beta[c])): the convolution of
// conv3d_forward_cpu (any groups, depthwise included) followed by batch_norm_relu_forward_cpu in eval mode, with
// the batch norm + ReLU applied as the direct stride-1 kernels write each block (one pass over the output
// less). Bitwise equal to that composition, in both product precisions (the same sums, then the same float
// expression: kernels/cpu/bn_affine.h). Buffers as conv3d_forward_cpu; bn's arrays are (Cout).
// Scoring's conv -> BN -> ReLU blocks (autograd/conv.h conv3d_bn_relu_eval).
void conv3d_bn_relu_forward_cpu(float* out, const float* x, const float* w, const float* bias, const BnRelu& bn,
                                const Conv3dGeometry& g);
// max_pool3d(conv3d_bn_relu_forward(...), window (1, 2, 2), stride (1, 2, 2)): the end of a backbone stage at
// inference, one sample at a time per thread so that its full-resolution activation stays in cache
// (kernels/cpu/conv_bn_relu_pool.cpp). Bitwise conv3d_bn_relu_forward_cpu then max_pool3d_forward_cpu.
// x, w, bias, bn as conv3d_bn_relu_forward_cpu; out: (N, Cout, Do, Ho / 2, Wo / 2) (floors). Throws std::bad_alloc
// only (a failed allocation inside the parallel region terminates).
void conv3d_bn_relu_pool_forward_cpu(float* out, const float* x, const float* w, const float* bias,
                                     const BnRelu& bn, const Conv3dGeometry& g);
// Whether that sample-at-a-time schedule is the faster one on the CPU: it repeats the convolution's setup (weight
// layout, tables) per sample, which pays where the convolution is light next to the activation it writes
// (multiply-adds per output value (Cin / groups) kD kH kW <= 128: the paper-size stage 1, 3 x 27 = 81, measured
// 1.07-1.13x in fp32 and bf16) and not at stage 2 (16 x 27 = 432: 0.98x / 0.96x; bench/bench_conv_bn_relu.cpp
// BM_ConvBnReluPool). Either schedule gives the same bits.
bool conv3d_bn_relu_pool_per_sample_pays(const Conv3dGeometry& g);

// Depthwise path: requires groups == Cin == Cout (w: (C, 1, kD, kH, kW)). Same buffers and contracts.
void conv3d_depthwise_forward_cpu(float* out, const float* x, const float* w, const float* bias,
                                  const Conv3dGeometry& g);
void conv3d_depthwise_backward_cpu(float* dx, float* dw, float* dbias, const float* dout, const float* x,
                                   const float* w, const Conv3dGeometry& g);

// Channels-last depthwise path (groups == Cin == Cout, w (C, 1, kD, kH, kW) as above), for token rows:
//   x (N, D, H, W, C), out (N, Do, Ho, Wo, C), dx (N, D, H, W, C), dout (N, Do, Ho, Wo, C), all contiguous;
//   the sums are those of the NCDHW kernels above, only the memory order differs (PyTorch: conv3d on
//   x.permute(0, 4, 1, 2, 3), output permuted back with (0, 2, 3, 4, 1)). Backward ADDS into dw, dbias and
//   into dx unless add_dx is false (then writes it); each may be nullptr. Deterministic, independent of the number of threads.
// add_dx false: dx = ... instead of dx += ... (dx need not be initialised: a new gradient, autograd/engine.h
// grad_out; inputs under no output window get 0); dw / dbias are always added into.
void conv3d_depthwise_cl_forward_cpu(float* out, const float* x, const float* w, const float* bias,
                                     const Conv3dGeometry& g);
void conv3d_depthwise_cl_backward_cpu(float* dx, float* dw, float* dbias, const float* dout, const float* x,
                                      const float* w, bool add_dx, const Conv3dGeometry& g);
// The CvT projection's depthwise convolution of token rows at inference, with eval-mode batch norm over the
// channels applied to each output row as it is written (no ReLU: bn is only read for its mean, invstd, gamma and
// beta, gamma / beta may be nullptr): out = fma(conv(x, w) + bias - mean[c], invstd[c] * gamma[c], beta[c]),
// bitwise conv3d_depthwise_cl_forward_cpu then batch_norm_forward_cpu(out, out, ..., rows, C, 1) (the float
// expression of kernels/cpu/bn_affine.h). Buffers as conv3d_depthwise_cl_forward_cpu; bn's arrays (C).
// Scoring's q/k/v projections (autograd/conv.h conv3d_depthwise_tokens_bn_eval).
void conv3d_depthwise_cl_bn_forward_cpu(float* out, const float* x, const float* w, const float* bias,
                                        const BnRelu& bn, const Conv3dGeometry& g);

#ifdef SSMTL_WITH_CUDA
// The twin: conv3d_forward_cuda (or the depthwise kernel) then batch_norm_relu_forward_cuda in place.
void conv3d_bn_relu_forward_cuda(float* out, const float* x, const float* w, const float* bias, const BnRelu& bn,
                                 const Conv3dGeometry& g);
void conv3d_bn_relu_pool_forward_cuda(float* out, const float* x, const float* w, const float* bias,
                                      const BnRelu& bn, const Conv3dGeometry& g);
void conv3d_depthwise_cl_bn_forward_cuda(float* out, const float* x, const float* w, const float* bias,
                                         const BnRelu& bn, const Conv3dGeometry& g);
void conv3d_depthwise_cl_forward_cuda(float* out, const float* x, const float* w, const float* bias,
                                      const Conv3dGeometry& g);
void conv3d_depthwise_cl_backward_cuda(float* dx, float* dw, float* dbias, const float* dout, const float* x,
                                       const float* w, bool add_dx, const Conv3dGeometry& g);
void conv3d_forward_cuda(float* out, const float* x, const float* w, const float* bias, const Conv3dGeometry& g);
void conv3d_backward_cuda(float* dx, float* dw, float* dbias, const float* dout, const float* x, const float* w,
                          bool add_dx, const Conv3dGeometry& g);
void conv3d_depthwise_forward_cuda(float* out, const float* x, const float* w, const float* bias,
                                   const Conv3dGeometry& g);
void conv3d_depthwise_backward_cuda(float* dx, float* dw, float* dbias, const float* dout, const float* x,
                                    const float* w, const Conv3dGeometry& g);
#endif

}  // namespace ssmtl::kernels
