// Dense optical flow between two grayscale frames: Farnebäck's two-frame motion estimation based on
// polynomial expansion (G. Farnebäck, "Two-frame motion estimation based on polynomial expansion",
// SCIA 2003; details of the expansion from his thesis, Linköping 2002, ch. 4), coarse to fine.
//
// Used by the motion-object detector of SSMTL++ (DESIGN.md section 2: a pixel moves when its flow
// magnitude exceeds 1 pixel/frame). Written for this project from the paper; no code from other
// libraries.
//
// Outline (one pyramid level, images at that level):
//   1. each frame's neighbourhoods are fitted by f(x) ~ x^T A x + b^T x + c (weighted least squares with
//      a Gaussian applicability of std poly_sigma, computed by separable correlations: "polynomial
//      expansion");
//   2. given the current flow d~, at every pixel x: A = (A1(x) + A2(x + d~)) / 2 and
//      db = -1/2 (b2(x + d~) - b1(x)) + A d~ (paper: "incorporating a priori knowledge");
//   3. d minimises sum_w |A d - db|^2 over a Gaussian window w of std window_sigma (paper: estimation
//      over a neighbourhood), plus damping * |d - d~|^2 (our addition) so that textureless areas keep
//      the prior instead of turning noise into motion;
//   4. steps 2-3 are repeated `iterations` times; the flow is then doubled and passed to the next finer
//      level (paper: iterative and multi-scale displacement estimation).
#pragma once
#include <vector>

namespace ssmtl {

struct FlowOptions {
  // Pyramid levels including full resolution (each level halves both sides). Levels whose shorter side
  // would drop below 16 pixels are skipped, so small images use fewer. With 4 levels, shifts of real
  // Ped2/Avenue frames up to 20 px/frame are found (EPE < 0.11 px); 25 px is not.
  int levels = 4;
  // Refinements of the flow per pyramid level (steps 2-3 above).
  int iterations = 3;
  // Std (pixels of the level) of the Gaussian applicability of the polynomial fit; the kernel radius is
  // round(2 * poly_sigma), at least 1.
  float poly_sigma = 1.2f;
  // Std (pixels of the level) of the Gaussian window over which the displacement equations are summed;
  // radius round(2.5 * window_sigma), at least 1. Larger: smoother and more robust, blurrier boundaries.
  float window_sigma = 3.0f;
  // Weight pulling the estimate towards the prior flow (coarser level / previous iteration), in the units
  // of A^T A for intensities in [0, 255]. Keeps flat, noisy regions (sky, walls) from showing motion:
  // on a Ped2 frame against itself plus noise of std 2 the largest magnitude is 1.01 px with damping 0,
  // 0.69 with 0.05, 0.45 with 0.2, while the EPE of a 2 degree rotation + 3% zoom is 0.127, 0.131, 0.165.
  float damping = 0.05f;
};

// flow: (2, H, W) contiguous, plane 0 = dx (columns), plane 1 = dy (rows), in pixels per frame, such that
// the content of prev at (x, y) is found in next at (x + dx, y + dy).
// prev, next: (H, W) row-major grayscale intensities in [0, 255].
// Deterministic; parallel over rows with OpenMP (same result for any thread count: every output value
// is computed by one thread in a fixed order). Keeps about 28 * H * W floats of buffers per calling
// thread between calls, so that the frame pairs of a video reuse them.
// Throws std::invalid_argument on null pointers, H or W < 1, or invalid options (levels or iterations
// < 1, poly_sigma, window_sigma <= 0, damping < 0 or any non-finite value).
void dense_flow(float* flow, const float* prev, const float* next, int H, int W, const FlowOptions& o = {});

// Same, returning the (2, H, W) flow.
std::vector<float> dense_flow(const float* prev, const float* next, int H, int W, const FlowOptions& o = {});

}  // namespace ssmtl
