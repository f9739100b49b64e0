// bf16 products in the direct stride-1 convolution (kernels/cpu/conv3d_direct_bf16.cpp): the forward pass and
// the input gradient under MatmulPrecisionScope(bf16) against a double reference whose inputs and weights were
// rounded to bfloat16 first (round to nearest even), so only float32 accumulation errors remain.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/conv3d.h"
#include "kernels/precision.h"

using namespace ssmtl;
using kernels::Conv3dGeometry;
using kernels::MatmulPrecision;
using kernels::MatmulPrecisionScope;

namespace {

// float -> bfloat16 -> float, round to nearest even (the inputs here are normal numbers).
double bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  float r;
  std::memcpy(&r, &u, sizeof r);
  return r;
}

std::vector<float> uniform(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

Conv3dGeometry geometry(int64_t N, int64_t Cin, int64_t Cout, int64_t groups, int64_t D, int64_t H, int64_t W,
                        int64_t k[3], int64_t p[3]) {
  Conv3dGeometry g{};
  g.N = N, g.Cin = Cin, g.D = D, g.H = H, g.W = W, g.Cout = Cout, g.kD = k[0], g.kH = k[1], g.kW = k[2];
  g.sD = g.sH = g.sW = 1, g.pD = p[0], g.pH = p[1], g.pW = p[2], g.groups = groups;
  g.Do = D + 2 * p[0] - k[0] + 1, g.Ho = H + 2 * p[1] - k[1] + 1, g.Wo = W + 2 * p[2] - k[2] + 1;
  return g;
}

// Reference sums in double of bf16-rounded factors: out = bias + conv(x), dx = dx0 + conv^T(dout), dw = dw0 +
// sum dout x shifted x; `*_abs` sum the magnitudes of the same terms (the scale of float32 accumulation errors).
struct Reference {
  std::vector<double> out, out_abs, dx, dx_abs, dw, dw_abs;
};

void start_sum(std::vector<double>& sum, std::vector<double>& abs, const std::vector<float>& init) {
  sum.assign(init.begin(), init.end());
  abs.resize(init.size());
  for (size_t i = 0; i < init.size(); ++i) abs[i] = std::fabs(init[i]);
}

Reference reference(const Conv3dGeometry& g, const std::vector<float>& x, const std::vector<float>& w,
                    const std::vector<float>& bias, const std::vector<float>& dout, const std::vector<float>& dx0,
                    const std::vector<float>& dw0) {
  const int64_t Cin_g = g.Cin / g.groups, Cout_g = g.Cout / g.groups, kvol = g.kD * g.kH * g.kW;
  const int64_t in_vol = g.D * g.H * g.W, out_vol = g.Do * g.Ho * g.Wo;
  Reference r;
  r.out.assign(g.N * g.Cout * out_vol, 0.0), r.out_abs = r.out;
  start_sum(r.dx, r.dx_abs, dx0);
  start_sum(r.dw, r.dw_abs, dw0);
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t co = 0; co < g.Cout; ++co)
      for (int64_t o = 0; o < out_vol; ++o) {
        const int64_t od = o / (g.Ho * g.Wo), oh = o / g.Wo % g.Ho, ow = o % g.Wo, oi = (n * g.Cout + co) * out_vol + o;
        double s = bias[co], sa = std::fabs(bias[co]);
        for (int64_t c = 0; c < Cin_g; ++c)
          for (int64_t t = 0; t < kvol; ++t) {
            const int64_t z = od - g.pD + t / (g.kH * g.kW), y = oh - g.pH + t / g.kW % g.kH, xx = ow - g.pW + t % g.kW;
            if (z < 0 || z >= g.D || y < 0 || y >= g.H || xx < 0 || xx >= g.W) continue;
            const int64_t ci = co / Cout_g * Cin_g + c, xi = (n * g.Cin + ci) * in_vol + (z * g.H + y) * g.W + xx;
            const int64_t wi = (co * Cin_g + c) * kvol + t;
            const double wv = bf16(w[wi]), xv = bf16(x[xi]), gv = bf16(dout[oi]);
            s += wv * xv, sa += std::fabs(wv * xv);
            r.dx[xi] += wv * gv, r.dx_abs[xi] += std::fabs(wv * gv);
            r.dw[wi] += gv * xv, r.dw_abs[wi] += std::fabs(gv * xv);
          }
        r.out[oi] = s, r.out_abs[oi] = sa;
      }
  return r;
}

