#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "autograd/elementwise.h"
#include "autograd/norm.h"
#include "kernels/norm.h"
#include "tests/gradcheck.h"
#include "tests/reference.h"

using namespace ssmtl;
using ssmtl::test::check_close;
using ssmtl::test::gradcheck;

namespace {

bool bitwise_equal(const Tensor& a, const Tensor& b) { return a.to_vector() == b.to_vector(); }

// One batch-norm case of tests/data/norm.bin: forward, running statistics and every gradient vs PyTorch.
void check_bn_case(const test::RefFile& ref, const std::string& name, bool training, bool affine,
                   float momentum = 0.1f, float eps = 1e-5f) {
  INFO("case " << name);
  Tensor x = ref.get(name + "/x").set_requires_grad();
  Tensor rm = ref.get(name + "/rm_in"), rv = ref.get(name + "/rv_in");
  Tensor gamma, beta;
  if (affine) {
    gamma = ref.get(name + "/gamma").set_requires_grad();
    beta = ref.get(name + "/beta").set_requires_grad();
  }
  Tensor y = batch_norm(x, gamma, beta, rm, rv, training, momentum, eps);
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

void check_ln_case(const test::RefFile& ref, const std::string& name, bool affine) {
  INFO("case " << name);
  Tensor x = ref.get(name + "/x").set_requires_grad();
  Tensor gamma, beta;
  if (affine) {
    gamma = ref.get(name + "/gamma").set_requires_grad();
    beta = ref.get(name + "/beta").set_requires_grad();
  }
  Tensor y = layer_norm(x, gamma, beta);
  check_close(y, ref.get(name + "/y"), 2e-6, 1e-5, name + " y");
  autograd::backward(sum(mul(y, ref.get(name + "/r"))));
  check_close(x.grad(), ref.get(name + "/grad_x"), 2e-5, 1e-4, name + " grad x");
  if (affine) {
    check_close(gamma.grad(), ref.get(name + "/grad_gamma"), 2e-5, 1e-5, name + " grad gamma");
    check_close(beta.grad(), ref.get(name + "/grad_beta"), 2e-5, 1e-5, name + " grad beta");
  }
}

}  // namespace

TEST_CASE("batch_norm: forward and running statistics and gradients match PyTorch (2D 4D 5D - train and eval)") {
  test::RefFile ref("norm");
  check_bn_case(ref, "bn4d_train", true, true);
  check_bn_case(ref, "bn5d_train", true, false);
  check_bn_case(ref, "bn2d_train", true, true, 0.3f, 1e-3f);
  check_bn_case(ref, "bn4d_eval", false, true);   // running stats must come back unchanged
  check_bn_case(ref, "bn5d_eval", false, false);
}

TEST_CASE("batch_norm: statistics of data with a large mean (1000 + 2 N(0 1)) are exact - no cancellation") {
  test::RefFile ref("norm");
  check_bn_case(ref, "bn_offset_train", true, true);
}

TEST_CASE("batch_norm: finite-difference gradients in training and in eval mode") {
  Rng rng(11);
  Tensor x = randn({3, 2, 2, 3}, rng).set_requires_grad();
  Tensor gamma = randn({2}, rng).set_requires_grad(), beta = randn({2}, rng).set_requires_grad();
  auto train = [](const std::vector<Tensor>& in) {
    Tensor rm = Tensor::zeros({2}), rv = Tensor::ones({2});
    return batch_norm(in[0], in[1], in[2], rm, rv, true);
  };
  gradcheck(train, {x, gamma, beta});
  auto eval = [](const std::vector<Tensor>& in) {
    Tensor rm = Tensor::from_vector({2}, {0.3f, -0.5f}), rv = Tensor::from_vector({2}, {0.7f, 2.f});
    return batch_norm(in[0], in[1], in[2], rm, rv, false);
  };
  gradcheck(eval, {x, gamma, beta});
  // (N, C) and (N, C, D, H, W) without affine parameters.
  Tensor x2 = randn({5, 3}, rng).set_requires_grad();
  Tensor x5 = randn({2, 2, 2, 2, 3}, rng).set_requires_grad();
  auto plain = [](const std::vector<Tensor>& in) {
    Tensor rm = Tensor::zeros({in[0].size(1)}), rv = Tensor::ones({in[0].size(1)});
    return batch_norm(in[0], Tensor(), Tensor(), rm, rv, true);
  };
  gradcheck(plain, {x2});
  gradcheck(plain, {x5});
}

TEST_CASE("batch_norm: PITFALLS 19 - eval with running mean 2 and var 1 maps x = 1 to -0.999995 alone or in a batch") {
  Tensor rm = Tensor::full({1}, 2.f), rv = Tensor::full({1}, 1.f);
  Tensor gamma = Tensor::ones({1}), beta = Tensor::zeros({1});
  Tensor alone = batch_norm(Tensor::from_vector({1, 1}, {1.f}), gamma, beta, rm, rv, false);
  CHECK(std::abs(alone.item() - (-0.999995)) <= 1e-6);
  Tensor batch = batch_norm(Tensor::from_vector({2, 1}, {1.f, 3.f}), gamma, beta, rm, rv, false);
  std::vector<float> v = batch.to_vector();
  CHECK(std::abs(v[0] - (-0.999995)) <= 1e-6);
  CHECK(std::abs(v[1] - 0.999995) <= 1e-6);
  CHECK(v[0] == alone.item());   // the batch does not influence a sample in eval mode
  // Spatial input (N, C, H, W) too.
  Tensor img = batch_norm(Tensor::full({2, 1, 2, 2}, 1.f), gamma, beta, rm, rv, false);
  for (float e : img.to_vector()) CHECK(e == alone.item());
  // The running statistics are untouched (bitwise) after every eval call.
  CHECK(rm.to_vector() == std::vector<float>{2.f});
  CHECK(rv.to_vector() == std::vector<float>{1.f});
}

TEST_CASE("batch_norm: eval never updates running stats and two runs are bitwise equal - training does update") {
  Rng rng(5);
  Tensor x = randn({4, 3, 5, 5}, rng), gamma = randn({3}, rng), beta = randn({3}, rng);
  Tensor rm = randn({3}, rng), rv = rand_uniform({3}, rng, 0.5f, 2.f);
  const std::vector<float> rm0 = rm.to_vector(), rv0 = rv.to_vector();
  Tensor a = batch_norm(x, gamma, beta, rm, rv, false);
  Tensor b;
  {
    autograd::NoGradGuard ng;   // inference path
    b = batch_norm(x, gamma, beta, rm, rv, false);
  }
  CHECK(bitwise_equal(a, b));
  CHECK(rm.to_vector() == rm0);
  CHECK(rv.to_vector() == rv0);
  // Gradients through an eval-mode call do not touch the buffers either.
  Tensor xg = x.clone().set_requires_grad();
  autograd::backward(sum(batch_norm(xg, gamma, beta, rm, rv, false)));
  CHECK(rm.to_vector() == rm0);
  CHECK(rv.to_vector() == rv0);
  // A training call moves them (momentum 0.1 towards the batch statistics).
  batch_norm(x, gamma, beta, rm, rv, true);
  CHECK(rm.to_vector() != rm0);
  CHECK(rv.to_vector() != rv0);
}

TEST_CASE("batch_norm: undefined running buffers mean batch statistics in both modes (track_running_stats=False)") {
  Tensor x = Tensor::from_vector({2, 1}, {1.f, 3.f});
  Tensor none_m, none_v;
  Tensor y = batch_norm(x, Tensor(), Tensor(), none_m, none_v, false);
  const float expect = static_cast<float>(1.0 / std::sqrt(1.0 + 1e-5));   // mean 2, biased var 1
  CHECK(y.to_vector()[0] == doctest::Approx(-expect).epsilon(1e-6));
  CHECK(y.to_vector()[1] == doctest::Approx(expect).epsilon(1e-6));
}

TEST_CASE("batch_norm: bad inputs throw std::invalid_argument naming the op") {
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
  CHECK_THROWS_WITH_AS(batch_norm(Tensor::zeros({3}), Tensor(), Tensor(), rm, rv, true),
                       "batch_norm: x must be (N, C, ...), got [3]", std::invalid_argument);
  CHECK_THROWS_WITH_AS(batch_norm(Tensor::zeros({2, 3}), Tensor::ones({4}), Tensor(), rm, rv, true),
                       "batch_norm: gamma must have shape [3] for x [2, 3], got [4]", std::invalid_argument);
  // One value per channel cannot give a batch variance (PyTorch raises too).
  CHECK_THROWS_WITH_AS(batch_norm(Tensor::zeros({1, 3}), Tensor(), Tensor(), rm, rv, true),
                       "batch_norm: training needs more than 1 value per channel, x [1, 3]", std::invalid_argument);
  // ... but eval mode with a single sample is fine, and N = 1 with spatial values trains.
  CHECK_NOTHROW(batch_norm(Tensor::zeros({1, 3}), Tensor(), Tensor(), rm, rv, false));
  CHECK_NOTHROW(batch_norm(Tensor::zeros({1, 3, 2}), Tensor(), Tensor(), rm, rv, true));
  Tensor undefined;
  CHECK_THROWS_AS(batch_norm(Tensor::zeros({2, 3}), Tensor(), Tensor(), rm, undefined, true), std::invalid_argument);
}

#ifdef _OPENMP
TEST_CASE("batch_norm and layer_norm: results do not depend on the number of threads") {
  Rng rng(9);
  Tensor x = randn({8, 4, 3, 16, 16}, rng, 0.5f, 2.f), r = randn({8, 4, 3, 16, 16}, rng);
  Tensor gamma = randn({4}, rng), beta = randn({4}, rng);
  Tensor xl = randn({600, 96}, rng), rl = randn({600, 96}, rng), gl = randn({96}, rng), bl = randn({96}, rng);
  auto run = [&](int threads) {
    const int prev = omp_get_max_threads();
    omp_set_num_threads(threads);
    Tensor rm = Tensor::zeros({4}), rv = Tensor::ones({4});
    Tensor xg = x.clone().set_requires_grad(), gg = gamma.clone().set_requires_grad();
    Tensor y = batch_norm(xg, gg, beta, rm, rv, true);
    autograd::backward(sum(mul(y, r)));
    Tensor xlg = xl.clone().set_requires_grad(), glg = gl.clone().set_requires_grad();
    Tensor yl = layer_norm(xlg, glg, bl);
    autograd::backward(sum(mul(yl, rl)));
    omp_set_num_threads(prev);
    return std::vector<Tensor>{y, rm, rv, xg.grad(), gg.grad(), yl, xlg.grad(), glg.grad()};
  };
  std::vector<Tensor> one = run(1), four = run(4);
  for (size_t i = 0; i < one.size(); ++i) CHECK_MESSAGE(bitwise_equal(one[i], four[i]), "result " << i);
}

// The channels-last rows backward (inner = 1: chunks of 256 rows, partial sums merged in chunk order) against a long
// double reference, and bitwise the same for 1, 2 and 3 threads: chunk tails (N not a multiple of 256, a single
// row), channel counts that are no vector multiple, C = 1 (the general path), below and above the parallel
// threshold, batch and fixed statistics, dx written or added.
TEST_CASE("batch_norm: rows backward matches a long double reference and does not depend on the thread count") {
  struct Case {
    int64_t N, C;
  };
  for (const Case k : {Case{1, 5}, Case{255, 17}, Case{256, 96}, Case{257, 20}, Case{700, 1}, Case{2503, 33},
                       Case{12289, 7}}) {
    const int64_t n = k.N * k.C;
    std::vector<float> x(static_cast<size_t>(n)), dy(x.size()), dx0(x.size()), gamma(static_cast<size_t>(k.C));
    uint32_t state = static_cast<uint32_t>(k.N * 31 + k.C);
    auto uniform = [&] {   // [-0.5, 0.5)
      state = state * 1664525u + 1013904223u;
      return static_cast<float>(state >> 8) / 16777216.f - 0.5f;
    };
    for (size_t i = 0; i < x.size(); ++i) x[i] = 3.f + uniform(), dy[i] = uniform(), dx0[i] = uniform();
    for (float& g : gamma) g = 1.f + uniform();
    std::vector<float> mean(gamma.size()), var(gamma.size()), invstd(gamma.size());
    kernels::batch_norm_stats_cpu(mean.data(), var.data(), x.data(), k.N, k.C, 1);
    kernels::batch_norm_invstd_cpu(invstd.data(), var.data(), 1e-5f, k.C);
    for (bool batch_stats : {true, false})
      for (bool add : {false, true}) {
        INFO("N " << k.N << " C " << k.C << " batch_stats " << batch_stats << " add_dx " << add);
        std::vector<std::vector<float>> first;
        for (int threads : {1, 2, 3}) {
          const int prev = omp_get_max_threads();
          omp_set_num_threads(threads);
          std::vector<float> dx = dx0, dg(gamma.size(), 0.5f), db(gamma.size(), -0.5f);
          kernels::batch_norm_backward_cpu(dx.data(), dg.data(), db.data(), dy.data(), x.data(), mean.data(),
                                           invstd.data(), gamma.data(), batch_stats, add, k.N, k.C, 1);
          omp_set_num_threads(prev);
          if (first.empty()) {
            first = {dx, dg, db};
          } else {
            CHECK_MESSAGE(dx == first[0], "dx, threads " << threads);
            CHECK_MESSAGE(dg == first[1], "dgamma, threads " << threads);
            CHECK_MESSAGE(db == first[2], "dbeta, threads " << threads);
          }
        }
        for (int64_t c = 0; c < k.C; ++c) {
          long double sdy = 0, sdyx = 0, mag = 0;
          const long double mu = mean[c], is = invstd[c];
          for (int64_t r = 0; r < k.N; ++r) {
            const long double g = dy[r * k.C + c], xh = (x[r * k.C + c] - mu) * is;
            sdy += g, sdyx += g * xh, mag += std::fabs(static_cast<double>(g));
          }
          CHECK(first[1][c] == doctest::Approx(static_cast<double>(0.5L + sdyx)).epsilon(1e-6).scale(mag));
          CHECK(first[2][c] == doctest::Approx(static_cast<double>(-0.5L + sdy)).epsilon(1e-6).scale(mag));
          const long double a = batch_stats ? sdy / k.N : 0, b = batch_stats ? sdyx / k.N : 0;
          for (int64_t r = 0; r < k.N; ++r) {
            const size_t i = static_cast<size_t>(r * k.C + c);
            const long double xh = (x[i] - mu) * is, v = gamma[c] * is * (dy[i] - a - xh * b);
            const double want = static_cast<double>(add ? dx0[i] + v : v);
            if (std::fabs(first[0][i] - want) > 1e-5 * (1.0 + std::fabs(want))) {
              FAIL_CHECK("dx row " << r << " channel " << c << ": " << first[0][i] << " want " << want);
              break;
            }
          }
        }
      }
  }
}
#endif

TEST_CASE("layer_norm: forward and gradients match PyTorch with and without affine") {
  test::RefFile ref("norm");
  check_ln_case(ref, "ln3d", true);
  check_ln_case(ref, "ln2d", false);
}

TEST_CASE("layer_norm: finite-difference gradients") {
  Rng rng(12);
  Tensor x = randn({2, 3, 6}, rng).set_requires_grad();
  Tensor gamma = randn({6}, rng).set_requires_grad(), beta = randn({6}, rng).set_requires_grad();
  gradcheck([](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], in[2]); }, {x, gamma, beta});
  gradcheck([](const std::vector<Tensor>& in) { return layer_norm(in[0], Tensor(), Tensor()); }, {x});
}

