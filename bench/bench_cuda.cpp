// GPU benchmarks: our CUDA kernels against cuDNN / cuBLAS references at the SSMTL++ shapes.
//   BM_CudaConv3d/<case>/<impl>/<pass>: 3x3x3 convolutions, padding 1, batch 64, of the narrow backbone
//     (3->16 at 7x64x64, 16->32 at 7x32x32, 32->32 at 7x16x16) and the CvT depthwise projections (32 channels
//     at 7x8x8, stride 1 and (1,2,2)); impl = ours | cudnn (plain FP32, as ours) | cudnn_tf32 (TF32 tensor
//     cores allowed, PyTorch's default for convolutions); pass = forward | backward (dw, plus dx except for
//     the first stage, whose input is data). No bias: every one of these convolutions feeds a BatchNorm.
//   BM_CudaAttention/<impl>/<pass>: batch 64, 12 heads, 448 queries, 112 keys, head width 8;
//     impl = ours (fused kernel) | cublas (strided-batched GEMMs + softmax kernel, our general path).
//   BM_CudaPermute/<case>/<pass>: the CvT's token <-> volume permutations and the attention head split at
//     batch 512 (bytes moved as bytes_per_second); BM_CudaReduce/<sum|mse_loss_rows1>: a whole-batch sum and
//     the rows == 1 MSE loss over 5.5 M values; BM_CudaBatchNorm/<shape>/<pass>: training batch norm.
// Times are GPU time between two CUDA events around each iteration (manual time). Every benchmark skips
// with an error when there is no GPU or no cuDNN.
//   BM_CudaUpsampleConv/<round>/<composed|phases>/<pass>: the decoders' nearest 2x up-sampling + 3x3 convolution
//     (v1's width 32, batch 64) as the two ops or as upsample2x_conv2d (autograd/upsample_conv.h: 2x2 phase kernels
//     on the small map); pass = forward | forward_backward (dx, dw) through autograd. Whether the fold pays on the GPU
//     too (its CPU gain: docs/RESULTS.md section 43).
//   BM_CudaSSMTLv1/<train|infer>/batch:<B>: the paper-size SSMTL++v1 model (64x64 crops, CvT 3 x 12 heads) on
//     the GPU; train = the trainer's train_step (T1 + T2 + T3 losses, backward, Adam, then the T5
//     pseudo-anomaly step) on B objects per task; infer = score_objects on B objects (T1 + T2 + T3
//     scores). Wall time per step, objects/s as items_per_second.
#include <benchmark/benchmark.h>

#include <exception>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/rng.h"

#ifdef SSMTL_WITH_CUDA
#include <cuda_runtime.h>

#include "autograd/conv.h"
#include "autograd/engine.h"
#include "autograd/pool.h"
#include "autograd/upsample_conv.h"
#include "kernels/attention.h"
#include "kernels/conv3d.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "kernels/norm.h"
#include "kernels/shape.h"
#include "model/trainer.h"
#include "model/synthetic_batch.h"
#include "tests/cudnn_reference.h"

using namespace ssmtl;

