// Whole training steps on the GPU against the CPU: a small network built from the SSMTL++ ingredients
// (3-D convolution, batch norm, max pooling, depthwise convolution, temporal pooling, layer norm,
// multi-head attention, dropout, up-sampling, concatenation, cross-entropy and a reconstruction loss)
// trained for three Adam steps from the same initial weights and data on both devices. The losses of each
// step, the final weights and the batch-norm running statistics must agree. Skipped without a GPU.
// (When model/ provides the real SSMTL++ network, a test of its training step belongs next to this one.)
#include <doctest/doctest.h>

#include <vector>

#include "autograd/activation.h"
#include "autograd/attention.h"
#include "autograd/conv.h"
#include "autograd/dropout.h"
#include "autograd/elementwise.h"
#include "autograd/linear.h"
#include "autograd/loss.h"
#include "autograd/norm.h"
#include "autograd/pool.h"
#include "autograd/shape.h"
#include "optim/adam.h"
#include "tensor/device.h"
#include "tensor/rng.h"
#include "tests/cuda_compare.h"

using namespace ssmtl;

namespace {

constexpr int64_t kN = 4, kC = 8, kT = 4, kS = 16, kHeads = 2, kClasses = 3;

struct Net {
  std::vector<Tensor> params;   // order: see make_net
  Tensor running_mean, running_var;
};

Net make_net(uint64_t seed) {
  Rng rng(seed);
  Net n;
  n.params = {
      randn({kC, 3, 3, 3, 3}, rng, 0.f, 0.2f),   // 0 conv1
      rand_uniform({kC}, rng, 0.5f, 1.5f),       // 1 bn gamma
      randn({kC}, rng, 0.f, 0.1f),               // 2 bn beta
      randn({kC, 1, 3, 3, 3}, rng, 0.f, 0.2f),   // 3 depthwise conv
      rand_uniform({kC}, rng, 0.5f, 1.5f),       // 4 ln gamma
      randn({kC}, rng, 0.f, 0.1f),               // 5 ln beta
      randn({kC, kC}, rng, 0.f, 0.3f),           // 6 wq
      randn({kC, kC}, rng, 0.f, 0.3f),           // 7 wk
      randn({kC, kC}, rng, 0.f, 0.3f),           // 8 wv
      randn({kC, kC}, rng, 0.f, 0.3f),           // 9 wo
      randn({kClasses, 2 * kC}, rng, 0.f, 0.3f),  // 10 classifier weight
      randn({kClasses}, rng, 0.f, 0.1f),          // 11 classifier bias
      randn({3, kC, 1, 1, 1}, rng, 0.f, 0.3f),    // 12 decoder pointwise conv
  };
  n.running_mean = Tensor::zeros({kC});
  n.running_var = Tensor::ones({kC});
  return n;
}

Net on(const Net& src, Device d) {
  Net n;
  for (const Tensor& p : src.params) n.params.push_back(p.to(d).clone().set_requires_grad());
  n.running_mean = src.running_mean.to(d).clone();
  n.running_var = src.running_var.to(d).clone();
  return n;
}

// (N, L, C) tokens -> (N, heads, L, C / heads)
Tensor split_heads(const Tensor& t) {
  return permute(reshape(t, {kN, (kS / 2) * (kS / 2), kHeads, kC / kHeads}), {0, 2, 1, 3});
}

Tensor loss_of(Net& n, const Tensor& x, const Tensor& target_img, const std::vector<int>& labels, uint64_t step) {
  const std::vector<Tensor>& p = n.params;
  Conv3dOptions same;
  for (int i = 0; i < 3; ++i) same.padding[i] = 1;
  Conv3dOptions depthwise = same;
  depthwise.groups = kC;
  Tensor h = conv3d(x, p[0], Tensor(), same);                                       // (N, C, T, S, S)
  h = relu(batch_norm(h, p[1], p[2], n.running_mean, n.running_var, true));
  h = max_pool3d(h, Pool3dOptions{{1, 2, 2}, {1, 2, 2}});                          // (N, C, T, S/2, S/2)
  h = gelu(conv3d(h, p[3], Tensor(), depthwise));
  const Tensor m = temporal_max_pool(h), a = temporal_avg_pool(h);               // (N, C, S/2, S/2)
  // Attention over the S/2 x S/2 positions.
  Tensor tok = layer_norm(permute(reshape(m, {kN, kC, -1}), {0, 2, 1}), p[4], p[5]);   // (N, L, C)
  Tensor att = scaled_dot_product_attention(split_heads(linear(tok, p[6], Tensor())),
                                            split_heads(linear(tok, p[7], Tensor())),
                                            split_heads(linear(tok, p[8], Tensor())));
  att = reshape(permute(att, {0, 2, 1, 3}), {kN, -1, kC});
  Rng drop(1000 + step);   // the same mask on both devices
  tok = add(tok, dropout(linear(att, p[9], Tensor()), 0.1f, true, drop));
  const Tensor pooled = global_avg_pool(permute(tok, {0, 2, 1}));                 // (N, C)
  const Tensor logits = linear(concat({pooled, global_avg_pool(a)}, 1), p[10], p[11]);
  // Reconstruction of the middle frame from the up-sampled averaged features.
  Tensor up = upsample_nearest2d(a, 2);                                            // (N, C, S, S)
  Tensor rec = reshape(conv3d(reshape(up, {kN, kC, 1, kS, kS}), p[12], Tensor()), {kN, 3, kS, kS});
  return add(cross_entropy(logits, labels), scale(l1_loss(sigmoid(rec), target_img), 0.5f));
}

}  // namespace