TEST_CASE("layer_norm: a constant row gives beta (no NaN) - shape errors name the op") {
  Tensor x = Tensor::full({2, 4}, 3.f);
  Tensor beta = Tensor::from_vector({4}, {1.f, 2.f, 3.f, 4.f});
  std::vector<float> y = layer_norm(x, Tensor::ones({4}), beta).to_vector();
  CHECK(y == std::vector<float>{1.f, 2.f, 3.f, 4.f, 1.f, 2.f, 3.f, 4.f});
  CHECK_THROWS_WITH_AS(layer_norm(x, Tensor::ones({3}), Tensor()),
                       "layer_norm: gamma must have shape [4] for x [2, 4], got [3]", std::invalid_argument);
}

TEST_CASE("layer_norm: rows of mean 1000 and odd widths match a double reference - float row sums stay exact enough") {
  // The kernels sum a row in float over 16 lanes, centred first (on x[0], then on the mean): no cancellation
  // for large means. Widths below, at and past one 16-lane block, and the CvT's 96.
  for (int64_t D : {5, 16, 37, 96}) {
    CAPTURE(D);
    const int64_t rows = 70;
    Rng rng(static_cast<uint64_t>(D));
    std::vector<float> x = randn({rows, D}, rng).to_vector(), dy = randn({rows, D}, rng).to_vector();
    std::vector<float> gamma = randn({D}, rng).to_vector(), beta = randn({D}, rng).to_vector();
    for (float& v : x) v = 1000.f + 2.f * v;
    std::vector<float> y(x.size()), mean(static_cast<size_t>(rows)), invstd(mean.size());
    std::vector<float> dx(x.size(), 0.f), dg(gamma.size(), 0.f), db(gamma.size(), 0.f);
    kernels::layer_norm_forward_cpu(y.data(), mean.data(), invstd.data(), x.data(), gamma.data(), beta.data(), 1e-5f,
                                    rows, D);
    kernels::layer_norm_backward_cpu(dx.data(), dg.data(), db.data(), dy.data(), x.data(), mean.data(), invstd.data(),
                                     gamma.data(), true, rows, D);
    std::vector<double> rg(gamma.size(), 0.0), rb(gamma.size(), 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      const float* p = x.data() + r * D;
      const float* g = dy.data() + r * D;
      double mu = 0, var = 0, sg = 0, sgx = 0;
      for (int64_t d = 0; d < D; ++d) mu += p[d];
      mu /= static_cast<double>(D);
      for (int64_t d = 0; d < D; ++d) var += (p[d] - mu) * (p[d] - mu);
      const double is = 1.0 / std::sqrt(var / static_cast<double>(D) + 1e-5);
      for (int64_t d = 0; d < D; ++d) {
        const double xh = (p[d] - mu) * is, gd = static_cast<double>(g[d]) * gamma[static_cast<size_t>(d)];
        sg += gd, sgx += gd * xh;
        rg[static_cast<size_t>(d)] += g[d] * xh;
        rb[static_cast<size_t>(d)] += g[d];
      }
      CHECK(mean[static_cast<size_t>(r)] == doctest::Approx(mu).epsilon(1e-7));
      CHECK(invstd[static_cast<size_t>(r)] == doctest::Approx(is).epsilon(1e-4));
      for (int64_t d = 0; d < D; ++d) {
        const double xh = (p[d] - mu) * is, gd = static_cast<double>(g[d]) * gamma[static_cast<size_t>(d)];
        const double want_y = xh * gamma[static_cast<size_t>(d)] + beta[static_cast<size_t>(d)];
        const double want_dx = is * (gd - sg / static_cast<double>(D) - xh * sgx / static_cast<double>(D));
        CHECK(y[static_cast<size_t>(r * D + d)] == doctest::Approx(want_y).epsilon(1e-4).scale(1.0));
        CHECK(dx[static_cast<size_t>(r * D + d)] == doctest::Approx(want_dx).epsilon(1e-3).scale(1.0));
      }
    }
    for (int64_t d = 0; d < D; ++d) {
      CHECK(dg[static_cast<size_t>(d)] == doctest::Approx(rg[static_cast<size_t>(d)]).epsilon(1e-3).scale(1.0));
      CHECK(db[static_cast<size_t>(d)] == doctest::Approx(rb[static_cast<size_t>(d)]).epsilon(1e-5).scale(1.0));
    }
  }
}