// Largest |got - want| / scale.
double max_rel(const std::vector<float>& got, const std::vector<double>& want, const std::vector<double>& scale) {
  double m = 0;
  for (size_t i = 0; i < got.size(); ++i) m = std::max(m, std::fabs(got[i] - want[i]) / scale[i]);
  return m;
}

struct Result {
  std::vector<float> out, dx, dw;
};

// Forward into a buffer of 7s (overwritten), backward adding into copies of dx0 and dw0.
Result run(const Conv3dGeometry& g, const std::vector<float>& x, const std::vector<float>& w,
           const std::vector<float>& bias, const std::vector<float>& dout, const std::vector<float>& dx0,
           const std::vector<float>& dw0) {
  Result r{std::vector<float>(g.N * g.Cout * g.Do * g.Ho * g.Wo, 7.f), dx0, dw0};
  kernels::conv3d_forward_cpu(r.out.data(), x.data(), w.data(), bias.data(), g);
  kernels::conv3d_backward_cpu(r.dx.data(), r.dw.data(), nullptr, dout.data(), x.data(), w.data(), true, g);
  return r;
}

// Turns AMX tiles on or off for the bf16 products for its lifetime (kernels/precision.h).
struct AmxScope {
  bool before = kernels::amx_enabled();
  explicit AmxScope(bool on) { kernels::set_amx_enabled(on); }
  ~AmxScope() { kernels::set_amx_enabled(before); }
};

// The AMX settings to test on this CPU: AVX512_BF16 alone, and AMX tiles where the CPU has them.
std::vector<bool> amx_modes() {
  return kernels::cpu_has_amx_bf16() ? std::vector<bool>{false, true} : std::vector<bool>{false};
}

}  // namespace

