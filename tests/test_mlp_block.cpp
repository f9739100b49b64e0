// The MLP half of a CvT block at inference as one op (kernels/matmul.h mlp_residual_forward_cpu, autograd/linear.h
// mlp_residual_eval) and the packed panel product under it (kernels/cpu/gemm_panel.h PackedPanelB).
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <vector>

#include "autograd/elementwise.h"
#include "autograd/engine.h"
#include "autograd/linear.h"
#include "autograd/norm.h"
#include "kernels/cpu/gemm_panel.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "kernels/norm.h"
#include "kernels/precision.h"
#include "model/cvt.h"
#include "tensor/rng.h"

using namespace ssmtl;

namespace {

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The four kernels over all rows in turn: what scoring ran before the fused op.
std::vector<float> composed(const std::vector<float>& x, const float* g, const float* be, const float* w1,
                            const float* b1, const float* w2, const float* b2, int64_t M, int64_t D, int64_t H) {
  std::vector<float> a(M * D), mean(M), invstd(M), h(M * H), m(M * D), y(M * D);
  kernels::layer_norm_forward_cpu(a.data(), mean.data(), invstd.data(), x.data(), g, be, 1e-5f, M, D);
  kernels::linear_gelu_forward_cpu(h.data(), nullptr, a.data(), w1, b1, M, D, H);
  kernels::linear_forward_cpu(m.data(), h.data(), w2, b2, M, H, D);
  kernels::add_forward_cpu(y.data(), x.data(), m.data(), 1.f, M * D);
  return y;
}

// Row r of the MLP half in double with the C library's erf: the formula, independent of every kernel.
std::vector<double> reference_row(const std::vector<float>& x, const std::vector<float>& g,
                                  const std::vector<float>& be, const std::vector<float>& w1,
                                  const std::vector<float>& b1, const std::vector<float>& w2,
                                  const std::vector<float>& b2, int64_t r, int64_t D, int64_t H) {
  double mu = 0, var = 0;
  for (int64_t d = 0; d < D; ++d) mu += x[r * D + d];
  mu /= D;
  for (int64_t d = 0; d < D; ++d) var += (x[r * D + d] - mu) * (x[r * D + d] - mu);
  const double is = 1 / std::sqrt(var / D + 1e-5);
  std::vector<double> a(D), h(H), y(D);
  for (int64_t d = 0; d < D; ++d) a[d] = (x[r * D + d] - mu) * is * g[d] + be[d];
  for (int64_t j = 0; j < H; ++j) {
    double z = b1[j];
    for (int64_t d = 0; d < D; ++d) z += a[d] * w1[j * D + d];
    h[j] = 0.5 * z * (1 + std::erf(z / std::sqrt(2.0)));
  }
  for (int64_t d = 0; d < D; ++d) {
    double s = b2[d];
    for (int64_t j = 0; j < H; ++j) s += h[j] * w2[d * H + j];
    y[d] = x[r * D + d] + s;
  }
  return y;
}

struct Params {
  std::vector<float> x, g, be, w1, b1, w2, b2;
  Params(int64_t M, int64_t D, int64_t H, Rng& rng) {
    x = randn({M, D}, rng).to_vector(), g = randn({D}, rng, 1.f, 0.2f).to_vector(), be = randn({D}, rng).to_vector();
    w1 = randn({H, D}, rng, 0.f, 0.2f).to_vector(), b1 = randn({H}, rng).to_vector();
    w2 = randn({D, H}, rng, 0.f, 0.1f).to_vector(), b2 = randn({D}, rng).to_vector();
  }
};

// The product paths this CPU has: fp32 panels, AVX512_BF16 (AMX switched off), AMX tiles.
struct Path {
  kernels::MatmulPrecision p;
  bool amx;
};
std::vector<Path> product_paths() {
  std::vector<Path> paths = {{kernels::MatmulPrecision::fp32, false}};
  if (kernels::cpu_has_bf16()) paths.push_back({kernels::MatmulPrecision::bf16, false});
  if (kernels::cpu_has_amx_bf16()) paths.push_back({kernels::MatmulPrecision::bf16, true});
  return paths;
}

}  // namespace

