// Nearest 2x up-sampling followed by a 3x3 convolution (stride 1, padding 1), the decoders' layer
// (model/heads.h), computed on the low-resolution input: every output pixel (2i + a, 2j + b) sees, through the
// up-sampling, only 2 x 2 input pixels, so the 3x3 kernel folds into one 2x2 kernel per output phase (a, b)
// (the "sub-pixel convolution" identity; Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution
// Using an Efficient Sub-Pixel Convolutional Neural Network"; Odena et al. 2016, "Deconvolution and
// Checkerboard Artifacts"). 4 taps instead of 9 per output pixel; with the one-pixel-larger phase planes below,
// 16 (H + 1)(W + 1) / (36 H W) of the products: 1.78x fewer at H = W = 8, 1.99x at 16, 2.12x at 32.
//   Along one axis: phase 0 covers up-sampled rows 2i - 1, 2i, 2i + 1 = input rows i - 1, i, i: taps
//   (w0, w1 + w2) over rows (i - 1, i); phase 1 covers 2i, 2i + 1, 2i + 2 = rows i, i, i + 1: taps (w0 + w1, w2)
//   over rows (i, i + 1). The up-sampled image's zero padding is the input's zero padding.
// The layer is then: w2 = fold(w); y = conv2d(x, w2, padding 1) (one 2x2 convolution with 4 Cout channels and
// an (H + 1) x (W + 1) output, whose position p covers input rows p - 1 and p); out = interleave(y). Phase 0 of
// output row i is y row i, phase 1 is y row i + 1 (and the same along columns).
// Raw float pointers, outputs first; row-major NCHW. Backward kernels say whether they add or write.
#pragma once
#include <cstdint>

#include "kernels/dispatch.h"

namespace ssmtl::kernels {

// w2 (4 Cout, Cin, 2, 2) = the phases' 2x2 kernels of w3 (Cout, Cin, 3, 3), written. Channel (2 a + b) Cout + co
// of w2 is output channel co at phase (a, b): w2[.][r][s] = sum over the 3x3 taps (u, v) that fold into (r, s).
void upsample_conv_fold_weights_cpu(float* w2, const float* w3, int64_t Cout, int64_t Cin);
// dw3 (Cout, Cin, 3, 3) += the transpose of the fold applied to dw2 (4 Cout, Cin, 2, 2): ADDS.
void upsample_conv_fold_weights_backward_cpu(float* dw3, const float* dw2, int64_t Cout, int64_t Cin);
// out (N, C, 2 H, 2 W)[n][c][2 i + a][2 j + b] = y (N, 4 C, H + 1, W + 1)[n][(2 a + b) C + c][i + a][j + b], written.
void upsample_conv_interleave_forward_cpu(float* out, const float* y, int64_t N, int64_t C, int64_t H, int64_t W);
// dy (N, 4 C, H + 1, W + 1) = the gradient of the interleave for dout (N, C, 2 H, 2 W), WRITTEN (not added): each
// phase's row and column that no output reads (row H and column W of phase (0, .) and (., 0); row 0 and column 0 of
// phase (1, .) and (., 1)) is set to 0.
void upsample_conv_interleave_backward_cpu(float* dy, const float* dout, int64_t N, int64_t C, int64_t H, int64_t W);

#ifdef SSMTL_WITH_CUDA
void upsample_conv_fold_weights_cuda(float* w2, const float* w3, int64_t Cout, int64_t Cin);
void upsample_conv_fold_weights_backward_cuda(float* dw3, const float* dw2, int64_t Cout, int64_t Cin);
void upsample_conv_interleave_forward_cuda(float* out, const float* y, int64_t N, int64_t C, int64_t H, int64_t W);
void upsample_conv_interleave_backward_cuda(float* dy, const float* dout, int64_t N, int64_t C, int64_t H, int64_t W);
#endif

}  // namespace ssmtl::kernels