TEST_CASE("conv3d bf16: forward, input and weight gradients sum bf16-rounded products in float32") {
  if (!kernels::cpu_has_bf16()) {
    MESSAGE("skipped: this CPU has no AVX512_BF16");
    return;
  }
  struct Case {
    int64_t N, Cin, Cout, groups, D, H, W, k[3], p[3];
  };
  // Odd and even input channels (a zero partner channel for odd counts, in the forward pass or in the input
  // gradient, whose input channels are Cout), output channels not a multiple of the register block of 8, rows
  // not a multiple of 16, groups, an asymmetric kernel with padding 0 in depth. Position vectors by rows (widths
  // 16 and 31: a masked tail), shifted (the others, e.g. 8x8 as the CvT embedding) and flat (below). The weight
  // gradient stages small samples several at a time: 5 samples on 2 threads = 2 and 3, the 3 in groups of 2 and 1.
  const Case cases[] = {
      {2, 3, 8, 1, 3, 5, 21, {3, 3, 3}, {1, 1, 1}},   {1, 16, 12, 1, 4, 6, 19, {3, 3, 3}, {1, 1, 1}},
      {1, 6, 32, 2, 3, 4, 35, {3, 3, 3}, {1, 1, 1}},  {2, 5, 7, 1, 4, 3, 33, {2, 3, 3}, {0, 1, 1}},
      {1, 32, 32, 1, 3, 16, 16, {3, 3, 3}, {1, 1, 1}}, {1, 4, 10, 1, 3, 4, 31, {3, 3, 3}, {1, 1, 1}},
      {2, 5, 12, 1, 4, 8, 8, {3, 3, 3}, {1, 1, 1}},    {5, 8, 8, 1, 3, 6, 10, {3, 3, 3}, {1, 1, 1}},
      // AMX kernels (conv3d_direct_amx.cpp): 3 blocks of 16 output channels (a 2 x 2 block and a 1 x 3 one),
      // two chunks of 16 channel pairs, and 40 channels (not a multiple of 32: the AVX512_BF16 fallback).
      {1, 64, 48, 1, 3, 6, 9, {3, 3, 3}, {1, 1, 1}},  {1, 40, 20, 1, 3, 5, 7, {3, 3, 3}, {1, 1, 1}},
      // The AMX weight gradient for < 16 input channels (conv3d_direct_amx_wgrad_few.cpp; the cases above with
      // 3-8 channels and one group take it too): 27 columns (3 x 3 x 3) and 1 or 2 blocks of 16 output
      // channels, 2184 positions (two chunks of 2048), 5 samples on 2 threads.
      {5, 3, 16, 1, 3, 16, 40, {3, 3, 3}, {1, 1, 1}}, {2, 3, 32, 1, 3, 16, 40, {3, 3, 3}, {1, 1, 1}},
      // ... a 1 x 3 x 3 kernel (one kd) with 3 blocks of 16 output channels (a 2 x 2 and a 2 x 1 block of tiles).
      {2, 3, 40, 1, 3, 9, 14, {1, 3, 3}, {0, 1, 1}},
      // AMX row tiles (widths a multiple of 16, the 2 x 2 kernel): 3 x 5 rows of one tile = 15 tiles, the last
      // block's single tile computed twice and written once; 3 x 3 rows of two tiles beside a 1 x 3 block (48
      // output channels); the input gradients (16 output channels) take the flat blocks.
      {2, 16, 32, 1, 3, 5, 16, {3, 3, 3}, {1, 1, 1}}, {1, 16, 48, 1, 3, 3, 32, {3, 3, 3}, {1, 1, 1}},
      // The shifted layout (channels (ci, kw) in rows of Wo) where Wo != W, staged row by row: padding 0 along W
      // (Wo = W - 2), and a kernel 2 wide with padding 1 (Wo = W + 1; its input gradient takes the flat layout).
      // Most cases above take it with Wo == W (the whole-slice staging); rows of 16, 31 and 32 keep the rows
      // layout; rows of 7 and 19 with even channel counts (as many products as shifted) and a 3 x 3 x 1 kernel on
      // rows of 10 take the flat layout (vectors across row ends of the padded volume, copied out).
      {1, 3, 8, 1, 3, 5, 12, {3, 3, 3}, {1, 1, 0}},   {1, 5, 8, 1, 3, 4, 9, {3, 3, 2}, {1, 1, 1}},
      {2, 6, 10, 1, 3, 6, 10, {3, 3, 1}, {1, 1, 0}},
  };
  for (const bool amx : amx_modes()) {
    AmxScope amx_scope(amx);
    CAPTURE(amx);
    std::mt19937 rng(5);
    for (const Case& c : cases) {
      int64_t k[3] = {c.k[0], c.k[1], c.k[2]}, p[3] = {c.p[0], c.p[1], c.p[2]};
      const Conv3dGeometry g = geometry(c.N, c.Cin, c.Cout, c.groups, c.D, c.H, c.W, k, p);
      CAPTURE(c.Cin);
      CAPTURE(c.Cout);
      CAPTURE(c.groups);
      CAPTURE(c.W);
      const std::vector<float> x = uniform(g.N * g.Cin * g.D * g.H * g.W, rng);
      const std::vector<float> w = uniform(g.Cout * g.Cin / g.groups * g.kD * g.kH * g.kW, rng);
      const std::vector<float> bias = uniform(g.Cout, rng), dout = uniform(g.N * g.Cout * g.Do * g.Ho * g.Wo, rng);
      const std::vector<float> dx0 = uniform(x.size(), rng), dw0 = uniform(w.size(), rng);   // backward adds
      const Reference ref = reference(g, x, w, bias, dout, dx0, dw0);
      Result bf, fp;
      {
        MatmulPrecisionScope scope(MatmulPrecision::bf16);
        bf = run(g, x, w, bias, dout, dx0, dw0);
      }
      fp = run(g, x, w, bias, dout, dx0, dw0);
      // float32 sums of up to 27 x 32 = 864 terms: rounding errors of 2^-24 per addition grow like a random walk,
      // sqrt(864) x 6e-8 ~ 2e-6 of the terms' magnitude (measured: ~1e-7); an input not rounded to bf16 would cost
      // up to 2^-9 ~ 2e-3 of its term.
      const double out_err = max_rel(bf.out, ref.out, ref.out_abs), dx_err = max_rel(bf.dx, ref.dx, ref.dx_abs);
      const double dw_err = max_rel(bf.dw, ref.dw, ref.dw_abs);
      const double fp_out = max_rel(fp.out, ref.out, ref.out_abs), fp_dx = max_rel(fp.dx, ref.dx, ref.dx_abs);
      const double fp_dw = max_rel(fp.dw, ref.dw, ref.dw_abs);
      MESSAGE("Cin ", c.Cin, " Cout ", c.Cout, " groups ", c.groups, ": max error / sum|terms| forward ", out_err,
              ", input gradient ", dx_err, ", weight gradient ", dw_err, " (fp32 mode: ", fp_out, ", ", fp_dx, ", ",
              fp_dw, ")");
      CHECK(out_err <= 2e-6);
      CHECK(dx_err <= 2e-6);
      CHECK(dw_err <= 2e-6);
      // fp32 mode does not round the inputs: far from the bf16 sums (the rounding is really applied in bf16 mode).
      CHECK(fp_out > 1e-4);
      CHECK(fp_dx > 1e-4);
      CHECK(fp_dw > 1e-4);
    }
  }
}

