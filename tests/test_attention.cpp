#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/attention.h"
#include "autograd/engine.h"
#include "autograd/elementwise.h"
#include "autograd/shape.h"
#include "kernels/attention.h"
#include "kernels/cpu/attention_tokens_avx512.h"
#include "tests/gradcheck.h"
#include "tests/reference.h"

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace ssmtl;
using ssmtl::test::check_close;
using ssmtl::test::gradcheck;

namespace {

// Forward and all three gradients of case `prefix` of tests/data/attention.bin (gen_attention.py).
void check_against_pytorch(const std::string& prefix, double atol, double rtol) {
  test::RefFile ref("attention");
  Tensor q = ref.get(prefix + "q").set_requires_grad(), k = ref.get(prefix + "k").set_requires_grad();
  Tensor v = ref.get(prefix + "v").set_requires_grad();
  Tensor out = scaled_dot_product_attention(q, k, v);
  check_close(out, ref.get(prefix + "out"), atol, rtol, prefix + "out");
  autograd::backward(sum(mul(out, ref.get(prefix + "r"))));
  check_close(q.grad(), ref.get(prefix + "grad_q"), atol, rtol, prefix + "grad q");
  check_close(k.grad(), ref.get(prefix + "grad_k"), atol, rtol, prefix + "grad k");
  check_close(v.grad(), ref.get(prefix + "grad_v"), atol, rtol, prefix + "grad v");
}

Tensor attn_fn(const std::vector<Tensor>& in) { return scaled_dot_product_attention(in[0], in[1], in[2]); }

}  // namespace

TEST_CASE("attention: output and gradients of q, k, v match PyTorch") {
  check_against_pytorch("a_", 1e-6, 1e-5);   // B=2, H=3, Lq=5, Lk=4, E=Ev=6
  check_against_pytorch("b_", 1e-6, 1e-5);   // Ev != E, Lq > Lk
}

TEST_CASE("attention: large scores stay finite (stable softmax) and match PyTorch") {
  // Scores up to ~100: exp() without the row maximum subtracted overflows float. The probabilities are
  // then nearly one-hot and float32 rounding of the scores (~1e-5 absolute) shows in the gradients.
  check_against_pytorch("c_", 1e-4, 1e-4);
}

TEST_CASE("attention: rows of the attention are convex combinations of the values") {
  // With all values equal to a constant c the output is c whatever q and k are (probabilities sum to 1).
  Rng rng(5);
  Tensor q = randn({2, 2, 9, 4}, rng, 0.f, 3.f), k = randn({2, 2, 7, 4}, rng, 0.f, 3.f);
  Tensor v = Tensor::full({2, 2, 7, 3}, 0.75f);
  for (float x : scaled_dot_product_attention(q, k, v).to_vector()) CHECK(x == doctest::Approx(0.75f).epsilon(1e-6));
}

#ifdef _OPENMP
TEST_CASE("attention: output and gradients are bitwise the same for any thread count") {
  // Each (batch, head) problem is computed whole by one thread with a single-threaded GEMM.
  Rng rng(9);
  const Tensor q0 = randn({2, 3, 33, 8}, rng), k0 = randn({2, 3, 17, 8}, rng), v0 = randn({2, 3, 17, 5}, rng);
  const Tensor r = randn({2, 3, 33, 5}, rng);
  auto run = [&](int threads) {
    const int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    Tensor q = q0.clone().set_requires_grad(), k = k0.clone().set_requires_grad(), v = v0.clone().set_requires_grad();
    Tensor out = scaled_dot_product_attention(q, k, v);
    autograd::backward(out, r);
    omp_set_num_threads(before);
    return std::vector<std::vector<float>>{out.to_vector(), q.grad().to_vector(), k.grad().to_vector(),
                                           v.grad().to_vector()};
  };
  CHECK(run(1) == run(4));
}
#endif

TEST_CASE("attention: finite-difference gradients (and backward adds into gradients)") {
  Rng rng(7);
  Tensor q = randn({2, 3, 5, 6}, rng).set_requires_grad(), k = randn({2, 3, 4, 6}, rng).set_requires_grad();
  Tensor v = randn({2, 3, 4, 6}, rng).set_requires_grad();
  gradcheck(attn_fn, {q, k, v});
  // Only some inputs needing a gradient: the others' work is skipped, the rest is unchanged.
  Tensor k_const = k.detach(), v_const = v.detach();
  gradcheck(attn_fn, {q, k_const, v_const});
  gradcheck(attn_fn, {q.detach(), k_const, v});
}