namespace {

// Runs f once to warm up, then times each iteration on the GPU; errors become skipped benchmarks.
template <class F>
void time_gpu(benchmark::State& state, F f) {
  if (!cuda_available()) {
    state.SkipWithError("no CUDA device");
    return;
  }
  try {
    cudaEvent_t start, stop;
    cudaEventCreate(&start);
    cudaEventCreate(&stop);
    f();
    cudaDeviceSynchronize();
    for (auto _ : state) {
      cudaEventRecord(start);
      f();
      cudaEventRecord(stop);
      cudaEventSynchronize(stop);
      float ms = 0.f;
      cudaEventElapsedTime(&ms, start, stop);
      state.SetIterationTime(ms / 1e3);
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

struct ConvCase {
  const char* name;
  int64_t N, Cin, D, H, W, Cout;
  int stride[3];
  int groups;
  bool input_grad;
};
const ConvCase kConvCases[] = {
    {"stage1_3to16_64x64", 64, 3, 7, 64, 64, 16, {1, 1, 1}, 1, false},
    {"stage2_16to32_32x32", 64, 16, 7, 32, 32, 32, {1, 1, 1}, 1, true},
    {"stage3_32to32_16x16", 64, 32, 7, 16, 16, 32, {1, 1, 1}, 1, true},
    {"depthwise_32_7x8x8", 64, 32, 7, 8, 8, 32, {1, 1, 1}, 32, true},
    {"depthwise_32_7x8x8_s122", 64, 32, 7, 8, 8, 32, {1, 2, 2}, 32, true},
    // the CvT q / k / v projections of the paper-size model at batch 512
    {"depthwise_96_7x8x8_n512", 512, 96, 7, 8, 8, 96, {1, 1, 1}, 96, true},
    {"depthwise_96_7x8x8_s122_n512", 512, 96, 7, 8, 8, 96, {1, 2, 2}, 96, true},
};

kernels::Conv3dGeometry geometry(const ConvCase& c) {
  kernels::Conv3dGeometry g{};
  g.N = c.N, g.Cin = c.Cin, g.D = c.D, g.H = c.H, g.W = c.W, g.Cout = c.Cout;
  g.kD = g.kH = g.kW = 3;
  g.sD = c.stride[0], g.sH = c.stride[1], g.sW = c.stride[2];
  g.pD = g.pH = g.pW = 1;
  g.groups = c.groups;
  g.Do = (g.D + 2 - 3) / g.sD + 1, g.Ho = (g.H + 2 - 3) / g.sH + 1, g.Wo = (g.W + 2 - 3) / g.sW + 1;
  return g;
}

enum class Impl { Ours, Cudnn, CudnnTf32 };
const char* impl_name(Impl i) { return i == Impl::Ours ? "ours" : i == Impl::Cudnn ? "cudnn" : "cudnn_tf32"; }

void conv(benchmark::State& state, const ConvCase& c, Impl impl, bool backward) {
  if (!cuda_available()) {
    state.SkipWithError("no CUDA device");
    return;
  }
  const kernels::Conv3dGeometry g = geometry(c);
  Tensor x, w, y, dy, dx, dw;
  {
    Rng rng(1);
    x = randn({g.N, g.Cin, g.D, g.H, g.W}, rng).to(Device::CUDA);
    w = randn({g.Cout, g.Cin / g.groups, 3, 3, 3}, rng, 0.f, 0.1f).to(Device::CUDA);
    y = Tensor::zeros({g.N, g.Cout, g.Do, g.Ho, g.Wo}, Device::CUDA);
    dy = randn(y.shape(), rng).to(Device::CUDA);
    dx = Tensor::zeros(x.shape(), Device::CUDA);
    dw = Tensor::zeros(w.shape(), Device::CUDA);
  }
  const bool depthwise = g.groups == g.Cin && g.Cout == g.Cin;
  float* gx = c.input_grad ? dx.data() : nullptr;
  if (impl == Impl::Ours) {
    time_gpu(state, [&] {
      if (!backward && depthwise) kernels::conv3d_depthwise_forward_cuda(y.data(), x.data(), w.data(), nullptr, g);
      else if (!backward) kernels::conv3d_forward_cuda(y.data(), x.data(), w.data(), nullptr, g);
      else if (depthwise)
        kernels::conv3d_depthwise_backward_cuda(gx, dw.data(), nullptr, dy.data(), x.data(), w.data(), g);
      else kernels::conv3d_backward_cuda(gx, dw.data(), nullptr, dy.data(), x.data(), w.data(), true, g);
    });
  } else {
    if (!test::CudnnApi::get().ok) {
      state.SkipWithError(test::CudnnApi::get().why.c_str());
      return;
    }
    // One cuDNN setup per case and math mode: the algorithm search runs once, not on every one of the
    // runner's calls of this function.
    static std::map<std::string, std::unique_ptr<test::CudnnConv3d>> cache;
    std::unique_ptr<test::CudnnConv3d>& ref = cache[std::string(c.name) + impl_name(impl)];
    time_gpu(state, [&] {
      if (!ref) ref = std::make_unique<test::CudnnConv3d>(g, impl == Impl::CudnnTf32, true);
      if (!backward) {
        ref->forward(y.data(), x.data(), w.data());
        return;
      }
      ref->backward_filter(dw.data(), x.data(), dy.data());
      if (gx) ref->backward_data(gx, dy.data(), w.data());
    });
    if (ref) state.SetLabel("cuDNN " + ref->algorithms());
  }
  const double macs = static_cast<double>(g.N) * g.Cout * g.Do * g.Ho * g.Wo * (g.Cin / g.groups) * 27;
  const double passes = backward ? (c.input_grad ? 2.0 : 1.0) : 1.0;
  state.counters["TFLOP/s"] =
      benchmark::Counter(2.0 * macs * passes * state.iterations() / 1e12, benchmark::Counter::kIsRate);
}

void attention(benchmark::State& state, bool fused, bool backward) {
  if (!cuda_available()) {
    state.SkipWithError("no CUDA device");
    return;
  }
  const int64_t BH = 64 * 12, Lq = 448, Lk = 112, E = 8;
  Tensor q, k, v, out, probs, dout, dq, dk, dv;
  {
    Rng rng(2);
    q = randn({BH, Lq, E}, rng).to(Device::CUDA);
    k = randn({BH, Lk, E}, rng).to(Device::CUDA);
    v = randn({BH, Lk, E}, rng).to(Device::CUDA);
    dout = randn({BH, Lq, E}, rng).to(Device::CUDA);
    out = Tensor::zeros({BH, Lq, E}, Device::CUDA);
    probs = Tensor::zeros({BH, Lq, Lk}, Device::CUDA);
    dq = Tensor::zeros(q.shape(), Device::CUDA);
    dk = Tensor::zeros(k.shape(), Device::CUDA);
    dv = Tensor::zeros(v.shape(), Device::CUDA);
  }
  time_gpu(state, [&] {
    if (fused)
      kernels::attention_forward_cuda(out.data(), probs.data(), q.data(), k.data(), v.data(), BH, Lq, Lk, E, E);
    else
      kernels::attention_forward_cublas_cuda(out.data(), probs.data(), q.data(), k.data(), v.data(), BH, Lq, Lk, E, E);
    if (backward)
      kernels::attention_backward_cuda(dq.data(), dk.data(), dv.data(), dout.data(), q.data(), k.data(), v.data(),
                                       probs.data(), BH, Lq, Lk, E, E);
  });
  state.SetItemsProcessed(state.iterations() * 64);   // samples
}

// Memory-bound kernels at CvT / backbone shapes; bytes moved (read + written once) give GB/s.
struct PermuteCase {
  const char* name;
  Shape in;
  std::vector<int> perm;
};
const PermuteCase kPermuteCases[] = {
    {"tokens_to_volume_512x7x8x8x96", {512, 7, 8, 8, 96}, {0, 4, 1, 2, 3}},
    {"volume_to_tokens_512x96x7x8x8", {512, 96, 7, 8, 8}, {0, 2, 3, 4, 1}},
    {"heads_512x448x12x8", {512, 448, 12, 8}, {0, 2, 1, 3}},
};

void permute_bench(benchmark::State& state, const PermuteCase& c, bool backward) {
  Tensor x, y;
  {
    Rng rng(3);
    x = randn(c.in, rng).to(Device::CUDA);
    y = Tensor::zeros(c.in, Device::CUDA);   // same element count; the layout does not matter here
  }
  const int rank = static_cast<int>(c.in.size());
  time_gpu(state, [&] {
    if (backward) kernels::permute_backward_cuda(x.data(), y.data(), c.in.data(), c.perm.data(), rank);
    else kernels::permute_forward_cuda(y.data(), x.data(), c.in.data(), c.perm.data(), rank);
  });
  // forward reads x and writes y; backward reads dout and reads + writes dx
  state.SetBytesProcessed(state.iterations() * x.numel() * static_cast<int64_t>(sizeof(float)) * (backward ? 3 : 2));
}

// The decoders' rounds at v1's shapes (batch 64, width 32): the up-sampled copy then the 3x3 convolution, or the
// phases' 2x2 convolution on the small map (upsample2x_conv2d).
struct UpsampleRound {
  const char* name;
  Shape x;
};
const UpsampleRound kUpsampleRounds[] = {
    {"round1_96to32_8x8", {64, 96, 8, 8}},
    {"round2_32to32_16x16", {64, 32, 16, 16}},
    {"round3_32to32_32x32", {64, 32, 32, 32}},
};

void upsample_conv_bench(benchmark::State& state, const UpsampleRound& r, bool phases, bool backward) {
  Tensor x, w, g;
  {
    Rng rng(5);
    x = randn(r.x, rng).to(Device::CUDA).set_requires_grad(backward);
    w = randn({32, r.x[1], 3, 3}, rng, 0.f, 0.1f).to(Device::CUDA).set_requires_grad(backward);
    g = randn({r.x[0], 32, 2 * r.x[2], 2 * r.x[3]}, rng).to(Device::CUDA);
  }
  Conv2dOptions o;
  o.padding[0] = o.padding[1] = 1;
  auto forward = [&] {
    return phases ? upsample2x_conv2d(x, w, Tensor()) : conv2d(upsample_nearest2d(x, 2), w, Tensor(), o);
  };
  time_gpu(state, [&] {
    if (!backward) {
      autograd::NoGradGuard off;
      benchmark::DoNotOptimize(forward().data());
      return;
    }
    autograd::backward(forward(), g);   // (the gradients of x and w accumulate across iterations)
  });
}

// Whole-tensor sum and the rows == 1 MSE loss over a 64 x 3 x 7 x 64 x 64 batch (5.5 M values).
void reduce_bench(benchmark::State& state, bool mse) {
  const int64_t n = 64LL * 3 * 7 * 64 * 64;
  Tensor a, b, out;
  {
    Rng rng(4);
    a = randn({n}, rng).to(Device::CUDA);
    b = randn({n}, rng).to(Device::CUDA);
    out = Tensor::zeros({1}, Device::CUDA);
  }
  time_gpu(state, [&] {
    if (mse) kernels::mse_forward_cuda(out.data(), a.data(), b.data(), 1, n);
    else kernels::sum_forward_cuda(out.data(), a.data(), n);
  });
  state.SetBytesProcessed(state.iterations() * n * static_cast<int64_t>(sizeof(float)) * (mse ? 2 : 1));
}

// Batch norm training forward (statistics + normalise) and backward (sums + dx) at (N, C, inner).
void batch_norm_bench(benchmark::State& state, int64_t N, int64_t C, int64_t inner, bool backward) {
  Tensor x, y, dy, dx, gamma, beta, mean, var, invstd, dgamma, dbeta;
  {
    Rng rng(5);
    x = randn({N, C, inner}, rng).to(Device::CUDA);
    dy = randn({N, C, inner}, rng).to(Device::CUDA);
    y = Tensor::zeros({N, C, inner}, Device::CUDA);
    dx = Tensor::zeros({N, C, inner}, Device::CUDA);
    gamma = randn({C}, rng).to(Device::CUDA);
    beta = randn({C}, rng).to(Device::CUDA);
    mean = Tensor::zeros({C}, Device::CUDA);
    var = Tensor::zeros({C}, Device::CUDA);
    invstd = Tensor::zeros({C}, Device::CUDA);
    dgamma = Tensor::zeros({C}, Device::CUDA);
    dbeta = Tensor::zeros({C}, Device::CUDA);
  }
  kernels::batch_norm_stats_cuda(mean.data(), var.data(), x.data(), N, C, inner);
  kernels::batch_norm_invstd_cuda(invstd.data(), var.data(), 1e-5f, C);
  time_gpu(state, [&] {
    if (!backward) {
      kernels::batch_norm_stats_cuda(mean.data(), var.data(), x.data(), N, C, inner);
      kernels::batch_norm_invstd_cuda(invstd.data(), var.data(), 1e-5f, C);
      kernels::batch_norm_forward_cuda(y.data(), x.data(), mean.data(), invstd.data(), gamma.data(), beta.data(), N, C,
                                       inner);
    } else {
      kernels::batch_norm_backward_cuda(dx.data(), dgamma.data(), dbeta.data(), dy.data(), x.data(), mean.data(),
                                        invstd.data(), gamma.data(), true, true, N, C, inner);
    }
  });
  // forward: x read three times, y written; backward: dy and x read twice, dx read and written
  const int64_t bytes = N * C * inner * static_cast<int64_t>(sizeof(float)) * (backward ? 6 : 4);
  state.SetBytesProcessed(state.iterations() * bytes);
}

void ssmtl_v1(benchmark::State& state, bool train) {
  if (!cuda_available()) {
    state.SkipWithError("no CUDA device");
    return;
  }
  const int B = static_cast<int>(state.range(0));
  try {
    const ModelConfig cfg = ModelConfig::preset("ssmtl++v1");
    SSMTLModel model(cfg, 1);
    model.to(Device::CUDA);
    const TrainOptions topt;   // the trainer's defaults: lr 1e-3, T5 ascent at -0.2 x lr, loss cap 0.5
    Optimisers opt(model, topt);
    const TaskBatch batch = random_batch(cfg, B, 2).to(Device::CUDA);
    std::vector<uint64_t> keys(static_cast<size_t>(B));
    for (int i = 0; i < B; ++i) keys[i] = static_cast<uint64_t>(i);
    auto once = [&] {
      if (train) train_step(model, opt, batch, true, topt.pseudo_loss_cap);
      else benchmark::DoNotOptimize(score_objects(model, batch.input("arrow"), Tensor(), 3, keys));
      cudaDeviceSynchronize();
    };
    once();   // warm-up: the caching allocator and cuBLAS settle
    for (auto _ : state) once();
    state.SetItemsProcessed(state.iterations() * B);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

const bool kRegistered = [] {
  for (const ConvCase& c : kConvCases)
    for (Impl impl : {Impl::Ours, Impl::Cudnn, Impl::CudnnTf32})
      for (bool backward : {false, true}) {
        const std::string name = std::string("BM_CudaConv3d/") + c.name + "/" + impl_name(impl) + "/" +
                                 (backward ? "backward" : "forward");
        benchmark::RegisterBenchmark(name.c_str(), conv, c, impl, backward)
            ->Unit(benchmark::kMillisecond)
            ->UseManualTime();
      }
  for (bool fused : {true, false})
    for (bool backward : {false, true}) {
      const std::string name = std::string("BM_CudaAttention/") + (fused ? "ours" : "cublas") + "/" +
                               (backward ? "forward_backward" : "forward");
      benchmark::RegisterBenchmark(name.c_str(), attention, fused, backward)
          ->Unit(benchmark::kMillisecond)
          ->UseManualTime();
    }
  for (const PermuteCase& c : kPermuteCases)
    for (bool backward : {false, true}) {
      const std::string name = std::string("BM_CudaPermute/") + c.name + "/" + (backward ? "backward" : "forward");
      benchmark::RegisterBenchmark(name.c_str(), permute_bench, c, backward)
          ->Unit(benchmark::kMicrosecond)
          ->UseManualTime();
    }
  for (bool mse : {false, true})
    benchmark::RegisterBenchmark(mse ? "BM_CudaReduce/mse_loss_rows1_5.5M" : "BM_CudaReduce/sum_5.5M", reduce_bench,
                                 mse)
        ->Unit(benchmark::kMicrosecond)
        ->UseManualTime();
  struct BnCase {
    const char* name;
    int64_t N, C, inner;
  };
  for (const BnCase& c : {BnCase{"backbone_64x16x7x64x64", 64, 16, 7 * 64 * 64}, BnCase{"cvt_512x96x448", 512, 96, 448},
                          BnCase{"cvt_512x96x112", 512, 96, 112}})
    for (bool backward : {false, true}) {
      const std::string name = std::string("BM_CudaBatchNorm/") + c.name + "/" + (backward ? "backward" : "forward");
      benchmark::RegisterBenchmark(name.c_str(), batch_norm_bench, c.N, c.C, c.inner, backward)
          ->Unit(benchmark::kMicrosecond)
          ->UseManualTime();
    }
  for (const UpsampleRound& r : kUpsampleRounds)
    for (bool phases : {false, true})
      for (bool backward : {false, true}) {
        const std::string name = std::string("BM_CudaUpsampleConv/") + r.name + "/" + (phases ? "phases" : "composed") +
                                 "/" + (backward ? "forward_backward" : "forward");
        benchmark::RegisterBenchmark(name.c_str(), upsample_conv_bench, r, phases, backward)
            ->Unit(benchmark::kMillisecond)
            ->UseManualTime();
      }
  for (bool train : {true, false})
    benchmark::RegisterBenchmark(train ? "BM_CudaSSMTLv1/train" : "BM_CudaSSMTLv1/infer", ssmtl_v1, train)
        ->ArgName("batch")
        ->Arg(64)
        ->Arg(256)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  return true;
}();

}  // namespace

#else  // no CUDA backend in this build

namespace {
void BM_Cuda(benchmark::State& state) { state.SkipWithError("built without CUDA"); }
}  // namespace
BENCHMARK(BM_Cuda);

#endif
