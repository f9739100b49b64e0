// Reverse-mode automatic differentiation.
//
// Every differentiable op, when gradients are being recorded, attaches to its output one Node: a small
// named class that keeps what its backward needs (inputs, saved activations, sizes). Backward walks the
// graph in reverse topological order (iteratively: no recursion depth limit) and each Node ADDS its
// contribution into its inputs' gradient buffers (grad_buffer below), so gradients of tensors used twice
// accumulate, as do gradients of leaves across several backward calls until zero_grad(). Write-first: the ops
// that produce most of a training step's gradient bytes (batch norm, batch norm + ReLU, linear, linear + GELU,
// GELU, max pooling, permute, convolutions (not the NCDHW depthwise one; the CvT's depthwise conv of tokens
// too), layer norm, up-sampling, temporal max pooling, attention on token rows; reshape and add hand theirs
// over, add to both inputs at once) write a new gradient instead of adding into zeros (grad_out, pass_grad),
// which saves the zero-fill pass over it.
//
// After backward the graph below the root is released (saved tensors freed, non-leaf gradients
// dropped), as PyTorch does without retain_graph.
#pragma once
#include <initializer_list>
#include <vector>

#include "tensor/profile.h"
#include "tensor/tensor.h"

namespace ssmtl {

struct Node {
  virtual ~Node() = default;
  virtual const char* name() const = 0;
  // grad_out: gradient of the loss w.r.t. this node's output (same shape and device).
  // Must add (never assign) into grad_buffer(input) of each input that requires a gradient, or assign where
  // grad_out(input) says the buffer is new.
  virtual void backward(const Tensor& grad_out) = 0;
  std::vector<Tensor> inputs;   // the graph edges; backward order follows them
};

namespace autograd {

// Gradient recording is on by default; NoGradGuard turns it off in its scope (inference).
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;
 private:
  bool prev_;
};

// The memory traffic of the next kernel (prof::add_bytes) and, when `ssmtl profile --shapes` books rows by shape,
// t's shape as that row's shape: the memory-bound ops' one call before their dispatch.
inline void book_bytes(double bytes, const Tensor& t) {
  prof::add_bytes(bytes);
  SSMTL_PROF_SHAPE("%s", shape_str(t.shape()).c_str());
}

// True when recording is on and at least one input requires a gradient.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Records `node` as the producer of `out`: out requires grad, node->inputs must already be set.
void attach(Tensor& out, std::shared_ptr<Node> node);

// Gradient buffer of t (allocated and zeroed on first use; a private copy first where it is shared, pass_grad),
// or nullptr when t needs no gradient.
float* grad_buffer(const Tensor& t);

// Write-first gradients: where a backward puts input t's gradient. `data` is nullptr when t needs none. `add`
// is true when the buffer already holds another user's contribution (add into it), false when it was just
// allocated for this call and is uninitialised: the kernel must then write every element (kernels take this
// as their add_dx flag). Saves grad_buffer's zero-fill pass over a new gradient.
struct GradOut {
  float* data = nullptr;
  bool add = true;
};
GradOut grad_out(const Tensor& t);
// grad_out(t) for a node's input t, or t's zero-filled gradient to add into (grad_buffer) when t appears more than
// once in the node's `inputs`: a node whose input is also its weight (linear(x, x)) must not write one share of
// the gradient over the other.
GradOut grad_out(const Tensor& t, const std::vector<Tensor>& inputs);

// Gives t the gradient alpha * g, where g is the calling node's output gradient (the buffer run_backward
// passed to Node::backward; only read, as it may be shared with another tensor) and has t's number of elements:
// when `may_take`, t has no gradient yet and alpha is 1, g's buffer itself becomes t's gradient (viewed in t's
// shape: no copy, no zero-fill) and the call returns true; else (false) g is added into t's existing gradient,
// or, where t has none, shared with the tensor that took it (copy-on-write: grad_buffer and grad_out give
// whoever adds into a shared buffer a private copy first, so a residual add costs no copy when one branch only
// reads its gradient; leaves whose gradients are still shared at the end of backward get a copy then, as they
// are changed in place afterwards). A node passing g to several inputs lets only one take it (add's backward:
// the first call's result says whether the second may). Nothing when t needs no gradient.
bool pass_grad(const Tensor& t, const Tensor& g, float alpha, bool may_take);

// Reverse-mode differentiation from `root`. Without grad_output, root must hold one element (seed gradient 1;
// else std::invalid_argument); with it, grad_output has root's shape (else std::invalid_argument).
void backward(const Tensor& root);
void backward(const Tensor& root, const Tensor& grad_output);

// backward without the checks.
void run_backward(const Tensor& root, const Tensor& grad_root);

}  // namespace autograd
}  // namespace ssmtl
