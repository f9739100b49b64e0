// The channels-last depthwise kernels (kernels/cpu/conv3d_depthwise_cl.cpp, its forward by lines
// conv3d_depthwise_cl_lines.cpp, its all-taps weight gradient conv3d_depthwise_cl_dw.cpp and the zero-padded
// variant conv3d_depthwise_cl_padded.cpp), reached through
// conv3d_depthwise_cl_*_cpu, against scalar loops that sum in the order the header promises (bias, then the taps
// in the order kd, kh, kw, out-of-range taps skipped; dw: per sample a float sum over the output rows in
// ascending order, the samples added in double): equal bit for bit, for whole and partial channel vectors,
// several and partial blocks along W, strides 1 and 2, odd and even padding, 3x3x3 and 1x3x3 kernels, and
// gradients added into pre-filled buffers; dx also written into NaN-filled ones (add_dx false). (The PyTorch
// values and finite differences of the op are in tests/test_conv_tokens.cpp.)
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "kernels/conv3d.h"
#include "tensor/rng.h"

using namespace ssmtl;
using kernels::Conv3dGeometry;

namespace {

Conv3dGeometry geometry(int64_t N, int64_t C, int64_t D, int64_t H, int64_t W, int64_t kD, int64_t sD, int64_t sHW,
                        int64_t pD, int64_t pHW) {
  Conv3dGeometry g{};
  g.N = N, g.Cin = g.Cout = g.groups = C, g.D = D, g.H = H, g.W = W;
  g.kD = kD, g.kH = g.kW = 3, g.sD = sD, g.sH = g.sW = sHW, g.pD = pD, g.pH = g.pW = pHW;
  g.Do = (D + 2 * pD - kD) / sD + 1, g.Ho = (H + 2 * pHW - 3) / sHW + 1, g.Wo = (W + 2 * pHW - 3) / sHW + 1;
  return g;
}

// The input index under output o and tap k on one axis, or -1 outside.
int64_t under(int64_t o, int64_t s, int64_t p, int64_t k, int64_t n) {
  const int64_t i = o * s - p + k;
  return i >= 0 && i < n ? i : -1;
}

// Visits (output row, input row, tap) in the promised order for each output row: f(out_row, in_row, tap).
template <class F>
void for_each_tap(const Conv3dGeometry& g, F&& f) {
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t od = 0; od < g.Do; ++od)
      for (int64_t oh = 0; oh < g.Ho; ++oh)
        for (int64_t ow = 0; ow < g.Wo; ++ow) {
          const int64_t orow = ((n * g.Do + od) * g.Ho + oh) * g.Wo + ow;
          for (int64_t kd = 0; kd < g.kD; ++kd)
            for (int64_t kh = 0; kh < 3; ++kh)
              for (int64_t kw = 0; kw < 3; ++kw) {
                const int64_t d = under(od, g.sD, g.pD, kd, g.D), h = under(oh, g.sH, g.pH, kh, g.H),
                              w = under(ow, g.sW, g.pW, kw, g.W);
                if (d < 0 || h < 0 || w < 0) continue;
                f(orow, ((n * g.D + d) * g.H + h) * g.W + w, (kd * 3 + kh) * 3 + kw);
              }
        }
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("depthwise channels-last kernels: forward, dx and dw equal scalar loops in the promised order, bit for bit") {
  struct G {
    int64_t N, C, D, H, W, kD, sD, sHW, pD, pHW;
  };
  // C: whole vectors (96 = the paper's CvT), partial (24 = the demo's, 5), more than 8 vectors (130);
  // W: one block, a partial second block (11), several (19); stride 2 with odd and even padding.
  const G cases[] = {{3, 96, 7, 8, 8, 3, 1, 1, 1, 1}, {3, 96, 7, 8, 8, 3, 1, 2, 1, 1}, {2, 24, 3, 5, 11, 3, 1, 1, 1, 1},
                     {2, 5, 4, 6, 19, 3, 2, 2, 1, 2},  {2, 130, 2, 3, 9, 1, 1, 2, 0, 0}, {1, 16, 3, 4, 17, 1, 1, 1, 0, 2},
                     {2, 33, 5, 7, 13, 3, 2, 2, 0, 1},
                     // more samples, whole vectors (dw: the zero-padded path), strides 1 and 2 along H, W or D,
                     // 3x3x3 and 1x3x3, padding 0 and 1
                     {8, 96, 3, 4, 5, 3, 1, 1, 1, 1},  {8, 32, 3, 5, 6, 3, 1, 2, 1, 1},  {9, 16, 2, 3, 7, 1, 1, 1, 0, 1},
                     {8, 48, 4, 4, 4, 3, 2, 1, 1, 1},  {8, 16, 3, 5, 5, 3, 1, 1, 0, 0},
                     // stride 2 along W with even padding (6 outputs along W); one plane under a 3x3x3 kernel
                     {4, 32, 3, 6, 9, 3, 1, 2, 1, 2},  {3, 32, 1, 5, 6, 3, 1, 1, 1, 1},
                     // the forward's line blocks (conv3d_depthwise_cl_lines.cpp): padding 2 with the last two
                     // columns of a block of 8 outside the input (W 6, and W 14's second block), padding 0, 9
                     // vectors; stride 2 with blocks of 4 then single outputs, padding 0 and 2, 3 and 5 vectors, and
                     // a block of 4 whose last two columns are outside; stride 2 with padding 1 and an odd W (only the
                     // last column of the last block outside), with W 2, and with 7 vectors (the row loop)
                     {2, 32, 3, 4, 6, 3, 1, 1, 1, 2},  {2, 16, 2, 3, 14, 3, 1, 1, 1, 2},
                     {2, 16, 2, 3, 10, 1, 1, 1, 0, 0}, {2, 144, 2, 3, 9, 3, 1, 1, 1, 1},
                     {2, 48, 3, 5, 13, 3, 1, 2, 0, 0}, {2, 80, 3, 7, 7, 3, 1, 2, 1, 2},
                     {2, 32, 3, 5, 5, 3, 1, 2, 1, 2},  {2, 16, 3, 5, 9, 3, 1, 2, 1, 1},
                     {2, 32, 3, 4, 2, 3, 1, 2, 1, 1},  {2, 112, 3, 4, 6, 3, 1, 2, 1, 1}};
  Rng rng(11);
  for (const G& c : cases) {
    const Conv3dGeometry g = geometry(c.N, c.C, c.D, c.H, c.W, c.kD, c.sD, c.sHW, c.pD, c.pHW);
    CAPTURE(c.C);
    CAPTURE(c.W);
    CAPTURE(c.sHW);
    CAPTURE(c.pHW);
    const int64_t C = g.Cin, taps = g.kD * 9, in_rows = g.N * g.D * g.H * g.W, out_rows = g.N * g.Do * g.Ho * g.Wo;
    const std::vector<float> x = randn({in_rows * C}, rng).to_vector(), w = randn({C * taps}, rng).to_vector();
    const std::vector<float> b = randn({C}, rng).to_vector(), dout = randn({out_rows * C}, rng).to_vector();
    const std::vector<float> dx0 = randn({in_rows * C}, rng).to_vector(), dw0 = randn({C * taps}, rng).to_vector();
    const std::vector<float> db0 = randn({C}, rng).to_vector();

    // forward: out = bias, then += w * x per tap in order
    std::vector<float> out_ref(static_cast<size_t>(out_rows * C)), out(out_ref.size());
    for (int64_t r = 0; r < out_rows; ++r)
      for (int64_t ch = 0; ch < C; ++ch) out_ref[r * C + ch] = b[ch];
    for_each_tap(g, [&](int64_t orow, int64_t irow, int64_t t) {
      for (int64_t ch = 0; ch < C; ++ch) out_ref[orow * C + ch] += w[ch * taps + t] * x[irow * C + ch];
    });
    kernels::conv3d_depthwise_cl_forward_cpu(out.data(), x.data(), w.data(), b.data(), g);
    CHECK(same_bits(out, out_ref));

    // dx (pre-filled): for each input row, the terms of the output rows over it, in the order of the taps.
    std::vector<std::vector<std::pair<int64_t, int64_t>>> terms(static_cast<size_t>(in_rows));   // (out row, tap)
    for_each_tap(g, [&](int64_t orow, int64_t irow, int64_t t) { terms[irow].push_back({orow, t}); });
    std::vector<float> dx_ref = dx0, dx = dx0;
    for (int64_t r = 0; r < in_rows; ++r) {
      auto& list = terms[r];   // sorted by tap: one output row per tap
      std::sort(list.begin(), list.end(), [](auto& a, auto& bb) { return a.second < bb.second; });
      for (auto [orow, t] : list)
        for (int64_t ch = 0; ch < C; ++ch) dx_ref[r * C + ch] += w[ch * taps + t] * dout[orow * C + ch];
    }
    kernels::conv3d_depthwise_cl_backward_cpu(dx.data(), nullptr, nullptr, dout.data(), x.data(), w.data(), true, g);
    CHECK(same_bits(dx, dx_ref));

    // dw, dbias (pre-filled): per sample float sums over its output rows, samples added in double.
    std::vector<double> acc(static_cast<size_t>(C * (taps + 1)), 0.0);
    const int64_t P = g.Do * g.Ho * g.Wo;
    for (int64_t n = 0; n < g.N; ++n) {
      std::vector<float> part(acc.size(), 0.f);   // (taps + 1, C)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t ch = 0; ch < C; ++ch) part[taps * C + ch] += dout[(n * P + p) * C + ch];
      Conv3dGeometry one = g;
      one.N = 1;
      for_each_tap(one, [&](int64_t orow, int64_t irow, int64_t t) {
        const int64_t o = n * P + orow, i = n * g.D * g.H * g.W + irow;
        for (int64_t ch = 0; ch < C; ++ch) part[t * C + ch] += dout[o * C + ch] * x[i * C + ch];
      });
      for (size_t i = 0; i < acc.size(); ++i) acc[i] += part[i];
    }
    std::vector<float> dw_ref = dw0, db_ref = db0, dw = dw0, db = db0;
    for (int64_t ch = 0; ch < C; ++ch) {
      for (int64_t t = 0; t < taps; ++t) dw_ref[ch * taps + t] += static_cast<float>(acc[t * C + ch]);
      db_ref[ch] += static_cast<float>(acc[taps * C + ch]);
    }
    kernels::conv3d_depthwise_cl_backward_cpu(nullptr, dw.data(), db.data(), dout.data(), x.data(), w.data(), true, g);
    CHECK(same_bits(dw, dw_ref));
    CHECK(same_bits(db, db_ref));
    // all three in one call (the autograd node's: one pass over the samples where it applies), the same bits
    std::vector<float> dx3 = dx0, dw3 = dw0, db3 = db0;
    kernels::conv3d_depthwise_cl_backward_cpu(dx3.data(), dw3.data(), db3.data(), dout.data(), x.data(), w.data(),
                                              true, g);
    CHECK(same_bits(dx3, dx_ref));
    CHECK(same_bits(dw3, dw_ref));
    CHECK(same_bits(db3, db_ref));
    // the results are not the pre-filled values: the kernels did add something
    CHECK(!same_bits(dx, dx0));
    CHECK(!same_bits(dw, dw0));
  }
}

TEST_CASE("depthwise channels-last dx: add_dx false writes every element (NaN-filled) as adding into zeros does") {
  struct G {
    int64_t N, C, D, H, W, kD, sD, sHW, pD, pHW;
  };
  // Whole vectors (the register-blocked rows) and partial ones (the generic loop); stride 2 with padding 0
  // leaves the last rows and columns under no output window (they must be written as 0), as does sD 2.
  const G cases[] = {{3, 96, 7, 8, 8, 3, 1, 1, 1, 1},  {3, 96, 7, 8, 8, 3, 1, 2, 1, 1}, {2, 32, 3, 6, 6, 3, 1, 2, 1, 0},
                     {2, 24, 3, 5, 11, 3, 1, 1, 1, 1}, {2, 5, 4, 6, 8, 3, 2, 2, 0, 0},  {2, 16, 1, 8, 8, 3, 1, 1, 1, 1},
                     {2, 32, 3, 6, 9, 3, 1, 2, 1, 2}};
  Rng rng(12);
  for (const G& c : cases) {
    const Conv3dGeometry g = geometry(c.N, c.C, c.D, c.H, c.W, c.kD, c.sD, c.sHW, c.pD, c.pHW);
    CAPTURE(c.C);
    CAPTURE(c.sHW);
    CAPTURE(c.pHW);
    const int64_t n_in = g.N * g.D * g.H * g.W * g.Cin, n_out = g.N * g.Do * g.Ho * g.Wo * g.Cin;
    const std::vector<float> x = randn({n_in}, rng).to_vector(), w = randn({g.Cin * g.kD * 9}, rng).to_vector();
    const std::vector<float> dout = randn({n_out}, rng).to_vector(), pre = randn({n_in}, rng).to_vector();
    std::vector<float> written(static_cast<size_t>(n_in), std::numeric_limits<float>::quiet_NaN());
    std::vector<float> added(static_cast<size_t>(n_in), 0.f), sum = pre;
    kernels::conv3d_depthwise_cl_backward_cpu(written.data(), nullptr, nullptr, dout.data(), x.data(), w.data(),
                                              false, g);
    // with dw and dbias too (one pass over the samples where it applies)
    std::vector<float> written_all(written.size(), std::numeric_limits<float>::quiet_NaN());
    std::vector<float> dw(static_cast<size_t>(g.Cin * g.kD * 9)), db(static_cast<size_t>(g.Cin));
    kernels::conv3d_depthwise_cl_backward_cpu(written_all.data(), dw.data(), db.data(), dout.data(), x.data(),
                                              w.data(), false, g);
    kernels::conv3d_depthwise_cl_backward_cpu(added.data(), nullptr, nullptr, dout.data(), x.data(), w.data(), true,
                                              g);
    kernels::conv3d_depthwise_cl_backward_cpu(sum.data(), nullptr, nullptr, dout.data(), x.data(), w.data(), true,
                                              g);
    CHECK(same_bits(written, added));   // (a NaN left anywhere fails)
    CHECK(same_bits(written_all, added));
    double worst = 0;
    for (size_t i = 0; i < sum.size(); ++i) worst = std::max(worst, std::fabs(double(sum[i]) - pre[i] - added[i]));
    CHECK(worst < 1e-4);   // add_dx true still adds
    const bool gaps = c.pHW == 0 || c.sD == 2;   // inputs under no window: exact zeros (random terms never are)
    CHECK((std::count(added.begin(), added.end(), 0.f) > 0) == gaps);
  }
}
