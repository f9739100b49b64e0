// The trainer's step and validation pass (model/trainer.h).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <stdexcept>

#include "autograd/elementwise.h"
#include "autograd/engine.h"
#include "autograd/norm.h"
#include "tensor/profile.h"
#include "model/bn_window.h"
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

// Adds the time from its construction to its end to DataParallel::wait_seconds (collectives, including the
// wait for the slowest rank).
struct Book {
  const DataParallel& dp;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  ~Book() {
    if (dp.wait_seconds) *dp.wait_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
};

std::vector<Tensor> adam_parameters(Adam& a) {
  std::vector<Tensor> ps;
  for (auto& g : a.groups()) ps.insert(ps.end(), g.params.begin(), g.params.end());
  return ps;
}

// Sums the gradients of `ps` over the ranks. A parameter whose gradient exists on some rank but not here
// gets a zero one first, so every rank passes the same buffers and Adam sees the same set everywhere.
void sum_gradients(const std::vector<Tensor>& ps, const DataParallel& dp) {
  Book book{dp};
  std::vector<double> has(ps.size());
  for (size_t i = 0; i < ps.size(); ++i) has[i] = ps[i].grad().defined() ? 1 : 0;
  dp.host.sum(has.data(), static_cast<int64_t>(has.size()));
  std::vector<Tensor> grads;
  int64_t total = 0;
  for (size_t i = 0; i < ps.size(); ++i) {
    if (has[i] == 0) continue;
    autograd::grad_buffer(ps[i]);   // a zero gradient where this rank has none
    grads.push_back(ps[i].grad());
    total += grads.back().numel();
  }
  if (dp.grads.device_buffers()) {   // NCCL: one call per buffer, on the GPU
    for (Tensor& g : grads) dp.grads.sum_device(g.data(), g.numel());
    return;
  }
  // One collective for all of them, in host memory (GPU gradients without NCCL go through the host).
  std::vector<float> flat(static_cast<size_t>(total));
  int64_t at = 0;
  for (Tensor& g : grads) {
    if (g.device() == Device::CPU) std::copy(g.data(), g.data() + g.numel(), flat.begin() + at);
    else {
      const std::vector<float> v = g.to_vector();
      std::copy(v.begin(), v.end(), flat.begin() + at);
    }
    at += g.numel();
  }
  dp.grads.sum(flat.data(), total);
  at = 0;
  for (Tensor& g : grads) {
    if (g.device() == Device::CPU) std::copy(flat.begin() + at, flat.begin() + at + g.numel(), g.data());
    else g.copy_from(Tensor::from_vector(g.shape(), std::vector<float>(flat.begin() + at, flat.begin() + at + g.numel())));
    at += g.numel();
  }
}

// The loss to differentiate: this rank's loss weighted by its share of the global batch.
Tensor weighted(const Tensor& loss, const DataParallel* dp) {
  return dp && dp->share != 1.0 ? scale(loss, static_cast<float>(dp->share)) : loss;
}

void sync_scope(std::optional<BatchNormSync>& s, const DataParallel* dp) {
  if (dp && dp->sync_bn) {
    dist::Communicator* c = &dp->host;
    s.emplace([c](double* b, int64_t n) { c->sum(b, n); });
  }
}

}  // namespace

Optimisers::Optimisers(SSMTLModel& m, const TrainOptions& opt, float eps)
    : main({ParamGroup{main_parameters(m), static_cast<float>(opt.lr)}}, 0.9f, 0.999f, eps),
      ascent(ascent_optimiser(m, opt, eps)) {}