TEST_CASE("attention: bad shapes name the op and all three shapes") {
  Tensor q = Tensor::zeros({2, 3, 5, 6}), k = Tensor::zeros({2, 3, 4, 6}), v = Tensor::zeros({2, 3, 4, 6});
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, Tensor::zeros({2, 3, 4, 5}), v),
                       "scaled_dot_product_attention: expected q (B, H, Lq, E), k (B, H, Lk, E), v (B, H, Lk, Ev) "
                       "with no zero size; got q [2, 3, 5, 6], k [2, 3, 4, 5], v [2, 3, 4, 6]",
                       std::invalid_argument);
  CHECK_THROWS_AS(scaled_dot_product_attention(q, k, Tensor::zeros({2, 3, 3, 6})), std::invalid_argument);  // Lk
  CHECK_THROWS_AS(scaled_dot_product_attention(q, Tensor::zeros({2, 2, 4, 6}), v), std::invalid_argument);  // H
  CHECK_THROWS_AS(scaled_dot_product_attention(q, k, Tensor::zeros({1, 3, 4, 6})), std::invalid_argument);  // B
  CHECK_THROWS_AS(scaled_dot_product_attention(Tensor::zeros({6, 5, 6}), k, v), std::invalid_argument);     // 3-D
  CHECK_THROWS_AS(scaled_dot_product_attention(q, Tensor::zeros({2, 3, 0, 6}), Tensor::zeros({2, 3, 0, 6})),
                  std::invalid_argument);                                                                  // no keys
}

// ---- multi_head_attention: the fused token-major CPU kernel --------------------------------------------

namespace {

// (B, H, L, W) -> (B, L, H * W), the token-major layout of multi_head_attention
Tensor merge_heads(const Tensor& t) {
  return reshape(permute(t, {0, 2, 1, 3}), {t.size(0), t.size(2), t.size(1) * t.size(3)});
}

Tensor mha_fn3(const std::vector<Tensor>& in) { return multi_head_attention(in[0], in[1], in[2], 3); }
// multi_head_attention against split heads + scaled_dot_product_attention + merge, forward and gradients
void check_split_heads(const Tensor& q0, const Tensor& k0, const Tensor& v0, const Tensor& r, int64_t H);

}  // namespace

TEST_CASE("multi_head_attention: output and gradients of q, k, v match PyTorch") {
  // The reference cases of scaled_dot_product_attention, with the heads merged into the token rows; d_, e_, f_
  // (attention_heads.bin) have the head widths of the AVX-512 kernels (8 and 16), several 16-key chunks with a
  // tail and more than one 32-query block; c_ and f_ have large scores.
  for (const char* prefix : {"a_", "b_", "c_", "d_", "e_", "f_"}) {
    const std::string p = prefix;
    test::RefFile ref(p < "d_" ? "attention" : "attention_heads");
    const double tol = p == "c_" || p == "f_" ? 1e-4 : 1e-5;
    Tensor q = merge_heads(ref.get(p + "q")).set_requires_grad(), k = merge_heads(ref.get(p + "k")).set_requires_grad();
    Tensor v = merge_heads(ref.get(p + "v")).set_requires_grad();
    const int heads = static_cast<int>(ref.get(p + "q").size(1));
    Tensor out = multi_head_attention(q, k, v, heads);
    check_close(out, merge_heads(ref.get(p + "out")), tol, tol, p + "out");
    autograd::backward(sum(mul(out, merge_heads(ref.get(p + "r")))));
    check_close(q.grad(), merge_heads(ref.get(p + "grad_q")), tol, tol, p + "grad q");
    check_close(k.grad(), merge_heads(ref.get(p + "grad_k")), tol, tol, p + "grad k");
    check_close(v.grad(), merge_heads(ref.get(p + "grad_v")), tol, tol, p + "grad v");
  }
}

TEST_CASE("multi_head_attention: equals split heads + scaled_dot_product_attention + merge at a CvT-like shape") {
  // {heads, E, Lq, Lk}: 12 heads of width 8 as in the paper's CvT with 37 queries (two blocks of 16 and a tail of
  // 5) and 11 keys; the CvT's 448 x 112 tokens; width 16; width 5 (the portable kernels).
  for (const auto& [H, E, Lq, Lk] : std::vector<std::array<int64_t, 4>>{
           {12, 8, 37, 11}, {2, 8, 448, 112}, {3, 16, 70, 33}, {2, 5, 20, 17}}) {
    CAPTURE(H);
    CAPTURE(E);
    CAPTURE(Lq);
    CAPTURE(Lk);
    Rng rng(21);
    const Tensor q0 = randn({2, Lq, H * E}, rng), k0 = randn({2, Lk, H * E}, rng), v0 = randn({2, Lk, H * E}, rng);
    const Tensor r = randn({2, Lq, H * E}, rng);
    check_split_heads(q0, k0, v0, r, H);
  }
}

