#include "tensor/rng.h"

#include <cmath>
#include <stdexcept>

namespace ssmtl {

static uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void Rng::seed_with(uint64_t seed) {
  uint64_t x = seed;
  for (auto& s : s_) s = splitmix64(x);
  have_spare_ = false;
}

uint64_t Rng::next_u64() {  // xoshiro256**
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
float Rng::uniform(float lo, float hi) { return lo + static_cast<float>(uniform()) * (hi - lo); }

double Rng::normal() {
  if (have_spare_) {
    have_spare_ = false;
    return spare_;
  }
  double u1 = uniform(), u2 = uniform();
  if (u1 < 1e-300) u1 = 1e-300;
  double r = std::sqrt(-2.0 * std::log(u1)), a = 2.0 * M_PI * u2;
  spare_ = r * std::sin(a);
  have_spare_ = true;
  return r * std::cos(a);
}

int64_t Rng::randint(int64_t lo, int64_t hi) {
  if (hi <= lo) throw std::invalid_argument("Rng::randint: empty range");
  uint64_t range = static_cast<uint64_t>(hi - lo);
  uint64_t limit = UINT64_MAX - (UINT64_MAX % range);   // rejection keeps it unbiased
  uint64_t x;
  do x = next_u64(); while (x >= limit);
  return lo + static_cast<int64_t>(x % range);
}

Rng& global_rng() {
  static Rng rng(0);
  return rng;
}
void manual_seed(uint64_t seed) { global_rng().seed_with(seed); }

Tensor randn(const Shape& shape, Rng& rng, float mean, float std) {
  Tensor t = Tensor::empty(shape);
  float* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = mean + std * static_cast<float>(rng.normal());
  return t;
}

Tensor rand_uniform(const Shape& shape, Rng& rng, float lo, float hi) {
  Tensor t = Tensor::empty(shape);
  float* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = rng.uniform(lo, hi);
  return t;
}

}  // namespace ssmtl
