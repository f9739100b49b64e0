// The bf16 attention kernels (kernels/cpu/attention_tokens_bf16.cpp, taken by attention_tokens_*_cpu under
// MatmulPrecisionScope(bf16) at head width 8 where kernels::Bf16Attention allows): against the fp32 kernels on the same
// inputs (every product factor rounded to bf16: a few bf16 ulps of error, 2^-8 relative), bitwise the same for any
// thread count, and adding into (or writing) gradients as the fp32 kernels do; where the mode does not reach it
// (never, the default; inference for training), bf16 precision leaves attention in float32, bit for bit.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "autograd/attention.h"
#include "autograd/engine.h"
#include "kernels/attention.h"
#include "kernels/cpu/attention_tokens_avx512.h"
#include "kernels/precision.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace ssmtl;
using kernels::MatmulPrecision;
using kernels::MatmulPrecisionScope;

namespace {

struct Problem {
  int64_t B, H, Lq, Lk;
};

// True (after saying so) where this CPU cannot run the bf16 kernels.
bool skipped_without_bf16() {
  if (kernels::cpu_has_bf16()) return false;
  MESSAGE("skipped: this CPU has no AVX512_BF16");
  return true;
}

// Sets the bf16-attention mode for a scope, restoring the previous one.
struct Bf16AttentionScope {
  kernels::Bf16Attention before = kernels::bf16_attention();
  explicit Bf16AttentionScope(kernels::Bf16Attention mode) { kernels::set_bf16_attention(mode); }
  ~Bf16AttentionScope() { kernels::set_bf16_attention(before); }
};

struct Result {
  std::vector<float> out, lse, dq, dk, dv;
};

// Forward, then the backward into gradients pre-filled with `pre` (add) or NaN (write-first), in the given
// precision, through the dispatching kernels.
Result run(const Problem& s, const std::vector<Tensor>& in, MatmulPrecision precision, bool add, float pre,
           bool bf16_attention = true) {
  MatmulPrecisionScope scope(precision);
  // true: training too (the opt-in); false: inference only, the scoring programs' mode (this training pair stays
  // float32 in it)
  Bf16AttentionScope attention(bf16_attention ? kernels::Bf16Attention::always : kernels::Bf16Attention::inference);
  const int64_t E = 8;
  const Tensor &q = in[0], &k = in[1], &v = in[2], &g = in[3];
  Tensor out = Tensor::zeros(q.shape()), lse = Tensor::zeros({s.B, s.H, s.Lq});
  kernels::attention_tokens_forward_cpu(out.data(), lse.data(), q.data(), k.data(), v.data(), s.B, s.H, s.Lq, s.Lk, E,
                                        E);
  const float fill = add ? pre : std::nanf("");
  Tensor dq = Tensor::full(q.shape(), fill), dk = Tensor::full(k.shape(), fill), dv = Tensor::full(v.shape(), fill);
  kernels::attention_tokens_backward_cpu(dq.data(), dk.data(), dv.data(), g.data(), q.data(), k.data(), v.data(),
                                         out.data(), lse.data(), add, add, add, s.B, s.H, s.Lq, s.Lk, E, E);
  return {out.to_vector(), lse.to_vector(), dq.to_vector(), dk.to_vector(), dv.to_vector()};
}

// max |a - b| / max |b|
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double err = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return err / scale;
}

std::vector<Tensor> inputs(const Problem& s, uint64_t seed) {
  Rng rng(seed);
  const int64_t D = s.H * 8;
  return {randn({s.B, s.Lq, D}, rng), randn({s.B, s.Lk, D}, rng), randn({s.B, s.Lk, D}, rng),
          randn({s.B, s.Lq, D}, rng)};
}

// Odd query and key counts (a query without a partner in the last pair, a key without one in the forward's last
// pair), a padding chunk of 16 keys beyond the last (37 keys: 3 chunks in 64 padded keys) and none (21 keys:
// 2 chunks in 32), and the CvT's 448 x 112 tokens (7 chunks in 128).
const Problem kShapes[] = {{2, 3, 37, 21}, {2, 2, 20, 37}, {1, 2, 448, 112}};

}  // namespace

