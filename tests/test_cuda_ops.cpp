// CUDA kernels against the CPU kernels: for each op the same random inputs on both devices, the forward
// output and every gradient compared (tolerances per op below; see tests/cuda_compare.h), a repeated GPU
// forward bit-identical, and a second backward adding the same gradient again. Skipped without a GPU.
// Tolerances: elementwise ops differ only by CUDA's expf / erff / tanhf versus the CPU's approximations
// (a few ulp); products (GEMMs, attention) by summation order over K terms.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autograd/activation.h"
#include "autograd/attention.h"
#include "autograd/dropout.h"
#include "autograd/elementwise.h"
#include "autograd/engine.h"
#include "autograd/linear.h"
#include "autograd/loss.h"
#include "autograd/norm.h"
#include "autograd/pool.h"
#include "autograd/shape.h"
#include "tensor/device.h"
#include "tensor/rng.h"
#include "tests/cuda_compare.h"

using namespace ssmtl;
using test::check_op;
using test::OpCase;
using test::Tol;

namespace {
using Ts = std::vector<Tensor>;
constexpr Tol kUlps{1e-6f, 2e-5f};      // elementwise with transcendental functions
constexpr Tol kProduct{1e-4f, 1e-4f};   // sums of products over tens to hundreds of terms

// Values rounded to multiples of 0.5 in [-2, 2]: many exact ties for the max-pool tie rules.
Tensor with_ties(const Shape& s, Rng& rng) {
  std::vector<float> v = randn(s, rng).to_vector();
  for (float& x : v) x = std::round(std::fmax(-2.f, std::fmin(2.f, x)) * 2.f) / 2.f;
  return Tensor::from_vector(s, v);
}
}  // namespace

TEST_CASE("cuda elementwise ops match the CPU") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  Rng rng(1);
  const Tensor a = randn({3, 5, 7}, rng), b = randn({3, 5, 7}, rng), bias = randn({5}, rng);
  check_op({"add", {a, b}, {}, [](const Ts& x) { return add(x[0], x[1]); }});
  check_op({"sub", {a, b}, {}, [](const Ts& x) { return sub(x[0], x[1]); }});
  check_op({"mul", {a, b}, {}, [](const Ts& x) { return mul(x[0], x[1]); }});
  check_op({"scale", {a}, {}, [](const Ts& x) { return scale(x[0], -1.5f); }});
  check_op({"add_scalar", {a}, {}, [](const Ts& x) { return add_scalar(x[0], 0.25f); }});
  check_op({"sum", {a}, {}, [](const Ts& x) { return sum(x[0]); }});
  check_op({"mean", {a}, {}, [](const Ts& x) { return mean(x[0]); }});
  check_op({"add_channel_bias", {a, bias}, {}, [](const Ts& x) { return add_channel_bias(x[0], x[1]); }});
  check_op({"reshape", {a}, {}, [](const Ts& x) { return reshape(x[0], {15, 7}); }});
}

TEST_CASE("cuda activations and softmax match the CPU") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  Rng rng(2);
  const Tensor x = randn({4, 6, 33}, rng, 0.f, 3.f);
  check_op({"relu", {x}, {}, [](const Ts& t) { return relu(t[0]); }});
  check_op({"leaky_relu", {x}, {}, [](const Ts& t) { return leaky_relu(t[0], 0.1f); }});
  check_op({"gelu", {x}, {}, [](const Ts& t) { return gelu(t[0]); }, kUlps, kUlps});
  check_op({"sigmoid", {x}, {}, [](const Ts& t) { return sigmoid(t[0]); }, kUlps, kUlps});
  check_op({"tanh", {x}, {}, [](const Ts& t) { return tanh_act(t[0]); }, kUlps, kUlps});
  check_op({"softmax", {x}, {}, [](const Ts& t) { return softmax(t[0]); }, kUlps, kUlps});
  check_op({"log_softmax", {x}, {}, [](const Ts& t) { return log_softmax(t[0]); }, kUlps, kUlps});
  // Long rows (lanes loop several times) with a large offset (the row maximum must be subtracted).
  const Tensor wide = randn({5, 1000}, rng, 50.f, 4.f);
  check_op({"softmax wide", {wide}, {}, [](const Ts& t) { return softmax(t[0]); }, kUlps, kUlps});
  check_op({"log_softmax wide", {wide}, {}, [](const Ts& t) { return log_softmax(t[0]); }, kUlps, kUlps});
}

