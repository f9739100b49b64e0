#include "data/samples/jigsaw.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

namespace ssmtl {
namespace {

Permutation random_permutation(Rng& rng) {
  Permutation p;
  std::iota(p.begin(), p.end(), uint8_t{0});
  for (int i = kJigsawPieces - 1; i > 0; --i) std::swap(p[i], p[static_cast<int>(rng.randint(0, i + 1))]);
  return p;
}

std::vector<Permutation> make_permutations() {
  constexpr int kCandidates = 1000;
  Rng rng(kJigsawSeed);
  std::vector<Permutation> chosen{random_permutation(rng)};
  while (static_cast<int>(chosen.size()) < kJigsawClasses) {
    Permutation best{};
    int best_min = -1;
    long best_sum = -1;
    for (int c = 0; c < kCandidates; ++c) {
      Permutation p = random_permutation(rng);
      int mn = kJigsawPieces + 1;
      long sum = 0;
      for (const auto& q : chosen) {
        int d = hamming(p, q);
        mn = std::min(mn, d);
        sum += d;
      }
      if (mn > best_min || (mn == best_min && sum > best_sum)) {
        best = p;
        best_min = mn;
        best_sum = sum;
      }
    }
    chosen.push_back(best);
  }
  return chosen;
}

}  // namespace

int hamming(const Permutation& a, const Permutation& b) {
  int d = 0;
  for (int i = 0; i < kJigsawPieces; ++i) d += a[i] != b[i];
  return d;
}

const std::vector<Permutation>& jigsaw_permutations() {
  static const std::vector<Permutation> perms = make_permutations();
  return perms;
}

Tensor jigsaw_shuffle(const Tensor& img, int perm_index) {
  if (img.dim() != 3 || img.size(1) % kJigsawGrid != 0 || img.size(2) % kJigsawGrid != 0)
    throw std::invalid_argument("jigsaw_shuffle: expected (C, H, W) with H, W multiples of 4, got " +
                                shape_str(img.shape()));
  if (perm_index < 0 || perm_index >= kJigsawClasses)
    throw std::invalid_argument("jigsaw_shuffle: permutation index " + std::to_string(perm_index) + " not in 0..99");
  const Permutation& perm = jigsaw_permutations()[perm_index];
  const int64_t c = img.size(0), h = img.size(1), w = img.size(2);
  const int64_t ph = h / kJigsawGrid, pw = w / kJigsawGrid;
  Tensor out = Tensor::empty(img.shape());
  for (int64_t ci = 0; ci < c; ++ci)
    for (int pos = 0; pos < kJigsawPieces; ++pos) {
      const int src = perm[pos];
      const int64_t dy = pos / kJigsawGrid * ph, dx = pos % kJigsawGrid * pw;
      const int64_t sy = src / kJigsawGrid * ph, sx = src % kJigsawGrid * pw;
      for (int64_t r = 0; r < ph; ++r)
        std::memcpy(out.data() + (ci * h + dy + r) * w + dx, img.data() + (ci * h + sy + r) * w + sx,
                    sizeof(float) * pw);
    }
  return out;
}

ClassSample jigsaw_sample(const Tensor& img, Rng& rng) {
  const int k = static_cast<int>(rng.randint(0, kJigsawClasses));
  return {jigsaw_shuffle(img, k), k};
}

}  // namespace ssmtl