namespace {
void check_split_heads(const Tensor& q0, const Tensor& k0, const Tensor& v0, const Tensor& r, int64_t H) {
  const int64_t E = q0.size(2) / H;
  auto split = [&](const Tensor& t) { return permute(reshape(t, {2, t.size(1), H, E}), {0, 2, 1, 3}); };
  Tensor q1 = q0.clone().set_requires_grad(), k1 = k0.clone().set_requires_grad(), v1 = v0.clone().set_requires_grad();
  Tensor ref = merge_heads(scaled_dot_product_attention(split(q1), split(k1), split(v1)));
  autograd::backward(sum(mul(ref, r)));
  Tensor q2 = q0.clone().set_requires_grad(), k2 = k0.clone().set_requires_grad(), v2 = v0.clone().set_requires_grad();
  Tensor out = multi_head_attention(q2, k2, v2, static_cast<int>(H));
  autograd::backward(sum(mul(out, r)));
  check_close(out, ref, 1e-6, 1e-5, "out");
  check_close(q2.grad(), q1.grad(), 1e-6, 1e-5, "grad q");
  check_close(k2.grad(), k1.grad(), 1e-6, 1e-5, "grad k");
  check_close(v2.grad(), v1.grad(), 1e-6, 1e-5, "grad v");
}
}  // namespace

TEST_CASE("multi_head_attention: finite-difference gradients, tails of the 16-query blocks, adds into gradients") {
  Rng rng(8);
  for (int64_t Lq : {5, 19}) {
    Tensor q = randn({2, Lq, 3 * 4}, rng).set_requires_grad(), k = randn({2, 6, 3 * 4}, rng).set_requires_grad();
    Tensor v = randn({2, 6, 3 * 5}, rng).set_requires_grad();
    gradcheck(mha_fn3, {q, k, v});
    gradcheck(mha_fn3, {q, k.detach(), v.detach()});
    gradcheck(mha_fn3, {q.detach(), k, v.detach()});
  }
  // Head width 8 (the AVX-512 kernels): a 16-key chunk plus a tail of 2, a 32-query block plus a tail of 3.
  auto mha_fn2 = [](const std::vector<Tensor>& in) { return multi_head_attention(in[0], in[1], in[2], 2); };
  for (int64_t Lq : {5, 35}) {
    Tensor q = randn({2, Lq, 2 * 8}, rng).set_requires_grad(), k = randn({2, 18, 2 * 8}, rng).set_requires_grad();
    Tensor v = randn({2, 18, 2 * 8}, rng).set_requires_grad();
    gradcheck(mha_fn2, {q, k, v});
    gradcheck(mha_fn2, {q, k.detach(), v.detach()});
    gradcheck(mha_fn2, {q.detach(), k, v});
  }
}

TEST_CASE("attention_tokens kernels: the dispatched path (AVX-512 at widths 8/16) equals the portable kernels") {
  // On a CPU without AVX-512 both calls run the portable kernels and agree exactly; with it, up to rounding.
  // The backward adds into gradients: both start from the same pre-filled values.
  for (const int64_t E : {8, 16}) {
    CAPTURE(E);
    const int64_t B = 2, H = 3, Lq = 37, Lk = 21;
    Rng rng(20 + E);
    const Tensor q = randn({B, Lq, H * E}, rng), k = randn({B, Lk, H * E}, rng), v = randn({B, Lk, H * E}, rng);
    const Tensor g = randn({B, Lq, H * E}, rng), pre_q = randn(q.shape(), rng), pre_k = randn(k.shape(), rng),
                 pre_v = randn(v.shape(), rng);
    auto run = [&](bool portable) {
      Tensor out = Tensor::zeros(g.shape()), lse = Tensor::zeros({B, H, Lq});
      Tensor dq = pre_q.clone(), dk = pre_k.clone(), dv = pre_v.clone();
      (portable ? kernels::attention_tokens_forward_portable : kernels::attention_tokens_forward_cpu)(
          out.data(), lse.data(), q.data(), k.data(), v.data(), B, H, Lq, Lk, E, E);
      (portable ? kernels::attention_tokens_backward_portable : kernels::attention_tokens_backward_cpu)(
          dq.data(), dk.data(), dv.data(), g.data(), q.data(), k.data(), v.data(), out.data(), lse.data(), true, true,
          true, B, H, Lq, Lk, E, E);
      return std::vector<Tensor>{out, lse, dq, dk, dv};
    };
    const std::vector<Tensor> a = run(true), b = run(false);
    const char* names[] = {"out", "lse", "dq", "dk", "dv"};
    for (int i = 0; i < 5; ++i) {
      CAPTURE(names[i]);
      check_close(b[i], a[i], 2e-5, 2e-5);
    }
    // the pre-filled values are kept (added to, not overwritten): far from the gradient alone
    Tensor dq_alone = Tensor::zeros(q.shape());
    kernels::attention_tokens_backward_portable(dq_alone.data(), nullptr, nullptr, g.data(), q.data(), k.data(),
                                                v.data(), a[0].data(), a[1].data(), true, true, true, B, H, Lq, Lk,
                                                E, E);
    check_close(a[2], add(dq_alone, pre_q), 1e-5, 1e-5);
  }
}