TEST_CASE("cuda losses match the CPU") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  Rng rng(3);
  const Tensor logits = randn({37, 9}, rng, 0.f, 2.f), a = randn({6, 50}, rng), b = randn({6, 50}, rng);
  std::vector<int> targets(37);
  for (size_t i = 0; i < targets.size(); ++i) targets[i] = static_cast<int>(rng.randint(0, 9));
  const Tensor probs = softmax(randn({37, 9}, rng));
  check_op({"cross_entropy", {logits}, {}, [&](const Ts& t) { return cross_entropy(t[0], targets); }, kUlps, kUlps});
  check_op({"cross_entropy_soft", {logits, probs}, {},
            [](const Ts& t) { return cross_entropy_soft(t[0], t[1]); }, kUlps, kUlps});
  check_op({"l1_loss", {a, b}, {}, [](const Ts& t) { return l1_loss(t[0], t[1]); }});
  check_op({"mse_loss", {a, b}, {}, [](const Ts& t) { return mse_loss(t[0], t[1]); }});
  check_op({"l1_per_sample", {a, b}, {}, [](const Ts& t) { return l1_per_sample(t[0], t[1]); }});
  check_op({"mse_per_sample", {a, b}, {}, [](const Ts& t) { return mse_per_sample(t[0], t[1]); }});
  // Many rows (more than the single reduction block has warps) and a large row of the distances.
  const Tensor big_logits = randn({1000, 3}, rng), big_a = randn({1, 300000}, rng), big_b = randn({1, 300000}, rng);
  std::vector<int> big_targets(1000);
  for (size_t i = 0; i < big_targets.size(); ++i) big_targets[i] = static_cast<int>(i % 3);
  check_op({"cross_entropy many rows", {big_logits}, {},
            [&](const Ts& t) { return cross_entropy(t[0], big_targets); }, kUlps, kUlps});
  check_op({"mse_loss large", {big_a, big_b}, {}, [](const Ts& t) { return mse_loss(t[0], t[1]); }});
}

TEST_CASE("cuda batch norm and layer norm match the CPU") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  Rng rng(4);
  const Tensor x = randn({6, 5, 3, 9, 7}, rng, 2.f, 3.f), gamma = randn({5}, rng), beta = randn({5}, rng);
  const Tensor rm0 = randn({5}, rng), rv0 = rand_uniform({5}, rng, 0.5f, 2.f);
  // Training: check_op runs the op several times, so each call gets fresh running statistics.
  auto train = [&](const Ts& t) {
    Tensor rm = rm0.to(t[0].device()).clone(), rv = rv0.to(t[0].device()).clone();
    return batch_norm(t[0], t[1], t[2], rm, rv, true, 0.1f, 1e-5f);
  };
  check_op({"batch_norm train", {x, gamma, beta}, {}, train, kUlps, Tol{1e-5f, 1e-4f}});
  {  // one training step's running-statistics update on each device
    Tensor rm_c = rm0.clone(), rv_c = rv0.clone(), rm_g = rm0.to(Device::CUDA), rv_g = rv0.to(Device::CUDA);
    batch_norm(x, gamma, beta, rm_c, rv_c, true, 0.1f, 1e-5f);
    batch_norm(x.to(Device::CUDA), gamma.to(Device::CUDA), beta.to(Device::CUDA), rm_g, rv_g, true, 0.1f, 1e-5f);
    test::expect_close(rm_g, rm_c, kUlps, "running_mean");
    test::expect_close(rv_g, rv_c, kUlps, "running_var");
  }
  auto eval = [&](const Ts& t) {
    Tensor rm = rm0.to(t[0].device()), rv = rv0.to(t[0].device());
    return batch_norm(t[0], t[1], t[2], rm, rv, false);
  };
  check_op({"batch_norm eval", {x, gamma, beta}, {}, eval, kUlps, Tol{1e-5f, 1e-4f}});
  auto plain = [](const Ts& t) {
    Tensor none;
    return batch_norm(t[0], Tensor(), Tensor(), none, none, true);
  };
  check_op({"batch_norm no affine (N, C)", {randn({64, 12}, rng)}, {}, plain, kUlps, Tol{1e-5f, 1e-4f}});
  {  // token rows (rows, C), as the CvT's q/k/v BN: the CPU's channel-block path (C = 40: 2 blocks + a tail)
    const Tensor r = randn({300, 40}, rng, 1.f, 2.f), g = randn({40}, rng), b = randn({40}, rng);
    auto rows = [](const Ts& t) {
      Tensor rm = Tensor::zeros({40}, t[0].device()), rv = Tensor::full({40}, 1.f, t[0].device());
      return batch_norm(t[0], t[1], t[2], rm, rv, true);
    };
    check_op({"batch_norm token rows (300, 40)", {r, g, b}, {}, rows, kUlps, Tol{1e-5f, 1e-4f}});
  }
  for (int64_t D : {7, 96, 300}) {
    const Tensor y = randn({4, 29, D}, rng, -1.f, 2.f), g = randn({D}, rng), b = randn({D}, rng);
    check_op({"layer_norm D=" + std::to_string(D), {y, g, b}, {},
              [](const Ts& t) { return layer_norm(t[0], t[1], t[2]); }, kUlps, Tol{1e-5f, 1e-4f}});
  }
  check_op({"layer_norm no affine", {randn({10, 16}, rng)}, {},
            [](const Ts& t) { return layer_norm(t[0], Tensor(), Tensor()); }, kUlps, Tol{1e-5f, 1e-4f}});
}

