// T8 jigsaw (paper section 3.3): the 64x64 middle crop is cut into a 4x4 grid of 16x16 pieces, shuffled
// by one of 100 fixed permutations; the network predicts which (100 classes).
//
// The permutation set is generated deterministically (no file to ship): permutations of 16 pieces drawn
// with Rng(kJigsawSeed) by Fisher-Yates; the first is kept, then each next one is the candidate (out of
// 1000 fresh random ones per step) with the largest minimum Hamming distance to those already chosen
// (ties: larger mean distance, then the earlier candidate) - the greedy maximal-distance selection of
// Noroozi & Favaro (ECCV 2016), so classes are easy to tell apart. kJigsawVersion changes whenever the
// set would change; checkpoints should record it.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "data/tasks.h"

namespace ssmtl {

constexpr int kJigsawGrid = 4;                       // pieces per side
constexpr int kJigsawPieces = kJigsawGrid * kJigsawGrid;
constexpr int kJigsawClasses = 100;
constexpr uint64_t kJigsawSeed = 0x4a16;
constexpr int kJigsawVersion = 1;

using Permutation = std::array<uint8_t, kJigsawPieces>;

// The 100 permutations (computed once, thread-safe).
const std::vector<Permutation>& jigsaw_permutations();

// Number of positions where two permutations differ.
int hamming(const Permutation& a, const Permutation& b);

// img: (C, H, W) with H and W multiples of 4. Output piece at grid position i (row-major) is input piece
// perm[i]. Throws std::invalid_argument on other shapes or an index outside 0..99.
Tensor jigsaw_shuffle(const Tensor& img, int perm_index);

// A uniformly drawn permutation index (one rng.randint) and the shuffled image; label = the index.
ClassSample jigsaw_sample(const Tensor& img, Rng& rng);

}  // namespace ssmtl
