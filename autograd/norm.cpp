#include "autograd/norm.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/activation.h"
#include "autograd/engine.h"
#include "autograd/pool.h"
#include "kernels/norm.h"
#include "kernels/norm_pool.h"

namespace ssmtl {
using autograd::grad_buffer;
namespace k = kernels;

namespace {

const float* data_or_null(const Tensor& t) { return t.defined() ? t.data() : nullptr; }

// Saves the statistics actually used (batch or a snapshot of the running ones), so a later update of the
// running buffers cannot change this graph's gradient.
struct BatchNormNode : Node {
  Tensor mean, invstd;   // (C)
  bool batch_stats;
  int64_t N, C, inner;
  BatchNormNode(Tensor m, Tensor is, bool bs, int64_t n, int64_t c, int64_t i)
      : mean(std::move(m)), invstd(std::move(is)), batch_stats(bs), N(n), C(c), inner(i) {}
  const char* name() const override { return "BatchNormBackward"; }
  void backward(const Tensor& g) override {
    const Tensor &x = inputs[0], &gamma = inputs[1];
    const autograd::GradOut dx = autograd::grad_out(x, inputs);   // (written, not added, when new)
    autograd::book_bytes(4.0 * (dx.data ? (dx.add ? 4 : 3) : 2) * x.numel(), x);   // g, x read; dx (read and) written
    SSMTL_DISPATCH(g.device(), k::batch_norm_backward, dx.data, grad_buffer(gamma), grad_buffer(inputs[2]),
                   g.data(), x.data(), mean.data(), invstd.data(), data_or_null(gamma), batch_stats, dx.add, N, C,
                   inner);
  }
};

// Batch norm + ReLU in one node: the kernel recomputes the ReLU mask from x, gamma and beta (the inputs), so the
// node keeps only the statistics.
struct BatchNormReluNode : Node {
  Tensor mean, invstd;   // (C)
  bool batch_stats;
  int64_t N, C, inner;
  BatchNormReluNode(Tensor m, Tensor is, bool bs, int64_t n, int64_t c, int64_t i)
      : mean(std::move(m)), invstd(std::move(is)), batch_stats(bs), N(n), C(c), inner(i) {}
  const char* name() const override { return "BatchNormReluBackward"; }
  void backward(const Tensor& g) override {
    const Tensor &x = inputs[0], &gamma = inputs[1], &beta = inputs[2];
    const autograd::GradOut dx = autograd::grad_out(x, inputs);   // (written, not added, when new)
    autograd::book_bytes(4.0 * (dx.data ? (dx.add ? 4 : 3) : 2) * x.numel(), x);   // g, x read; dx (read and) written
    SSMTL_DISPATCH(g.device(), k::batch_norm_relu_backward, dx.data, grad_buffer(gamma), grad_buffer(beta),
                   g.data(), x.data(), mean.data(), invstd.data(), data_or_null(gamma), data_or_null(beta),
                   batch_stats, dx.add, N, C, inner);
  }
};

// Batch norm + ReLU + (1,2,2) max pooling in one node: keeps the statistics, each window's winner (idx: one byte
// per window, in a float tensor's storage so that it lives on the op's device) and x at the winner (xmax).
struct BatchNormReluPoolNode : Node {
  Tensor mean, invstd, idx, xmax;
  bool batch_stats;
  int64_t N, C, D, H, W;
  BatchNormReluPoolNode(Tensor m, Tensor is, Tensor ix, Tensor xm, bool bs, const Shape& s)
      : mean(std::move(m)), invstd(std::move(is)), idx(std::move(ix)), xmax(std::move(xm)), batch_stats(bs),
        N(s[0]), C(s[1]), D(s[2]), H(s[3]), W(s[4]) {}
  const char* name() const override { return "BatchNormReluPoolBackward"; }
  void backward(const Tensor& g) override {
    const Tensor &x = inputs[0], &gamma = inputs[1], &beta = inputs[2];
    const autograd::GradOut dx = autograd::grad_out(x, inputs);   // (written, not added, when new)
    // pooled size (the CPU kernel): dout twice, xmax and idx once; full size: x read, dx (read and) written
    autograd::book_bytes(13.0 * g.numel() + 4.0 * (dx.data ? (dx.add ? 3 : 2) : 0) * x.numel(), x);
    SSMTL_DISPATCH(g.device(), k::batch_norm_relu_pool_backward, dx.data, grad_buffer(gamma), grad_buffer(beta),
                   g.data(), reinterpret_cast<const uint8_t*>(idx.data()), xmax.data(), x.data(), mean.data(),
                   invstd.data(), data_or_null(gamma), data_or_null(beta), batch_stats, dx.add, N, C, D, H, W);
  }
};

thread_local ProcessSum t_sync;   // the innermost BatchNormSync's sum, or empty

// Batch norm with statistics over all processes (BatchNormSync): the sums of dy and dy * xhat are
// exchanged in backward, the parameter gradients keep this process's own sums.
struct SyncBatchNormNode : Node {
  Tensor mean, invstd;   // (C), global statistics
  ProcessSum sum;
  int64_t N, C, inner, M;   // M: values per channel over all processes
  SyncBatchNormNode(Tensor m, Tensor is, ProcessSum s, int64_t n, int64_t c, int64_t i, int64_t mm)
      : mean(std::move(m)), invstd(std::move(is)), sum(std::move(s)), N(n), C(c), inner(i), M(mm) {}
  const char* name() const override { return "SyncBatchNormBackward"; }
  void backward(const Tensor& g) override {
    const Tensor &x = inputs[0], &gamma = inputs[1];
    Tensor sdyx = Tensor::zeros({C}), sdy = Tensor::zeros({C});   // this process's sums
    k::batch_norm_backward_cpu(nullptr, sdyx.data(), sdy.data(), g.data(), x.data(), mean.data(), invstd.data(),
                               data_or_null(gamma), true, true, N, C, inner);
    auto add_into = [&](float* dst, const Tensor& src) {
      if (!dst) return;
      for (int64_t c = 0; c < C; ++c) dst[c] += src.data()[c];
    };
    add_into(grad_buffer(gamma), sdyx);
    add_into(grad_buffer(inputs[2]), sdy);
    float* dx = grad_buffer(x);
    // Every process takes part in the exchange, whether or not it needs dx.
    std::vector<double> sums(static_cast<size_t>(2 * C));
    for (int64_t c = 0; c < C; ++c) {
      sums[c] = sdy.data()[c];
      sums[C + c] = sdyx.data()[c];
    }
    sum(sums.data(), 2 * C);
    if (dx)
      k::batch_norm_backward_input_cpu(dx, g.data(), x.data(), mean.data(), invstd.data(), data_or_null(gamma),
                                       sums.data(), sums.data() + C, M, N, C, inner);
  }
};

struct LayerNormNode : Node {
  Tensor mean, invstd;   // (rows)
  int64_t rows, D;
  LayerNormNode(Tensor m, Tensor is, int64_t r, int64_t d) : mean(std::move(m)), invstd(std::move(is)), rows(r), D(d) {}
  const char* name() const override { return "LayerNormBackward"; }
  void backward(const Tensor& g) override {
    const Tensor &x = inputs[0], &gamma = inputs[1];
    const autograd::GradOut dx = autograd::grad_out(x, inputs);   // (written, not added, when new)
    autograd::book_bytes(4.0 * (dx.data ? (dx.add ? 4 : 3) : 2) * x.numel(), x);   // g, x read; dx (read and) written
    SSMTL_DISPATCH(g.device(), k::layer_norm_backward, dx.data, grad_buffer(gamma), grad_buffer(inputs[2]),
                   g.data(), x.data(), mean.data(), invstd.data(), data_or_null(gamma), dx.add, rows, D);
  }
};

// An optional per-feature buffer must be undefined or have shape (n) on x's device.
void check_vector(const Tensor& t, int64_t n, const Tensor& x, const char* op, const char* what) {
  if (!t.defined()) return;
  if (t.dim() != 1 || t.size(0) != n)
    throw std::invalid_argument(std::string(op) + ": " + what + " must have shape [" + std::to_string(n) +
                                "] for x " + shape_str(x.shape()) + ", got " + shape_str(t.shape()));
  check_same_device(x, t, op);
}

// Training-mode batch norm with BatchNormSync active (see autograd/norm.h).
Tensor sync_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                       Tensor& running_var, float momentum, float eps, const ProcessSum& sum) {
  if (x.device() != Device::CPU)
    throw std::invalid_argument("batch_norm: synchronised statistics (train.sync_bn) are implemented for CPU tensors only");
  const int64_t N = x.size(0), C = x.size(1), inner = C == 0 || N == 0 ? 0 : x.numel() / (N * C);
  Tensor mean = Tensor::empty({C}), var = Tensor::empty({C}), invstd = Tensor::empty({C});
  const int64_t Mr = N * inner;
  if (Mr > 0) k::batch_norm_stats_cpu(mean.data(), var.data(), x.data(), N, C, inner);
  std::vector<double> buf(static_cast<size_t>(C + 1), 0.0);
  for (int64_t c = 0; c < C && Mr > 0; ++c) buf[c] = static_cast<double>(Mr) * mean.data()[c];
  buf[C] = static_cast<double>(Mr);
  sum(buf.data(), C + 1);
  const double M = buf[C];
  if (M <= 1)
    throw std::invalid_argument("batch_norm: training needs more than 1 value per channel over all processes, x " +
                                shape_str(x.shape()));
  std::vector<double> mu(static_cast<size_t>(C)), q(static_cast<size_t>(C), 0.0);
  for (int64_t c = 0; c < C; ++c) {
    mu[c] = buf[c] / M;
    if (Mr > 0) {
      const double d = mean.data()[c] - mu[c];
      q[c] = static_cast<double>(Mr) * (var.data()[c] + d * d);
    }
  }
  sum(q.data(), C);
  for (int64_t c = 0; c < C; ++c) {
    mean.data()[c] = static_cast<float>(mu[c]);
    var.data()[c] = static_cast<float>(q[c] / M);
  }
  const int64_t Mall = static_cast<int64_t>(M);
  if (running_mean.defined())
    k::batch_norm_update_running_cpu(running_mean.data(), running_var.data(), mean.data(), var.data(), momentum, Mall, C);
  k::batch_norm_invstd_cpu(invstd.data(), var.data(), eps, C);
  Tensor y = Tensor::empty(x.shape());
  k::batch_norm_forward_cpu(y.data(), x.data(), mean.data(), invstd.data(), data_or_null(gamma), data_or_null(beta), N,
                            C, inner);
  if (autograd::needs_grad({&x, &gamma, &beta})) {
    auto n = std::make_shared<SyncBatchNormNode>(mean, invstd, sum, N, C, inner, Mall);
    n->inputs = {x, gamma, beta};
    autograd::attach(y, n);
  }
  return y;
}

}  // namespace

