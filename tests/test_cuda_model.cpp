// One whole SSMTL++v1 training step on the GPU against the CPU: the trainer's own train_step
// (model/trainer.h: T1 + T2 + T3 losses, backward, Adam, then the T5 pseudo-anomaly step with the backbone's
// gradient ascent, the loss cap and the BatchNorm statistics restored), with the same initial weights and
// the same random batch on both devices. Compared: every task loss, every parameter's gradient after the
// main backward, the T5 loss, every parameter and buffer after both updates, and the per-object scores of
// the updated model. Skipped without a GPU.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "model/tasks_loss.h"
#include "model/trainer.h"
#include "tensor/device.h"
#include "tests/cuda_compare.h"
#include "model/synthetic_batch.h"

using namespace ssmtl;

namespace {

// Every parameter's gradient (copies; undefined where a parameter has none), read by train_step's hook.
std::function<void()> grab_gradients(SSMTLModel& m, std::vector<Tensor>& out) {
  return [&m, &out] {
    for (Tensor& p : m.parameters()) out.push_back(p.grad().defined() ? p.grad().to(Device::CPU).clone() : Tensor());
  };
}

// The CPU step's own sensitivity to rounding, per parameter: the largest change of its gradient when every
// weight is first moved by relative noise of one float rounding (uniform in +-2^-23), over `trials` draws.
// A GPU computes the same step with other roundings (summation orders, fused multiply-adds), so its gradients
// may differ from the CPU's by about as much: through the BatchNorm -> ReLU kinks a rounding-sized change
// can switch single elements on or off, and that moves the gradients of the weights before them by far more
// than rounding (the first convolution's most).
std::vector<float> rounding_sensitivity(const ModelConfig& cfg, const TrainOptions& topt, const TaskBatch& batch,
                                        const std::vector<Tensor>& reference, int trials) {
  std::vector<float> worst(reference.size(), 0.f);
  for (int t = 0; t < trials; ++t) {
    SSMTLModel m(cfg, 5);
    std::mt19937 rng(1000 + t);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    for (Tensor& p : m.parameters()) {
      float* d = p.data();
      for (int64_t k = 0; k < p.numel(); ++k) d[k] *= 1.f + 0x1p-23f * u(rng);
    }
    Optimisers opt(m, topt, 1e-3f);
    std::vector<Tensor> g;
    train_step(m, opt, batch, true, topt.pseudo_loss_cap, grab_gradients(m, g));
    REQUIRE(g.size() == reference.size());
    for (size_t i = 0; i < g.size(); ++i) {
      if (!g[i].defined() || !reference[i].defined()) continue;
      const std::vector<float> a = g[i].to_vector(), b = reference[i].to_vector();
      for (size_t k = 0; k < a.size(); ++k) worst[i] = std::max(worst[i], std::fabs(a[k] - b[k]));
    }
  }
  return worst;
}

}  // namespace

