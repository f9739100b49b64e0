// batch_norm_relu_pool (max_pool3d(relu(batch_norm(x)), (1,2,2)) as one op): PyTorch reference values
// (tests/reference/gen_norm_relu_pool.py), finite-difference gradients with pre-filled buffers, and the kernels
// against the unfused kernels (batch_norm_relu_forward / max_pool3d_forward, max_pool3d_backward /
// batch_norm_relu_backward): the forward bit for bit (ties, odd sizes), the backward to float rounding (its
// per-channel sums run over the windows in another order), 1 and 2 threads bitwise.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "autograd/activation.h"
#include "autograd/elementwise.h"
#include "autograd/norm.h"
#include "autograd/pool.h"
#include "kernels/norm.h"
#include "kernels/norm_pool.h"
#include "kernels/pool.h"
#include "tests/gradcheck.h"
#include "tests/reference.h"

using namespace ssmtl;
using ssmtl::test::check_close;
using ssmtl::test::gradcheck;

namespace {

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void check_reference(const test::RefFile& ref, const std::string& name, bool training, bool affine,
                     float momentum = 0.1f, float eps = 1e-5f) {
  INFO("case " << name);
  Tensor x = ref.get(name + "/x").set_requires_grad();
  Tensor rm = ref.get(name + "/rm_in"), rv = ref.get(name + "/rv_in");
  Tensor gamma, beta;
  if (affine) {
    gamma = ref.get(name + "/gamma").set_requires_grad();
    beta = ref.get(name + "/beta").set_requires_grad();
  }
  Tensor y = batch_norm_relu_pool(x, gamma, beta, rm, rv, training, momentum, eps);
  check_close(y, ref.get(name + "/y"), 2e-5, 1e-5, name + " y");
  check_close(rm, ref.get(name + "/rm_out"), 1e-6, 1e-6, name + " running_mean");
  check_close(rv, ref.get(name + "/rv_out"), 1e-6, 1e-6, name + " running_var");
  autograd::backward(sum(mul(y, ref.get(name + "/r"))));
  check_close(x.grad(), ref.get(name + "/grad_x"), 2e-5, 1e-4, name + " grad x");
  if (affine) {
    check_close(gamma.grad(), ref.get(name + "/grad_gamma"), 2e-5, 1e-5, name + " grad gamma");
    check_close(beta.grad(), ref.get(name + "/grad_beta"), 2e-5, 1e-5, name + " grad beta");
  }
}

// x whose values in each channel are a shuffled grid of half-integers symmetric about 0 (mean 0, none at 0):
// pre-activations are evenly spaced and away from 0, so a finite-difference step crosses neither the ReLU's
// kink nor a change of a window's winner.
Tensor grid_input(const Shape& s, uint64_t seed) {
  const int64_t N = s[0], C = s[1], inner = s[2] * s[3] * s[4], per = N * inner;
  std::vector<float> v(static_cast<size_t>(N * C * inner));
  Rng rng(seed);
  for (int64_t c = 0; c < C; ++c) {
    std::vector<int64_t> order(static_cast<size_t>(per));
    std::iota(order.begin(), order.end(), 0);
    for (int64_t i = per - 1; i > 0; --i)
      std::swap(order[i], order[static_cast<int64_t>(rng.next_u64() % static_cast<uint64_t>(i + 1))]);
    for (int64_t k = 0; k < per; ++k) {
      const int64_t n = order[k] / inner, i = order[k] % inner;
      v[static_cast<size_t>((n * C + c) * inner + i)] = static_cast<float>(k) - static_cast<float>(per - 1) / 2.f;
    }
  }
  return Tensor::from_vector(s, v);
}

struct KernelCase {
  int64_t N, C, D, H, W;
  bool batch_stats;
};

// The fused kernels against the unfused ones on values with exact ties (multiples of 0.5), a channel
// with gamma 0 (every y is 0: every window a tie), -0 and 0 in dout, gradients pre-filled or NaN-filled.
void kernels_match_composition(const KernelCase& k, uint64_t seed) {
  INFO("N " << k.N << " C " << k.C << " D " << k.D << " H " << k.H << " W " << k.W << " batch_stats "
            << k.batch_stats);
  const int64_t inner = k.D * k.H * k.W, n = k.N * k.C * inner, oH = k.H / 2, oW = k.W / 2;
  const int64_t windows = k.N * k.C * k.D * oH * oW;
  Rng rng(seed);
  std::vector<float> x = randn({n}, rng).to_vector(), dout = randn({windows}, rng).to_vector();
  for (float& v : x) v = std::round(v * 2.f) / 2.f;
  for (size_t i = 0; i < dout.size(); i += 5) dout[i] = (i / 5) % 2 ? -0.f : 0.f;
  std::vector<float> gamma = randn({k.C}, rng).to_vector(), beta = randn({k.C}, rng, 0.f, 0.5f).to_vector();
  if (k.C >= 2) gamma[1] = 0.f, beta[1] = -0.f;
  std::vector<float> mean(static_cast<size_t>(k.C)), var(mean.size()), invstd(mean.size());
  if (k.batch_stats) {
    kernels::batch_norm_stats_cpu(mean.data(), var.data(), x.data(), k.N, k.C, inner);
  } else {
    mean = rand_uniform({k.C}, rng, -0.5f, 0.5f).to_vector();
    var = rand_uniform({k.C}, rng, 0.5f, 2.f).to_vector();
  }
  kernels::batch_norm_invstd_cpu(invstd.data(), var.data(), 1e-5f, k.C);
  const kernels::PoolGeometry g{k.N * k.C, k.D, k.H, k.W, k.D, oH, oW, 1, 2, 2, 1, 2, 2, 0, 0, 0};
  // Forward: the output bitwise, the winner the unfused argmax, xmax x there.
  std::vector<float> y(x.size()), ref(static_cast<size_t>(windows)), out(ref.size(), 7.f), xmax(ref.size(), 7.f);
  std::vector<int32_t> argmax(ref.size());
  std::vector<uint8_t> idx(ref.size(), 9);
  kernels::batch_norm_relu_forward_cpu(y.data(), x.data(), mean.data(), invstd.data(), gamma.data(), beta.data(),
                                       k.N, k.C, inner);
  kernels::max_pool3d_forward_cpu(ref.data(), argmax.data(), y.data(), g);
  kernels::batch_norm_relu_pool_forward_cpu(out.data(), idx.data(), xmax.data(), x.data(), mean.data(),
                                            invstd.data(), gamma.data(), beta.data(), k.N, k.C, k.D, k.H, k.W);
  CHECK(bitwise_equal(out, ref));
  int ties = 0;
  for (int64_t w = 0; w < windows; ++w) {
    const int64_t p = w / (k.D * oH * oW), r = w % (k.D * oH * oW), d = r / (oH * oW), oh = r / oW % oH,
                  ow = r % oW;
    const int64_t offset = (d * k.H + 2 * oh + idx[w] / 2) * k.W + 2 * ow + idx[w] % 2;
    REQUIRE(idx[w] < 4);
    CHECK(offset == argmax[w]);
    CHECK(std::memcmp(&xmax[w], &x[static_cast<size_t>(p * inner + offset)], sizeof(float)) == 0);
    ties += out[w] == 0.f;
  }
  CHECK(ties > windows / 10);   // windows with several zeros after the ReLU: the tie rule is exercised
  // Backward: pre-filled (add) or NaN-filled (write-first) gradients, against the unfused kernels.
  const std::vector<float> dx0 = randn({n}, rng).to_vector(), dg0 = randn({k.C}, rng).to_vector(),
                           db0 = randn({k.C}, rng).to_vector();
  const std::vector<float> nan(static_cast<size_t>(n), std::numeric_limits<float>::quiet_NaN());
  for (bool add : {true, false}) {
    INFO("add_dx " << add);
    std::vector<float> dy(static_cast<size_t>(n));
    kernels::max_pool3d_backward_cpu(dy.data(), dout.data(), argmax.data(), false, g);
    std::vector<float> dx_ref = add ? dx0 : nan, dg_ref = dg0, db_ref = db0, dx = dx_ref, dg = dg0, db = db0;
    kernels::batch_norm_relu_backward_cpu(dx_ref.data(), dg_ref.data(), db_ref.data(), dy.data(), x.data(),
                                          mean.data(), invstd.data(), gamma.data(), beta.data(), k.batch_stats, add,
                                          k.N, k.C, inner);
    kernels::batch_norm_relu_pool_backward_cpu(dx.data(), dg.data(), db.data(), dout.data(), idx.data(),
                                               xmax.data(), x.data(), mean.data(), invstd.data(), gamma.data(),
                                               beta.data(), k.batch_stats, add, k.N, k.C, k.D, k.H, k.W);
    for (int64_t c = 0; c < k.C; ++c) {
      CHECK(dg[c] == doctest::Approx(dg_ref[c]).epsilon(1e-5).scale(1.0));
      CHECK(db[c] == doctest::Approx(db_ref[c]).epsilon(1e-5).scale(1.0));
    }
    int64_t bad = 0;   // (a NaN fails too)
    for (int64_t i = 0; i < n; ++i) bad += !(std::fabs(dx[i] - dx_ref[i]) <= 1e-5f + 1e-5f * std::fabs(dx_ref[i]));
    CHECK(bad == 0);
    if (add) CHECK(dx != dx0);
  }
}

}  // namespace

