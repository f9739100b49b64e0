// fp32 vs bf16 products (kernels/precision.h) in the direct stride-1 convolution at the paper-size backbone
// shapes (configs/ssmtl++v1.txt: batch 64, 7 frames, 64x64 crops, stages 3->16, 16->32, 32->32 with a (1,2,2)
// pool between them, then the CvT embedding 32->96 at 8x8), all 3x3x3 with padding 1.
// BM_Conv3dPrecision/<case>/<pass> runs the pass once in fp32 and once in bf16 per iteration, alternating so that
// both see the same machine load, and reports fp32_GFLOP/s, bf16_GFLOP/s and speedup = fp32 time / bf16 time.
// Passes: forward, input_grad (backward with dx only), weight_grad (dw only), backward (dx and dw as training
// runs them; stage 1 has no dx: its input is data). FLOPs: 2 x N x Cout x out volume x Cin x 27 per pass.
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>
#include <vector>

#include "kernels/conv3d.h"
#include "kernels/precision.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

using namespace ssmtl;

namespace {

struct Case {
  const char* name;
  int64_t N, Cin, Cout, D, H, W;
};
const Case kCases[] = {
    {"stage1_3to16_64x64", 64, 3, 16, 7, 64, 64},
    {"stage2_16to32_32x32", 64, 16, 32, 7, 32, 32},
    {"stage3_32to32_16x16", 64, 32, 32, 7, 16, 16},
    {"embed_32to96_8x8", 64, 32, 96, 7, 8, 8},
};
enum class Pass { forward, input_grad, weight_grad, backward };
const char* const kPassNames[] = {"forward", "input_grad", "weight_grad", "backward"};

kernels::Conv3dGeometry geometry(const Case& c) {
  kernels::Conv3dGeometry g{};
  g.N = c.N, g.Cin = c.Cin, g.D = c.D, g.H = c.H, g.W = c.W, g.Cout = c.Cout;
  g.kD = g.kH = g.kW = 3, g.sD = g.sH = g.sW = 1, g.pD = g.pH = g.pW = 1, g.groups = 1;
  g.Do = c.D, g.Ho = c.H, g.Wo = c.W;
  return g;
}

void precision_ratio(benchmark::State& state, const Case& c, Pass pass) {
  if (!kernels::cpu_has_bf16()) {
    state.SkipWithError("this CPU has no AVX512_BF16");
    return;
  }
  const kernels::Conv3dGeometry g = geometry(c);
  Rng rng(0);
  Tensor x = randn({g.N, g.Cin, g.D, g.H, g.W}, rng), w = randn({g.Cout, g.Cin, 3, 3, 3}, rng, 0.f, 0.1f);
  Tensor y = Tensor::zeros({g.N, g.Cout, g.Do, g.Ho, g.Wo}), gy = randn(y.shape(), rng);
  Tensor gx = Tensor::zeros(x.shape()), gw = Tensor::zeros(w.shape());
  const bool first_stage = c.Cin == 3;
  float* dx = pass == Pass::input_grad || (pass == Pass::backward && !first_stage) ? gx.data() : nullptr;
  float* dw = pass == Pass::weight_grad || pass == Pass::backward ? gw.data() : nullptr;
  auto once = [&](kernels::MatmulPrecision p) {
    kernels::MatmulPrecisionScope scope(p);
    const auto t0 = std::chrono::steady_clock::now();
    if (pass == Pass::forward)
      kernels::conv3d_forward_cpu(y.data(), x.data(), w.data(), nullptr, g);
    else
      kernels::conv3d_backward_cpu(dx, dw, nullptr, gy.data(), x.data(), w.data(), true, g);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  once(kernels::MatmulPrecision::bf16);   // warm both paths' buffers
  once(kernels::MatmulPrecision::fp32);
  double t_fp32 = 0, t_bf16 = 0;
  for (auto _ : state) {
    const double a = once(kernels::MatmulPrecision::fp32), b = once(kernels::MatmulPrecision::bf16);
    t_fp32 += a, t_bf16 += b;
    state.SetIterationTime(a + b);
    benchmark::DoNotOptimize(gw.data());
  }
  const double gflop = 2e-9 * g.N * g.Cout * g.Do * g.Ho * g.Wo * g.Cin * 27 *
                       (pass == Pass::backward ? (dx ? 2 : 1) : 1);
  const double it = static_cast<double>(state.iterations());
  state.counters["fp32_GFLOP/s"] = gflop * it / t_fp32;
  state.counters["bf16_GFLOP/s"] = gflop * it / t_bf16;
  state.counters["speedup"] = t_fp32 / t_bf16;
}

const bool kRegistered = [] {
  for (const Case& c : kCases)
    for (Pass p : {Pass::forward, Pass::input_grad, Pass::weight_grad, Pass::backward}) {
      if (p == Pass::input_grad && c.Cin == 3) continue;   // the first stage's input is data
      const std::string name =
          std::string("BM_Conv3dPrecision/") + c.name + "/" + kPassNames[static_cast<int>(p)];
      benchmark::RegisterBenchmark(name.c_str(), precision_ratio, c, p)
          ->Unit(benchmark::kMillisecond)
          ->UseManualTime();
    }
  return true;
}();

}  // namespace
