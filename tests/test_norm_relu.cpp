// batch_norm_relu (the fused relu(batch_norm(x))): PyTorch reference values (tests/reference/gen_norm_relu.py),
// finite-difference gradients, accumulation into pre-filled gradients, eval mode, and the kernels bitwise equal
// to the unfused composition (relu_forward / relu_backward around batch_norm_forward / backward).
#include <doctest/doctest.h>

#include <limits>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "autograd/activation.h"
#include "autograd/elementwise.h"
#include "autograd/norm.h"
#include "kernels/activation.h"
#include "kernels/norm.h"
#include "tests/gradcheck.h"
#include "tests/reference.h"

using namespace ssmtl;
using ssmtl::test::check_close;
using ssmtl::test::gradcheck;

namespace {

// Bit patterns, so that -0 and +0 (and NaN payloads) count as different.
bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return false;
  return true;
}
bool bitwise_equal(const Tensor& a, const Tensor& b) { return bitwise_equal(a.to_vector(), b.to_vector()); }

void check_case(const test::RefFile& ref, const std::string& name, bool training, bool affine, float momentum = 0.1f,
                float eps = 1e-5f) {
  INFO("case " << name);
  Tensor x = ref.get(name + "/x").set_requires_grad();
  Tensor rm = ref.get(name + "/rm_in"), rv = ref.get(name + "/rv_in");
  Tensor gamma, beta;
  if (affine) {
    gamma = ref.get(name + "/gamma").set_requires_grad();
    beta = ref.get(name + "/beta").set_requires_grad();
  }
  Tensor y = batch_norm_relu(x, gamma, beta, rm, rv, training, momentum, eps);
  check_close(y, ref.get(name + "/y"), 2e-5, 1e-5, name + " y");
  check_close(rm, ref.get(name + "/rm_out"), 1e-6, 1e-6, name + " running_mean");
  check_close(rv, ref.get(name + "/rv_out"), 1e-6, 1e-6, name + " running_var");
  std::vector<float> yv = y.to_vector();
  size_t zeros = 0;
  for (float v : yv) zeros += v == 0.f;
  CHECK(zeros > yv.size() / 10);   // the ReLU cuts a good part (the mask is exercised)
  CHECK(zeros < yv.size() * 9 / 10);
  autograd::backward(sum(mul(y, ref.get(name + "/r"))));
  check_close(x.grad(), ref.get(name + "/grad_x"), 2e-5, 1e-4, name + " grad x");
  if (affine) {
    check_close(gamma.grad(), ref.get(name + "/grad_gamma"), 2e-5, 1e-5, name + " grad gamma");
    check_close(beta.grad(), ref.get(name + "/grad_beta"), 2e-5, 1e-5, name + " grad beta");
  }
}

// Random x for a finite-difference check whose pre-activations all lie at least `margin` from the ReLU's kink
// (a +-eps step must not cross it): the first seed that gives one, with both signs present.
Tensor away_from_kink(const Shape& s, const Tensor& gamma, const Tensor& beta, bool training, float margin) {
  const int64_t C = s[1];
  for (uint64_t seed = 1; seed < 2000; ++seed) {
    Rng rng(seed);
    Tensor x = randn(s, rng);
    Tensor rm = Tensor::from_vector({C}, std::vector<float>(static_cast<size_t>(C), 0.2f));
    Tensor rv = Tensor::from_vector({C}, std::vector<float>(static_cast<size_t>(C), 0.8f));
    autograd::NoGradGuard ng;
    std::vector<float> pre = batch_norm(x, gamma, beta, rm, rv, training).to_vector();
    bool ok = true, pos = false, neg = false;
    for (float v : pre) ok = ok && std::fabs(v) >= margin, pos = pos || v > 0, neg = neg || v < 0;
    if (ok && pos && neg) return x;
  }
  FAIL("no seed gives pre-activations away from the kink");
  return Tensor();
}

struct KernelCase {
  int64_t N, C, inner;
  bool batch_stats;
};