StepResult train_step(SSMTLModel& model, Optimisers& optim, const TaskBatch& batch, bool with_ascent,
                      double pseudo_loss_cap, const std::function<void()>& after_backward, const DataParallel* dp) {
  StepResult r;
  std::optional<BatchNormSync> sync;   // synchronised BatchNorm for this step's passes (train.sync_bn)
  sync_scope(sync, dp);
  optim.main.zero_grad();
  TaskLosses L = compute_task_losses(model, batch, true);
  r.loss = L.normal.item();
  r.losses = L.values;
  bool finite = std::isfinite(r.loss);
  if (dp) {   // the global batch's losses, and one decision for every rank
    std::vector<double> v{finite ? 0.0 : 1.0, finite ? dp->share * r.loss : 0.0};
    for (auto& [k, x] : r.losses) v.push_back(finite ? dp->share * x : 0.0);
    {
      Book book{*dp};
      dp->host.sum(v.data(), static_cast<int64_t>(v.size()));
    }
    finite = v[0] == 0;
    r.loss = static_cast<float>(v[1]);
    size_t i = 2;
    for (auto& [k, x] : r.losses) x = static_cast<float>(v[i++]);
  }
  if (!finite) {
    r.skipped = true;
    return r;
  }
  autograd::backward(weighted(L.normal, dp));
  if (dp) sum_gradients(adam_parameters(optim.main), *dp);
  if (after_backward) after_backward();
  {
    prof::PhaseGuard phase(prof::Phase::Optimizer);   // `ssmtl profile` books the update apart
    optim.main.step();
  }
  if (!with_ascent || !optim.ascent) return r;
  std::vector<Tensor> keep = snapshot_buffers(model);
  optim.ascent->zero_grad();
  Tensor l5 = compute_pseudo_loss(model, batch, true);
  if (dp) {   // every rank has T5 samples (SampleBuilder gives each object one): the same branch everywhere
    std::vector<double> v{l5.defined() ? 1.0 : 0.0, 0.0, 0.0};
    if (l5.defined()) {
      const float x = l5.item();
      v[1] = std::isfinite(x) ? 0.0 : 1.0;
      v[2] = std::isfinite(x) ? dp->share * x : 0.0;
    }
    {
      Book book{*dp};
      dp->host.sum(v.data(), 3);
    }
    if (v[0] != 0 && v[0] != dp->host.size())
      throw std::logic_error("train_step: the T5 batch is empty on some ranks but not on others");
    if (!l5.defined()) return r;
    r.ascent_ran = true;
    r.ascent_finite = v[1] == 0;
    r.ascent_loss = static_cast<float>(v[2]);
  } else {
    if (!l5.defined()) return r;
    r.ascent_ran = true;
    r.ascent_loss = l5.item();
    r.ascent_finite = std::isfinite(r.ascent_loss);
  }
  restore_buffers(model, keep);
  if (!r.ascent_finite) return r;
  autograd::backward(weighted(l5, dp));
  if (r.ascent_loss > pseudo_loss_cap)   // bounded ascent: the backbone stops pushing once T5 is bad enough
    for (auto& p : model.backbone_parameters()) p.zero_grad();
  if (dp) sum_gradients(adam_parameters(*optim.ascent), *dp);
  prof::PhaseGuard phase(prof::Phase::Optimizer);
  optim.ascent->step();
  return r;
}

std::map<std::string, double> validation_losses(SSMTLModel& model, const SampleBuilder& builder,
                                                const std::vector<size_t>& ids, int batch_size, uint64_t seed,
                                                dist::Communicator* comm) {
  autograd::NoGradGuard ng;
  const Device dev = model.device();
  const int ranks = comm ? comm->size() : 1, rank = comm ? comm->rank() : 0;
  std::vector<std::string> names;   // descent tasks, in the order of TaskLosses::values (a std::map)
  for (const auto& th : model.tasks)
    if (th.task->info().role == Role::kDescent) names.push_back(th.task->info().name);
  std::sort(names.begin(), names.end());
  const size_t nb = (ids.size() + batch_size - 1) / static_cast<size_t>(batch_size), nt = names.size();
  std::vector<double> per_batch(nb * nt, 0.0);   // batch-major; zeros where another rank computes
  for (size_t k = static_cast<size_t>(rank); k < nb; k += static_cast<size_t>(ranks)) {
    const size_t a = k * static_cast<size_t>(batch_size);
    std::vector<size_t> part(ids.begin() + a, ids.begin() + std::min(ids.size(), a + batch_size));
    TaskBatch vb = builder.build(part, seed ^ a, false).to(dev);
    TaskLosses L = compute_task_losses(model, vb, false);
    for (size_t t = 0; t < nt; ++t) per_batch[k * nt + t] = L.values.at(names[t]);
  }
  if (ranks > 1) comm->sum(per_batch.data(), static_cast<int64_t>(per_batch.size()));   // x + 0 + ... = x exactly
  std::map<std::string, double> mean;
  if (nb == 0) return mean;
  for (size_t t = 0; t < nt; ++t) {
    double sum = 0;
    for (size_t k = 0; k < nb; ++k) sum += per_batch[k * nt + t];
    mean[names[t]] = sum / static_cast<double>(nb);
  }
  return mean;
}

void estimate_window_bn(SSMTLModel& model, const SampleBuilder& builder, const std::vector<size_t>& ids,
                        int batch_size, uint64_t seed, util::Progress* progress) {
  autograd::NoGradGuard ng;
  bn_window::Estimate estimate;
  const Device dev = model.device();
  for (size_t a = 0; a < ids.size(); a += static_cast<size_t>(batch_size)) {
    std::vector<size_t> part(ids.begin() + a, ids.begin() + std::min(ids.size(), a + batch_size));
    if (part.size() < 2) break;
    compute_task_losses(model, builder.build(part, seed ^ a, false).to(dev), true);
    if (progress) progress->add(static_cast<int64_t>(part.size()));
  }
}

std::vector<size_t> spread_ids(size_t pool_size, size_t n) {
  std::vector<size_t> ids;
  if (n >= pool_size) n = pool_size;
  for (size_t k = 0; k < n; ++k) ids.push_back(k * pool_size / n);
  return ids;
}

std::vector<size_t> precise_bn_ids(const ObjectPool& pool, const TrainOptions& opt, size_t n) {
  const std::vector<size_t> trained = training_ids(pool, opt);
  std::vector<size_t> ids;
  for (size_t k : spread_ids(trained.size(), n)) ids.push_back(trained[k]);
  return ids;
}

}  // namespace ssmtl
