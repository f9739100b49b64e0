// The SSMTL++v1 training step of model/trainer.cpp on any device, for the CUDA tests
// (tests/test_cuda_model.cpp) and benchmarks (bench/bench_cuda.cpp): moving a model to a device, a random
// task batch, and one main + T5 pseudo-anomaly update. Only when the tree has model/.
#pragma once
#if __has_include("model/tasks_loss.h")
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "model/tasks_loss.h"
#include "optim/adam.h"
#include "tensor/rng.h"

namespace ssmtl::test {

// Every parameter and buffer of m moved to device d; parameters stay leaves that require gradients.
inline void move_model(SSMTLModel& m, Device d) {
  for (NamedTensor& nt : m.named_tensors()) {
    Tensor t = nt.tensor->to(d).clone();
    if (!nt.is_buffer) t.set_requires_grad();
    *nt.tensor = t;
  }
}

inline TaskBatch random_batch(const ModelConfig& c, int B, uint64_t seed) {
  Rng r(seed);
  const int S = c.crop;
  TaskBatch b;
  auto labels = [&] {
    std::vector<int> y(B);
    for (int& v : y) v = static_cast<int>(r.randint(0, 2));
    return y;
  };
  b.arrow_x = rand_uniform({B, 3, 7, S, S}, r);
  b.arrow_y = labels();
  b.irreg_x = rand_uniform({B, 3, 7, S, S}, r);
  b.irreg_y = labels();
  b.middle_x = rand_uniform({B, 3, 6, S, S}, r);
  b.middle_y = rand_uniform({B, 3, S, S}, r);
  b.pseudo_x = rand_uniform({B, 3, 1, S, S}, r);
  return b;
}

inline TaskBatch batch_on(const TaskBatch& b, Device d) {
  TaskBatch o = b;
  for (Tensor* t : {&o.arrow_x, &o.irreg_x, &o.middle_x, &o.middle_y, &o.pseudo_x})
    if (t->defined()) *t = t->to(d);
  return o;
}

// The trainer's two optimisers (model/trainer.cpp). eps 1e-3 instead of 1e-8: a gradient entry within
// rounding of zero then moves its weight by almost nothing, not by +-lr depending on the sign rounding gave it.
struct Optimisers {
  Adam main, pseudo;
  explicit Optimisers(SSMTLModel& m)
      : main({ParamGroup{all_but_pseudo(m), 1e-3f}}, 0.9f, 0.999f, 1e-3f),
        pseudo({ParamGroup{m.backbone_parameters(), -0.2e-3f}, ParamGroup{m.pseudo_parameters(), 1e-3f}}, 0.9f,
               0.999f, 1e-3f) {}
  static std::vector<Tensor> all_but_pseudo(SSMTLModel& m) {
    std::vector<Tensor> ps = m.backbone_parameters();
    for (Tensor& p : m.head_parameters(false)) ps.push_back(p);
    return ps;
  }
};

struct StepResult {
  TaskLosses losses;
  std::vector<Tensor> grads;   // every parameter's gradient after the main backward (copies)
  float pseudo_loss = 0.f;
};

inline StepResult train_step(SSMTLModel& m, Optimisers& opt, const TaskBatch& batch) {
  StepResult r;
  opt.main.zero_grad();
  r.losses = compute_task_losses(m, batch, true);
  autograd::backward(r.losses.normal);
  for (Tensor& p : m.parameters()) r.grads.push_back(p.grad().defined() ? p.grad().clone() : Tensor());
  opt.main.step();
  std::vector<Tensor> keep;   // BatchNorm statistics are not updated by out-of-distribution batches
  for (NamedTensor& nt : m.backbone.named_tensors())
    if (nt.is_buffer) keep.push_back(nt.tensor->clone());
  opt.pseudo.zero_grad();
  Tensor l5 = compute_pseudo_loss(m, batch.pseudo_x, true);
  r.pseudo_loss = l5.item();
  size_t i = 0;
  for (NamedTensor& nt : m.backbone.named_tensors())
    if (nt.is_buffer) nt.tensor->copy_from(keep[i++]);
  autograd::backward(l5);
  opt.pseudo.step();
  return r;
}

}  // namespace ssmtl::test
#endif
