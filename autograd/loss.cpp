#include "autograd/loss.h"

#include <stdexcept>
#include <string>

#include "autograd/engine.h"
#include "kernels/loss.h"

namespace ssmtl {
using autograd::grad_buffer;
namespace k = kernels;

namespace {

struct CrossEntropyNode : Node {
  Tensor targets;   // (N) class indices as floats
  int64_t N, K;
  CrossEntropyNode(Tensor t, int64_t n, int64_t kk) : targets(std::move(t)), N(n), K(kk) {}
  const char* name() const override { return "CrossEntropyBackward"; }
  void backward(const Tensor& g) override {
    if (float* dx = grad_buffer(inputs[0]))
      SSMTL_DISPATCH(g.device(), k::cross_entropy_backward, dx, g.data(), inputs[0].data(), targets.data(),
                     N, K);
  }
};

struct SoftCrossEntropyNode : Node {
  int64_t N, K;
  SoftCrossEntropyNode(int64_t n, int64_t kk) : N(n), K(kk) {}
  const char* name() const override { return "SoftCrossEntropyBackward"; }
  void backward(const Tensor& g) override {
    SSMTL_DISPATCH(g.device(), k::cross_entropy_soft_backward, grad_buffer(inputs[0]), grad_buffer(inputs[1]),
                   g.data(), inputs[0].data(), inputs[1].data(), N, K);
  }
};

struct L1LossNode : Node {
  int64_t rows, cols;
  L1LossNode(int64_t r, int64_t c) : rows(r), cols(c) {}
  const char* name() const override { return "L1LossBackward"; }
  void backward(const Tensor& g) override {
    SSMTL_DISPATCH(g.device(), k::l1_backward, grad_buffer(inputs[0]), grad_buffer(inputs[1]), g.data(),
                   inputs[0].data(), inputs[1].data(), rows, cols);
  }
};

struct MseLossNode : Node {
  int64_t rows, cols;
  MseLossNode(int64_t r, int64_t c) : rows(r), cols(c) {}
  const char* name() const override { return "MseLossBackward"; }
  void backward(const Tensor& g) override {
    SSMTL_DISPATCH(g.device(), k::mse_backward, grad_buffer(inputs[0]), grad_buffer(inputs[1]), g.data(),
                   inputs[0].data(), inputs[1].data(), rows, cols);
  }
};

void check_logits(const Tensor& logits, const char* op) {
  if (logits.dim() != 2 || logits.size(0) == 0 || logits.size(1) == 0)
    throw std::invalid_argument(std::string(op) + ": logits must be (N, K) with N, K >= 1, got " +
                                shape_str(logits.shape()));
}

// Shared validation of the distance losses; returns (rows, cols).
void check_pair(const Tensor& a, const Tensor& b, const char* op, bool per_sample, int64_t& rows, int64_t& cols) {
  check_same_shape(a, b, op);
  check_same_device(a, b, op);
  if (a.numel() == 0 || (per_sample && a.dim() < 1))
    throw std::invalid_argument(std::string(op) + ": needs a non-empty tensor" +
                                (per_sample ? " with a first dimension" : "") + ", got " + shape_str(a.shape()));
  rows = per_sample ? a.size(0) : 1;
  cols = a.numel() / rows;
}

template <class NodeT>
void record(Tensor& out, const Tensor& a, const Tensor& b, int64_t rows, int64_t cols) {
  if (!autograd::needs_grad({&a, &b})) return;
  auto n = std::make_shared<NodeT>(rows, cols);
  n->inputs = {a, b};
  autograd::attach(out, n);
}

Tensor l1_impl(const Tensor& a, const Tensor& b, bool per_sample) {
  int64_t rows, cols;
  check_pair(a, b, per_sample ? "l1_per_sample" : "l1_loss", per_sample, rows, cols);
  Tensor out = Tensor::empty(per_sample ? Shape{rows} : Shape{}, a.device());
  SSMTL_DISPATCH(a.device(), k::l1_forward, out.data(), a.data(), b.data(), rows, cols);
  record<L1LossNode>(out, a, b, rows, cols);
  return out;
}

Tensor mse_impl(const Tensor& a, const Tensor& b, bool per_sample) {
  int64_t rows, cols;
  check_pair(a, b, per_sample ? "mse_per_sample" : "mse_loss", per_sample, rows, cols);
  Tensor out = Tensor::empty(per_sample ? Shape{rows} : Shape{}, a.device());
  SSMTL_DISPATCH(a.device(), k::mse_forward, out.data(), a.data(), b.data(), rows, cols);
  record<MseLossNode>(out, a, b, rows, cols);
  return out;
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const std::vector<int>& targets) {
  check_logits(logits, "cross_entropy");
  const int64_t N = logits.size(0), K = logits.size(1);
  if (static_cast<int64_t>(targets.size()) != N)
    throw std::invalid_argument("cross_entropy: " + std::to_string(targets.size()) + " targets for logits " +
                                shape_str(logits.shape()));
  std::vector<float> t(targets.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    if (targets[i] < 0 || targets[i] >= K)
      throw std::invalid_argument("cross_entropy: target " + std::to_string(targets[i]) + " at index " +
                                  std::to_string(i) + " is out of range [0, " + std::to_string(K) + ")");
    t[i] = static_cast<float>(targets[i]);
  }
  Tensor tt = Tensor::from_vector({N}, t).to(logits.device());
  Tensor loss = Tensor::empty({}, logits.device());
  SSMTL_DISPATCH(logits.device(), k::cross_entropy_forward, loss.data(), logits.data(), tt.data(), N, K);
  if (autograd::needs_grad({&logits})) {
    auto n = std::make_shared<CrossEntropyNode>(tt, N, K);
    n->inputs = {logits};
    autograd::attach(loss, n);
  }
  return loss;
}

Tensor cross_entropy_soft(const Tensor& logits, const Tensor& probs) {
  check_logits(logits, "cross_entropy_soft");
  check_same_shape(logits, probs, "cross_entropy_soft");
  check_same_device(logits, probs, "cross_entropy_soft");
  const int64_t N = logits.size(0), K = logits.size(1);
  Tensor loss = Tensor::empty({}, logits.device());
  SSMTL_DISPATCH(logits.device(), k::cross_entropy_soft_forward, loss.data(), logits.data(), probs.data(), N, K);
  if (autograd::needs_grad({&logits, &probs})) {
    auto n = std::make_shared<SoftCrossEntropyNode>(N, K);
    n->inputs = {logits, probs};
    autograd::attach(loss, n);
  }
  return loss;
}

Tensor l1_loss(const Tensor& a, const Tensor& b) { return l1_impl(a, b, false); }
Tensor mse_loss(const Tensor& a, const Tensor& b) { return mse_impl(a, b, false); }
Tensor l1_per_sample(const Tensor& a, const Tensor& b) { return l1_impl(a, b, true); }
Tensor mse_per_sample(const Tensor& a, const Tensor& b) { return mse_impl(a, b, true); }

}  // namespace ssmtl