TEST_CASE("mlp_residual_forward_cpu: bitwise the four kernels in turn on every product path at 1 and 2 threads") {
  Rng rng(71);
  // (rows, D, H): the paper-size CvT (96, 384) around the chunk of kMlpChunkRows rows; one row; small widths
  // on the panel path; the -cpu presets' width 24 and an H of 200 (no multiple of 16: the plain composition).
  const std::vector<std::tuple<int64_t, int64_t, int64_t>> shapes = {
      {2 * kernels::kMlpChunkRows + 37, 96, 384}, {1, 96, 384}, {kernels::kMlpChunkRows, 32, 128},
      {61, 16, 48}, {50, 24, 96}, {40, 32, 200}};
  const std::vector<Path> paths = product_paths();
  const int threads = omp_get_max_threads();
  const bool amx_was = kernels::amx_enabled();
  for (const Path& path : paths) {
    kernels::MatmulPrecisionScope scope(path.p);
    kernels::set_amx_enabled(path.amx);
    for (auto [M, D, H] : shapes) {
      const Params q(M, D, H, rng);
      // the shapes with widths in multiples of 16 must take the fused chunks (else this test proves nothing new)
      if (D % 16 == 0 && H % 16 == 0 && kernels::panel_path_applies(16)) REQUIRE(kernels::panel_path_applies(D));
      for (int nt : {1, 2}) {
        CAPTURE(M);
        CAPTURE(D);
        CAPTURE(H);
        CAPTURE(nt);
        CAPTURE(static_cast<int>(path.p));
        CAPTURE(path.amx);
        omp_set_num_threads(nt);
        std::vector<float> y(M * D, 7.f);
        kernels::mlp_residual_forward_cpu(y.data(), q.x.data(), q.g.data(), q.be.data(), 1e-5f, q.w1.data(),
                                          q.b1.data(), q.w2.data(), q.b2.data(), M, D, H);
        CHECK(same_bits(y, composed(q.x, q.g.data(), q.be.data(), q.w1.data(), q.b1.data(), q.w2.data(),
                                    q.b2.data(), M, D, H)));
        // no affine, no biases
        kernels::mlp_residual_forward_cpu(y.data(), q.x.data(), nullptr, nullptr, 1e-5f, q.w1.data(), nullptr,
                                          q.w2.data(), nullptr, M, D, H);
        CHECK(same_bits(y, composed(q.x, nullptr, nullptr, q.w1.data(), nullptr, q.w2.data(), nullptr, M, D, H)));
      }
      omp_set_num_threads(threads);
      // against the formula in double: fp32 to 1e-4, bf16 factors (2^-8 relative each) to 3e-2
      std::vector<float> y(M * D);
      kernels::mlp_residual_forward_cpu(y.data(), q.x.data(), q.g.data(), q.be.data(), 1e-5f, q.w1.data(),
                                        q.b1.data(), q.w2.data(), q.b2.data(), M, D, H);
      const double tol = path.p == kernels::MatmulPrecision::fp32 ? 1e-4 : 3e-2;
      for (int64_t r : {int64_t{0}, M - 1}) {
        const std::vector<double> want = reference_row(q.x, q.g, q.be, q.w1, q.b1, q.w2, q.b2, r, D, H);
        for (int64_t d = 0; d < D; ++d) CHECK(std::fabs(y[r * D + d] - want[d]) <= tol * (1 + std::fabs(want[d])));
      }
    }
  }
  kernels::set_amx_enabled(amx_was);
}

TEST_CASE("mlp_residual_forward_cpu: inside a parallel region it equals the composition run in the same place") {
  Rng rng(75);
  const int64_t M = 150, D = 32, H = 128;
  const Params q(M, D, H, rng);
  std::vector<float> got, want;
#pragma omp parallel num_threads(2)
  {
#pragma omp single
    {
      got.assign(M * D, 7.f);
      kernels::mlp_residual_forward_cpu(got.data(), q.x.data(), q.g.data(), q.be.data(), 1e-5f, q.w1.data(),
                                        q.b1.data(), q.w2.data(), q.b2.data(), M, D, H);
      want = composed(q.x, q.g.data(), q.be.data(), q.w1.data(), q.b1.data(), q.w2.data(), q.b2.data(), M, D, H);
    }
  }
  CHECK(same_bits(got, want));
}