TEST_CASE("conv3d bf16: forward and input gradient bitwise equal with 1 and 2 threads, weight gradient reproducible") {
  if (!kernels::cpu_has_bf16()) {
    MESSAGE("skipped: this CPU has no AVX512_BF16");
    return;
  }
  int64_t k[3] = {3, 3, 3}, p[3] = {1, 1, 1};
  // 16 input channels (enough work to run threaded), and 3 (the weight gradient for < 16 channels on AMX).
  for (const int64_t cin : {16, 3}) {
    CAPTURE(cin);
    const Conv3dGeometry g = geometry(3, cin, 12, 1, 5, 20, 37, k, p);
    std::mt19937 rng(9);
    const std::vector<float> x = uniform(g.N * g.Cin * g.D * g.H * g.W, rng);
    const std::vector<float> w = uniform(g.Cout * g.Cin * 27, rng), bias = uniform(g.Cout, rng);
    const std::vector<float> dout = uniform(g.N * g.Cout * g.Do * g.Ho * g.Wo, rng), dx0 = uniform(x.size(), rng);
    const std::vector<float> dw0 = uniform(w.size(), rng);
    MatmulPrecisionScope scope(MatmulPrecision::bf16);
    std::vector<Result> by_mode;
    for (const bool amx : amx_modes()) {
      CAPTURE(amx);
      AmxScope amx_scope(amx);
      const int before = omp_get_max_threads();
      omp_set_num_threads(1);
      const Result one = run(g, x, w, bias, dout, dx0, dw0);
      omp_set_num_threads(2);
      const Result two = run(g, x, w, bias, dout, dx0, dw0), again = run(g, x, w, bias, dout, dx0, dw0);
      omp_set_num_threads(before);
      CHECK(one.out == two.out);
      CHECK(one.dx == two.dx);
      // The weight gradient adds per-thread partial sums: reproducible for a fixed thread count, as in fp32.
      CHECK(two.dw == again.dw);
      by_mode.push_back(two);
    }
    // The switch switches: AMX sums the same products in another order (the first test bounds both paths' errors).
    if (by_mode.size() == 2) {
      CHECK(by_mode[0].out != by_mode[1].out);
      CHECK(by_mode[0].dx != by_mode[1].dx);
      CHECK(by_mode[0].dw != by_mode[1].dw);
    }
  }
}

