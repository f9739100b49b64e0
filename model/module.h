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
  // Optional buffers (BatchNorm's per-window statistics, model/bn_window.h) exist only once estimated: they
  // may be undefined, may be missing from a checkpoint, and when loaded take the shape and device of
  // *optional_like. Null for every other tensor.
  const Tensor* optional_like = nullptr;
};

class Module {
 public:
  virtual ~Module() = default;
  // Appends this module's parameters and buffers, names prefixed with `prefix` ("" or "a.b."); optional
  // buffers (NamedTensor::optional_like) also when undefined.
  virtual void visit(const std::string& prefix, std::vector<NamedTensor>& out) = 0;

  // visit()'s list without undefined optional buffers (with_empty_optional: with them, for loaders).
  std::vector<NamedTensor> named_tensors(const std::string& prefix = "", bool with_empty_optional = false);
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