TEST_CASE("cuda training steps of a small conv-attention network match the CPU") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  Rng rng(21);
  const Tensor x = randn({kN, 3, kT, kS, kS}, rng), target = rand_uniform({kN, 3, kS, kS}, rng);
  const std::vector<int> labels{0, 2, 1, 2};
  const Net init = make_net(22);
  Net cpu = on(init, Device::CPU), gpu = on(init, Device::CUDA);
  // eps 1e-3: a gradient entry within rounding of zero moves its weight by almost nothing, instead of by
  // +-lr depending on the sign that rounding gave it.
  Adam opt_cpu({ParamGroup{cpu.params, 1e-3f, 1e-4f}}, 0.9f, 0.999f, 1e-3f);
  Adam opt_gpu({ParamGroup{gpu.params, 1e-3f, 1e-4f}}, 0.9f, 0.999f, 1e-3f);
  const Tensor x_gpu = x.to(Device::CUDA), target_gpu = target.to(Device::CUDA);
  for (uint64_t step = 0; step < 3; ++step) {
    opt_cpu.zero_grad();
    opt_gpu.zero_grad();
    const Tensor lc = loss_of(cpu, x, target, labels, step), lg = loss_of(gpu, x_gpu, target_gpu, labels, step);
    CHECK_MESSAGE(lg.item() == doctest::Approx(lc.item()).epsilon(1e-5), "loss at step " << step);
    autograd::backward(lc);
    autograd::backward(lg);
    if (step == 0)
      for (size_t i = 0; i < cpu.params.size(); ++i)
        test::expect_close(gpu.params[i].grad(), cpu.params[i].grad(), test::Tol{1e-4f, 1e-3f},
                           "gradient of parameter " + std::to_string(i) + " at step 0");
    opt_cpu.step();
    opt_gpu.step();
  }
  // Each step moves a weight by up to lr = 1e-3: agreement to a small fraction of that shows the same
  // updates were made.
  for (size_t i = 0; i < cpu.params.size(); ++i)
    test::expect_close(gpu.params[i], cpu.params[i], test::Tol{3e-5f, 1e-5f}, "parameter " + std::to_string(i));
  test::expect_close(gpu.running_mean, cpu.running_mean, test::Tol{1e-5f, 1e-4f}, "running_mean");
  test::expect_close(gpu.running_var, cpu.running_var, test::Tol{1e-5f, 1e-4f}, "running_var");
}

TEST_CASE("cuda Adam steps match the CPU") {
  if (!ssmtl::cuda_available()) { MESSAGE("no CUDA device: skipped"); return; }
  Rng rng(23);
  const Tensor p0 = randn({1000}, rng);
  Tensor pc = p0.clone().set_requires_grad(), pg = p0.to(Device::CUDA).set_requires_grad();
  Adam oc({ParamGroup{{pc}, 1e-2f, 1e-2f}}), og({ParamGroup{{pg}, 1e-2f, 1e-2f}});
  for (int step = 0; step < 5; ++step) {
    const Tensor g = randn({1000}, rng);
    oc.zero_grad();
    og.zero_grad();
    autograd::backward(sum(mul(pc, g)));
    autograd::backward(sum(mul(pg, g.to(Device::CUDA))));
    oc.step();
    og.step();
  }
  test::expect_close(pg, pc, test::Tol{1e-6f, 1e-5f}, "parameters after 5 Adam steps");
}