TEST_CASE("conv3d backward: write-first dx - add_dx false on a NaN-filled dx equals adding into zeros - every path") {
  // The direct stride-1 kernels (fp32, bf16, AMX), the strided and pointwise im2col paths and groups.
  struct Case {
    int64_t cin, cout, groups, k, p, stride;
  };
  const Case cases[] = {{16, 12, 1, 3, 1, 1}, {3, 8, 1, 3, 1, 1}, {8, 6, 2, 3, 1, 1}, {8, 6, 1, 3, 1, 2},
                        {8, 6, 1, 1, 0, 1},   {6, 4, 2, 1, 0, 2}};
  std::vector<std::pair<MatmulPrecision, bool>> modes = {{MatmulPrecision::fp32, false}};
  if (kernels::cpu_has_bf16())
    for (const bool amx : amx_modes()) modes.push_back({MatmulPrecision::bf16, amx});
  for (const auto& [precision, amx] : modes)
    for (const Case& c : cases) {
      CAPTURE(static_cast<int>(precision));
      CAPTURE(amx);
      CAPTURE(c.cin);
      CAPTURE(c.stride);
      int64_t k[3] = {c.k, c.k, c.k}, p[3] = {c.p, c.p, c.p};
      Conv3dGeometry g = geometry(2, c.cin, c.cout, c.groups, 4, 9, 11, k, p);
      g.sD = g.sH = g.sW = c.stride;
      g.Do = (g.D + 2 * c.p - c.k) / c.stride + 1, g.Ho = (g.H + 2 * c.p - c.k) / c.stride + 1;
      g.Wo = (g.W + 2 * c.p - c.k) / c.stride + 1;
      std::mt19937 rng(3);
      const std::vector<float> x = uniform(g.N * g.Cin * g.D * g.H * g.W, rng);
      const std::vector<float> w = uniform(g.Cout * (g.Cin / g.groups) * c.k * c.k * c.k, rng);
      const std::vector<float> dout = uniform(g.N * g.Cout * g.Do * g.Ho * g.Wo, rng);
      MatmulPrecisionScope scope(precision);
      AmxScope tiles(amx);
      std::vector<float> added(x.size(), 0.f), written(x.size(), std::nanf(""));
      kernels::conv3d_backward_cpu(added.data(), nullptr, nullptr, dout.data(), x.data(), w.data(), true, g);
      kernels::conv3d_backward_cpu(written.data(), nullptr, nullptr, dout.data(), x.data(), w.data(), false, g);
      CHECK(written == added);
      double norm = 0;
      for (float v : added) norm += std::fabs(v);
      CHECK(norm > 0);   // (not a comparison of two zero buffers)
    }
}

TEST_CASE("conv3d AMX: row tiles give the bits of the flat layout (a width of 16 against 17 with a zero column)") {
  if (!kernels::cpu_has_amx_bf16()) {
    MESSAGE("skipped: this CPU (or OS) has no AMX-BF16 tiles");
    return;
  }
  // Width 16 takes the row tiles of the 2 x 2 kernel (32 output channels), width 17 the flat blocks. With input
  // column 16 all zeros, output columns 0-15 of the wider convolution see the same terms in the same order as
  // the narrower one (its padding zeros become explicit zeros): they must be the same floats.
  AmxScope amx_scope(true);
  MatmulPrecisionScope scope(MatmulPrecision::bf16);
  std::mt19937 rng(11);
  int64_t k[3] = {3, 3, 3}, p[3] = {1, 1, 1};
  for (const int64_t H : {5, 6}) {   // 15 tiles (an odd count: the last block's tile computed twice) and 18
    const Conv3dGeometry g16 = geometry(2, 16, 48, 1, 3, H, 16, k, p), g17 = geometry(2, 16, 48, 1, 3, H, 17, k, p);
    const std::vector<float> x16 = uniform(g16.N * g16.Cin * g16.D * H * 16, rng);
    std::vector<float> x17(g17.N * g17.Cin * g17.D * H * 17, 0.f);
    for (size_t r = 0; r < x16.size() / 16; ++r)
      std::copy(x16.begin() + r * 16, x16.begin() + r * 16 + 16, x17.begin() + r * 17);
    const std::vector<float> w = uniform(48 * 16 * 27, rng), bias = uniform(48, rng);
    std::vector<float> y16(g16.N * 48 * g16.Do * g16.Ho * g16.Wo, 7.f);
    std::vector<float> y17(g17.N * 48 * g17.Do * g17.Ho * g17.Wo, 7.f);
    kernels::conv3d_forward_cpu(y16.data(), x16.data(), w.data(), bias.data(), g16);
    kernels::conv3d_forward_cpu(y17.data(), x17.data(), w.data(), bias.data(), g17);
    size_t differ = 0;   // output rows of 16 whose bits differ
    for (size_t r = 0; r < y16.size() / 16; ++r)
      differ += std::memcmp(y16.data() + r * 16, y17.data() + r * 17, 16 * sizeof(float)) != 0;
    CAPTURE(H);
    CHECK(differ == 0);
    CHECK(y16[0] != 7.f);   // written
  }
}
