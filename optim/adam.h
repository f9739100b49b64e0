// Adam optimiser with parameter groups, following PyTorch's torch.optim.Adam exactly (Kingma & Ba,
// ICLR 2015, Algorithm 1; update formula in kernels/adam.h):
//   - default betas (0.9, 0.999) and eps 1e-8, eps added outside the square root;
//   - optional weight_decay per group: an L2 penalty added to the gradient (torch's Adam, not AdamW);
//   - bias corrections use each parameter's own step count, which only advances when the parameter had
//     a gradient: parameters without one (unused in this forward, or zero_grad'ed) are skipped;
//   - zero_grad() drops the gradients (torch's set_to_none=True, the default since PyTorch 2.0), so a
//     parameter that is not reached by the next backward is skipped rather than updated with zeros.
// Each group has its own learning rate. A negative learning rate is allowed and makes that group ascend
// its gradient: SSMTL++'s pseudo-anomaly task updates the shared backbone at -0.2 x lr (notes/DESIGN.md).
#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ssmtl {

struct ParamGroup {
  std::vector<Tensor> params;   // leaf tensors with requires_grad, each in at most one group
  float lr;                     // learning rate; negative = gradient ascent
  float weight_decay = 0.f;     // L2 coefficient added to the gradient (>= 0)
};

class Adam {
 public:
  // Throws std::invalid_argument naming the problem for: a non-finite lr, a negative or non-finite
  // weight_decay, betas outside [0, 1), a negative eps, an undefined / non-leaf / no-requires_grad
  // parameter, or a parameter listed twice.
  explicit Adam(std::vector<ParamGroup> groups, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f);

  // One update of every parameter that has a gradient (on the parameter's device).
  void step();
  // Drops every parameter's gradient.
  void zero_grad();

  // Change lr / weight_decay here between steps (schedules, ascent factors). The state is kept by
  // position: do not reorder or remove parameters; appended ones start with fresh state.
  std::vector<ParamGroup>& groups() { return groups_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  // Number of step() calls (saved and restored with the state).
  int64_t steps() const { return steps_; }

  // Binary state for training checkpoints: "SSMTLADM" format version 1 with betas, eps, the step()
  // count, and per group its lr and weight_decay and per parameter its step count and both moments.
  // Writing never modifies the optimiser; throws std::runtime_error when the stream fails.
  void save_state(std::ostream& out) const;
  // Restores everything save_state wrote (hyperparameters included, as torch's load_state_dict does), so
  // that training resumes exactly as an uninterrupted run. The groups must have the same structure
  // (group count, parameter count and sizes) as when saved. Throws std::runtime_error naming
  // `source_name` (e.g. the checkpoint path) for a wrong magic or version, a truncated stream or a
  // structure mismatch; the optimiser is unchanged when it throws.
  void load_state(std::istream& in, const std::string& source_name);

 private:
  struct ParamState {
    int64_t step = 0;             // updates applied to this parameter
    Tensor exp_avg, exp_avg_sq;   // first and second moments; allocated by the first update
  };
  void sync_state();   // sizes state_ like groups_ (appended parameters get fresh state)

  std::vector<ParamGroup> groups_;
  std::vector<std::vector<ParamState>> state_;   // state_[g][i] belongs to groups_[g].params[i]
  float beta1_, beta2_, eps_;
  int64_t steps_ = 0;
};

}  // namespace ssmtl