TEST_CASE("cuda batch norm fused with relu matches the CPU") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  Rng rng(41);
  // Mean 0.3: a good part of the outputs on each side of the ReLU's kink.
  const Tensor x = randn({6, 5, 3, 9, 7}, rng, 0.3f, 3.f), gamma = randn({5}, rng), beta = randn({5}, rng);
  const Tensor rm0 = randn({5}, rng), rv0 = rand_uniform({5}, rng, 0.5f, 2.f);
  auto train = [&](const Ts& t) {
    Tensor rm = rm0.to(t[0].device()).clone(), rv = rv0.to(t[0].device()).clone();
    return batch_norm_relu(t[0], t[1], t[2], rm, rv, true, 0.1f, 1e-5f);
  };
  check_op({"batch_norm_relu train", {x, gamma, beta}, {}, train, kUlps, Tol{1e-5f, 1e-4f}});
  {  // the running statistics after one fused training step
    Tensor rm_c = rm0.clone(), rv_c = rv0.clone(), rm_g = rm0.to(Device::CUDA), rv_g = rv0.to(Device::CUDA);
    batch_norm_relu(x, gamma, beta, rm_c, rv_c, true);
    batch_norm_relu(x.to(Device::CUDA), gamma.to(Device::CUDA), beta.to(Device::CUDA), rm_g, rv_g, true);
    test::expect_close(rm_g, rm_c, kUlps, "running_mean");
    test::expect_close(rv_g, rv_c, kUlps, "running_var");
  }
  auto eval = [&](const Ts& t) {
    Tensor rm = rm0.to(t[0].device()), rv = rv0.to(t[0].device());
    return batch_norm_relu(t[0], t[1], t[2], rm, rv, false);
  };
  check_op({"batch_norm_relu eval", {x, gamma, beta}, {}, eval, kUlps, Tol{1e-5f, 1e-4f}});
  auto plain = [](const Ts& t) {
    Tensor none;
    return batch_norm_relu(t[0], Tensor(), Tensor(), none, none, true);
  };
  check_op({"batch_norm_relu no affine (N, C)", {randn({64, 12}, rng)}, {}, plain, kUlps, Tol{1e-5f, 1e-4f}});
  {  // (rows, C) with C = 40: the CPU's channel-block path (2 blocks + a tail)
    const Tensor r = randn({300, 40}, rng, 0.2f, 2.f), g = randn({40}, rng), b = randn({40}, rng);
    auto rows = [](const Ts& t) {
      Tensor rm = Tensor::zeros({40}, t[0].device()), rv = Tensor::full({40}, 1.f, t[0].device());
      return batch_norm_relu(t[0], t[1], t[2], rm, rv, true);
    };
    check_op({"batch_norm_relu rows (300, 40)", {r, g, b}, {}, rows, kUlps, Tol{1e-5f, 1e-4f}});
  }
  {  // the kernels against relu(batch_norm) on the GPU itself: bitwise, forward and every gradient
    auto run = [&](bool fused) {
      Tensor rm = rm0.to(Device::CUDA), rv = rv0.to(Device::CUDA);
      Tensor xg = x.to(Device::CUDA).set_requires_grad(), gg = gamma.to(Device::CUDA).set_requires_grad();
      Tensor bg = beta.to(Device::CUDA).set_requires_grad();
      Tensor y = fused ? batch_norm_relu(xg, gg, bg, rm, rv, true) : relu(batch_norm(xg, gg, bg, rm, rv, true));
      autograd::backward(y, randn(x.shape(), rng).to(Device::CUDA));
      return Ts{y, rm, rv, xg.grad(), gg.grad(), bg.grad()};
    };
    const uint64_t state = 77;
    rng = Rng(state);
    const Ts fused = run(true);
    rng = Rng(state);
    const Ts plain = run(false);
    for (size_t i = 0; i < fused.size(); ++i)
      test::expect_identical(fused[i], plain[i], "fused vs relu(batch_norm), result " + std::to_string(i));
  }
}