TEST_CASE("batch_norm_relu_pool: forward and running statistics and gradients match PyTorch (train and eval)") {
  test::RefFile ref("norm_relu_pool");
  check_reference(ref, "train", true, true);
  check_reference(ref, "train_odd", true, false, 0.3f, 1e-3f);
  check_reference(ref, "train_wide", true, true);
  check_reference(ref, "eval", false, true);   // running stats must come back unchanged
}

TEST_CASE("batch_norm_relu_pool: finite-difference gradients in training and in eval mode (pre-filled gradients)") {
  // gradcheck pre-fills every gradient buffer and subtracts it afterwards: backward must add.
  const Tensor gamma = Tensor::from_vector({3}, {1.3f, -0.7f, 0.9f}), beta = Tensor::zeros({3});
  for (bool training : {true, false})
    for (const Shape& s : {Shape{2, 3, 1, 4, 4}, Shape{2, 3, 2, 3, 5}}) {
      INFO("training " << training << " x " << shape_str(s));
      Tensor x = grid_input(s, 7).set_requires_grad();
      Tensor g = gamma.clone().set_requires_grad(), b = beta.clone().set_requires_grad();
      auto f = [training](const std::vector<Tensor>& in) {
        Tensor rm = Tensor::full({3}, 0.2f), rv = Tensor::full({3}, 30.f);
        return batch_norm_relu_pool(in[0], in[1], in[2], rm, rv, training);
      };
      gradcheck(f, {x, g, b});
    }
}

