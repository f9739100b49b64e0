// The trainer's step and validation pass (model/trainer.h).
#include <cmath>

#include "autograd/engine.h"
#include "tensor/profile.h"
#include "model/trainer.h"

namespace ssmtl {

namespace {

std::vector<Tensor> main_parameters(SSMTLModel& m) {
  std::vector<Tensor> ps = m.backbone_parameters();
  for (auto& p : m.head_parameters(false)) ps.push_back(p);
  return ps;
}

std::unique_ptr<Adam> ascent_optimiser(SSMTLModel& m, const TrainOptions& opt, float eps) {
  if (!m.has_ascent_task()) return nullptr;
  return std::make_unique<Adam>(
      std::vector<ParamGroup>{ParamGroup{m.backbone_parameters(), static_cast<float>(opt.lr * opt.pseudo_lr_scale)},
                              ParamGroup{m.ascent_parameters(), static_cast<float>(opt.lr)}},
      0.9f, 0.999f, eps);
}

// Backbone BatchNorm running statistics, to be restored after an out-of-distribution batch.
std::vector<Tensor> snapshot_buffers(SSMTLModel& m) {
  std::vector<Tensor> s;
  for (auto& nt : m.backbone.named_tensors())
    if (nt.is_buffer) s.push_back(nt.tensor->clone());
  return s;
}

void restore_buffers(SSMTLModel& m, const std::vector<Tensor>& s) {
  size_t i = 0;
  for (auto& nt : m.backbone.named_tensors())
    if (nt.is_buffer) nt.tensor->copy_from(s[i++]);
}

}  // namespace

Optimisers::Optimisers(SSMTLModel& m, const TrainOptions& opt, float eps)
    : main({ParamGroup{main_parameters(m), static_cast<float>(opt.lr)}}, 0.9f, 0.999f, eps),
      ascent(ascent_optimiser(m, opt, eps)) {}

StepResult train_step(SSMTLModel& model, Optimisers& optim, const TaskBatch& batch, bool with_ascent,
                      double pseudo_loss_cap, const std::function<void()>& after_backward) {
  StepResult r;
  optim.main.zero_grad();
  TaskLosses L = compute_task_losses(model, batch, true);
  r.loss = L.normal.item();
  r.losses = L.values;
  if (!std::isfinite(r.loss)) {
    r.skipped = true;
    return r;
  }
  autograd::backward(L.normal);
  if (after_backward) after_backward();
  {
    prof::PhaseGuard phase(prof::Phase::Optimizer);   // `ssmtl profile` books the update apart
    optim.main.step();
  }
  if (!with_ascent || !optim.ascent) return r;
  std::vector<Tensor> keep = snapshot_buffers(model);
  optim.ascent->zero_grad();
  Tensor l5 = compute_pseudo_loss(model, batch, true);
  if (!l5.defined()) return r;
  r.ascent_ran = true;
  r.ascent_loss = l5.item();
  restore_buffers(model, keep);
  r.ascent_finite = std::isfinite(r.ascent_loss);
  if (!r.ascent_finite) return r;
  autograd::backward(l5);
  if (r.ascent_loss > pseudo_loss_cap)   // bounded ascent: the backbone stops pushing once T5 is bad enough
    for (auto& p : model.backbone_parameters()) p.zero_grad();
  prof::PhaseGuard phase(prof::Phase::Optimizer);
  optim.ascent->step();
  return r;
}

std::map<std::string, double> validation_losses(SSMTLModel& model, const SampleBuilder& builder,
                                                const std::vector<size_t>& ids, int batch_size, uint64_t seed) {
  autograd::NoGradGuard ng;
  const Device dev = model.device();
  std::map<std::string, double> sums, mean;
  int nb = 0;
  for (size_t a = 0; a < ids.size(); a += static_cast<size_t>(batch_size)) {
    std::vector<size_t> part(ids.begin() + a, ids.begin() + std::min(ids.size(), a + batch_size));
    TaskBatch vb = builder.build(part, seed ^ a, false).to(dev);
    TaskLosses L = compute_task_losses(model, vb, false);
    for (auto& [k, v] : L.values) sums[k] += v;
    ++nb;
  }
  for (auto& [k, v] : sums) mean[k] = v / nb;
  return mean;
}

}  // namespace ssmtl
