// The AMX attention kernels (kernels/cpu/attention_tokens_amx.cpp) against a double-precision reference that
// rounds the same factors to bf16. Each result may differ from it by what bf16 rounding ties allow: a factor
// computed in float32 by the kernel (P, dS) can round to the neighbouring bf16 value, one unit of 2^-7 relative,
// so the bound per element is 2^-7 times the sum of its terms' magnitudes (plus 1e-5); an indexing, layout or
// padding error moves a result by the size of its terms. Shapes with tails of the 16 / 32 blocks, one head and
// three, gradients pre-filled (the kernels add into them) or absent, 1 and 2 threads, very negative scores.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <string>
#include <cmath>
#include <utility>
#include <vector>

#include "kernels/attention.h"
#include "kernels/cpu/attention_tokens_avx512.h"
#include "kernels/cpu/bf16.h"
#include "kernels/precision.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

using namespace ssmtl;

namespace {

constexpr int E = 8;

// A reference value and the sum of its terms' magnitudes.
struct Ref {
  std::vector<double> value, mag;
  explicit Ref(size_t n = 0) : value(n, 0.0), mag(n, 0.0) {}
  void add(size_t i, double term) {
    value[i] += term;
    mag[i] += std::abs(term);
  }
};

struct Refs {
  Ref out, lse, dq, dk, dv;
};

// Token-major (B, L, H * 8) inputs; the roundings of attention_tokens_amx.cpp's header.
Refs reference(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
               const std::vector<float>& g, int64_t B, int64_t H, int64_t Lq, int64_t Lk) {
  const double scale = 1.0 / std::sqrt(8.0);
  const float c2 = 1.44269504088896341f / std::sqrt(8.f);
  const int64_t ld = H * E;
  auto r = [](double x) { return static_cast<double>(kernels::bf16::round(static_cast<float>(x))); };
  Refs o{Ref(B * Lq * ld), Ref(B * H * Lq), Ref(B * Lq * ld), Ref(B * Lk * ld), Ref(B * Lk * ld)};
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      auto at = [&](const std::vector<float>& x, int64_t row, int d) { return x[row * ld + h * E + d]; };
      const int64_t qo = b * Lq, ko = b * Lk;   // first rows of this sample
      for (int64_t i = 0; i < Lq; ++i) {
        std::vector<double> s(Lk, 0.0);
        double m = -1e300, sum = 0;
        for (int64_t j = 0; j < Lk; ++j) {
          for (int d = 0; d < E; ++d) s[j] += r(at(q, qo + i, d) * c2) * r(at(k, ko + j, d));
          m = std::max(m, s[j]);
        }
        for (int64_t j = 0; j < Lk; ++j) sum += std::exp2(s[j] - m);
        const double lse = m + std::log2(sum);
        o.lse.add((b * H + h) * Lq + i, lse);
        double delta = 0;
        for (int d = 0; d < E; ++d) {
          const size_t oi = (qo + i) * ld + h * E + d;
          for (int64_t j = 0; j < Lk; ++j) o.out.add(oi, r(std::exp2(s[j] - m)) * r(at(v, ko + j, d)) / sum);
          delta += at(g, qo + i, d) * o.out.value[oi];
        }
        for (int64_t j = 0; j < Lk; ++j) {   // the backward: P from lse, dS = P (dP - D)
          const double p = std::exp2(s[j] - lse);
          double dp = 0;
          for (int d = 0; d < E; ++d) dp += r(at(g, qo + i, d)) * r(at(v, ko + j, d));
          const double ds = r(p * (dp - delta));
          for (int d = 0; d < E; ++d) {
            o.dv.add((ko + j) * ld + h * E + d, r(p) * r(at(g, qo + i, d)));
            o.dk.add((ko + j) * ld + h * E + d, scale * ds * r(at(q, qo + i, d)));
            o.dq.add((qo + i) * ld + h * E + d, scale * ds * r(at(k, ko + j, d)));
          }
        }
      }
    }
  return o;
}

