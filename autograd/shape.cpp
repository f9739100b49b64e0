#include "autograd/shape.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "autograd/elementwise.h"
#include "autograd/engine.h"
#include "kernels/shape.h"

namespace ssmtl {
using autograd::grad_buffer;
namespace k = kernels;

namespace {

std::string list_str(const std::vector<int>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + ")";
}

// Resolves a possibly negative dimension index of a rank-`rank` tensor, or throws naming the op.
int wrap_dim(const char* op, int dim, int rank, const Tensor& x) {
  const int d = dim < 0 ? dim + rank : dim;
  if (d < 0 || d >= rank)
    throw std::invalid_argument(std::string(op) + ": dimension " + std::to_string(dim) + " out of range for input " +
                                shape_str(x.shape()));
  return d;
}

// Product of sizes in [from, to).
int64_t span(const Shape& s, int from, int to) {
  int64_t n = 1;
  for (int d = from; d < to; ++d) n *= s[d];
  return n;
}

struct PermuteNode : Node {
  Shape in_shape;
  std::vector<int> perm;
  PermuteNode(Shape s, std::vector<int> p) : in_shape(std::move(s)), perm(std::move(p)) {}
  const char* name() const override { return "PermuteBackward"; }
  void backward(const Tensor& g) override {
    const autograd::GradOut gx = autograd::grad_out(inputs[0]);
    if (!gx.data) return;
    const int rank = static_cast<int>(perm.size());
    if (!gx.add) {   // a new gradient: g permuted back by the inverse permutation, written (no zero-fill, no read)
      std::vector<int> inv(perm.size());
      Shape out_shape(perm.size());
      for (int d = 0; d < rank; ++d) inv[perm[d]] = d, out_shape[d] = in_shape[perm[d]];
      autograd::book_bytes(4.0 * 2 * g.numel(), g);   // g read, gx written
      SSMTL_DISPATCH(g.device(), k::permute_forward, gx.data, g.data(), out_shape.data(), inv.data(), rank);
      return;
    }
    autograd::book_bytes(4.0 * 3 * g.numel(), g);   // g read, gx read and written
    SSMTL_DISPATCH(g.device(), k::permute_backward, gx.data, g.data(), in_shape.data(), perm.data(), rank);
  }
};

// The output, seen as (rows, out_width), holds input i in its column block [offsets[i], offsets[i] +
// widths[i]); input i's gradient is that block of the output gradient.
struct ConcatNode : Node {
  int64_t rows, out_width;
  std::vector<int64_t> widths, offsets;   // per input
  const char* name() const override { return "ConcatBackward"; }
  void backward(const Tensor& g) override {
    for (size_t i = 0; i < inputs.size(); ++i) {
      float* gx = grad_buffer(inputs[i]);
      if (gx && rows * widths[i] > 0)
        SSMTL_DISPATCH(g.device(), k::copy_rows_backward, gx, g.data() + offsets[i], rows, widths[i], widths[i],
                       out_width);
    }
  }
};

struct SliceNode : Node {
  int64_t rows, width, in_width, offset;
  SliceNode(int64_t r, int64_t w, int64_t iw, int64_t o) : rows(r), width(w), in_width(iw), offset(o) {}
  const char* name() const override { return "SliceBackward"; }
  void backward(const Tensor& g) override {
    float* gx = grad_buffer(inputs[0]);
    if (gx && rows * width > 0)
      SSMTL_DISPATCH(g.device(), k::copy_rows_backward, gx + offset, g.data(), rows, width, in_width, width);
  }
};

}  // namespace

Tensor permute(const Tensor& x, const std::vector<int>& dims) {
  const int rank = x.dim();
  if (static_cast<int>(dims.size()) != rank)
    throw std::invalid_argument("permute: dims " + list_str(dims) + " do not match the rank of input " +
                                shape_str(x.shape()));
  std::vector<int> perm(rank);
  std::vector<bool> used(rank, false);
  for (int k = 0; k < rank; ++k) {
    const int d = dims[k] < 0 ? dims[k] + rank : dims[k];
    if (d < 0 || d >= rank || used[d])
      throw std::invalid_argument("permute: dims " + list_str(dims) + " are not a permutation for input " +
                                  shape_str(x.shape()));
    used[d] = true;
    perm[k] = d;
  }
  Shape out_shape(rank);
  for (int k = 0; k < rank; ++k) out_shape[k] = x.size(perm[k]);
  Tensor out = Tensor::empty(out_shape, x.device());
  autograd::book_bytes(4.0 * 2 * x.numel(), x);   // x read, out written
  SSMTL_DISPATCH(x.device(), k::permute_forward, out.data(), x.data(), x.shape().data(), perm.data(), rank);
  if (autograd::needs_grad({&x})) {
    auto n = std::make_shared<PermuteNode>(x.shape(), perm);
    n->inputs = {x};
    autograd::attach(out, n);
  }
  return out;
}

Tensor concat(const std::vector<Tensor>& xs, int dim) {
  if (xs.empty()) throw std::invalid_argument("concat: no input tensors");
  const Tensor& x0 = xs[0];
  if (x0.dim() == 0) throw std::invalid_argument("concat: input 0 is a scalar (shape [])");
  const int rank = x0.dim(), d = wrap_dim("concat", dim, rank, x0);
  Shape out_shape = x0.shape();
  out_shape[d] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    bool ok = xs[i].dim() == rank;
    for (int a = 0; ok && a < rank; ++a) ok = a == d || xs[i].size(a) == x0.size(a);
    if (!ok)
      throw std::invalid_argument("concat: input " + std::to_string(i) + " has shape " + shape_str(xs[i].shape()) +
                                  ", input 0 has " + shape_str(x0.shape()) + " (only dimension " +
                                  std::to_string(d) + " may differ)");
    check_same_device(x0, xs[i], "concat");
    out_shape[d] += xs[i].size(d);
  }
  Tensor out = Tensor::empty(out_shape, x0.device());
  auto n = std::make_shared<ConcatNode>();
  n->rows = span(out_shape, 0, d);
  n->out_width = span(out_shape, d, rank);
  int64_t offset = 0;
  for (const Tensor& x : xs) {
    const int64_t w = x.numel() / std::max<int64_t>(n->rows, 1);
    if (n->rows * w > 0)
      SSMTL_DISPATCH(x0.device(), k::copy_rows_forward, out.data() + offset, x.data(), n->rows, w, n->out_width, w);
    n->widths.push_back(w);
    n->offsets.push_back(offset);
    offset += w;
  }
  if (autograd::needs_grad(xs)) {
    n->inputs = xs;
    autograd::attach(out, n);
  }
  return out;
}