TEST_CASE("PackedPanelB: rows equal gemm_panel_cpu's on every path and from inside a parallel region") {
  if (!kernels::panel_path_applies(48)) {
    MESSAGE("no AVX-512 at run time: the panel path does not apply");
    return;
  }
  Rng rng(72);
  const int64_t M = 203;
  const std::vector<Path> paths = product_paths();
  const bool amx_was = kernels::amx_enabled();
  // (K, N): an even and an odd K (the pad of the bf16 pairs); N over 32- and 48-column panels with tails
  for (auto [K, N] : {std::pair<int64_t, int64_t>{70, 48}, {71, 80}, {33, 16}}) {
    const std::vector<float> a = randn({M, K}, rng).to_vector(), b = randn({N, K}, rng).to_vector();
    const std::vector<float> bias = randn({N}, rng).to_vector(), c0 = randn({M, N}, rng).to_vector();
    for (const Path& path : paths) {
      kernels::MatmulPrecisionScope scope(path.p);
      kernels::set_amx_enabled(path.amx);
      for (bool trans_b : {true, false})
        for (bool accumulate : {false, true}) {
          CAPTURE(K);
          CAPTURE(N);
          CAPTURE(static_cast<int>(path.p));
          CAPTURE(path.amx);
          CAPTURE(trans_b);
          CAPTURE(accumulate);
          std::vector<float> want = c0, got = c0;   // b read as (N, K), or as (K, N) without trans_b
          REQUIRE(kernels::gemm_panel_cpu(want.data(), a.data(), b.data(), bias.data(), M, N, K, trans_b,
                                          accumulate));
          const kernels::PackedPanelB packed(b.data(), N, K, trans_b);
          // two threads take rows [0, 100) and [100, M) (100: no multiple of any path's row block)
#pragma omp parallel for num_threads(2)
          for (int part = 0; part < 2; ++part) {
            const int64_t r0 = part == 0 ? 0 : 100, r1 = part == 0 ? 100 : M;
            packed.rows(got.data() + r0 * N, a.data() + r0 * K, bias.data(), r1 - r0, accumulate);
          }
          CHECK(same_bits(got, want));
        }
    }
  }
  kernels::set_amx_enabled(amx_was);
  const std::vector<float> b = randn({24, 70}, rng).to_vector();
  CHECK_THROWS_WITH_AS(kernels::PackedPanelB(b.data(), 24, 70, true), doctest::Contains("N = 24"),
                       std::invalid_argument);
}

TEST_CASE("mlp_residual_eval: bitwise the autograd composition and refuses gradient recording and bad shapes") {
  Rng rng(73);
  const int64_t D = 32, H = 128;
  const Tensor x = randn({2, 150, D}, rng), g = randn({D}, rng, 1.f, 0.2f), be = randn({D}, rng);
  const Tensor w1 = randn({H, D}, rng, 0.f, 0.2f), b1 = randn({H}, rng), w2 = randn({D, H}, rng, 0.f, 0.1f);
  const Tensor b2 = randn({D}, rng);
  {
    autograd::NoGradGuard ng;
    const Tensor want = add(x, linear(linear_gelu(layer_norm(x, g, be, 1e-5f), w1, b1), w2, b2));
    const Tensor got = mlp_residual_eval(x, g, be, 1e-5f, w1, b1, w2, b2);
    CHECK(got.shape() == x.shape());
    CHECK(same_bits(got.to_vector(), want.to_vector()));
  }
  const Tensor wg = w1.clone().set_requires_grad();
  CHECK_THROWS_WITH_AS(mlp_residual_eval(x, g, be, 1e-5f, wg, b1, w2, b2),
                       doctest::Contains("mlp_residual_eval: inference only"), std::invalid_argument);
  autograd::NoGradGuard ng;
  CHECK_THROWS_WITH_AS(mlp_residual_eval(x, g, be, 1e-5f, w1, b1, randn({D, H + 1}, rng), b2),
                       doctest::Contains("mlp_residual_eval: w2 must be (D, H) (x [2, 150, 32], w1 [128, 32], w2 [32, 129])"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(mlp_residual_eval(x, randn({D + 1}, rng), be, 1e-5f, w1, b1, w2, b2),
                       doctest::Contains("ln_gamma must be (D)"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(mlp_residual_eval(randn({4, D + 1}, rng), g, be, 1e-5f, w1, b1, w2, b2),
                       doctest::Contains("mlp_residual_eval: w1 must be (H, D), H >= 1"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(mlp_residual_eval(x, g, be, 1e-5f, w1, randn({H - 1}, rng), w2, b2),
                       doctest::Contains("b1 must be (H)"), std::invalid_argument);
  // no token width: nothing to compute, an empty result of x's shape
  const Tensor empty = mlp_residual_eval(Tensor::zeros({4, 0}), Tensor(), Tensor(), 1e-5f, Tensor::zeros({8, 0}),
                                         Tensor(), Tensor::zeros({0, 8}), Tensor());
  CHECK(empty.shape() == Shape{4, 0});
}

TEST_CASE("CvtBlock: scoring's forward (fused projections and MLP half without gradients) equals the forward that records them") {
  Rng rng(74);
  CvtBlock block(32, 4, 4, true, rng);
  for (ConvProjection* p : {&block.q, &block.k, &block.v}) {   // statistics away from (0, 1)
    p->bn.running_mean = randn({32}, rng, 0.f, 0.3f);
    p->bn.running_var = rand_uniform({32}, rng, 0.5f, 2.f);
  }
  const int T = 3, H = 6, W = 6;
  const Tensor x = randn({2, T * H * W, 32}, rng);
  const Tensor recorded = block.forward(x, T, H, W, false);   // gradients on: the composition
  autograd::NoGradGuard ng;
  const Tensor fused = block.forward(x, T, H, W, false);
  CHECK(same_bits(fused.to_vector(), recorded.to_vector()));
}
