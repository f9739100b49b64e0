// The CvT's q/k/v projections without their linear layers (depthwise conv3d 3x3x3 + BatchNorm, k and v with
// spatial stride 2) at the paper-size shape: 128 sequences (T1 + T2 of a batch of 64) of 7x8x8 tokens of width 96,
// from the LayerNorm's token rows to token rows. Old = the NCDHW path (one permute to (N, C, T, H, W), three
// depthwise convs + BN, three permutes back); new = conv3d_depthwise_tokens + BN on the (rows, C) token rows.
// Both in the same process (use --benchmark_repetitions and compare the pairs: the machine is shared).
#include <benchmark/benchmark.h>

#include "autograd/conv.h"
#include "autograd/elementwise.h"
#include "autograd/engine.h"
#include "autograd/norm.h"
#include "autograd/shape.h"
#include "tensor/rng.h"

using namespace ssmtl;

namespace {

constexpr int64_t kN = 128, kT = 7, kH = 8, kW = 8, kC = 96;

struct Projections {
  Tensor w[3], gamma[3], beta[3], rm[3], rv[3];
  Conv3dOptions o[3];
  explicit Projections(Rng& rng) {
    for (int i = 0; i < 3; ++i) {
      w[i] = randn({kC, 1, 3, 3, 3}, rng).set_requires_grad();
      gamma[i] = Tensor::full({kC}, 1.f).set_requires_grad();
      beta[i] = Tensor::zeros({kC}).set_requires_grad();
      rm[i] = Tensor::zeros({kC});
      rv[i] = Tensor::full({kC}, 1.f);
      o[i].padding[0] = o[i].padding[1] = o[i].padding[2] = 1;
      o[i].stride[1] = o[i].stride[2] = i == 0 ? 1 : 2;
      o[i].groups = kC;
    }
  }
  Tensor old_path(const Tensor& x, int i, const Tensor& vol) {
    Tensor y = batch_norm(conv3d(vol, w[i], Tensor(), o[i]), gamma[i], beta[i], rm[i], rv[i], true);
    return reshape(permute(y, {0, 2, 3, 4, 1}), {x.size(0), -1, kC});
  }
  Tensor new_path(const Tensor& x, int i) {
    Tensor y = conv3d_depthwise_tokens(x, w[i], Tensor(), kT, kH, kW, o[i]);
    const int64_t L = y.size(1);
    return reshape(batch_norm(reshape(y, {kN * L, kC}), gamma[i], beta[i], rm[i], rv[i], true), {kN, L, kC});
  }
  Tensor all(const Tensor& x, bool channels_last) {
    Tensor vol = channels_last ? Tensor() : permute(reshape(x, {kN, kT, kH, kW, kC}), {0, 4, 1, 2, 3});
    Tensor s;
    for (int i = 0; i < 3; ++i) {
      Tensor t = sum(channels_last ? new_path(x, i) : old_path(x, i, vol));
      s = s.defined() ? add(s, t) : t;
    }
    return s;
  }
};

void BM_QkvProjections(benchmark::State& state) {
  const bool channels_last = state.range(0) == 1, backward = state.range(1) == 1;
  Rng rng(1);
  Projections p(rng);
  Tensor x = randn({kN, kT * kH * kW, kC}, rng);
  if (backward) x.set_requires_grad();
  for (auto _ : state) {
    if (backward) {
      autograd::backward(p.all(x, channels_last));
      x.zero_grad();
    } else {
      autograd::NoGradGuard ng;
      benchmark::DoNotOptimize(p.all(x, channels_last).data());
    }
  }
  state.SetLabel(std::string(channels_last ? "new: channels last" : "old: NCDHW + permutes") +
                 (backward ? ", forward+backward" : ", forward"));
}

}  // namespace

BENCHMARK(BM_QkvProjections)->ArgsProduct({{0, 1}, {0, 1}})->ArgNames({"channels_last", "backward"})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

namespace {

// BatchNorm alone on the q projection's output (128 x 448 token rows of 96 channels): as (rows, C) token rows
// (new) or as the (N, C, T*H*W) volume (old). Forward only, or forward + backward.
void BM_BatchNormLayout(benchmark::State& state) {
  const bool rows = state.range(0) == 1, backward = state.range(1) == 1;
  Rng rng(2);
  Tensor x = rows ? randn({kN * kT * kH * kW, kC}, rng) : randn({kN, kC, kT, kH, kW}, rng);
  Tensor gamma = Tensor::full({kC}, 1.f).set_requires_grad(), beta = Tensor::zeros({kC}).set_requires_grad();
  Tensor rm = Tensor::zeros({kC}), rv = Tensor::full({kC}, 1.f), g = randn(x.shape(), rng);
  if (backward) x.set_requires_grad();
  for (auto _ : state) {
    if (backward) {
      autograd::backward(batch_norm(x, gamma, beta, rm, rv, true), g);
      x.zero_grad();
    } else {
      autograd::NoGradGuard ng;
      benchmark::DoNotOptimize(batch_norm(x, gamma, beta, rm, rv, true).data());
    }
  }
  state.SetLabel(std::string(rows ? "new: (rows, C)" : "old: (N, C, THW)") + (backward ? ", forward+backward" : ", forward"));
}

}  // namespace

BENCHMARK(BM_BatchNormLayout)->ArgsProduct({{0, 1}, {0, 1}})->ArgNames({"rows", "backward"})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
