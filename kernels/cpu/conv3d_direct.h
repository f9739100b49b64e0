// Direct (implicit-GEMM) 3-D convolution for stride 1, used by kernels/cpu/conv3d.cpp for the backbone's
// 3x3x3 'same' convolutions. CPU-internal: not an op kernel of its own, so it has no CUDA twin.
//
// With stride 1, output row (od, oh) reads input row (od + kd, oh + kh) shifted by kw, so a vector of VL
// consecutive outputs along W is VL consecutive inputs of a zero-padded copy of the sample: no column matrix is
// built. A register block of output channels x position vectors accumulates over (ci, kd, kh, kw) with one
// broadcast weight per channel and one load per position vector. The input gradient is the same computation on
// the padded output gradient with the kernel flipped and transposed; the weight gradient accumulates
// dout x shifted-input products per (co, ci, tap) in vectors, reduced once per chunk of positions.
// Rows that are not a multiple of a vector (the CvT embedding's 8x8) would leave lanes idle; where that wastes
// enough, the input is staged as kW copies shifted by kw (channels (ci, kw), kernel (kD, kH, 1)), so that a
// slice's outputs are consecutive and whole vectors span several rows (the "shifted" layout of both files).
// When use_bf16_products() (kernels/precision.h) all three run in conv3d_direct_bf16.cpp instead.
#pragma once
#include "kernels/conv3d.h"

namespace ssmtl::kernels::detail {

// True when the direct path handles g: all strides 1, padding <= kernel - 1 (so the input gradient is again a
// 'valid'-or-padded convolution), and not a 1x1x1 kernel (that is a plain GEMM on the input).
bool conv3d_direct_applicable(const Conv3dGeometry& g);

// Same contracts as conv3d_forward_cpu / conv3d_backward_cpu (backward adds into dw, and into dx unless add_dx is
// false; null pointers are skipped).
// bn non-null: eval-mode batch norm + ReLU applied to each block as it is written (conv3d_bn_relu_forward_cpu).
void conv3d_direct_forward(float* out, const float* x, const float* w, const float* bias, const Conv3dGeometry& g,
                           const BnRelu* bn = nullptr);
void conv3d_direct_backward(float* dx, float* dw, const float* dout, const float* x, const float* w, bool add_dx,
                            const Conv3dGeometry& g);

}  // namespace ssmtl::kernels::detail