// got - pre against the reference, element by element, within `rel` (2^-7: one bf16 unit) of the terms'
// magnitudes, + 1e-5.
void check(const std::vector<float>& got, const Ref& want, const std::vector<float>& pre, const char* what,
           double rel = 0x1p-7) {
  const std::string name = what;
  CAPTURE(name);
  REQUIRE(got.size() == want.value.size());
  size_t bad = 0, worst_i = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(got[i] - (pre.empty() ? 0.0 : pre[i]) - want.value[i]);
    const double bound = rel * want.mag[i] + 1e-5;
    if (!(err <= bound)) ++bad;
    if (!(err / bound <= worst)) worst = err / bound, worst_i = i;
  }
  CAPTURE(worst_i);
  CAPTURE(worst);
  CHECK(bad == 0);
}

std::vector<float> randn_vec(int64_t n, float mul, Rng& rng) {
  std::vector<float> x = randn({n}, rng).to_vector();
  for (float& e : x) e *= mul;
  return x;
}

struct Problem {
  int64_t B, H, Lq, Lk;
  std::vector<float> q, k, v, g;
};

Problem make_problem(int64_t B, int64_t H, int64_t Lq, int64_t Lk, float qk_mul) {
  Rng rng(static_cast<uint64_t>(Lq * 1000 + Lk * 10 + H));
  Problem p{B, H, Lq, Lk, {}, {}, {}, {}};
  p.q = randn_vec(B * Lq * H * E, qk_mul, rng);
  p.k = randn_vec(B * Lk * H * E, qk_mul, rng);
  p.v = randn_vec(B * Lk * H * E, 1.f, rng);
  p.g = randn_vec(B * Lq * H * E, 1.f, rng);
  return p;
}

struct Outputs {
  std::vector<float> out, lse, dq, dk, dv;
};

// Forward into 7s (overwritten), backward adding into copies of the given pre-filled gradients (empty: null).
Outputs run(const Problem& p, const std::vector<float>& pq, const std::vector<float>& pk,
            const std::vector<float>& pv) {
  const int64_t ld = p.H * E;
  Outputs o{std::vector<float>(p.B * p.Lq * ld, 7.f), std::vector<float>(p.B * p.H * p.Lq, 7.f), pq, pk, pv};
  REQUIRE(kernels::attention_tokens_forward_amx(o.out.data(), o.lse.data(), p.q.data(), p.k.data(), p.v.data(), p.B,
                                                p.H, p.Lq, p.Lk, E, E));
  auto ptr = [](std::vector<float>& x) { return x.empty() ? nullptr : x.data(); };
  REQUIRE(kernels::attention_tokens_backward_amx(ptr(o.dq), ptr(o.dk), ptr(o.dv), p.g.data(), p.q.data(), p.k.data(),
                                                 p.v.data(), o.out.data(), o.lse.data(), p.B, p.H, p.Lq, p.Lk, E, E));
  return o;
}

}  // namespace

TEST_CASE("attention_tokens AMX kernels: bf16-rounded factors, float32 sums, tails of the blocks, add into gradients") {
  if (!kernels::cpu_has_amx_bf16()) {
    MESSAGE("skipped: this CPU (or OS) has no AMX-BF16 tiles");
    return;
  }
  kernels::MatmulPrecisionScope bf16(kernels::MatmulPrecision::bf16);
  // (H, Lq, Lk): one block, tails of 16 and of 32, one head (rows 8 floats apart), a CvT-like 7 x 8 x 8 stage
  // against its 2x-strided keys
  const std::vector<std::array<int64_t, 3>> shapes = {{3, 1, 1},  {3, 5, 3},   {1, 16, 32},  {3, 37, 21},
                                                      {1, 65, 49}, {3, 64, 48}, {3, 448, 112}};
  for (const auto& [H, Lq, Lk] : shapes) {
    CAPTURE(H);
    CAPTURE(Lq);
    CAPTURE(Lk);
    const Problem p = make_problem(2, H, Lq, Lk, 2.f);
    Rng rng(7);
    const std::vector<float> pq = randn_vec(p.q.size(), 1.f, rng), pk = randn_vec(p.k.size(), 1.f, rng),
                             pv = randn_vec(p.v.size(), 1.f, rng);
    const Outputs o = run(p, pq, pk, pv);
    const Refs want = reference(p.q, p.k, p.v, p.g, p.B, H, Lq, Lk);
    check(o.out, want.out, {}, "out");
    check(o.lse, want.lse, {}, "lse", 1e-6);   // no bf16 rounding after the scores: float32 sums only
    check(o.dq, want.dq, pq, "dq (pre-filled)");
    check(o.dk, want.dk, pk, "dk (pre-filled)");
    check(o.dv, want.dv, pv, "dv (pre-filled)");
    // any gradient may be absent: the others keep their bits
    const Outputs no_dq = run(p, {}, pk, pv), only_dq = run(p, pq, {}, {});
    CHECK(no_dq.dk == o.dk);
    CHECK(no_dq.dv == o.dv);
    CHECK(only_dq.dq == o.dq);
    // the dispatcher takes this path under bf16 products: the same bits
    std::vector<float> out2(o.out.size()), lse2(o.lse.size());
    kernels::attention_tokens_forward_cpu(out2.data(), lse2.data(), p.q.data(), p.k.data(), p.v.data(), p.B, H, Lq,
                                          Lk, E, E);
    CHECK(out2 == o.out);
    CHECK(lse2 == o.lse);
  }
}

