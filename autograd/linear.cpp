#include "autograd/linear.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "autograd/engine.h"
#include "kernels/activation.h"
#include "kernels/matmul.h"

namespace ssmtl {
using autograd::grad_buffer;
namespace k = kernels;

namespace {

// The profiler's shapes (`ssmtl profile --shapes`): rows x in -> out, and batch x (M x K) (K x N); `grads` names
// the backward's products ("" for a forward).
void note_linear_shape(int64_t M, int64_t in, int64_t out, const char* grads = "") {
  SSMTL_PROF_SHAPE("%lldx%lld->%lld%s", (long long)M, (long long)in, (long long)out, grads);
}
void note_matmul_shape(int64_t batch, int64_t M, int64_t K, int64_t N, const char* grads = "") {
  SSMTL_PROF_SHAPE("%lldx(%lldx%lld)(%lldx%lld)%s", (long long)batch, (long long)M, (long long)K, (long long)K,
                   (long long)N, grads);
}

struct LinearNode : Node {
  int64_t M, in, out;
  LinearNode(int64_t m, int64_t i, int64_t o) : M(m), in(i), out(o) {}
  const char* name() const override { return "LinearBackward"; }
  void backward(const Tensor& g) override {
    const autograd::GradOut dx = autograd::grad_out(inputs[0], inputs);   // (written, not added, when new)
    float* dw = grad_buffer(inputs[1]);
    float* db = inputs.size() > 2 ? grad_buffer(inputs[2]) : nullptr;
    prof::add_flops(2.0 * M * in * out * ((dx.data ? 1 : 0) + (dw ? 1 : 0)));
    note_linear_shape(M, in, out, dx.data && dw ? " dx+dw" : dw ? " dw" : " dx");
    SSMTL_DISPATCH(g.device(), k::linear_backward, dx.data, dw, db, g.data(), inputs[0].data(), inputs[1].data(),
                   dx.add, M, in, out);
  }
};

// linear then GELU: keeps the pre-activation z (detached) for GELU's derivative. The backward is the
// composition's, step for step: dz = dy * gelu'(z) (gelu_backward writing a new buffer, as GeluNode writes
// the new gradient of z), then LinearNode's products with dz.
struct LinearGeluNode : Node {
  int64_t M, in, out;
  Tensor z;
  LinearGeluNode(int64_t m, int64_t i, int64_t o, Tensor pre) : M(m), in(i), out(o), z(std::move(pre)) {}
  const char* name() const override { return "LinearGeluBackward"; }
  void backward(const Tensor& g) override {
    const autograd::GradOut dx = autograd::grad_out(inputs[0], inputs);   // (written, not added, when new)
    float* dw = grad_buffer(inputs[1]);
    float* db = inputs.size() > 2 ? grad_buffer(inputs[2]) : nullptr;
    if (!dx.data && !dw && !db) return;
    Tensor dz = Tensor::empty(z.shape(), z.device());
    autograd::book_bytes(4.0 * 3 * g.numel(), g);   // as GeluNode: g and z read; dz written
    SSMTL_DISPATCH(g.device(), k::gelu_backward, dz.data(), g.data(), z.data(), false, g.numel());
    prof::add_flops(2.0 * M * in * out * ((dx.data ? 1 : 0) + (dw ? 1 : 0)));
    note_linear_shape(M, in, out, dx.data && dw ? " dx+dw" : dw ? " dw" : " dx");
    SSMTL_DISPATCH(g.device(), k::linear_backward, dx.data, dw, db, dz.data(), inputs[0].data(), inputs[1].data(),
                   dx.add, M, in, out);
  }
};

struct MatmulNode : Node {
  int64_t batch, M, K, N;
  bool b_shared;
  MatmulNode(int64_t bt, int64_t m, int64_t kk, int64_t n, bool s) : batch(bt), M(m), K(kk), N(n), b_shared(s) {}
  const char* name() const override { return "MatmulBackward"; }
  void backward(const Tensor& g) override {
    float* da = grad_buffer(inputs[0]);
    float* db = grad_buffer(inputs[1]);
    prof::add_flops(2.0 * batch * M * K * N * ((da ? 1 : 0) + (db ? 1 : 0)));
    note_matmul_shape(batch, M, K, N, da && db ? " da+db" : db ? " db" : " da");
    SSMTL_DISPATCH(g.device(), k::matmul_backward, da, db, g.data(), inputs[0].data(), inputs[1].data(), batch, M,
                   K, N, b_shared);
  }
};

}  // namespace

namespace {

// The checks of linear / linear_gelu (errors name `op`); returns M (the rows: product of x's leading sizes).
int64_t linear_rows(const char* op, const Tensor& x, const Tensor& w, const Tensor& bias) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument(std::string(op) + ": " + why + " (x " + shape_str(x.shape()) + ", w " +
                                shape_str(w.shape()) + ", bias " +
                                (bias.defined() ? shape_str(bias.shape()) : std::string("none")) + ")");
  };
  if (!x.defined() || !w.defined()) throw std::invalid_argument(std::string(op) + ": x and w must be defined tensors");
  if (w.dim() != 2) fail("w must be (out, in)");
  if (x.dim() < 1 || x.size(-1) != w.size(1)) fail("x must be (..., in) with in = w.size(1)");
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != w.size(0))) fail("bias must be (out)");
  check_same_device(x, w, op);
  if (bias.defined()) check_same_device(x, bias, op);
  return shape_numel(Shape(x.shape().begin(), x.shape().end() - 1));
}

}  // namespace