// The fused kernels against the unfused composition, bit for bit, on data with exact zeros before the ReLU
// (a constant channel, a channel with gamma 0 and beta -0), -0 and 0 in dy, and pre-filled gradients.
void kernels_match_composition(const KernelCase& k, uint64_t seed) {
  INFO("N " << k.N << " C " << k.C << " inner " << k.inner << " batch_stats " << k.batch_stats);
  const int64_t n = k.N * k.C * k.inner;
  Rng rng(seed);
  std::vector<float> x = randn({n}, rng).to_vector(), dy = randn({n}, rng).to_vector();
  std::vector<float> gamma = randn({k.C}, rng).to_vector(), beta = randn({k.C}, rng, 0.f, 0.5f).to_vector();
  const bool zero_channels = k.C >= 3;   // with fewer, the whole gradient would vanish
  if (zero_channels) {
    for (int64_t s = 0; s < k.N; ++s)
      for (int64_t i = 0; i < k.inner; ++i) x[static_cast<size_t>(s * k.C * k.inner + i)] = 1.5f;   // constant
    beta[0] = 0.f;
    gamma[1] = 0.f, beta[1] = -0.f;   // every output of channel 1 is -0 or +0
  }
  for (size_t i = 0; i < dy.size(); i += 7) dy[i] = (i / 7) % 2 ? -0.f : 0.f;
  std::vector<float> mean(static_cast<size_t>(k.C)), var(mean.size()), invstd(mean.size());
  if (k.batch_stats) {
    kernels::batch_norm_stats_cpu(mean.data(), var.data(), x.data(), k.N, k.C, k.inner);
  } else {
    mean = rand_uniform({k.C}, rng, -0.5f, 0.5f).to_vector();
    var = rand_uniform({k.C}, rng, 0.5f, 2.f).to_vector();
  }
  kernels::batch_norm_invstd_cpu(invstd.data(), var.data(), 1e-5f, k.C);
  // Forward.
  std::vector<float> pre(x.size()), y_ref(x.size()), y(x.size(), 7.f);
  kernels::batch_norm_forward_cpu(pre.data(), x.data(), mean.data(), invstd.data(), gamma.data(), beta.data(), k.N,
                                  k.C, k.inner);
  kernels::relu_forward_cpu(y_ref.data(), pre.data(), n);
  kernels::batch_norm_relu_forward_cpu(y.data(), x.data(), mean.data(), invstd.data(), gamma.data(), beta.data(), k.N,
                                       k.C, k.inner);
  CHECK(bitwise_equal(y, y_ref));
  size_t exact_zeros = 0;
  for (float v : pre) exact_zeros += v == 0.f;
  if (zero_channels) CHECK(exact_zeros >= static_cast<size_t>(k.N * k.inner));   // the kink itself is tested
  // Backward, gradients pre-filled (the kernels add), with every subset of the outputs that the graph uses; and
  // write-first (add_dx false: dx pre-filled with NaN, every element must be written), which must equal adding
  // into zeros (as values: -0 and +0 may differ there).
  const std::vector<float> dx0 = randn({n}, rng).to_vector(), dg0 = randn({k.C}, rng).to_vector(),
                           db0 = randn({k.C}, rng).to_vector();
  const std::vector<float> nan(static_cast<size_t>(n), std::numeric_limits<float>::quiet_NaN());
  for (bool add : {true, false})
    for (int need = 1; need < 8; ++need) {
      INFO("gradients needed (dx dgamma dbeta bits) " << need << ", add_dx " << add);
      std::vector<float> dx_ref = add ? dx0 : nan, dg_ref = dg0, db_ref = db0, dx = dx_ref, dg = dg0, db = db0;
      auto pick = [&](std::vector<float>& v, int bit) { return need & bit ? v.data() : nullptr; };
      std::vector<float> masked(x.size(), 0.f);   // the unfused graph's zeroed gradient of the BN output
      kernels::relu_backward_cpu(masked.data(), dy.data(), y_ref.data(), n);
      kernels::batch_norm_backward_cpu(pick(dx_ref, 1), pick(dg_ref, 2), pick(db_ref, 4), masked.data(), x.data(),
                                       mean.data(), invstd.data(), gamma.data(), k.batch_stats, add, k.N, k.C,
                                       k.inner);
      kernels::batch_norm_relu_backward_cpu(pick(dx, 1), pick(dg, 2), pick(db, 4), dy.data(), x.data(), mean.data(),
                                            invstd.data(), gamma.data(), beta.data(), k.batch_stats, add, k.N, k.C,
                                            k.inner);
      CHECK(bitwise_equal(dg, dg_ref));
      CHECK(bitwise_equal(db, db_ref));
      if (!(need & 1)) continue;
      CHECK(bitwise_equal(dx, dx_ref));
      if (add) {
        CHECK(dx != dx0);   // something was added
      } else {
        std::vector<float> zero(static_cast<size_t>(n), 0.f), g2 = dg0, b2 = db0;
        kernels::batch_norm_relu_backward_cpu(zero.data(), g2.data(), b2.data(), dy.data(), x.data(), mean.data(),
                                              invstd.data(), gamma.data(), beta.data(), k.batch_stats, true, k.N,
                                              k.C, k.inner);
        CHECK(dx == zero);   // (no NaN left: NaN != NaN)
      }
    }
}

}  // namespace

TEST_CASE("batch_norm_relu: forward and running statistics and gradients match PyTorch (train and eval)") {
  test::RefFile ref("norm_relu");
  check_case(ref, "bnrelu5d_train", true, true);
  check_case(ref, "bnrelu4d_train", true, false, 0.3f, 1e-3f);
  check_case(ref, "bnrelu_rows_train", true, true);
  check_case(ref, "bnrelu5d_eval", false, true);   // running stats must come back unchanged
}

