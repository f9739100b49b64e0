#include "autograd/pool.h"

#include <limits>
#include <stdexcept>
#include <string>

#include "autograd/engine.h"
#include "kernels/pool.h"

namespace ssmtl {
using autograd::grad_buffer;
using kernels::PoolGeometry;
namespace k = kernels;

namespace {

[[noreturn]] void fail(const char* op, const Tensor& x, const std::string& why) {
  throw std::invalid_argument(std::string(op) + ": input " + shape_str(x.shape()) + ": " + why);
}

// Checks the rank, and that the pooled (spatial) dimensions from `first_spatial` on are non-empty.
void require_rank(const char* op, const Tensor& x, int rank, const char* layout, int first_spatial = 2) {
  if (x.dim() != rank) fail(op, x, std::string("expected a ") + std::to_string(rank) + "-d tensor " + layout);
  for (int d = first_spatial; d < rank; ++d)
    if (x.size(d) == 0) fail(op, x, "empty dimension " + std::to_string(d));
}

std::string triple(const int v[3]) {
  return "(" + std::to_string(v[0]) + "," + std::to_string(v[1]) + "," + std::to_string(v[2]) + ")";
}

// Argmax offsets are int32 (see kernels/pool.h); they live in a float Tensor's storage of the same
// element count (4 bytes each) so that they sit on the op's device without a second buffer type.
static_assert(sizeof(int32_t) == sizeof(float), "argmax buffers reuse float storage");
int32_t* as_index(Tensor& t) { return reinterpret_cast<int32_t*>(t.data()); }

void check_plane_fits_int32(const char* op, const Tensor& x, int64_t plane) {
  if (plane > std::numeric_limits<int32_t>::max()) fail(op, x, "a (D, H, W) plane exceeds 2^31 elements");
}

struct MaxPoolNode : Node {
  PoolGeometry g;
  Tensor argmax;
  MaxPoolNode(const PoolGeometry& geom, Tensor am) : g(geom), argmax(std::move(am)) {}
  const char* name() const override { return "MaxPoolBackward"; }
  void backward(const Tensor& grad) override {
    const autograd::GradOut gx = autograd::grad_out(inputs[0]);   // (zeroed plane by plane when new)
    if (gx.data) SSMTL_DISPATCH(grad.device(), k::max_pool3d_backward, gx.data, grad.data(), as_index(argmax), gx.add, g);
  }
};

struct AvgPoolNode : Node {
  PoolGeometry g;
  explicit AvgPoolNode(const PoolGeometry& geom) : g(geom) {}
  const char* name() const override { return "AvgPoolBackward"; }
  void backward(const Tensor& grad) override {
    if (float* gx = grad_buffer(inputs[0])) SSMTL_DISPATCH(grad.device(), k::avg_pool3d_backward, gx, grad.data(), g);
  }
};

Tensor max_pool_impl(const Tensor& x, const PoolGeometry& g, const Shape& out_shape) {
  Tensor out = Tensor::empty(out_shape, x.device());
  if (!autograd::needs_grad({&x})) {
    SSMTL_DISPATCH(x.device(), k::max_pool3d_forward, out.data(), nullptr, x.data(), g);
    return out;
  }
  Tensor argmax = Tensor::empty(out_shape, x.device());
  SSMTL_DISPATCH(x.device(), k::max_pool3d_forward, out.data(), as_index(argmax), x.data(), g);
  auto n = std::make_shared<MaxPoolNode>(g, argmax);
  n->inputs = {x};
  autograd::attach(out, n);
  return out;
}

// Geometry of a PyTorch-style pooling (symmetric padding, floor output size) of x's last three
// dimensions `in` (depth 1 for the 2-d ops); `desc` describes the options in error messages.
PoolGeometry torch_geometry(const char* op, const Tensor& x, const int64_t in[3], const Pool3dOptions& o,
                            const std::string& desc) {
  int64_t out[3];
  for (int a = 0; a < 3; ++a) {
    if (o.kernel[a] <= 0 || o.stride[a] <= 0) fail(op, x, desc + ": kernel and stride must be positive");
    if (o.padding[a] < 0 || o.padding[a] > o.kernel[a] / 2)
      fail(op, x, desc + ": padding must be between 0 and half the kernel");
    const int64_t span = in[a] + 2 * o.padding[a] - o.kernel[a];
    if (span < 0) fail(op, x, desc + ": the window is larger than the padded input");
    out[a] = span / o.stride[a] + 1;
  }
  check_plane_fits_int32(op, x, in[0] * in[1] * in[2]);
  return PoolGeometry{x.size(0) * x.size(1), in[0], in[1], in[2], out[0], out[1], out[2],
                      o.kernel[0], o.kernel[1], o.kernel[2], o.stride[0], o.stride[1], o.stride[2],
                      o.padding[0], o.padding[1], o.padding[2]};
}

PoolGeometry torch_geometry_3d(const char* op, const Tensor& x, const Pool3dOptions& o) {
  require_rank(op, x, 5, "(N, C, D, H, W)");
  const int64_t in[3] = {x.size(2), x.size(3), x.size(4)};
  return torch_geometry(op, x, in, o,
                        "kernel " + triple(o.kernel) + ", stride " + triple(o.stride) + ", padding " + triple(o.padding));
}

Shape pooled_shape(const Tensor& x, const PoolGeometry& g, bool three_d) {
  if (three_d) return {x.size(0), x.size(1), g.oD, g.oH, g.oW};
  return {x.size(0), x.size(1), g.oH, g.oW};
}

}  // namespace

Tensor max_pool3d(const Tensor& x, const Pool3dOptions& opt) {
  PoolGeometry g = torch_geometry_3d("max_pool3d", x, opt);
  return max_pool_impl(x, g, pooled_shape(x, g, true));
}

Tensor avg_pool3d(const Tensor& x, const Pool3dOptions& opt) {
  PoolGeometry g = torch_geometry_3d("avg_pool3d", x, opt);
  Tensor out = Tensor::empty(pooled_shape(x, g, true), x.device());
  SSMTL_DISPATCH(x.device(), k::avg_pool3d_forward, out.data(), x.data(), g);
  if (autograd::needs_grad({&x})) {
    auto n = std::make_shared<AvgPoolNode>(g);
    n->inputs = {x};
    autograd::attach(out, n);
  }
  return out;
}

Tensor max_pool2d(const Tensor& x, int kernel, int stride, int padding) {
  require_rank("max_pool2d", x, 4, "(N, C, H, W)");
  // The 2-d pooling is the 3-d one with depth 1 and a depth-1 window.
  const Pool3dOptions o{{1, kernel, kernel}, {1, stride, stride}, {0, padding, padding}};
  const int64_t in[3] = {1, x.size(2), x.size(3)};
  PoolGeometry g = torch_geometry("max_pool2d", x, in, o,
                                  "kernel " + std::to_string(kernel) + ", stride " + std::to_string(stride) +
                                      ", padding " + std::to_string(padding));
  return max_pool_impl(x, g, pooled_shape(x, g, false));
}

Tensor max_pool2d_same(const Tensor& x, int size, int stride) {
  const char* op = "max_pool2d_same";
  require_rank(op, x, 4, "(N, C, H, W)");
  if (size <= 0 || stride <= 0)
    fail(op, x, "size " + std::to_string(size) + ", stride " + std::to_string(stride) + ": must be positive");
  check_plane_fits_int32(op, x, x.size(2) * x.size(3));
  const int pad = size - 1;   // darknet's default padding, split as pad/2 before and the rest after
  PoolGeometry g{x.size(0) * x.size(1), 1, x.size(2), x.size(3), 1,
                 (x.size(2) + pad - size) / stride + 1, (x.size(3) + pad - size) / stride + 1,
                 1, size, size, 1, stride, stride, 0, pad / 2, pad / 2};
  return max_pool_impl(x, g, pooled_shape(x, g, false));
}

// ---- global pooling and up-sampling -------------------------------------------------------------

namespace {

struct TemporalMaxNode : Node {
  int64_t planes, T, inner;
  Tensor argmax;
  TemporalMaxNode(int64_t p, int64_t t, int64_t i, Tensor am) : planes(p), T(t), inner(i), argmax(std::move(am)) {}
  const char* name() const override { return "TemporalMaxPoolBackward"; }
  void backward(const Tensor& grad) override {
    const autograd::GradOut gx = autograd::grad_out(inputs[0]);   // (written, not added, when new)
    if (gx.data)
      SSMTL_DISPATCH(grad.device(), k::temporal_max_pool_backward, gx.data, grad.data(), as_index(argmax), gx.add,
                     planes, T, inner);
  }
};

struct TemporalAvgNode : Node {
  int64_t planes, T, inner;
  TemporalAvgNode(int64_t p, int64_t t, int64_t i) : planes(p), T(t), inner(i) {}
  const char* name() const override { return "TemporalAvgPoolBackward"; }
  void backward(const Tensor& grad) override {
    if (float* gx = grad_buffer(inputs[0]))
      SSMTL_DISPATCH(grad.device(), k::temporal_avg_pool_backward, gx, grad.data(), planes, T, inner);
  }
};

struct GlobalAvgNode : Node {
  int64_t planes, inner;
  GlobalAvgNode(int64_t p, int64_t i) : planes(p), inner(i) {}
  const char* name() const override { return "GlobalAvgPoolBackward"; }
  void backward(const Tensor& grad) override {
    if (float* gx = grad_buffer(inputs[0]))
      SSMTL_DISPATCH(grad.device(), k::global_avg_pool_backward, gx, grad.data(), planes, inner);
  }
};

struct UpsampleNearestNode : Node {
  int64_t planes, H, W;
  int s;
  UpsampleNearestNode(int64_t p, int64_t h, int64_t w, int sc) : planes(p), H(h), W(w), s(sc) {}
  const char* name() const override { return "UpsampleNearest2dBackward"; }
  void backward(const Tensor& grad) override {
    const autograd::GradOut gx = autograd::grad_out(inputs[0]);   // (written, not added, when new)
    if (gx.data)
      SSMTL_DISPATCH(grad.device(), k::upsample_nearest2d_backward, gx.data, grad.data(), gx.add, planes, H, W, s);
  }
};

}  // namespace

Tensor temporal_max_pool(const Tensor& x) {
  require_rank("temporal_max_pool", x, 5, "(N, C, T, H, W)", 2);
  check_plane_fits_int32("temporal_max_pool", x, x.size(2));
  const int64_t planes = x.size(0) * x.size(1), T = x.size(2), inner = x.size(3) * x.size(4);
  const Shape out_shape{x.size(0), x.size(1), x.size(3), x.size(4)};
  Tensor out = Tensor::empty(out_shape, x.device());
  if (!autograd::needs_grad({&x})) {
    SSMTL_DISPATCH(x.device(), k::temporal_max_pool_forward, out.data(), nullptr, x.data(), planes, T, inner);
    return out;
  }
  Tensor argmax = Tensor::empty(out_shape, x.device());
  SSMTL_DISPATCH(x.device(), k::temporal_max_pool_forward, out.data(), as_index(argmax), x.data(), planes, T, inner);
  auto n = std::make_shared<TemporalMaxNode>(planes, T, inner, argmax);
  n->inputs = {x};
  autograd::attach(out, n);
  return out;
}

Tensor temporal_avg_pool(const Tensor& x) {
  require_rank("temporal_avg_pool", x, 5, "(N, C, T, H, W)", 2);
  const int64_t planes = x.size(0) * x.size(1), T = x.size(2), inner = x.size(3) * x.size(4);
  Tensor out = Tensor::empty({x.size(0), x.size(1), x.size(3), x.size(4)}, x.device());
  SSMTL_DISPATCH(x.device(), k::temporal_avg_pool_forward, out.data(), x.data(), planes, T, inner);
  if (autograd::needs_grad({&x})) {
    auto n = std::make_shared<TemporalAvgNode>(planes, T, inner);
    n->inputs = {x};
    autograd::attach(out, n);
  }
  return out;
}

Tensor global_avg_pool(const Tensor& x) {
  if (x.dim() < 3) fail("global_avg_pool", x, "expected (N, C, d1, ...) with at least one spatial dimension");
  require_rank("global_avg_pool", x, x.dim(), "(N, C, d1, ...)", 2);
  const int64_t planes = x.size(0) * x.size(1), inner = shape_numel(Shape(x.shape().begin() + 2, x.shape().end()));
  Tensor out = Tensor::empty({x.size(0), x.size(1)}, x.device());
  SSMTL_DISPATCH(x.device(), k::global_avg_pool_forward, out.data(), x.data(), planes, inner);
  if (autograd::needs_grad({&x})) {
    auto n = std::make_shared<GlobalAvgNode>(planes, inner);
    n->inputs = {x};
    autograd::attach(out, n);
  }
  return out;
}

Tensor upsample_nearest2d(const Tensor& x, int scale) {
  require_rank("upsample_nearest2d", x, 4, "(N, C, H, W)", 4);
  if (scale < 1) fail("upsample_nearest2d", x, "scale " + std::to_string(scale) + " must be at least 1");
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  Tensor out = Tensor::empty({x.size(0), x.size(1), scale * H, scale * W}, x.device());
  SSMTL_DISPATCH(x.device(), k::upsample_nearest2d_forward, out.data(), x.data(), planes, H, W, scale);
  if (autograd::needs_grad({&x})) {
    auto n = std::make_shared<UpsampleNearestNode>(planes, H, W, scale);
    n->inputs = {x};
    autograd::attach(out, n);
  }
  return out;
}

}  // namespace ssmtl
