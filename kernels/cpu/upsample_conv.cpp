// The folds and interleaves of kernels/upsample_conv.h: memory-bound copies, parallel over (n, c) planes; each
// output element is written by one thread from one formula, so results do not depend on the thread count.
#include "kernels/upsample_conv.h"

#include <cstring>

namespace ssmtl::kernels {
namespace {

constexpr int64_t kParallelMin = 65536;   // output elements below which threads cost more than they save

// kFold[a][r][u]: 3x3 tap u folds into 2x2 tap r at phase a (kernels/upsample_conv.h).
constexpr bool kFold[2][2][3] = {{{true, false, false}, {false, true, true}},
                                 {{true, true, false}, {false, false, true}}};

}  // namespace

void upsample_conv_fold_weights_cpu(float* w2, const float* w3, int64_t Cout, int64_t Cin) {
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b)
      for (int64_t co = 0; co < Cout; ++co)
        for (int64_t ci = 0; ci < Cin; ++ci) {
          const float* k = w3 + (co * Cin + ci) * 9;
          float* o = w2 + (((2 * a + b) * Cout + co) * Cin + ci) * 4;
          for (int r = 0; r < 2; ++r)
            for (int s = 0; s < 2; ++s) {
              float acc = 0.f;
              for (int u = 0; u < 3; ++u)
                for (int v = 0; v < 3; ++v)
                  if (kFold[a][r][u] && kFold[b][s][v]) acc += k[u * 3 + v];
              o[r * 2 + s] = acc;
            }
        }
}

void upsample_conv_fold_weights_backward_cpu(float* dw3, const float* dw2, int64_t Cout, int64_t Cin) {
  for (int64_t co = 0; co < Cout; ++co)
    for (int64_t ci = 0; ci < Cin; ++ci) {
      float* d = dw3 + (co * Cin + ci) * 9;
      for (int u = 0; u < 3; ++u)
        for (int v = 0; v < 3; ++v) {
          float acc = 0.f;   // phases in order (a, b), then taps (r, s): the CUDA twin sums in the same order
          for (int a = 0; a < 2; ++a)
            for (int b = 0; b < 2; ++b)
              for (int r = 0; r < 2; ++r)
                for (int s = 0; s < 2; ++s)
                  if (kFold[a][r][u] && kFold[b][s][v])
                    acc += dw2[(((2 * a + b) * Cout + co) * Cin + ci) * 4 + r * 2 + s];
          d[u * 3 + v] += acc;
        }
    }
}

void upsample_conv_interleave_forward_cpu(float* out, const float* y, int64_t N, int64_t C, int64_t H, int64_t W) {
  const int64_t yp = (H + 1) * (W + 1), W1 = W + 1, oW = 2 * W;
#pragma omp parallel for schedule(static) if (N * C * H * W * 4 > kParallelMin)
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const int64_t n = nc / C, c = nc % C;
    float* o = out + nc * 4 * H * W;
    for (int a = 0; a < 2; ++a) {
      const float* y0 = y + ((n * 4 + 2 * a) * C + c) * yp + a * W1;       // phase (a, 0), from row a
      const float* y1 = y + ((n * 4 + 2 * a + 1) * C + c) * yp + a * W1 + 1;   // phase (a, 1), from row a, column 1
      for (int64_t i = 0; i < H; ++i) {
        float* orow = o + (2 * i + a) * oW;
        const float* r0 = y0 + i * W1;
        const float* r1 = y1 + i * W1;
        for (int64_t j = 0; j < W; ++j) {
          orow[2 * j] = r0[j];
          orow[2 * j + 1] = r1[j];
        }
      }
    }
  }
}

void upsample_conv_interleave_backward_cpu(float* dy, const float* dout, int64_t N, int64_t C, int64_t H, int64_t W) {
  const int64_t yp = (H + 1) * (W + 1), W1 = W + 1, oW = 2 * W;
#pragma omp parallel for schedule(static) if (N * C * H * W * 4 > kParallelMin)
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const int64_t n = nc / C, c = nc % C;
    const float* g = dout + nc * 4 * H * W;
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 2; ++b) {
        float* d = dy + ((n * 4 + 2 * a + b) * C + c) * yp;
        // The row and the column of this phase that no output reads.
        std::memset(d + (a == 0 ? H : 0) * W1, 0, sizeof(float) * W1);
        for (int64_t i = 0; i < H; ++i) {
          float* drow = d + (i + a) * W1;
          drow[b == 0 ? W : 0] = 0.f;
          const float* grow = g + (2 * i + a) * oW + b;
          for (int64_t j = 0; j < W; ++j) drow[j + b] = grow[2 * j];
        }
      }
  }
}

}  // namespace ssmtl::kernels
