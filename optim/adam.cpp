#include "optim/adam.h"

#include <cmath>
#include <istream>
#include <ostream>
#include <stdexcept>
#include <unordered_set>

#include "kernels/adam.h"
#include "util/atomic_file.h"

namespace ssmtl {
namespace {

constexpr char kMagic[8] = {'S', 'S', 'M', 'T', 'L', 'A', 'D', 'M'};
constexpr uint32_t kVersion = 1;

// Hyperparameter checks shared by the constructor and load_state; returns "" when valid.
std::string bad_hyperparameters(float beta1, float beta2, float eps) {
  if (!(beta1 >= 0.f && beta1 < 1.f)) return "beta1 must be in [0, 1), got " + std::to_string(beta1);
  if (!(beta2 >= 0.f && beta2 < 1.f)) return "beta2 must be in [0, 1), got " + std::to_string(beta2);
  if (!(eps >= 0.f) || !std::isfinite(eps)) return "eps must be finite and >= 0, got " + std::to_string(eps);
  return "";
}

std::string bad_group(float lr, float weight_decay, size_t g) {
  if (!std::isfinite(lr)) return "group " + std::to_string(g) + ": lr must be finite, got " + std::to_string(lr);
  if (!(weight_decay >= 0.f) || !std::isfinite(weight_decay))
    return "group " + std::to_string(g) + ": weight_decay must be finite and >= 0, got " + std::to_string(weight_decay);
  return "";
}

template <typename T>
void put(std::ostream& out, const T& x) {
  out.write(reinterpret_cast<const char*>(&x), sizeof x);
}

}  // namespace

Adam::Adam(std::vector<ParamGroup> groups, float beta1, float beta2, float eps)
    : groups_(std::move(groups)), beta1_(beta1), beta2_(beta2), eps_(eps) {
  std::string err = bad_hyperparameters(beta1, beta2, eps);
  std::unordered_set<const TensorImpl*> seen;
  for (size_t g = 0; g < groups_.size() && err.empty(); ++g) {
    err = bad_group(groups_[g].lr, groups_[g].weight_decay, g);
    for (size_t i = 0; i < groups_[g].params.size() && err.empty(); ++i) {
      const Tensor& p = groups_[g].params[i];
      const std::string where = "group " + std::to_string(g) + " parameter " + std::to_string(i);
      if (!p.defined()) err = where + " is undefined";
      else if (!p.requires_grad()) err = where + " does not require a gradient";
      else if (p.impl()->grad_fn) err = where + " is not a leaf tensor (it was computed by an op)";
      else if (!seen.insert(p.impl()).second) err = where + " appears more than once";
    }
  }
  if (!err.empty()) throw std::invalid_argument("Adam: " + err);
  sync_state();
}

void Adam::sync_state() {
  state_.resize(groups_.size());
  for (size_t g = 0; g < groups_.size(); ++g) state_[g].resize(groups_[g].params.size());
}

void Adam::step() {
  sync_state();
  ++steps_;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const ParamGroup& group = groups_[g];
    for (size_t i = 0; i < group.params.size(); ++i) {
      Tensor p = group.params[i];
      Tensor grad = p.grad();
      if (!grad.defined()) continue;   // not reached by backward: skipped, its step count stays
      ParamState& s = state_[g][i];
      if (s.step == 0) {
        s.exp_avg = Tensor::zeros(p.shape(), p.device());
        s.exp_avg_sq = Tensor::zeros(p.shape(), p.device());
      } else if (s.exp_avg.numel() != p.numel()) {
        throw std::logic_error("Adam::step: group " + std::to_string(g) + " parameter " + std::to_string(i) +
                               " changed size since its last update (parameters were reordered?)");
      }
      ++s.step;
      // Bias corrections in double, as torch computes them in Python floats.
      const double t = static_cast<double>(s.step);
      const double bc1 = 1.0 - std::pow(static_cast<double>(beta1_), t);
      const double bc2 = 1.0 - std::pow(static_cast<double>(beta2_), t);
      const kernels::AdamCoefficients c{beta1_, beta2_, eps_, group.weight_decay,
                                        static_cast<float>(group.lr / bc1), static_cast<float>(std::sqrt(bc2))};
      SSMTL_DISPATCH(p.device(), kernels::adam_step, p.data(), s.exp_avg.data(), s.exp_avg_sq.data(), grad.data(),
                     c, p.numel());
    }
  }
}