TEST_CASE("cuda batch norm + relu + 1x2x2 max pooling fused matches the CPU") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  Rng rng(43);
  // Mean 0.3: outputs on both sides of the kink; odd H and W (a row and a column never pooled); ties after the ReLU.
  for (const Shape& s : {Shape{3, 4, 2, 9, 7}, Shape{2, 3, 1, 6, 40}}) {
    const Tensor x = randn(s, rng, 0.3f, 3.f), gamma = randn({s[1]}, rng), beta = randn({s[1]}, rng);
    const Tensor rm0 = randn({s[1]}, rng), rv0 = rand_uniform({s[1]}, rng, 0.5f, 2.f);
    for (bool training : {true, false}) {
      auto f = [&, training](const Ts& t) {
        Tensor rm = rm0.to(t[0].device()).clone(), rv = rv0.to(t[0].device()).clone();
        return batch_norm_relu_pool(t[0], t[1], t[2], rm, rv, training);
      };
      check_op({std::string("batch_norm_relu_pool ") + (training ? "train " : "eval ") + shape_str(s), {x, gamma, beta},
                {}, f, kUlps, Tol{1e-5f, 1e-4f}});
    }
  }
}

TEST_CASE("cuda pooling and up-sampling match the CPU") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  Rng rng(5);
  const Tensor v = randn({2, 3, 5, 9, 8}, rng), ties = with_ties({2, 3, 5, 9, 8}, rng);
  const Pool3dOptions overlap{{3, 3, 3}, {2, 2, 2}, {1, 1, 1}}, spatial{{1, 2, 2}, {1, 2, 2}, {0, 0, 0}};
  const Pool3dOptions odd{{2, 3, 2}, {1, 2, 3}, {1, 1, 0}};
  for (const auto& [name, x] : {std::pair<const char*, Tensor>{"random", v}, {"ties", ties}}) {
    const std::string s = name;
    check_op({"max_pool3d overlapping " + s, {x}, {}, [&](const Ts& t) { return max_pool3d(t[0], overlap); }});
    check_op({"max_pool3d (1,2,2) " + s, {x}, {}, [&](const Ts& t) { return max_pool3d(t[0], spatial); }});
    check_op({"max_pool3d odd " + s, {x}, {}, [&](const Ts& t) { return max_pool3d(t[0], odd); }});
    check_op({"temporal_max_pool " + s, {x}, {}, [](const Ts& t) { return temporal_max_pool(t[0]); }});
  }
  check_op({"avg_pool3d overlapping", {v}, {}, [&](const Ts& t) { return avg_pool3d(t[0], overlap); }});
  check_op({"avg_pool3d odd", {v}, {}, [&](const Ts& t) { return avg_pool3d(t[0], odd); }});
  check_op({"temporal_avg_pool", {v}, {}, [](const Ts& t) { return temporal_avg_pool(t[0]); }});
  check_op({"global_avg_pool", {v}, {}, [](const Ts& t) { return global_avg_pool(t[0]); }});
  const Tensor img = randn({2, 4, 13, 11}, rng), img_ties = with_ties({2, 4, 13, 11}, rng);
  check_op({"max_pool2d", {img}, {}, [](const Ts& t) { return max_pool2d(t[0], 3, 2, 1); }});
  for (const auto& [sz, st] : {std::pair<int, int>{2, 1}, {2, 2}, {3, 1}, {5, 1}}) {
    const int size = sz, stride = st;   // lambdas cannot capture structured bindings in C++17
    const std::string s = " size " + std::to_string(size) + " stride " + std::to_string(stride);
    check_op({"max_pool2d_same" + s, {img}, {}, [=](const Ts& t) { return max_pool2d_same(t[0], size, stride); }});
    check_op({"max_pool2d_same ties" + s, {img_ties}, {},
              [=](const Ts& t) { return max_pool2d_same(t[0], size, stride); }});
  }
  check_op({"upsample_nearest2d x2", {img}, {}, [](const Ts& t) { return upsample_nearest2d(t[0], 2); }});
  check_op({"upsample_nearest2d x3", {img}, {}, [](const Ts& t) { return upsample_nearest2d(t[0], 3); }});
}