TEST_CASE("batch_norm_relu_pool: the output is bitwise the composition and the gradients equal it (train and eval)") {
  Rng rng(21);
  Tensor x = randn({3, 5, 3, 8, 34}, rng, 0.3f, 1.f), r = randn({3, 5, 3, 4, 17}, rng);
  Tensor gamma = randn({5}, rng), beta = randn({5}, rng);
  for (bool training : {true, false}) {
    INFO("training " << training);
    auto run = [&](bool fused) {
      Tensor rm = Tensor::full({5}, 0.1f), rv = Tensor::full({5}, 1.2f);
      Tensor xg = x.clone().set_requires_grad(), gg = gamma.clone().set_requires_grad();
      Tensor bg = beta.clone().set_requires_grad();
      Tensor y = fused ? batch_norm_relu_pool(xg, gg, bg, rm, rv, training)
                       : max_pool3d(batch_norm_relu(xg, gg, bg, rm, rv, training), Pool3dOptions{{1, 2, 2}, {1, 2, 2}});
      autograd::backward(sum(mul(y, r)));
      return std::vector<Tensor>{y, rm, rv, xg.grad(), gg.grad(), bg.grad()};
    };
    const std::vector<Tensor> fused = run(true), plain = run(false);
    for (size_t i = 0; i < 3; ++i) CHECK_MESSAGE(bitwise_equal(fused[i].to_vector(), plain[i].to_vector()), "result " << i);
    for (size_t i = 3; i < fused.size(); ++i) check_close(fused[i], plain[i], 1e-5, 1e-5, "gradient " + std::to_string(i));
  }
}

TEST_CASE("batch_norm_relu_pool: kernels against the unfused kernels - ties odd sizes and 1 or 2 threads") {
  const KernelCase cases[] = {
      {3, 4, 2, 6, 8, true},   {3, 4, 2, 6, 8, false},   // 4 windows a row: a masked vector
      {2, 3, 2, 5, 7, true},                             // odd H and W: a row and a column never pooled
      {2, 3, 1, 4, 40, true},                            // 20 windows: a whole vector and a tail
      {4, 2, 3, 4, 64, true},                            // 32 windows: whole vectors only
      {2, 3, 2, 4, 26, true},                            // 13 windows: the second half of a vector masked
      {2, 2, 1, 6, 58, false},                           // 29 windows: a whole vector and 13
      {5, 7, 2, 18, 33, false},                          // over the parallel threshold (32768), odd sizes
  };
  for (const KernelCase& k : cases) kernels_match_composition(k, 300 + k.W);
#ifdef _OPENMP
  // 1 and 2 threads give the same bits.
  Rng rng(5);
  const int64_t N = 4, C = 6, D = 2, H = 16, W = 64, n = N * C * D * H * W, windows = n / 4;   // > 32768: threads
  const std::vector<float> x = randn({n}, rng).to_vector(), dout = randn({windows}, rng).to_vector();
  const std::vector<float> gamma = randn({C}, rng).to_vector(), beta = randn({C}, rng).to_vector();
  std::vector<float> mean(C), var(C), invstd(C);
  kernels::batch_norm_stats_cpu(mean.data(), var.data(), x.data(), N, C, n / (N * C));
  kernels::batch_norm_invstd_cpu(invstd.data(), var.data(), 1e-5f, C);
  auto run = [&](int threads) {
    const int prev = omp_get_max_threads();
    omp_set_num_threads(threads);
    std::vector<float> out(windows), xmax(windows), dx(n), dg(C, 0.f), db(C, 0.f);
    std::vector<uint8_t> idx(windows);
    kernels::batch_norm_relu_pool_forward_cpu(out.data(), idx.data(), xmax.data(), x.data(), mean.data(),
                                              invstd.data(), gamma.data(), beta.data(), N, C, D, H, W);
    kernels::batch_norm_relu_pool_backward_cpu(dx.data(), dg.data(), db.data(), dout.data(), idx.data(), xmax.data(),
                                               x.data(), mean.data(), invstd.data(), gamma.data(), beta.data(), true,
                                               false, N, C, D, H, W);
    omp_set_num_threads(prev);
    out.insert(out.end(), dx.begin(), dx.end());
    out.insert(out.end(), dg.begin(), dg.end());
    out.insert(out.end(), db.begin(), db.end());
    return out;
  };
  CHECK(bitwise_equal(run(1), run(2)));
#endif
}

