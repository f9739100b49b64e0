#include "autograd/activation.h"

#include <stdexcept>
#include <string>

#include "autograd/engine.h"
#include "kernels/activation.h"

namespace ssmtl {
using autograd::grad_buffer;
namespace k = kernels;

namespace {

// Nodes whose derivative is cheapest from the forward output keep `y`, a detached handle on the output's
// storage (a handle with history would make the output own its own node: a reference cycle).
struct ReluNode : Node {
  Tensor y;
  explicit ReluNode(Tensor out) : y(std::move(out)) {}
  const char* name() const override { return "ReluBackward"; }
  void backward(const Tensor& g) override {
    if (float* dx = grad_buffer(inputs[0])) {
      autograd::book_bytes(4.0 * 4 * g.numel(), g);   // g, y read; dx read and written
      SSMTL_DISPATCH(g.device(), k::relu_backward, dx, g.data(), y.data(), g.numel());
    }
  }
};

struct LeakyReluNode : Node {
  float slope;
  explicit LeakyReluNode(float s) : slope(s) {}
  const char* name() const override { return "LeakyReluBackward"; }
  void backward(const Tensor& g) override {
    if (float* dx = grad_buffer(inputs[0])) {
      autograd::book_bytes(4.0 * 4 * g.numel(), g);   // g and x (or y) read; dx read and written
      SSMTL_DISPATCH(g.device(), k::leaky_relu_backward, dx, g.data(), inputs[0].data(), slope, g.numel());
    }
  }
};

struct GeluNode : Node {
  const char* name() const override { return "GeluBackward"; }
  void backward(const Tensor& g) override {
    const autograd::GradOut dx = autograd::grad_out(inputs[0]);   // (written, not added, when new)
    if (dx.data) {
      autograd::book_bytes(4.0 * (dx.add ? 4 : 3) * g.numel(), g);   // g and x read; dx (read and) written
      SSMTL_DISPATCH(g.device(), k::gelu_backward, dx.data, g.data(), inputs[0].data(), dx.add, g.numel());
    }
  }
};

struct SigmoidNode : Node {
  Tensor y;
  explicit SigmoidNode(Tensor out) : y(std::move(out)) {}
  const char* name() const override { return "SigmoidBackward"; }
  void backward(const Tensor& g) override {
    if (float* dx = grad_buffer(inputs[0])) {
      autograd::book_bytes(4.0 * 4 * g.numel(), g);   // g and x (or y) read; dx read and written
      SSMTL_DISPATCH(g.device(), k::sigmoid_backward, dx, g.data(), y.data(), g.numel());
    }
  }
};

struct TanhNode : Node {
  Tensor y;
  explicit TanhNode(Tensor out) : y(std::move(out)) {}
  const char* name() const override { return "TanhBackward"; }
  void backward(const Tensor& g) override {
    if (float* dx = grad_buffer(inputs[0])) {
      autograd::book_bytes(4.0 * 4 * g.numel(), g);   // g, y read; dx read and written
      SSMTL_DISPATCH(g.device(), k::tanh_backward, dx, g.data(), y.data(), g.numel());
    }
  }
};

struct SoftmaxNode : Node {
  Tensor y;
  int64_t rows, K;
  SoftmaxNode(Tensor out, int64_t r, int64_t kk) : y(std::move(out)), rows(r), K(kk) {}
  const char* name() const override { return "SoftmaxBackward"; }
  void backward(const Tensor& g) override {
    if (float* dx = grad_buffer(inputs[0]))
      SSMTL_DISPATCH(g.device(), k::softmax_backward, dx, g.data(), y.data(), rows, K);
  }
};

struct LogSoftmaxNode : Node {
  Tensor y;
  int64_t rows, K;
  LogSoftmaxNode(Tensor out, int64_t r, int64_t kk) : y(std::move(out)), rows(r), K(kk) {}
  const char* name() const override { return "LogSoftmaxBackward"; }
  void backward(const Tensor& g) override {
    if (float* dx = grad_buffer(inputs[0]))
      SSMTL_DISPATCH(g.device(), k::log_softmax_backward, dx, g.data(), y.data(), rows, K);
  }
};

template <class NodeT, class... Args>
void record(Tensor& y, const Tensor& x, Args&&... args) {
  if (!autograd::needs_grad({&x})) return;
  auto n = std::make_shared<NodeT>(std::forward<Args>(args)...);
  n->inputs = {x};
  autograd::attach(y, n);
}

// (rows, K) view of x over its last dimension.
void last_dim(const Tensor& x, const char* op, int64_t& rows, int64_t& K) {
  if (x.dim() < 1 || x.size(-1) == 0)
    throw std::invalid_argument(std::string(op) + ": needs a non-empty last dimension, got " + shape_str(x.shape()));
  K = x.size(-1);
  rows = x.numel() / K;
}

}  // namespace

Tensor relu(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), x.device());
  autograd::book_bytes(4.0 * 2 * x.numel(), x);   // x read, y written
  SSMTL_DISPATCH(x.device(), k::relu_forward, y.data(), x.data(), x.numel());
  record<ReluNode>(y, x, y.detach());
  return y;
}

Tensor leaky_relu(const Tensor& x, float slope) {
  Tensor y = Tensor::empty(x.shape(), x.device());
  autograd::book_bytes(4.0 * 2 * x.numel(), x);   // x read, y written
  SSMTL_DISPATCH(x.device(), k::leaky_relu_forward, y.data(), x.data(), slope, x.numel());
  record<LeakyReluNode>(y, x, slope);
  return y;
}

Tensor gelu(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), x.device());
  autograd::book_bytes(4.0 * 2 * x.numel(), x);   // x read, y written
  SSMTL_DISPATCH(x.device(), k::gelu_forward, y.data(), x.data(), x.numel());
  record<GeluNode>(y, x);
  return y;
}

Tensor sigmoid(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), x.device());
  autograd::book_bytes(4.0 * 2 * x.numel(), x);   // x read, y written
  SSMTL_DISPATCH(x.device(), k::sigmoid_forward, y.data(), x.data(), x.numel());
  record<SigmoidNode>(y, x, y.detach());
  return y;
}

Tensor tanh_act(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), x.device());
  autograd::book_bytes(4.0 * 2 * x.numel(), x);   // x read, y written
  SSMTL_DISPATCH(x.device(), k::tanh_forward, y.data(), x.data(), x.numel());
  record<TanhNode>(y, x, y.detach());
  return y;
}

Tensor softmax(const Tensor& x) {
  int64_t rows, K;
  last_dim(x, "softmax", rows, K);
  Tensor y = Tensor::empty(x.shape(), x.device());
  SSMTL_DISPATCH(x.device(), k::softmax_forward, y.data(), x.data(), rows, K);
  record<SoftmaxNode>(y, x, y.detach(), rows, K);
  return y;
}

Tensor log_softmax(const Tensor& x) {
  int64_t rows, K;
  last_dim(x, "log_softmax", rows, K);
  Tensor y = Tensor::empty(x.shape(), x.device());
  SSMTL_DISPATCH(x.device(), k::log_softmax_forward, y.data(), x.data(), rows, K);
  record<LogSoftmaxNode>(y, x, y.detach(), rows, K);
  return y;
}

}  // namespace ssmtl