TEST_CASE("cuda shape ops and dropout match the CPU") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  Rng rng(6);
  const Tensor x = randn({2, 3, 4, 5, 6}, rng), y = randn({2, 2, 4, 5, 6}, rng);
  check_op({"permute rank 5", {x}, {}, [](const Ts& t) { return permute(t[0], {0, 2, 1, 4, 3}); }});
  check_op({"permute rank 3", {randn({7, 9, 4}, rng)}, {}, [](const Ts& t) { return permute(t[0], {2, 0, 1}); }});
  check_op({"concat dim 1", {x, y}, {}, [](const Ts& t) { return concat({t[0], t[1]}, 1); }});
  check_op({"concat dim -1", {x, x}, {}, [](const Ts& t) { return concat({t[0], t[1]}, -1); }});
  check_op({"slice", {x}, {}, [](const Ts& t) { return slice(t[0], 3, 1, 4); }});
  check_op({"flatten", {x}, {}, [](const Ts& t) { return flatten(t[0], 1, 3); }});
  // The mask is drawn on the host from the Rng, so both devices see the same one.
  check_op({"dropout", {x}, {}, [](const Ts& t) {
              Rng r(99);
              return dropout(t[0], 0.3f, true, r);
            }});
}

TEST_CASE("cuda linear and matmul match the CPU") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  Rng rng(7);
  const Tensor x = randn({4, 37, 20}, rng), w = randn({13, 20}, rng), b = randn({13}, rng);
  check_op({"linear with bias", {x, w, b}, {}, [](const Ts& t) { return linear(t[0], t[1], t[2]); }, kProduct,
            kProduct});
  check_op({"linear without bias", {x, w}, {}, [](const Ts& t) { return linear(t[0], t[1], Tensor()); }, kProduct,
            kProduct});
  // The fused linear + GELU (the CPU takes its panel path for 48 outputs: 48 % 16 == 0).
  const Tensor w48 = randn({48, 20}, rng), b48 = randn({48}, rng);
  check_op({"linear_gelu", {x, w48, b48}, {}, [](const Ts& t) { return linear_gelu(t[0], t[1], t[2]); }, kProduct,
            kProduct});
  // The CvT's MLP half at inference (no gradients): against the CPU, and on the GPU against the four ops it fuses.
  {
    autograd::NoGradGuard ng;
    const Tensor xm = randn({2, 37, 32}, rng), g = randn({32}, rng, 1.f, 0.2f), be = randn({32}, rng);
    const Tensor w1 = randn({128, 32}, rng, 0.f, 0.2f), b1 = randn({128}, rng), w2 = randn({32, 128}, rng, 0.f, 0.1f);
    const Tensor b2 = randn({32}, rng);
    const Ts in{xm, g, be, w1, b1, w2, b2};
    auto mlp = [](const Ts& t) { return mlp_residual_eval(t[0], t[1], t[2], 1e-5f, t[3], t[4], t[5], t[6]); };
    check_op({"mlp_residual_eval", in, std::vector<bool>(in.size(), false), mlp, kProduct, kProduct});
    Ts gpu;
    for (const Tensor& t : in) gpu.push_back(t.to(Device::CUDA));
    const Tensor four = add(gpu[0], linear(linear_gelu(layer_norm(gpu[0], gpu[1], gpu[2], 1e-5f), gpu[3], gpu[4]),
                                           gpu[5], gpu[6]));
    test::expect_identical(mlp(gpu), four, "mlp_residual_eval vs its four ops on the GPU");
  }
  const Tensor a = randn({3, 5, 17, 11}, rng), bb = randn({3, 5, 11, 9}, rng), shared = randn({11, 9}, rng);
  check_op({"matmul batched", {a, bb}, {}, [](const Ts& t) { return matmul(t[0], t[1]); }, kProduct, kProduct});
  check_op({"matmul shared b", {a, shared}, {}, [](const Ts& t) { return matmul(t[0], t[1]); }, kProduct, kProduct});
  check_op({"matmul only a needs grad", {a, shared}, {true, false}, [](const Ts& t) { return matmul(t[0], t[1]); },
            kProduct, kProduct});
}