TEST_CASE("batch_norm_relu: finite-difference gradients in training and in eval mode (pre-filled gradients)") {
  // gradcheck pre-fills every gradient buffer and subtracts it afterwards: backward must add.
  const Tensor gamma = Tensor::from_vector({3}, {1.3f, -0.7f, 0.9f});
  const Tensor beta = Tensor::from_vector({3}, {0.2f, -0.1f, 0.f});
  for (bool training : {true, false}) {
    for (const Shape& s : {Shape{4, 3, 5}, Shape{2, 3, 2, 2, 3}, Shape{9, 3}}) {
      INFO("training " << training << " x " << shape_str(s));
      Tensor x = away_from_kink(s, gamma, beta, training, 0.1f).set_requires_grad();
      Tensor g = gamma.clone().set_requires_grad(), b = beta.clone().set_requires_grad();
      auto f = [training](const std::vector<Tensor>& in) {
        Tensor rm = Tensor::full({3}, 0.2f), rv = Tensor::full({3}, 0.8f);
        return batch_norm_relu(in[0], in[1], in[2], rm, rv, training);
      };
      gradcheck(f, {x, g, b});
    }
  }
}

TEST_CASE("batch_norm_relu: eval uses the running statistics and leaves them unchanged") {
  Rng rng(3);
  Tensor x = randn({3, 2, 4, 4}, rng);
  Tensor rm = Tensor::from_vector({2}, {0.5f, -1.f}), rv = Tensor::from_vector({2}, {4.f, 0.25f});
  Tensor y = batch_norm_relu(x, Tensor(), Tensor(), rm, rv, false);
  std::vector<float> xv = x.to_vector(), yv = y.to_vector();
  for (size_t i = 0; i < xv.size(); ++i) {
    const int c = static_cast<int>(i / 16) % 2;
    const double ref = std::max(0.0, (xv[i] - (c ? -1.0 : 0.5)) / std::sqrt((c ? 0.25 : 4.0) + 1e-5));
    CHECK(yv[i] == doctest::Approx(ref).epsilon(1e-6));
  }
  CHECK(rm.to_vector() == std::vector<float>{0.5f, -1.f});
  CHECK(rv.to_vector() == std::vector<float>{4.f, 0.25f});
}

TEST_CASE("batch_norm_relu: the op and its gradients are bitwise relu(batch_norm(x)) - train and eval") {
  Rng rng(21);
  Tensor x = randn({3, 5, 3, 7, 5}, rng, 0.3f, 1.f), r = randn({3, 5, 3, 7, 5}, rng);
  Tensor gamma = randn({5}, rng), beta = randn({5}, rng);
  for (bool training : {true, false}) {
    INFO("training " << training);
    auto run = [&](bool fused) {
      Tensor rm = Tensor::full({5}, 0.1f), rv = Tensor::full({5}, 1.2f);
      Tensor xg = x.clone().set_requires_grad(), gg = gamma.clone().set_requires_grad();
      Tensor bg = beta.clone().set_requires_grad();
      Tensor y = fused ? batch_norm_relu(xg, gg, bg, rm, rv, training) : relu(batch_norm(xg, gg, bg, rm, rv, training));
      autograd::backward(sum(mul(y, r)));
      return std::vector<Tensor>{y, rm, rv, xg.grad(), gg.grad(), bg.grad()};
    };
    std::vector<Tensor> fused = run(true), plain = run(false);
    for (size_t i = 0; i < fused.size(); ++i) CHECK_MESSAGE(bitwise_equal(fused[i], plain[i]), "result " << i);
  }
}

TEST_CASE("batch_norm_relu: kernels bitwise equal to the composition - odd sizes and 1 or 2 threads") {
  const KernelCase cases[] = {
      {3, 5, 21, true},  {3, 5, 21, false},   // general path
      {37, 19, 1, true}, {37, 19, 1, false},  // (N, C) rows: one 16-channel block and a 3-channel tail
      {5, 7, 1209, true},                     // over the kernels' parallel threshold
      {2503, 17, 1, true},                    // rows path, parallel
      {4, 1, 9, true},                        // one channel
  };
#ifdef _OPENMP
  const int prev = omp_get_max_threads();
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    INFO("threads " << threads);
    for (const KernelCase& k : cases) kernels_match_composition(k, 100 + k.N);
  }
  omp_set_num_threads(prev);
#else
  for (const KernelCase& k : cases) kernels_match_composition(k, 100 + k.N);
#endif
}