TEST_CASE("cuda SSMTL++v1 training step matches the CPU") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  const ModelConfig cfg = ModelConfig::preset("ssmtl++v1-cpu");   // 32x32 crops, one CvT block
  SSMTLModel cpu(cfg, 5), gpu(cfg, 5);
  gpu.to(Device::CUDA);
  const TrainOptions topt;   // the trainer's defaults: lr 1e-3, ascent at -0.2 x lr, T5 loss cap 0.5
  // eps 1e-3 instead of Adam's 1e-8: a gradient entry within rounding of zero then moves its weight by
  // almost nothing, not by +-lr depending on the sign rounding gave it on each device.
  Optimisers opt_cpu(cpu, topt, 1e-3f), opt_gpu(gpu, topt, 1e-3f);
  const TaskBatch batch = random_batch(cfg, 8, 6);
  std::vector<Tensor> gc, gg;
  const StepResult rc = train_step(cpu, opt_cpu, batch, true, topt.pseudo_loss_cap, grab_gradients(cpu, gc));
  const StepResult rg =
      train_step(gpu, opt_gpu, batch.to(Device::CUDA), true, topt.pseudo_loss_cap, grab_gradients(gpu, gg));

  REQUIRE(!rc.skipped);
  REQUIRE(!rg.skipped);
  for (const auto& [task, value] : rc.losses)
    CHECK_MESSAGE(rg.losses.at(task) == doctest::Approx(value).epsilon(1e-4), "loss of task " << task);
  REQUIRE(rc.ascent_ran);
  REQUIRE(rg.ascent_ran);
  CHECK(rg.ascent_loss == doctest::Approx(rc.ascent_loss).epsilon(1e-4));
  const std::vector<NamedTensor> nc = cpu.named_tensors(), ng = gpu.named_tensors();
  REQUIRE(nc.size() == ng.size());
  std::vector<std::string> param_names;
  for (const NamedTensor& nt : nc)
    if (!nt.is_buffer) param_names.push_back(nt.name);
  REQUIRE(gc.size() == param_names.size());
  REQUIRE(gg.size() == param_names.size());
  const std::vector<float> sensitivity = rounding_sensitivity(cfg, topt, batch, gc, 3);
  for (size_t i = 0; i < param_names.size(); ++i)
    if (param_names[i].find("conv1.weight") != std::string::npos || param_names[i].find("conv0.weight") != std::string::npos)
      MESSAGE("rounding sensitivity of the gradient of " << param_names[i] << ": " << sensitivity[i]);
  for (size_t i = 0; i < gc.size(); ++i) {
    REQUIRE_MESSAGE(gc[i].defined() == gg[i].defined(), param_names[i]);
    if (!gc[i].defined()) continue;
    // An element of a BatchNorm output within rounding of 0 (beta starts at 0, tens of thousands of
    // values per channel) can land on different sides of the ReLU kink on the two devices; its gradient
    // then flows on one device only, which moves the BN bias gradient by that element's gradient and the
    // conv weights before it by that times an input patch (emulator, -O2: conv0.weight off by 2.7e-4 at max
    // 0.29; an H200: conv1.weight by 2.3e-4 and, on another machine, 5.1e-4 at max 0.15). So the tolerance
    // is 4x the CPU step's own change under rounding-sized weight noise (rounding_sensitivity), at least
    // 1e-3 x the tensor's largest gradient and 2e-4.
    float max_grad = 0.f;
    for (float v : gc[i].to_vector()) max_grad = std::max(max_grad, std::fabs(v));
    test::expect_close(gg[i], gc[i], test::Tol{std::max({2e-4f, 1e-3f * max_grad, 4.f * sensitivity[i]}), 2e-3f},
                       "gradient of " + param_names[i]);
  }
  // Each update moves a weight by at most about lr = 1e-3. Adam's first step is lr g / (|g| + eps) (eps 1e-3
  // here), whose slope in g is at most lr / eps = 1: a weight may differ after the step by as much as its
  // gradient differed (within the tolerance above), plus rounding. (On an H200, conv1.weight: gradients
  // -0.00991 / -0.00968 on the two devices, and a weight with a near-zero gradient 1.6e-4 apart after the step.)
  std::map<std::string, size_t> grad_of;
  for (size_t i = 0; i < param_names.size(); ++i) grad_of[param_names[i]] = i;
  for (size_t i = 0; i < nc.size(); ++i) {
    auto it = grad_of.find(nc[i].name);
    if (it == grad_of.end() || !gc[it->second].defined()) {   // buffers (running statistics), frozen weights
      test::expect_close(*ng[i].tensor, *nc[i].tensor, test::Tol{5e-5f, 1e-4f}, "after the step: " + nc[i].name);
      continue;
    }
    const std::vector<float> wg = ng[i].tensor->to_vector(), wc = nc[i].tensor->to_vector();
    const std::vector<float> dg = gg[it->second].to_vector(), dc = gc[it->second].to_vector();
    int bad = 0;
    size_t worst = 0;
    for (size_t k = 0; k < wc.size(); ++k) {
      const float allowed = 5e-5f + 1e-4f * std::fabs(wc[k]) + std::fabs(dg[k] - dc[k]);   // (lr / eps = 1)
      if (!(std::fabs(wg[k] - wc[k]) <= allowed)) ++bad, worst = k;
    }
    CHECK_MESSAGE(bad == 0, "after the step: " << nc[i].name << ": " << bad << " elements apart by more than their "
                  "gradients' difference; one at " << worst << ": gpu " << wg[worst] << ", cpu " << wc[worst]);
  }

  // Inference of the updated model: per-object scores (eval mode) on the same sequences.
  const Tensor seq = batch.input("arrow");
  const std::vector<uint64_t> keys{1, 2, 3, 4, 5, 6, 7, 8};
  const auto sc = score_objects(cpu, seq, Tensor(), 9, keys);
  const auto sg = score_objects(gpu, seq.to(Device::CUDA), Tensor(), 9, keys);
  for (const auto& [task, values] : sc) {
    REQUIRE(sg.count(task) == 1);
    test::expect_close(sg.at(task), values, test::Tol{1e-4f, 1e-3f}, "scores of task " + task);
  }
}