BatchNormSync::BatchNormSync(ProcessSum sum) : prev_(t_sync) { t_sync = std::move(sum); }
BatchNormSync::~BatchNormSync() { t_sync = prev_; }

namespace {

// The per-channel statistics a batch norm normalises with (batch or a snapshot of the running ones).
struct BnStats {
  Tensor mean, invstd;   // (C)
  bool batch_stats;
  int64_t N, C, inner;
};

// Validates the arguments of batch_norm / batch_norm_relu (errors name `op`).
void check_bn_args(const char* op, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                   const Tensor& running_mean, const Tensor& running_var) {
  if (x.dim() < 2)
    throw std::invalid_argument(std::string(op) + ": x must be (N, C, ...), got " + shape_str(x.shape()));
  const int64_t C = x.size(1);
  check_vector(gamma, C, x, op, "gamma");
  check_vector(beta, C, x, op, "beta");
  check_vector(running_mean, C, x, op, "running_mean");
  check_vector(running_var, C, x, op, "running_var");
  if (running_mean.defined() != running_var.defined())
    throw std::invalid_argument(std::string(op) +
                                ": running_mean and running_var must both be defined or both undefined");
}

// Batch statistics (updating the running ones in training) or the running statistics (eval).
BnStats bn_stats(const char* op, const Tensor& x, Tensor& running_mean, Tensor& running_var, bool training,
                 float momentum, float eps) {
  const int64_t N = x.size(0), C = x.size(1), inner = C == 0 || N == 0 ? 0 : x.numel() / (N * C);
  const bool batch_stats = training || !running_mean.defined();
  const int64_t M = N * inner;   // values per channel
  if (batch_stats && M <= 1)
    throw std::invalid_argument(std::string(op) + ": training needs more than 1 value per channel, x " +
                                shape_str(x.shape()));
  BnStats st{Tensor::empty({C}, x.device()), Tensor::empty({C}, x.device()), batch_stats, N, C, inner};
  if (batch_stats) {
    Tensor var = Tensor::empty({C}, x.device());
    autograd::book_bytes(4.0 * x.numel(), x);   // x read
    SSMTL_DISPATCH(x.device(), k::batch_norm_stats, st.mean.data(), var.data(), x.data(), N, C, inner);
    if (training && running_mean.defined())
      SSMTL_DISPATCH(x.device(), k::batch_norm_update_running, running_mean.data(), running_var.data(),
                     st.mean.data(), var.data(), momentum, M, C);
    SSMTL_DISPATCH(x.device(), k::batch_norm_invstd, st.invstd.data(), var.data(), eps, C);
  } else {
    st.mean.copy_from(running_mean);   // snapshot: the running buffers are never written in eval
    SSMTL_DISPATCH(x.device(), k::batch_norm_invstd, st.invstd.data(), running_var.data(), eps, C);
  }
  return st;
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                  Tensor& running_var, bool training, float momentum, float eps) {
  check_bn_args("batch_norm", x, gamma, beta, running_mean, running_var);
  if (training && t_sync) return sync_batch_norm(x, gamma, beta, running_mean, running_var, momentum, eps, t_sync);
  BnStats st = bn_stats("batch_norm", x, running_mean, running_var, training, momentum, eps);
  Tensor y = Tensor::empty(x.shape(), x.device());
  autograd::book_bytes(4.0 * 2 * x.numel(), x);   // x read, y written
  SSMTL_DISPATCH(x.device(), k::batch_norm_forward, y.data(), x.data(), st.mean.data(), st.invstd.data(),
                 data_or_null(gamma), data_or_null(beta), st.N, st.C, st.inner);
  if (autograd::needs_grad({&x, &gamma, &beta})) {
    auto n = std::make_shared<BatchNormNode>(st.mean, st.invstd, st.batch_stats, st.N, st.C, st.inner);
    n->inputs = {x, gamma, beta};
    autograd::attach(y, n);
  }
  return y;
}

Tensor batch_norm_relu(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                       Tensor& running_var, bool training, float momentum, float eps) {
  check_bn_args("batch_norm_relu", x, gamma, beta, running_mean, running_var);
  if (training && t_sync)   // the synchronised statistics keep their own node: compose
    return relu(sync_batch_norm(x, gamma, beta, running_mean, running_var, momentum, eps, t_sync));
  BnStats st = bn_stats("batch_norm_relu", x, running_mean, running_var, training, momentum, eps);
  Tensor y = Tensor::empty(x.shape(), x.device());
  autograd::book_bytes(4.0 * 2 * x.numel(), x);   // x read, y written
  SSMTL_DISPATCH(x.device(), k::batch_norm_relu_forward, y.data(), x.data(), st.mean.data(), st.invstd.data(),
                 data_or_null(gamma), data_or_null(beta), st.N, st.C, st.inner);
  if (autograd::needs_grad({&x, &gamma, &beta})) {
    auto n = std::make_shared<BatchNormReluNode>(st.mean, st.invstd, st.batch_stats, st.N, st.C, st.inner);
    n->inputs = {x, gamma, beta};
    autograd::attach(y, n);
  }
  return y;
}

Tensor batch_norm_relu_pool(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                            Tensor& running_var, bool training, float momentum, float eps) {
  const char* op = "batch_norm_relu_pool";
  if (x.dim() != 5 || x.size(3) < 2 || x.size(4) < 2)
    throw std::invalid_argument(std::string(op) + ": x must be (N, C, D, H, W) with H, W >= 2, got " +
                                shape_str(x.shape()));
  check_bn_args(op, x, gamma, beta, running_mean, running_var);
  if (training && t_sync) {   // the synchronised statistics keep their own node: compose
    Tensor y = relu(sync_batch_norm(x, gamma, beta, running_mean, running_var, momentum, eps, t_sync));
    return max_pool3d(y, Pool3dOptions{{1, 2, 2}, {1, 2, 2}, {0, 0, 0}});
  }
  BnStats st = bn_stats(op, x, running_mean, running_var, training, momentum, eps);
  const Shape os{x.size(0), x.size(1), x.size(2), x.size(3) / 2, x.size(4) / 2};
  Tensor out = Tensor::empty(os, x.device()), xmax = Tensor::empty(os, x.device());
  const int64_t windows = out.numel();
  Tensor idx = Tensor::empty({(windows + 3) / 4}, x.device());   // one byte per window
  autograd::book_bytes(4.0 * x.numel() + 9.0 * windows, x);   // x read; out, xmax, idx written
  SSMTL_DISPATCH(x.device(), k::batch_norm_relu_pool_forward, out.data(), reinterpret_cast<uint8_t*>(idx.data()),
                 xmax.data(), x.data(), st.mean.data(), st.invstd.data(), data_or_null(gamma), data_or_null(beta),
                 os[0], os[1], os[2], x.size(3), x.size(4));
  if (autograd::needs_grad({&x, &gamma, &beta})) {
    auto n = std::make_shared<BatchNormReluPoolNode>(st.mean, st.invstd, idx, xmax, st.batch_stats, x.shape());
    n->inputs = {x, gamma, beta};
    autograd::attach(out, n);
  }
  return out;
}

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
  if (x.dim() < 1) throw std::invalid_argument("layer_norm: x must have a last dimension, got " + shape_str(x.shape()));
  const int64_t D = x.size(-1), rows = D == 0 ? 0 : x.numel() / D;
  check_vector(gamma, D, x, "layer_norm", "gamma");
  check_vector(beta, D, x, "layer_norm", "beta");
  Tensor mean = Tensor::empty({rows}, x.device()), invstd = Tensor::empty({rows}, x.device());
  Tensor y = Tensor::empty(x.shape(), x.device());
  autograd::book_bytes(4.0 * 2 * x.numel(), x);   // x read, y written
  SSMTL_DISPATCH(x.device(), k::layer_norm_forward, y.data(), mean.data(), invstd.data(), x.data(),
                 data_or_null(gamma), data_or_null(beta), eps, rows, D);
  if (autograd::needs_grad({&x, &gamma, &beta})) {
    auto n = std::make_shared<LayerNormNode>(mean, invstd, rows, D);
    n->inputs = {x, gamma, beta};
    autograd::attach(y, n);
  }
  return y;
}

}  // namespace ssmtl