TEST_CASE("batch_norm_relu_pool: with a BatchNormSync active training is the synchronised composition") {
  Rng rng(8);
  Tensor x = randn({2, 3, 1, 4, 6}, rng, 0.2f, 1.f), r = randn({2, 3, 1, 2, 3}, rng);
  int exchanges = 0;
  BatchNormSync sync([&](double*, int64_t) { ++exchanges; });
  auto run = [&](bool fused) {
    Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
    Tensor xg = x.clone().set_requires_grad();
    Tensor y = fused ? batch_norm_relu_pool(xg, Tensor(), Tensor(), rm, rv, true)
                     : max_pool3d(relu(batch_norm(xg, Tensor(), Tensor(), rm, rv, true)), Pool3dOptions{{1, 2, 2}, {1, 2, 2}});
    autograd::backward(sum(mul(y, r)));
    return std::vector<Tensor>{y, rm, xg.grad()};
  };
  const std::vector<Tensor> fused = run(true);
  CHECK(exchanges == 3);   // forward: means and variances; backward: the two gradient sums
  const std::vector<Tensor> plain = run(false);
  for (size_t i = 0; i < fused.size(); ++i)
    CHECK_MESSAGE(bitwise_equal(fused[i].to_vector(), plain[i].to_vector()), "result " << i);
}

TEST_CASE("batch_norm_relu_pool: bad inputs throw std::invalid_argument naming the op") {
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
  CHECK_THROWS_WITH_AS(batch_norm_relu_pool(Tensor::zeros({2, 3, 4, 4}), Tensor(), Tensor(), rm, rv, true),
                       "batch_norm_relu_pool: x must be (N, C, D, H, W) with H, W >= 2, got [2, 3, 4, 4]",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(batch_norm_relu_pool(Tensor::zeros({2, 3, 1, 1, 4}), Tensor(), Tensor(), rm, rv, true),
                       "batch_norm_relu_pool: x must be (N, C, D, H, W) with H, W >= 2, got [2, 3, 1, 1, 4]",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(batch_norm_relu_pool(Tensor::zeros({2, 3, 1, 2, 2}), Tensor::ones({2}), Tensor(), rm, rv, true),
                       "batch_norm_relu_pool: gamma must have shape [3] for x [2, 3, 1, 2, 2], got [2]",
                       std::invalid_argument);
}

TEST_CASE("batch_norm_relu_pool: PITFALLS 19 - eval with running mean 2 and var 1 maps x = 1 to -0.999995 before the ReLU") {
  // Window [1, 3; 1, 1]: pre-activations -0.999995, 0.999995, -0.999995, -0.999995 -> ReLU -> max = 0.999995; a window
  // of ones gives 0. The running statistics stay as they are and two runs give the same bits.
  const Tensor x = Tensor::from_vector({1, 1, 1, 2, 4}, {1.f, 3.f, 1.f, 1.f, 1.f, 1.f, 1.f, 1.f});
  Tensor rm = Tensor::full({1}, 2.f), rv = Tensor::full({1}, 1.f);
  const Tensor y = batch_norm_relu_pool(x, Tensor(), Tensor(), rm, rv, false);
  const std::vector<float> v = y.to_vector();
  REQUIRE(v.size() == 2);
  CHECK(std::fabs(v[0] - 0.999995) <= 1e-6);
  CHECK(v[1] == 0.f);
  CHECK(rm.to_vector() == std::vector<float>{2.f});
  CHECK(rv.to_vector() == std::vector<float>{1.f});
  CHECK(bitwise_equal(batch_norm_relu_pool(x, Tensor(), Tensor(), rm, rv, false).to_vector(), v));
}
