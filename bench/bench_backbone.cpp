// One training step (forward, backward, Adam) and one inference step of the SSMTL narrow backbone
// (3 stages of conv3d 3x3x3 + BN + ReLU + max-pool (1,2,2), channels 16/32/32, temporal max pooling)
// on a batch of 64 object-centric sequences 3x7x64x64. bench/compare_backbone.py runs the same steps
// in PyTorch and prints the ratio.
#include <benchmark/benchmark.h>

#include "autograd/elementwise.h"
#include "autograd/engine.h"
#include "model/backbone.h"
#include "optim/adam.h"

using namespace ssmtl;

namespace {
BackboneConfig narrow() {
  BackboneConfig c;
  c.channels = {16, 32, 32};
  c.transformer = "none";
  return c;
}
int batch_of(const benchmark::State& s) { return static_cast<int>(s.range(0)); }
}  // namespace

static void BM_BackboneTrainStep(benchmark::State& state) {
  Rng rng(0);
  Backbone net(narrow(), rng);
  Adam opt({ParamGroup{net.parameters(), 1e-3f}});
  Tensor x = rand_uniform({batch_of(state), 3, 7, 64, 64}, rng);
  for (int warm = 0; warm < 2; ++warm) {   // first steps fault in fresh memory; PyTorch's side warms up too
    opt.zero_grad();
    autograd::backward(mean(net.forward(x, true)));
    opt.step();
  }
  for (auto _ : state) {
    opt.zero_grad();
    Tensor loss = mean(net.forward(x, true));
    autograd::backward(loss);
    opt.step();
    benchmark::DoNotOptimize(loss.item());
  }
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * batch_of(state),
                                                   benchmark::Counter::kIsRate);
}
BENCHMARK(BM_BackboneTrainStep)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);

static void BM_BackboneInference(benchmark::State& state) {
  Rng rng(0);
  Backbone net(narrow(), rng);
  Tensor x = rand_uniform({batch_of(state), 3, 7, 64, 64}, rng);
  autograd::NoGradGuard ng;
  net.forward(x, false);   // warm-up
  for (auto _ : state) {
    Tensor y = net.forward(x, false);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * batch_of(state),
                                                   benchmark::Counter::kIsRate);
}
BENCHMARK(BM_BackboneInference)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
