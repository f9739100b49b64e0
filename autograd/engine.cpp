#include "autograd/engine.h"

#include <stdexcept>
#include <unordered_set>

#include "kernels/dispatch.h"
#include "kernels/elementwise.h"
#include "tensor/device.h"
#include "tensor/profile.h"

namespace ssmtl::autograd {

static thread_local bool g_grad_enabled = true;
bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : prev_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = prev_; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void attach(Tensor& out, std::shared_ptr<Node> node) {
  out.impl()->requires_grad = true;
  out.impl()->grad_fn = std::move(node);
}

namespace {
// A gradient buffer shared by several tensors (pass_grad: add's output gradient handed to both of its inputs)
// is only read while it is shared; the first tensor to add into it takes a private copy (copy-on-write). The
// storage's owners are the tensors' gradient views (and the running node's output gradient): one owner means
// the buffer is this tensor's alone.
float* own_grad(TensorImpl* impl) {
  TensorImpl& g = *impl->grad;
  if (g.storage.use_count() > 1) {
    const Device dev = g.storage->device();
    Tensor mine = Tensor::empty(g.shape, dev);
    prof::KernelScope scope("kernels::grad_copy");
    if (scope.recorded()) prof::add_bytes(8.0 * static_cast<double>(mine.numel()));
    device_copy(mine.data(), dev, g.storage->data() + g.offset, dev, static_cast<size_t>(mine.numel()));
    impl->grad = mine.impl_ptr();
  }
  return impl->grad->storage->data() + impl->grad->offset;
}
}  // namespace

float* grad_buffer(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return nullptr;
  TensorImpl* impl = t.impl();
  if (impl->grad) return own_grad(impl);
  // The backward kernels add into gradients, so a new one starts as zeros: its own profiler row (one write
  // of the buffer: a sizeable share of a training step's memory traffic), unless it is made inside another
  // op's scope, which then books the time (and its own bytes only).
  prof::KernelScope scope("kernels::grad_zero_fill");
  if (scope.recorded()) prof::add_bytes(4.0 * static_cast<double>(shape_numel(t.shape())));
  Tensor g = Tensor::zeros(t.shape(), t.device());
  impl->grad = g.impl_ptr();
  return impl->grad->storage->data() + impl->grad->offset;
}

GradOut grad_out(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  TensorImpl* impl = t.impl();
  if (impl->grad) return {own_grad(impl), true};
  impl->grad = Tensor::empty(t.shape(), t.device()).impl_ptr();
  return {impl->grad->storage->data() + impl->grad->offset, false};
}

GradOut grad_out(const Tensor& t, const std::vector<Tensor>& inputs) {
  int uses = 0;
  for (const Tensor& in : inputs) uses += in.defined() && t.defined() && in.impl() == t.impl();
  if (uses > 1) return {grad_buffer(t), true};
  return grad_out(t);
}

bool pass_grad(const Tensor& t, const Tensor& g, float alpha, bool may_take) {
  if (!t.defined() || !t.requires_grad()) return false;
  if (g.numel() != t.numel() || g.device() != t.device())
    throw std::logic_error("pass_grad: gradient of " + shape_str(g.shape()) + " for a tensor of " + shape_str(t.shape()));
  TensorImpl* impl = t.impl();
  if (may_take && !impl->grad && alpha == 1.f) {   // (tensors are contiguous)
    impl->grad = g.view(t.shape()).impl_ptr();   // (the node's output gradient is released right after)
    return true;
  }
  if (!impl->grad && alpha == 1.f) {
    // Shared with the tensor that took g (add's two inputs): read-only until one of them is added into
    // (own_grad copies then); run_backward unshares the leaves' gradients at its end.
    impl->grad = g.view(t.shape()).impl_ptr();
    return false;
  }
  float* dst = grad_buffer(t);   // the existing gradient, or zeros (alpha != 1 into a new one: sub's, rare)
  prof::add_bytes(4.0 * 3 * g.numel());
  SSMTL_DISPATCH(g.device(), kernels::axpy, dst, g.data(), alpha, g.numel());
  return false;
}

void backward(const Tensor& root) {
  if (root.numel() != 1)
    throw std::invalid_argument("backward(): needs a one-element tensor, got " + shape_str(root.shape()) +
                                "; pass a gradient for other shapes");
  run_backward(root, Tensor::ones(root.shape(), root.device()));
}

void backward(const Tensor& root, const Tensor& grad_output) {
  check_same_shape(root, grad_output, "backward(grad_output)");
  run_backward(root, grad_output);
}

void run_backward(const Tensor& root, const Tensor& grad_root) {
  if (!root.requires_grad())
    throw std::logic_error("backward(): the tensor does not require a gradient (no parameter behind it, "
                           "or it was computed under NoGradGuard)");
  // Iterative depth-first post-order over nodes gives a topological order (inputs before users).
  std::vector<std::shared_ptr<TensorImpl>> order;
  std::unordered_set<TensorImpl*> seen;
  std::vector<std::pair<std::shared_ptr<TensorImpl>, size_t>> stack;
  stack.push_back({root.impl_ptr(), 0});
  seen.insert(root.impl());
  while (!stack.empty()) {
    auto& [impl, next] = stack.back();
    Node* node = impl->grad_fn.get();
    if (node && next < node->inputs.size()) {
      const Tensor& in = node->inputs[next++];
      if (in.defined() && in.requires_grad() && !seen.count(in.impl())) {
        seen.insert(in.impl());
        stack.push_back({in.impl_ptr(), 0});
      }
      continue;
    }
    order.push_back(impl);
    stack.pop_back();
  }
  prof::PhaseGuard phase(prof::Phase::Backward);   // kernels below are booked as backward by the profiler
  // Seed: add grad_root into the root's gradient.
  {
    float* g = grad_buffer(root);
    Tensor gr = grad_root.device() == root.device() ? grad_root : grad_root.to(root.device());
    Tensor acc(root.impl()->grad);
    if (root.device() == Device::CPU) {
      const float* s = gr.data();
      const int64_t n = gr.numel();
      for (int64_t i = 0; i < n; ++i) g[i] += s[i];
    } else {
      // Rare path (root on the GPU): copy through the host.
      std::vector<float> a = acc.to_vector(), b = gr.to_vector();
      for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
      device_copy(g, Device::CUDA, a.data(), Device::CPU, a.size());
    }
  }
  // Leaves' gradients outlive the graph and are changed in place (sums across ranks, optimisers): one still
  // shared (add's gradient handed on unchanged to two leaves) gets its own copy, also when a backward throws.
  auto unshare_leaves = [&order] {
    for (const auto& impl : order)
      if (!impl->grad_fn && impl->grad) own_grad(impl.get());
  };
  try {
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      TensorImpl* impl = it->get();
      if (!impl->grad_fn) continue;   // leaf: keeps its accumulated gradient
      std::shared_ptr<Node> node = std::move(impl->grad_fn);
      if (impl->grad) node->backward(Tensor(impl->grad));
      impl->grad.reset();             // non-leaf gradients are not kept
      impl->requires_grad = false;    // graph released: a second backward through it is an error
    }
  } catch (...) {
    unshare_leaves();
    throw;
  }
  unshare_leaves();
}

}  // namespace ssmtl::autograd
