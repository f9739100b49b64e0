// Coarse-to-fine driver of the Farnebäck dense flow (data/detect/flow.h).
#include "data/detect/flow.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "data/detect/flow_internal.h"

namespace ssmtl {

namespace flow_detail {

void upsample_flow(float* out, int H, int W, const float* in, int h, int w) {
  const size_t plane = size_t(H) * W, cplane = size_t(h) * w;
#pragma omp parallel for schedule(static)
  for (int y = 0; y < H; ++y) {
    const float py = std::min(0.5f * float(y), float(h - 1));
    const int y0 = int(py), y1 = std::min(y0 + 1, h - 1);
    const float fy = py - float(y0);
    for (int x = 0; x < W; ++x) {
      const float px = std::min(0.5f * float(x), float(w - 1));
      const int x0 = int(px), x1 = std::min(x0 + 1, w - 1);
      const float fx = px - float(x0);
      for (int c = 0; c < 2; ++c) {
        const float* q = in + c * cplane;
        const float v = (1 - fy) * ((1 - fx) * q[size_t(y0) * w + x0] + fx * q[size_t(y0) * w + x1]) +
                        fy * ((1 - fx) * q[size_t(y1) * w + x0] + fx * q[size_t(y1) * w + x1]);
        out[c * plane + size_t(y) * W + x] = 2.f * v;
      }
    }
  }
}

}  // namespace flow_detail

namespace {

void check_options(const float* flow, const float* prev, const float* next, int H, int W, const FlowOptions& o) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("dense_flow: " + what); };
  if (H < 1 || W < 1) fail("image size " + std::to_string(H) + "x" + std::to_string(W) + " is empty");
  if (!flow || !prev || !next) fail("null image or output pointer");
  if (o.levels < 1 || o.iterations < 1)
    fail("levels (" + std::to_string(o.levels) + ") and iterations (" + std::to_string(o.iterations) +
         ") must be >= 1");
  if (!(o.poly_sigma > 0.f) || !std::isfinite(o.poly_sigma) || !(o.window_sigma > 0.f) ||
      !std::isfinite(o.window_sigma))
    fail("poly_sigma (" + std::to_string(o.poly_sigma) + ") and window_sigma (" + std::to_string(o.window_sigma) +
         ") must be positive and finite");
  if (!(o.damping >= 0.f) || !std::isfinite(o.damping))
    fail("damping (" + std::to_string(o.damping) + ") must be >= 0 and finite");
}

// Buffers of one dense_flow call, kept per calling thread so that a video's frame pairs reuse them
// (fresh multi-megabyte allocations cost page faults comparable to the flow itself).
struct Workspace {
  std::vector<float> pyr1, pyr2, poly1, poly2, scratch, cur, coarse;
};

float* grown(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace

void dense_flow(float* flow, const float* prev, const float* next, int H, int W, const FlowOptions& o) {
  check_options(flow, prev, next, H, W, o);
  using namespace flow_detail;
  const int poly_r = std::max(1, int(std::lround(2.0 * o.poly_sigma)));
  const int win_r = std::max(1, int(std::lround(2.5 * o.window_sigma)));
  thread_local Workspace work;

  // Pyramid sizes; level 0 is the input. Stop before the shorter side drops below 16 pixels.
  std::vector<int> hs{H}, wd{W};  // level heights and widths
  std::vector<size_t> off{0};  // offset of each level in the pyramid buffers
  while (int(hs.size()) < o.levels && std::min((hs.back() + 1) / 2, (wd.back() + 1) / 2) >= 16) {
    off.push_back(off.back() + size_t(hs.back()) * wd.back());
    hs.push_back((hs.back() + 1) / 2);
    wd.push_back((wd.back() + 1) / 2);
  }
  const int levels = int(hs.size());
  const size_t plane0 = size_t(H) * W, total = off.back() + size_t(hs.back()) * wd.back();
  float* p1 = grown(work.pyr1, total);
  float* p2 = grown(work.pyr2, total);
  float* poly1 = grown(work.poly1, kPolyStride * plane0);
  float* poly2 = grown(work.poly2, kPolyStride * plane0);
  float* scratch = grown(work.scratch, 5 * plane0 + kScratchSlack);
  float* cur = grown(work.cur, 2 * plane0);
  float* coarse = grown(work.coarse, 2 * plane0);
  std::copy(prev, prev + plane0, p1);
  std::copy(next, next + plane0, p2);
  for (int lv = 1; lv < levels; ++lv) {
    pyr_down(p1 + off[lv], p1 + off[lv - 1], hs[lv - 1], wd[lv - 1], scratch);
    pyr_down(p2 + off[lv], p2 + off[lv - 1], hs[lv - 1], wd[lv - 1], scratch);
  }

  for (int lv = levels - 1; lv >= 0; --lv) {
    const int h = hs[lv], w = wd[lv];
    if (lv == levels - 1)
      std::fill(cur, cur + 2 * size_t(h) * w, 0.f);  // the coarsest level starts from zero motion
    else
      upsample_flow(cur, h, w, coarse, hs[lv + 1], wd[lv + 1]);
    poly_expand(poly1, p1 + off[lv], h, w, o.poly_sigma, poly_r, scratch);
    poly_expand(poly2, p2 + off[lv], h, w, o.poly_sigma, poly_r, scratch);
    for (int it = 0; it < o.iterations; ++it)
      refine_flow(cur, poly1, poly2, h, w, o.window_sigma, win_r, o.damping, scratch);
    std::swap(cur, coarse);
  }
  std::copy(coarse, coarse + 2 * plane0, flow);
}

std::vector<float> dense_flow(const float* prev, const float* next, int H, int W, const FlowOptions& o) {
  std::vector<float> flow(2 * size_t(std::max(H, 0)) * size_t(std::max(W, 0)));
  dense_flow(flow.data(), prev, next, H, W, o);
  return flow;
}

}  // namespace ssmtl
