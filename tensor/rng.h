// Seeded random numbers. One seed reproduces everything on the CPU: initialisation, sampling,
// augmentation and dropout all draw from an Rng passed explicitly (or from the global one,
// set by manual_seed). Generator: xoshiro256** seeded through splitmix64 (portable, no libc rand).
#pragma once
#include <cstdint>
#include "tensor/tensor.h"

namespace ssmtl {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { seed_with(seed); }
  void seed_with(uint64_t seed);
  uint64_t next_u64();
  double uniform();                          // [0, 1)
  float uniform(float lo, float hi);         // [lo, hi)
  double normal();                           // N(0, 1), Box-Muller
  int64_t randint(int64_t lo, int64_t hi);   // [lo, hi), unbiased; throws std::invalid_argument if hi <= lo
  bool bernoulli(double p) { return uniform() < p; }
 private:
  uint64_t s_[4];
  bool have_spare_ = false;
  double spare_ = 0.0;
};

Rng& global_rng();
void manual_seed(uint64_t seed);            // reseeds global_rng()

// CPU tensors filled from `rng` (element order = memory order, so results are reproducible).
Tensor randn(const Shape& shape, Rng& rng, float mean = 0.f, float std = 1.f);
Tensor rand_uniform(const Shape& shape, Rng& rng, float lo = 0.f, float hi = 1.f);

}  // namespace ssmtl