Tensor slice(const Tensor& x, int dim, int64_t start, int64_t end) {
  if (x.dim() == 0) throw std::invalid_argument("slice: input is a scalar (shape [])");
  const int d = wrap_dim("slice", dim, x.dim(), x);
  const int64_t size = x.size(d), s = start < 0 ? start + size : start, e = end < 0 ? end + size : end;
  if (s < 0 || e > size || s > e)
    throw std::invalid_argument("slice: range [" + std::to_string(start) + ", " + std::to_string(end) +
                                ") is out of bounds for dimension " + std::to_string(d) + " of input " +
                                shape_str(x.shape()));
  Shape out_shape = x.shape();
  out_shape[d] = e - s;
  const int64_t rows = span(x.shape(), 0, d), inner = span(x.shape(), d + 1, x.dim());
  const int64_t width = (e - s) * inner, in_width = size * inner, offset = s * inner;
  Tensor out = Tensor::empty(out_shape, x.device());
  if (rows * width > 0)
    SSMTL_DISPATCH(x.device(), k::copy_rows_forward, out.data(), x.data() + offset, rows, width, width, in_width);
  if (autograd::needs_grad({&x})) {
    auto n = std::make_shared<SliceNode>(rows, width, in_width, offset);
    n->inputs = {x};
    autograd::attach(out, n);
  }
  return out;
}

Tensor flatten(const Tensor& x, int start_dim, int end_dim) {
  if (x.dim() == 0) {
    if (start_dim < -1 || start_dim > 0 || end_dim < -1 || end_dim > 0)
      throw std::invalid_argument("flatten: dimensions out of range for a scalar input");
    return reshape(x, {1});
  }
  const int s = wrap_dim("flatten", start_dim, x.dim(), x), e = wrap_dim("flatten", end_dim, x.dim(), x);
  if (s > e)
    throw std::invalid_argument("flatten: start_dim " + std::to_string(start_dim) + " comes after end_dim " +
                                std::to_string(end_dim) + " for input " + shape_str(x.shape()));
  Shape out_shape(x.shape().begin(), x.shape().begin() + s);
  out_shape.push_back(span(x.shape(), s, e + 1));
  out_shape.insert(out_shape.end(), x.shape().begin() + e + 1, x.shape().end());
  return reshape(x, out_shape);
}

}  // namespace ssmtl