TEST_CASE("attention_tokens bf16: output, lse and gradients within bf16 rounding of the fp32 kernels") {
  if (skipped_without_bf16()) return;
  for (const Problem& s : kShapes) {
    CAPTURE(s.Lq);
    CAPTURE(s.Lk);
    const std::vector<Tensor> in = inputs(s, 7 + s.Lk);
    const Result ref = run(s, in, MatmulPrecision::fp32, true, 0.f), bf = run(s, in, MatmulPrecision::bf16, true, 0.f);
    const double e_out = relative_error(bf.out, ref.out), e_lse = relative_error(bf.lse, ref.lse);
    const double e_dq = relative_error(bf.dq, ref.dq), e_dk = relative_error(bf.dk, ref.dk);
    const double e_dv = relative_error(bf.dv, ref.dv);
    MESSAGE("relative errors out " << e_out << " lse " << e_lse << " dq " << e_dq << " dk " << e_dk << " dv " << e_dv);
    CHECK(e_out < 2e-2);
    CHECK(e_lse < 1e-2);
    CHECK(e_dq < 3e-2);
    CHECK(e_dk < 3e-2);
    CHECK(e_dv < 2e-2);
    CHECK(e_out > 0);   // the bf16 forward ran: its rounding shows
    // and the bf16 backward: the fp32 backward on the bf16 forward's out and lse gives other gradients
    Tensor dq32 = Tensor::zeros(in[0].shape());
    kernels::attention_tokens_backward_cpu(dq32.data(), nullptr, nullptr, in[3].data(), in[0].data(), in[1].data(),
                                           in[2].data(), Tensor::from_vector(in[0].shape(), bf.out).data(),
                                           Tensor::from_vector({s.B, s.H, s.Lq}, bf.lse).data(), true, true, true, s.B,
                                           s.H, s.Lq, s.Lk, 8, 8);
    CHECK(dq32.to_vector() != bf.dq);
  }
}

TEST_CASE("multi_head_attention: a backward whose attention path differs from its forward's throws") {
  if (skipped_without_bf16()) return;
  Rng rng(4);
  Tensor q = randn({2, 9, 16}, rng).set_requires_grad(), k = randn({2, 5, 16}, rng).set_requires_grad();
  Tensor v = randn({2, 5, 16}, rng).set_requires_grad();
  Tensor out;
  {
    MatmulPrecisionScope scope(MatmulPrecision::bf16);
    Bf16AttentionScope attention(kernels::Bf16Attention::always);
    out = multi_head_attention(q, k, v, 2);
  }
  CHECK_THROWS_WITH_AS(autograd::backward(out, Tensor::ones(out.shape())),
                       doctest::Contains("the forward ran with bf16 attention products"), std::logic_error);
}

TEST_CASE("attention_tokens bf16: backward adds into gradients, and writes what adding into zeros gives") {
  if (skipped_without_bf16()) return;
  const Problem s = kShapes[0];
  const std::vector<Tensor> in = inputs(s, 3);
  const Result zero = run(s, in, MatmulPrecision::bf16, true, 0.f), pre = run(s, in, MatmulPrecision::bf16, true, 2.f);
  const Result written = run(s, in, MatmulPrecision::bf16, false, 0.f);
  for (const auto& [a, b, w] : {std::tuple{&zero.dq, &pre.dq, &written.dq}, std::tuple{&zero.dk, &pre.dk, &written.dk},
                                std::tuple{&zero.dv, &pre.dv, &written.dv}}) {
    CHECK(*w == *a);
    size_t off = 0;   // the pre-filled 2 is added (within an ulp: the dk / dv sum may be fused into an FMA)
    for (size_t i = 0; i < a->size(); ++i) off += std::fabs((*b)[i] - ((*a)[i] + 2.f)) > 1e-6f * std::fabs((*b)[i]);
    CHECK(off == 0);
  }
}