TEST_CASE("attention_tokens: write-first gradients - add flags false write into NaN-filled buffers what adding into zeros gives") {
  // Widths 8 and 16 take the AVX-512 kernels where the CPU has them, 5 the portable ones; both paths as well.
  for (const int64_t E : {5, 8, 16}) {
    for (const bool portable : {false, true}) {
      CAPTURE(E);
      CAPTURE(portable);
      const int64_t B = 2, H = 3, Lq = 37, Lk = 21;
      Rng rng(40 + E);
      const Tensor q = randn({B, Lq, H * E}, rng), k = randn({B, Lk, H * E}, rng), v = randn({B, Lk, H * E}, rng);
      const Tensor g = randn({B, Lq, H * E}, rng);
      Tensor out = Tensor::zeros(g.shape()), lse = Tensor::zeros({B, H, Lq});
      kernels::attention_tokens_forward_cpu(out.data(), lse.data(), q.data(), k.data(), v.data(), B, H, Lq, Lk, E, E);
      auto grads = [&](bool add, float fill) {
        Tensor dq = Tensor::full(q.shape(), fill), dk = Tensor::full(k.shape(), fill), dv = Tensor::full(v.shape(), fill);
        (portable ? kernels::attention_tokens_backward_portable : kernels::attention_tokens_backward_cpu)(
            dq.data(), dk.data(), dv.data(), g.data(), q.data(), k.data(), v.data(), out.data(), lse.data(), add, add,
            add, B, H, Lq, Lk, E, E);
        return std::vector<Tensor>{dq, dk, dv};
      };
      const std::vector<Tensor> added = grads(true, 0.f), written = grads(false, std::nanf(""));
      for (int i = 0; i < 3; ++i) {
        CAPTURE(i);
        CHECK(written[i].to_vector() == added[i].to_vector());
      }
    }
  }
}

#ifdef _OPENMP
TEST_CASE("multi_head_attention: bitwise the same for any thread count") {
  // widths 8 (2 heads), 16 (1 head; AVX-512 kernels), 4 (4 heads; portable kernels); 9 and 40 keys
  for (const auto& shape : std::vector<std::array<int, 2>>{{2, 9}, {1, 40}, {4, 40}}) {
  const int heads = shape[0], Lk = shape[1];
  CAPTURE(heads);
  CAPTURE(Lk);
  Rng rng(10);
  const Tensor q0 = randn({3, 33, 16}, rng), k0 = randn({3, Lk, 16}, rng), v0 = randn({3, Lk, 16}, rng);
  const Tensor r = randn({3, 33, 16}, rng);
  auto run = [&](int threads) {
    const int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    Tensor q = q0.clone().set_requires_grad(), k = k0.clone().set_requires_grad(), v = v0.clone().set_requires_grad();
    Tensor out = multi_head_attention(q, k, v, heads);
    autograd::backward(out, r);
    omp_set_num_threads(before);
    return std::vector<std::vector<float>>{out.to_vector(), q.grad().to_vector(), k.grad().to_vector(),
                                           v.grad().to_vector()};
  };
  CHECK(run(1) == run(3));
  CHECK(run(1) == run(2));
  }
}
#endif

TEST_CASE("multi_head_attention: bad shapes name the op and the shapes") {
  Tensor q = Tensor::zeros({2, 5, 6}), k = Tensor::zeros({2, 4, 6}), v = Tensor::zeros({2, 4, 6});
  CHECK_THROWS_WITH_AS(multi_head_attention(q, k, v, 4),
                       "multi_head_attention: expected q (B, Lq, heads*E), k (B, Lk, heads*E), v (B, Lk, heads*Ev) "
                       "with no zero size and heads = 4 dividing the widths; got q [2, 5, 6], k [2, 4, 6], v [2, 4, 6]",
                       std::invalid_argument);
  CHECK_THROWS_AS(multi_head_attention(q, Tensor::zeros({2, 4, 3}), v, 3), std::invalid_argument);   // E differs
  CHECK_THROWS_AS(multi_head_attention(q, k, Tensor::zeros({2, 3, 6}), 3), std::invalid_argument);   // Lk
  CHECK_THROWS_AS(multi_head_attention(q, k, Tensor::zeros({1, 4, 6}), 3), std::invalid_argument);   // B
}