TEST_CASE("cuda attention matches the CPU on both forward paths") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  Rng rng(8);
  auto sdpa = [](const Ts& t) { return scaled_dot_product_attention(t[0], t[1], t[2]); };
  struct Case {
    int64_t B, H, Lq, Lk, E, Ev;
  };
  // E, Ev <= 32 take the fused kernel (fewer and more keys than a warp has lanes); wider heads cuBLAS.
  for (const Case& c : {Case{2, 3, 17, 11, 8, 8}, Case{2, 2, 45, 70, 8, 5}, Case{1, 2, 9, 130, 32, 32},
                        Case{2, 2, 19, 23, 40, 36}}) {
    const std::string name = "attention Lq " + std::to_string(c.Lq) + " Lk " + std::to_string(c.Lk) + " E " +
                             std::to_string(c.E) + " Ev " + std::to_string(c.Ev);
    const Tensor q = randn({c.B, c.H, c.Lq, c.E}, rng), k = randn({c.B, c.H, c.Lk, c.E}, rng),
                 v = randn({c.B, c.H, c.Lk, c.Ev}, rng);
    check_op({name, {q, k, v}, {}, sdpa, kProduct, kProduct});
    check_op({name + " only v needs grad", {q, k, v}, {false, false, true}, sdpa, kProduct, kProduct});
  }
}

#ifdef SSMTL_WITH_CUDA
#include "kernels/attention.h"

TEST_CASE("cuda attention fused kernel agrees with the cuBLAS path") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  Rng rng(9);
  const int64_t BH = 24, Lq = 448 / 4, Lk = 112, E = 8;   // the SSMTL++ CvT shape, fewer queries
  const Tensor q = randn({BH, Lq, E}, rng).to(Device::CUDA), k = randn({BH, Lk, E}, rng).to(Device::CUDA),
               v = randn({BH, Lk, E}, rng).to(Device::CUDA);
  Tensor out1 = Tensor::empty({BH, Lq, E}, Device::CUDA), p1 = Tensor::empty({BH, Lq, Lk}, Device::CUDA);
  Tensor out2 = Tensor::empty({BH, Lq, E}, Device::CUDA), p2 = Tensor::empty({BH, Lq, Lk}, Device::CUDA);
  kernels::attention_forward_cuda(out1.data(), p1.data(), q.data(), k.data(), v.data(), BH, Lq, Lk, E, E);
  kernels::attention_forward_cublas_cuda(out2.data(), p2.data(), q.data(), k.data(), v.data(), BH, Lq, Lk, E, E);
  test::expect_close(out1, out2, kProduct, "attention output, fused vs cuBLAS");
  test::expect_close(p1, p2, Tol{1e-6f, 1e-4f}, "attention probabilities, fused vs cuBLAS");
}
#endif