TEST_CASE("batch_norm_relu: with a BatchNormSync active training takes the synchronised path - eval does not") {
  // One process: the exchange leaves the sums as they are but counts its calls.
  Rng rng(8);
  Tensor x = randn({4, 3, 5}, rng, 0.2f, 1.f), r = randn({4, 3, 5}, rng);
  int exchanges = 0;
  BatchNormSync sync([&](double*, int64_t) { ++exchanges; });
  auto run = [&](bool fused, bool training) {
    Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
    Tensor xg = x.clone().set_requires_grad();
    Tensor y = fused ? batch_norm_relu(xg, Tensor(), Tensor(), rm, rv, training)
                     : relu(batch_norm(xg, Tensor(), Tensor(), rm, rv, training));
    autograd::backward(sum(mul(y, r)));
    return std::vector<Tensor>{y, rm, xg.grad()};
  };
  const std::vector<Tensor> fused = run(true, true);
  CHECK(exchanges == 3);   // forward: means and variances; backward: the two gradient sums
  const std::vector<Tensor> plain = run(false, true);
  CHECK(exchanges == 6);
  for (size_t i = 0; i < fused.size(); ++i) CHECK_MESSAGE(bitwise_equal(fused[i], plain[i]), "result " << i);
  run(true, false);   // eval: running statistics, nothing to exchange
  CHECK(exchanges == 6);
}

TEST_CASE("batch_norm_relu: bad inputs throw std::invalid_argument naming the op") {
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
  CHECK_THROWS_WITH_AS(batch_norm_relu(Tensor::zeros({3}), Tensor(), Tensor(), rm, rv, true),
                       "batch_norm_relu: x must be (N, C, ...), got [3]", std::invalid_argument);
  CHECK_THROWS_WITH_AS(batch_norm_relu(Tensor::zeros({2, 3}), Tensor(), Tensor::ones({2}), rm, rv, true),
                       "batch_norm_relu: beta must have shape [3] for x [2, 3], got [2]", std::invalid_argument);
  CHECK_THROWS_WITH_AS(batch_norm_relu(Tensor::zeros({1, 3}), Tensor(), Tensor(), rm, rv, true),
                       "batch_norm_relu: training needs more than 1 value per channel, x [1, 3]",
                       std::invalid_argument);
}

TEST_CASE("batch_norm_stats: slab-wise and row-chunk statistics equal a double reference - large mean and tails - 1 or 2 threads") {
  // Channel values 1e4 + u with u in [-0.5, 0.5): a one-pass E[x^2] - E[x]^2 in float would lose every digit of the
  // variance (~0.083); inner sizes with and without a tail of the 32-lane blocks, N = 1 and several samples.
  struct Shape {
    int64_t N, C, inner;
  };
  // inner = 1: the channels-last rows path (token rows, chunks of 256 rows merged in order): a whole number of
  // chunks, a tail chunk with a channel count that is no vector multiple, and a single row.
  for (const Shape s : {Shape{1, 3, 7}, Shape{5, 4, 1000}, Shape{3, 2, 4099}, Shape{1024, 96, 1}, Shape{517, 20, 1},
                        Shape{1, 5, 1}}) {
    std::vector<float> x(static_cast<size_t>(s.N * s.C * s.inner));
    uint32_t state = 12345;
    for (float& v : x) {
      state = state * 1664525u + 1013904223u;
      v = 1e4f + (static_cast<float>(state >> 8) / 16777216.f - 0.5f);
    }
    std::vector<float> mean1(s.C), var1(s.C), mean2(s.C), var2(s.C);
    const int before = omp_get_max_threads();
    omp_set_num_threads(1);
    kernels::batch_norm_stats_cpu(mean1.data(), var1.data(), x.data(), s.N, s.C, s.inner);
    omp_set_num_threads(2);
    kernels::batch_norm_stats_cpu(mean2.data(), var2.data(), x.data(), s.N, s.C, s.inner);
    omp_set_num_threads(before);
    for (int64_t c = 0; c < s.C; ++c) {
      long double sum = 0, sq = 0;
      for (int64_t n = 0; n < s.N; ++n)
        for (int64_t i = 0; i < s.inner; ++i) sum += x[(n * s.C + c) * s.inner + i];
      const long double mu = sum / (s.N * s.inner);
      for (int64_t n = 0; n < s.N; ++n)
        for (int64_t i = 0; i < s.inner; ++i) {
          const long double d = x[(n * s.C + c) * s.inner + i] - mu;
          sq += d * d;
        }
      const double var = static_cast<double>(sq / (s.N * s.inner));
      CHECK(mean1[c] == doctest::Approx(static_cast<double>(mu)).epsilon(1e-7));
      CHECK(var1[c] == doctest::Approx(var).epsilon(1e-6));
      CHECK(mean1[c] == mean2[c]);
      CHECK(var1[c] == var2[c]);
    }
  }
}
