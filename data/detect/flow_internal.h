// Building blocks of dense_flow (data/detect/flow.h), exposed for the flow tests. Images are row-major float
// arrays; (C, H, W) means C planes of H x W, (H, W, C) C values per pixel.
#pragma once
#include <cstring>

namespace ssmtl::flow_detail {

// 8 floats as one value (GCC/Clang vector extension, lowered to whatever SIMD the target has): filters
// keep a block of outputs in registers across all their taps instead of re-reading and re-writing the
// output row once per tap.
typedef float f8 __attribute__((vector_size(32)));
constexpr int kLanes = 8;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"  // without AVX the f8 return ABI differs; this is always inlined
inline f8 load8(const float* p) {
  f8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
#pragma GCC diagnostic pop

// Blocked loops read up to 31 floats past the end of a row; scratch buffers carry this many extra floats.
constexpr int kScratchSlack = 64;
// Values per pixel of a polynomial expansion: A11, A22, A12, b1, b2 and 3 zeros (one f8 per pixel).
constexpr int kPolyStride = 8;

// Polynomial expansion (Farnebäck 2003; thesis ch. 4): at every pixel, the weighted least
// squares fit f(x, y) ~ c + bx x + by y + axx x^2 + ayy y^2 + axy x y with the Gaussian applicability
// exp(-(x^2 + y^2) / (2 sigma^2)) on the (2r+1)^2 neighbourhood, r = `radius`; borders replicate the
// edge pixels. Written as the matrix form x^T A x + b^T x + c; x = column, y = row:
// out: (H, W, 8) = A11 (= axx), A22 (= ayy), A12 (= axy / 2), b1 (= bx), b2 (= by), 0, 0, 0.
// img: (H, W). scratch: (3, H, W) + kScratchSlack, overwritten.
void poly_expand(float* out, const float* img, int H, int W, float sigma, int radius, float* scratch);

// Gaussian pyramid step: blur with the binomial kernel [1 4 6 4 1] / 16 (replicated borders) and keep
// the even pixels. out: ((H + 1) / 2, (W + 1) / 2), pixel (i, j) sits on pixel (2i, 2j) of img (H, W).
// scratch: (H, (W + 1) / 2).
void pyr_down(float* out, const float* img, int H, int W, float* scratch);

// Flow of the next finer level: out (2, H, W) at pixel p = 2 * in (2, h, w) sampled bilinearly at p / 2
// (positions clamped to the coarse image). Matches pyr_down's pixel placement.
void upsample_flow(float* out, int H, int W, const float* in, int h, int w);

// Displacement equations of row y (Farnebäck 2003, with an a priori displacement): with the prior flow
// d (2, H, W), A and db as in data/detect/flow.h step 2, out[0..4][x] = the entries G11, G12, G22 of A^T A and
// h1, h2 of A^T db at pixel (x, y). A pixel whose displaced position leaves the image gets weight 0
// (no data there). p1, p2: (H, W, 8) polynomial expansions of prev and next (poly_expand).
void displacement_equations_row(float* const out[5], const float* p1, const float* p2, const float* flow, int H,
                                int W, int y);

// One refinement (data/detect/flow.h steps 2-3), in place: flow (2, H, W) holds d~ on entry and on return the
// d solving (G + damping I) d = h + damping d~ per pixel, where G and h are the equations summed with a
// Gaussian window (std window_sigma, radius r, normalised to sum 1, zero outside the image).
// scratch: (5, H, W) + kScratchSlack.
void refine_flow(float* flow, const float* p1, const float* p2, int H, int W, float window_sigma, int radius,
                 float damping, float* scratch);

}  // namespace ssmtl::flow_detail