// Sums over many blocks (kernels/cuda/reduce.cuh): a whole-tensor sum and the loss means split a long row
// into segments of at least 4096 values (up to 1024 of them for one row); batch-norm statistics and channel
// sums walk segments that start and end inside a sample (inner larger than a block), or span many samples.
TEST_CASE("cuda reductions over many blocks match the CPU") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  Rng rng(21);
  const Tensor big = randn({3, 7, 100, 97}, rng, 0.5f, 1.f);   // 203700 values: 49 segments
  check_op({"sum 203700", {big}, {}, [](const Ts& t) { return sum(t[0]); }, Tol{1e-4f, 1e-5f}});
  check_op({"mean 203700", {big}, {}, [](const Ts& t) { return mean(t[0]); }});
  const Tensor huge = randn({4500000}, rng);   // the 1024-segment cap of a single sum
  check_op({"sum 4.5M", {huge}, {}, [](const Ts& t) { return sum(t[0]); }, Tol{1e-3f, 1e-5f}});
  const Tensor a = randn({1, 250001}, rng), b = randn({1, 250001}, rng);
  check_op({"l1_loss 250001", {a, b}, {}, [](const Ts& t) { return l1_loss(t[0], t[1]); }});
  check_op({"mse_loss 250001", {a, b}, {}, [](const Ts& t) { return mse_loss(t[0], t[1]); }});
  const Tensor ra = randn({3, 50000}, rng), rb = randn({3, 50000}, rng);   // 3 rows: 12 segments each
  check_op({"l1_per_sample 3 rows", {ra, rb}, {}, [](const Ts& t) { return l1_per_sample(t[0], t[1]); }});
  check_op({"mse_per_sample 3 rows", {ra, rb}, {}, [](const Ts& t) { return mse_per_sample(t[0], t[1]); }});
  const Tensor ca = randn({11, 9000}, rng), cb = randn({11, 9000}, rng);   // 11 rows: 2 segments each
  check_op({"mse_per_sample 11 rows", {ca, cb}, {}, [](const Ts& t) { return mse_per_sample(t[0], t[1]); }});
  // Batch norm with inner 1600 (segments of 6400 values cut samples in the middle) and with inner 1.
  const Tensor x = randn({4, 3, 1, 40, 40}, rng, 1.f, 2.f), gamma = randn({3}, rng), beta = randn({3}, rng);
  auto train = [](const Ts& t) {
    Tensor rm = Tensor::zeros({3}, t[0].device()), rv = Tensor::zeros({3}, t[0].device());
    return batch_norm(t[0], t[1], t[2], rm, rv, true, 0.1f, 1e-5f);
  };
  check_op({"batch_norm train inner 1600", {x, gamma, beta}, {}, train, kUlps, Tol{1e-5f, 1e-4f}});
  auto plain = [](const Ts& t) {
    Tensor none;
    return batch_norm(t[0], Tensor(), Tensor(), none, none, true);
  };
  check_op({"batch_norm (N, C) 9000 rows", {randn({9000, 3}, rng)}, {}, plain, kUlps, Tol{1e-5f, 1e-4f}});
  const Tensor bias = randn({5}, rng);
  check_op({"add_channel_bias inner 3001", {randn({3, 5, 3001}, rng), bias}, {},
            [](const Ts& t) { return add_channel_bias(t[0], t[1]); }});
}

// Permutations that are batched 2-D transposes take the shared-memory tile path (kernels/cuda/shape.cu):
// sizes not multiples of 32, size-1 dimensions, the CvT token <-> volume permutations, and one without a
// batch; the others (an inner run left in place, a side shorter than 8) the general kernel.
TEST_CASE("cuda permute transposes match the CPU") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  Rng rng(22);
  const Tensor vol = randn({3, 37, 3, 5, 7}, rng), tok = randn({2, 3, 5, 7, 45}, rng);
  check_op({"permute {0,2,3,4,1} (volume to tokens)", {vol}, {},
            [](const Ts& t) { return permute(t[0], {0, 2, 3, 4, 1}); }});
  check_op({"permute {0,4,1,2,3} (tokens to volume)", {tok}, {},
            [](const Ts& t) { return permute(t[0], {0, 4, 1, 2, 3}); }});
  check_op({"permute {1,0} 33x70", {randn({33, 70}, rng)}, {}, [](const Ts& t) { return permute(t[0], {1, 0}); }});
  check_op({"permute {2,0,1} (merges to a transpose)", {randn({6, 11, 40}, rng)}, {},
            [](const Ts& t) { return permute(t[0], {2, 0, 1}); }});
  check_op({"permute {0,2,1,3} size-1 inner", {randn({2, 65, 40, 1}, rng)}, {},
            [](const Ts& t) { return permute(t[0], {0, 2, 1, 3}); }});
  check_op({"permute {0,2,1,3} heads (general)", {randn({2, 50, 3, 8}, rng)}, {},
            [](const Ts& t) { return permute(t[0], {0, 2, 1, 3}); }});
  check_op({"permute {0,2,3,4,1} 3 channels (general)", {randn({2, 3, 4, 5, 6}, rng)}, {},
            [](const Ts& t) { return permute(t[0], {0, 2, 3, 4, 1}); }});
  check_op({"permute {0,1,2} identity", {randn({2, 3, 4}, rng)}, {},
            [](const Ts& t) { return permute(t[0], {0, 1, 2}); }});
  check_op({"permute {3,1,0,2} (general)", {randn({3, 4, 5, 6}, rng)}, {},
            [](const Ts& t) { return permute(t[0], {3, 1, 0, 2}); }});
}
