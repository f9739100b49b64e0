// CUDA twins of kernels/upsample_conv.h (same signatures and semantics, device pointers): one thread per
// element written, each from the CPU's formula in the CPU's order of summation (the same bits).
#include "kernels/cuda/common.cuh"
#include "kernels/upsample_conv.h"

namespace ssmtl::kernels {

namespace {

// Whether 3x3 tap u folds into 2x2 tap r at phase a (kFold of kernels/cpu/upsample_conv.cpp).
__device__ inline bool folds(int a, int r, int u) {
  return a == 0 ? (r == 0 ? u == 0 : u >= 1) : (r == 0 ? u <= 1 : u == 2);
}

__global__ void fold_k(float* w2, const float* w3, long long Cout, long long Cin, long long n) {
  SSMTL_GRID_LOOP(j, n) {   // j indexes w2 (4 Cout, Cin, 2, 2)
    const int s = j % 2, r = (j / 2) % 2;
    const long long ci = (j / 4) % Cin, co = (j / (4 * Cin)) % Cout;
    const int phase = static_cast<int>(j / (4 * Cin * Cout)), a = phase / 2, b = phase % 2;
    const float* k = w3 + (co * Cin + ci) * 9;
    float acc = 0.f;
    for (int u = 0; u < 3; ++u)
      for (int v = 0; v < 3; ++v)
        if (folds(a, r, u) && folds(b, s, v)) acc += k[u * 3 + v];
    w2[j] = acc;
  }
}

__global__ void fold_bw_k(float* dw3, const float* dw2, long long Cout, long long Cin, long long n) {
  SSMTL_GRID_LOOP(j, n) {   // j indexes dw3 (Cout, Cin, 3, 3)
    const int v = j % 3, u = (j / 3) % 3;
    const long long ci = (j / 9) % Cin, co = j / (9 * Cin);
    float acc = 0.f;
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 2; ++b)
        for (int r = 0; r < 2; ++r)
          for (int s = 0; s < 2; ++s)
            if (folds(a, r, u) && folds(b, s, v)) acc += dw2[(((2 * a + b) * Cout + co) * Cin + ci) * 4 + r * 2 + s];
    dw3[j] += acc;
  }
}

__global__ void interleave_fw_k(float* out, const float* y, long long C, long long H, long long W, long long n) {
  SSMTL_GRID_LOOP(j, n) {   // j indexes out (N, C, 2 H, 2 W)
    const long long oW = 2 * W, oH = 2 * H;
    const long long x = j % oW, row = (j / oW) % oH, nc = j / (oW * oH), c = nc % C, nn = nc / C;
    const long long a = row % 2, i = row / 2, b = x % 2, jj = x / 2;
    out[j] = y[(((nn * 4 + 2 * a + b) * C + c) * (H + 1) + i + a) * (W + 1) + jj + b];
  }
}

__global__ void interleave_bw_k(float* dy, const float* dout, long long C, long long H, long long W, long long n) {
  SSMTL_GRID_LOOP(j, n) {   // j indexes dy (N, 4 C, H + 1, W + 1)
    const long long x = j % (W + 1), row = (j / (W + 1)) % (H + 1), ch = j / ((W + 1) * (H + 1));
    const long long c = ch % C, phase = (ch / C) % 4, nn = ch / (4 * C), a = phase / 2, b = phase % 2;
    const long long i = row - a, jj = x - b;   // the output (2 i + a, 2 jj + b) this element feeds, if any
    dy[j] = i >= 0 && i < H && jj >= 0 && jj < W ? dout[((nn * C + c) * 2 * H + 2 * i + a) * 2 * W + 2 * jj + b] : 0.f;
  }
}

}  // namespace

void upsample_conv_fold_weights_cuda(float* w2, const float* w3, int64_t Cout, int64_t Cin) {
  const long long n = 16 * Cout * Cin;
  SSMTL_LAUNCH(fold_k, n, w2, w3, Cout, Cin, n);
}
void upsample_conv_fold_weights_backward_cuda(float* dw3, const float* dw2, int64_t Cout, int64_t Cin) {
  const long long n = 9 * Cout * Cin;
  SSMTL_LAUNCH(fold_bw_k, n, dw3, dw2, Cout, Cin, n);
}
void upsample_conv_interleave_forward_cuda(float* out, const float* y, int64_t N, int64_t C, int64_t H, int64_t W) {
  const long long n = N * C * 4 * H * W;
  SSMTL_LAUNCH(interleave_fw_k, n, out, y, C, H, W, n);
}
void upsample_conv_interleave_backward_cuda(float* dy, const float* dout, int64_t N, int64_t C, int64_t H, int64_t W) {
  const long long n = N * 4 * C * (H + 1) * (W + 1);
  SSMTL_LAUNCH(interleave_bw_k, n, dy, dout, C, H, W, n);
}

}  // namespace ssmtl::kernels
