// What the direct stride-1 convolutions (conv3d_direct.cpp, conv3d_direct_bf16.cpp, conv3d_direct_amx.cpp) do
// to each block of output they have just written: nothing, or eval-mode batch norm + ReLU in place
// (conv3d_bn_relu_forward_cpu), while the block is still in the L1 cache. CPU-internal.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/conv3d.h"
#include "kernels/cpu/aligned.h"
#include "kernels/cpu/bn_affine.h"
#include "kernels/cpu/simd.h"

namespace ssmtl::kernels::detail {

// Per-channel mean, scale and shift from some channel on; mu == nullptr: no epilogue.
struct Epilogue {
  const float* mu = nullptr;
  const float* s = nullptr;
  const float* b = nullptr;
  explicit operator bool() const { return mu != nullptr; }
  // The same view from channel c0 on (block-local channel indices).
  Epilogue from(int64_t c0) const { return mu ? Epilogue{mu + c0, s + c0, b + c0} : Epilogue{}; }
  // dst[0, n) of channel c in place: relu(bn_affine(v)), batch_norm_relu_forward_cpu's expression.
  void apply(float* dst, int64_t n, int64_t c) const {
    const float m = mu[c], sc = s[c], sh = b[c];
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dst[i] = relu_value(bn_affine(dst[i], m, sc, sh));
  }
  // apply's bits on one vector of channel c still in registers, before it is stored: a kernel that stores and
  // then calls apply reads the block back and writes it twice (measured on an AMD Zen 4 in bf16, the paper-size
  // stage 1, 3 -> 16 channels at 64 x 64, batch 64: 26.3 ms fused that way, 18.7 ms this way, 18.0 ms without BN).
  simd::vec apply_vec(const simd::vec& v, int64_t c) const {
    const simd::vec t = simd::fma_lanes(v - mu[c], simd::splat(s[c]), simd::splat(b[c]));
    return t > 0.f ? t : simd::vec{};   // relu_value per lane: NaN and -0 give +0
  }
};

// The scale and shift tables of an Epilogue for C channels of a BnRelu (bn nullptr: an empty Epilogue).
class EpilogueTables {
 public:
  EpilogueTables(const BnRelu* bn, int64_t C) : bn_(bn) {
    if (!bn) return;
    s_.resize(static_cast<size_t>(C));
    b_.resize(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) s_[c] = bn_scale(bn->invstd, bn->gamma, c), b_[c] = bn_shift(bn->beta, c);
  }
  Epilogue view() const { return bn_ ? Epilogue{bn_->mean, s_.data(), b_.data()} : Epilogue{}; }

 private:
  const BnRelu* bn_;
  avector<float> s_, b_;
};

}  // namespace ssmtl::kernels::detail
