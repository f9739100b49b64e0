// CUDA twins of the channels-last depthwise kernels (kernels/conv3d.h, conv3d_depthwise_cl_*): the token rows
// are transposed to (N, C, D, H, W) with the permute kernels (tiled transposes), the NCDHW depthwise kernels run
// on scratch buffers, and the result is transposed back (dx: added back by permute_backward, or written by
// permute_forward when add_dx is false). These are the
// copies the CPU path no longer needs; on the GPU the layout change is a small share of the block, so the CUDA
// path does the same work as before the CPU change, in one op. Deterministic like the kernels it calls.
#include "kernels/conv3d.h"
#include "kernels/cuda/common.cuh"
#include "kernels/norm.h"
#include "kernels/shape.h"

namespace ssmtl::kernels {

namespace {
const int kToFirst[5] = {0, 4, 1, 2, 3};   // (N, D, H, W, C) -> (N, C, D, H, W)
const int kToLast[5] = {0, 2, 3, 4, 1};    // (N, C, D, H, W) -> (N, D, H, W, C)
}  // namespace

void conv3d_depthwise_cl_forward_cuda(float* out, const float* x, const float* w, const float* bias,
                                      const Conv3dGeometry& g) {
  const int64_t C = g.Cin, in_vol = g.D * g.H * g.W, out_vol = g.Do * g.Ho * g.Wo;
  cuda::Scratch<float> xf(static_cast<size_t>(g.N * C * in_vol)), of(static_cast<size_t>(g.N * C * out_vol));
  const int64_t in_shape[5] = {g.N, g.D, g.H, g.W, C}, out_shape[5] = {g.N, C, g.Do, g.Ho, g.Wo};
  permute_forward_cuda(xf.get(), x, in_shape, kToFirst, 5);
  conv3d_depthwise_forward_cuda(of.get(), xf.get(), w, bias, g);
  permute_forward_cuda(out, of.get(), out_shape, kToLast, 5);
}

void conv3d_depthwise_cl_bn_forward_cuda(float* out, const float* x, const float* w, const float* bias,
                                         const BnRelu& bn, const Conv3dGeometry& g) {
  // The two kernels in turn (the same bits as the unfused ops on the GPU); batch norm over the token rows.
  conv3d_depthwise_cl_forward_cuda(out, x, w, bias, g);
  batch_norm_forward_cuda(out, out, bn.mean, bn.invstd, bn.gamma, bn.beta, g.N * g.Do * g.Ho * g.Wo, g.Cout, 1);
}

void conv3d_depthwise_cl_backward_cuda(float* dx, float* dw, float* dbias, const float* dout, const float* x,
                                       const float* w, bool add_dx, const Conv3dGeometry& g) {
  if (!dx && !dw && !dbias) return;
  const int64_t C = g.Cin, in_vol = g.D * g.H * g.W, out_vol = g.Do * g.Ho * g.Wo;
  const int64_t in_shape[5] = {g.N, g.D, g.H, g.W, C}, gout_shape[5] = {g.N, g.Do, g.Ho, g.Wo, C};
  cuda::Scratch<float> gf(static_cast<size_t>(g.N * C * out_vol));
  permute_forward_cuda(gf.get(), dout, gout_shape, kToFirst, 5);
  cuda::Scratch<float> xf(dw ? static_cast<size_t>(g.N * C * in_vol) : 1);
  if (dw) permute_forward_cuda(xf.get(), x, in_shape, kToFirst, 5);
  cuda::Scratch<float> dxf(dx ? static_cast<size_t>(g.N * C * in_vol) : 1);
  if (dx) CUDA_CHECK(cudaMemset(dxf.get(), 0, static_cast<size_t>(g.N * C * in_vol) * sizeof(float)));
  conv3d_depthwise_backward_cuda(dx ? dxf.get() : nullptr, dw, dbias, gf.get(), xf.get(), w, g);
  // dx (N, D, H, W, C) += dxf (N, C, D, H, W) read through the permutation; a new dx (add_dx false) is written
  // by the forward transpose instead, so it needs no zero-fill
  const int64_t dxf_shape[5] = {g.N, C, g.D, g.H, g.W};
  if (dx && add_dx) permute_backward_cuda(dx, dxf.get(), in_shape, kToFirst, 5);
  if (dx && !add_dx) permute_forward_cuda(dx, dxf.get(), dxf_shape, kToLast, 5);
}

}  // namespace ssmtl::kernels