#ifdef _OPENMP
TEST_CASE("attention_tokens bf16: bitwise the same for any thread count") {
  if (skipped_without_bf16()) return;
  const Problem s = kShapes[1];
  const std::vector<Tensor> in = inputs(s, 5);
  auto with = [&](int threads) {
    const int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    Result r = run(s, in, MatmulPrecision::bf16, true, 0.f);
    omp_set_num_threads(before);
    return std::vector<std::vector<float>>{r.out, r.lse, r.dq, r.dk, r.dv};
  };
  CHECK(with(1) == with(2));
  CHECK(with(1) == with(3));
}
#endif

TEST_CASE("attention_tokens bf16: training keeps float32 attention by default and in the inference mode, bit for bit") {
  if (skipped_without_bf16()) return;
  if (!std::getenv("SSMTL_BF16_ATTENTION")) CHECK(kernels::bf16_attention() == kernels::Bf16Attention::never);
  const Problem s = kShapes[0];
  const std::vector<Tensor> in = inputs(s, 9);
  const Result fp32 = run(s, in, MatmulPrecision::fp32, true, 0.f, false);
  const Result off = run(s, in, MatmulPrecision::bf16, true, 0.f, false);
  const Result on = run(s, in, MatmulPrecision::bf16, true, 0.f, true);
  CHECK(off.out == fp32.out);
  CHECK(off.dq == fp32.dq);
  CHECK(off.dk == fp32.dk);
  CHECK(off.dv == fp32.dv);
  CHECK(on.out != fp32.out);
}

TEST_CASE("attention_tokens bf16: the inference mode's inference takes the bf16 kernels, training and never do not") {
  if (skipped_without_bf16()) return;
  const Problem s = kShapes[0];
  const std::vector<Tensor> in = inputs(s, 10);
  const Tensor &q = in[0], &k = in[1], &v = in[2];
  const int64_t E = 8;
  using kernels::Bf16Attention;
  // out of the training forward (inference false) or the inference one, in a mode and a precision
  auto forward = [&](bool inference, Bf16Attention mode, MatmulPrecision precision) {
    MatmulPrecisionScope scope(precision);
    Bf16AttentionScope attention(mode);
    Tensor out = Tensor::zeros(q.shape()), lse = Tensor::zeros({s.B, s.H, s.Lq});
    (inference ? kernels::attention_tokens_inference_cpu : kernels::attention_tokens_forward_cpu)(
        out.data(), lse.data(), q.data(), k.data(), v.data(), s.B, s.H, s.Lq, s.Lk, E, E);
    return out.to_vector();
  };
  const auto fp32 = forward(false, Bf16Attention::inference, MatmulPrecision::fp32);
  const auto bf16 = forward(false, Bf16Attention::always, MatmulPrecision::bf16);
  REQUIRE(bf16 != fp32);
  CHECK(forward(true, Bf16Attention::inference, MatmulPrecision::bf16) == bf16);
  CHECK(forward(false, Bf16Attention::inference, MatmulPrecision::bf16) == fp32);
  CHECK(forward(true, Bf16Attention::never, MatmulPrecision::bf16) == fp32);
  CHECK(forward(true, Bf16Attention::always, MatmulPrecision::fp32) == fp32);   // fp32 products: never bf16
  // Through the autograd op: without gradients (scoring) the bf16 kernels, with gradients the float32 ones.
  MatmulPrecisionScope scope(MatmulPrecision::bf16);
  Bf16AttentionScope attention(Bf16Attention::inference);
  {
    autograd::NoGradGuard ng;
    CHECK(multi_head_attention(q, k, v, static_cast<int>(s.H)).to_vector() == bf16);
  }
  Tensor qg = q.clone().set_requires_grad();
  CHECK(multi_head_attention(qg, k, v, static_cast<int>(s.H)).to_vector() == fp32);
}