void Adam::zero_grad() {
  for (ParamGroup& group : groups_)
    for (Tensor& p : group.params) p.zero_grad();
}

void Adam::save_state(std::ostream& out) const {
  util::write_header(out, kMagic, kVersion);
  put(out, beta1_), put(out, beta2_), put(out, eps_), put(out, steps_);
  put(out, static_cast<uint32_t>(groups_.size()));
  for (size_t g = 0; g < groups_.size(); ++g) {
    const ParamGroup& group = groups_[g];
    put(out, group.lr), put(out, group.weight_decay), put(out, static_cast<uint32_t>(group.params.size()));
    for (size_t i = 0; i < group.params.size(); ++i) {
      // Parameters appended since the last step have no state yet: step 0.
      const ParamState empty;
      const ParamState& s = g < state_.size() && i < state_[g].size() ? state_[g][i] : empty;
      put(out, s.step), put(out, group.params[i].numel());
      if (s.step == 0) continue;
      for (const Tensor& t : {s.exp_avg, s.exp_avg_sq}) {
        std::vector<float> v = t.to_vector();
        out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
      }
    }
  }
  if (!out) throw std::runtime_error("Adam::save_state: writing the optimiser state failed");
}

void Adam::load_state(std::istream& in, const std::string& source_name) {
  auto fail = [&](const std::string& what) { throw std::runtime_error(source_name + ": Adam state " + what); };
  auto get = [&](auto& x) {
    in.read(reinterpret_cast<char*>(&x), sizeof x);
    if (!in) fail("is truncated");
  };
  util::read_header(in, kMagic, kVersion, source_name);
  float beta1 = 0, beta2 = 0, eps = 0;
  int64_t steps = 0;
  uint32_t n_groups = 0;
  get(beta1), get(beta2), get(eps), get(steps), get(n_groups);
  if (std::string err = bad_hyperparameters(beta1, beta2, eps); !err.empty()) fail("is invalid: " + err);
  if (n_groups != groups_.size())
    fail("has " + std::to_string(n_groups) + " parameter groups, the optimiser " + std::to_string(groups_.size()));
  // Read everything into new objects first: the optimiser only changes once the whole state is valid.
  std::vector<ParamGroup> hyper(n_groups);
  std::vector<std::vector<ParamState>> state(n_groups);
  for (size_t g = 0; g < n_groups; ++g) {
    const std::vector<Tensor>& params = groups_[g].params;
    uint32_t n_params = 0;
    get(hyper[g].lr), get(hyper[g].weight_decay), get(n_params);
    if (std::string err = bad_group(hyper[g].lr, hyper[g].weight_decay, g); !err.empty()) fail("is invalid: " + err);
    if (n_params != params.size())
      fail("group " + std::to_string(g) + " has " + std::to_string(n_params) + " parameters, the optimiser's " +
           std::to_string(params.size()));
    state[g].resize(n_params);
    for (size_t i = 0; i < n_params; ++i) {
      ParamState& s = state[g][i];
      int64_t numel = 0;
      get(s.step), get(numel);
      if (numel != params[i].numel())
        fail("group " + std::to_string(g) + " parameter " + std::to_string(i) + " has " + std::to_string(numel) +
             " elements, the optimiser's " + std::to_string(params[i].numel()));
      if (s.step < 0) fail("has a negative step count");
      if (s.step == 0) continue;
      std::vector<float> v(static_cast<size_t>(numel));
      for (Tensor* t : {&s.exp_avg, &s.exp_avg_sq}) {
        in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
        if (!in) fail("is truncated");
        *t = Tensor::from_vector(params[i].shape(), v).to(params[i].device());
      }
    }
  }
  beta1_ = beta1, beta2_ = beta2, eps_ = eps, steps_ = steps;
  for (size_t g = 0; g < n_groups; ++g) {
    groups_[g].lr = hyper[g].lr;
    groups_[g].weight_decay = hyper[g].weight_decay;
  }
  state_ = std::move(state);
}

}  // namespace ssmtl