Tensor linear_gelu(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const int64_t M = linear_rows("linear_gelu", x, w, bias), in = w.size(1), out = w.size(0);
  Shape ys = x.shape();
  ys.back() = out;
  const bool grad = autograd::needs_grad({&x, &w, &bias});
  Tensor y = Tensor::empty(ys, x.device());
  Tensor z = grad ? Tensor::empty(ys, x.device()) : Tensor();
  prof::add_flops(2.0 * M * in * out);
  note_linear_shape(M, in, out);
  SSMTL_DISPATCH(x.device(), k::linear_gelu_forward, y.data(), grad ? z.data() : nullptr, x.data(), w.data(),
                 bias.defined() ? bias.data() : nullptr, M, in, out);
  if (grad) {
    auto n = std::make_shared<LinearGeluNode>(M, in, out, z);
    n->inputs = {x, w};
    if (bias.defined()) n->inputs.push_back(bias);
    autograd::attach(y, n);
  }
  return y;
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const int64_t M = linear_rows("linear", x, w, bias), in = w.size(1), out = w.size(0);
  Shape ys = x.shape();
  ys.back() = out;
  Tensor y = Tensor::empty(ys, x.device());
  prof::add_flops(2.0 * M * in * out);
  note_linear_shape(M, in, out);
  SSMTL_DISPATCH(x.device(), k::linear_forward, y.data(), x.data(), w.data(),
                 bias.defined() ? bias.data() : nullptr, M, in, out);
  if (autograd::needs_grad({&x, &w, &bias})) {
    auto n = std::make_shared<LinearNode>(M, in, out);
    n->inputs = {x, w};
    if (bias.defined()) n->inputs.push_back(bias);
    autograd::attach(y, n);
  }
  return y;
}

Tensor mlp_residual_eval(const Tensor& x, const Tensor& ln_gamma, const Tensor& ln_beta, float eps, const Tensor& w1,
                         const Tensor& b1, const Tensor& w2, const Tensor& b2) {
  const char* op = "mlp_residual_eval";
  auto str = [](const Tensor& t) { return t.defined() ? shape_str(t.shape()) : std::string("undefined"); };
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument(std::string(op) + ": " + why + " (x " + str(x) + ", w1 " + str(w1) + ", w2 " +
                                str(w2) + ")");
  };
  if (!x.defined() || x.dim() < 1) fail("x must be (..., D)");
  const int64_t D = x.size(-1);
  if (!w1.defined() || w1.dim() != 2 || w1.size(1) != D || w1.size(0) < 1) fail("w1 must be (H, D), H >= 1");
  const int64_t H = w1.size(0), M = D == 0 ? 0 : x.numel() / D;
  if (!w2.defined() || w2.dim() != 2 || w2.size(0) != D || w2.size(1) != H) fail("w2 must be (D, H)");
  const Tensor* vecs[] = {&ln_gamma, &ln_beta, &b1, &b2};
  const char* names[] = {"ln_gamma", "ln_beta", "b1", "b2"};
  for (int i = 0; i < 4; ++i) {
    if (!vecs[i]->defined()) continue;
    const bool hidden = i == 2;   // b1 has H entries, the others D
    if (vecs[i]->dim() != 1 || vecs[i]->size(0) != (hidden ? H : D))
      fail(std::string(names[i]) + (hidden ? " must be (H)" : " must be (D)"));
    check_same_device(x, *vecs[i], op);
  }
  check_same_device(x, w1, op);
  check_same_device(x, w2, op);
  if (autograd::needs_grad({&x, &ln_gamma, &ln_beta, &w1, &b1, &w2, &b2}))
    fail("inference only, but gradients are being recorded for an input (run it under autograd::NoGradGuard)");
  Tensor y = Tensor::empty(x.shape(), x.device());
  if (M == 0) return y;
  prof::add_flops(4.0 * M * D * H);
  SSMTL_PROF_SHAPE("%lldx%lld->%lld->%lld", (long long)M, (long long)D, (long long)H, (long long)D);
  auto data = [](const Tensor& t) { return t.defined() ? t.data() : nullptr; };
  SSMTL_DISPATCH(x.device(), k::mlp_residual_forward, y.data(), x.data(), data(ln_gamma), data(ln_beta), eps,
                 w1.data(), data(b1), w2.data(), data(b2), M, D, H);
  return y;
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) throw std::invalid_argument("matmul: a and b must be defined tensors");
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument("matmul: " + why + ", a " + shape_str(a.shape()) + " @ b " + shape_str(b.shape()));
  };
  if (a.dim() < 2 || b.dim() < 2) fail("both operands need at least 2 dimensions");
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  if (b.size(-2) != K) fail("inner sizes differ");
  const bool b_shared = b.dim() == 2;
  if (!b_shared && (b.dim() != a.dim() || !std::equal(a.shape().begin(), a.shape().end() - 2, b.shape().begin())))
    fail("batch dimensions differ (b must have a's leading dimensions, or be 2-D)");
  check_same_device(a, b, "matmul");
  const int64_t batch = shape_numel(Shape(a.shape().begin(), a.shape().end() - 2));
  Shape cs = a.shape();
  cs.back() = N;
  Tensor c = Tensor::empty(cs, a.device());
  prof::add_flops(2.0 * batch * M * K * N);
  note_matmul_shape(batch, M, K, N);
  SSMTL_DISPATCH(a.device(), k::matmul_forward, c.data(), a.data(), b.data(), batch, M, K, N, b_shared);
  if (autograd::needs_grad({&a, &b})) {
    auto n = std::make_shared<MatmulNode>(batch, M, K, N, b_shared);
    n->inputs = {a, b};
    autograd::attach(c, n);
  }
  return c;
}

}  // namespace ssmtl
