// Module: anything that owns parameters (trained tensors) and buffers (BatchNorm running statistics).
// A module lists them by name through visit(); that list drives the optimiser's parameter groups,
// checkpoints and gradient checks. There is no global registry: a model is a tree of plain members.
#pragma once
#include <string>
#include <vector>

#include "tensor/rng.h"
#include "tensor/tensor.h"

namespace ssmtl {

struct NamedTensor {
  std::string name;   // "backbone.stage0.conv.weight"
  Tensor* tensor;
  bool is_buffer;     // running statistics: saved, never trained
};

class Module {
 public:
  virtual ~Module() = default;
  // Appends this module's parameters and buffers, names prefixed with `prefix` ("" or "a.b.").
  virtual void visit(const std::string& prefix, std::vector<NamedTensor>& out) = 0;

  std::vector<NamedTensor> named_tensors(const std::string& prefix = "");
  std::vector<Tensor> parameters();   // trainable tensors only (handles share storage)
  int64_t parameter_count();
  // Moves every parameter and buffer to device d (explicit copies; parameters stay leaves that require
  // gradients). Handles taken before the move (an optimiser's parameter list, parameters()) keep pointing at
  // the old tensors, so move a model before building its optimisers. Throws std::runtime_error when d is
  // CUDA and no GPU is available (tensor/device.h).
  void to(Device d);
  // The device of the first parameter (CPU for a module without parameters).
  Device device();
};

// Weight initialisation with PyTorch's defaults for conv/linear layers (kaiming_uniform with a = sqrt(5)):
// weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)). Returns a leaf with requires_grad set.
Tensor init_uniform_fan_in(const Shape& shape, int64_t fan_in, Rng& rng);

}  // namespace ssmtl