TEST_CASE("attention_tokens AMX kernels: very negative scores stay finite (masked padding keys), 1 vs 2 threads") {
  if (!kernels::cpu_has_amx_bf16()) {
    MESSAGE("skipped: this CPU (or OS) has no AMX-BF16 tiles");
    return;
  }
  kernels::MatmulPrecisionScope bf16(kernels::MatmulPrecision::bf16);
  // q = +a, k = -a: every score about -260 (base 2), so lse is too, and an unmasked padding key (score 0) would
  // have P = 2^260 = inf and put inf * 0 = NaN into dq
  Problem p = make_problem(2, 3, 21, 5, 1.f);
  for (float& x : p.q) x = 8.f + 0.1f * x;
  for (float& x : p.k) x = -8.f + 0.1f * x;
  const Outputs o = run(p, std::vector<float>(p.q.size(), 0.f), std::vector<float>(p.k.size(), 0.f),
                        std::vector<float>(p.v.size(), 0.f));
  CHECK(*std::max_element(o.lse.begin(), o.lse.end()) < -200.f);
  const Refs want = reference(p.q, p.k, p.v, p.g, p.B, p.H, p.Lq, p.Lk);
  check(o.out, want.out, {}, "out");
  check(o.dq, want.dq, {}, "dq");
  check(o.dk, want.dk, {}, "dk");
  check(o.dv, want.dv, {}, "dv");
  // one (sample, head) per thread, every sum in a fixed order: the thread count changes no bit
  const Problem big = make_problem(2, 3, 64, 48, 2.f);
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  const Outputs one = run(big, std::vector<float>(big.q.size(), 0.f), std::vector<float>(big.k.size(), 0.f),
                          std::vector<float>(big.v.size(), 0.f));
  omp_set_num_threads(2);
  const Outputs two = run(big, std::vector<float>(big.q.size(), 0.f), std::vector<float>(big.k.size(), 0.f),
                          std::vector<float>(big.v.size(), 0.f));
  omp_set_num_threads(before);
  CHECK(one.out == two.out);
  CHECK(one.dq == two.dq);
  CHECK(one.dk == two.dk);
  CHECK(one.dv == two.dv);
}

TEST_CASE("attention_tokens AMX kernels: taken only for width 8 under bf16 products") {
  std::vector<float> x(2 * 4 * 16, 1.f), y(x.size()), l(2 * 4);
  {
    kernels::MatmulPrecisionScope fp32(kernels::MatmulPrecision::fp32);
    CHECK_FALSE(kernels::attention_tokens_forward_amx(y.data(), l.data(), x.data(), x.data(), x.data(), 2, 1, 4, 4, 8,
                                                      8));
    CHECK_FALSE(kernels::attention_tokens_backward_amx(y.data(), y.data(), y.data(), x.data(), x.data(), x.data(),
                                                       x.data(), x.data(), l.data(), 2, 1, 4, 4, 8, 8));
  }
  kernels::MatmulPrecisionScope bf16(kernels::MatmulPrecision::bf16);
  CHECK_FALSE(kernels::attention_tokens_forward_amx(y.data(), l.data(), x.data(), x.data(), x.data(), 2, 1, 4, 4, 16,
                                                    16));
}
