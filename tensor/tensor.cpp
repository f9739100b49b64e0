#include "tensor/tensor.h"

#include <sstream>
#include <stdexcept>

#include "tensor/device.h"

namespace ssmtl {

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << '[';
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << ']';
  return o.str();
}

Storage::Storage(size_t n, Device device) : size_(n), device_(device) { data_ = device_alloc(n, device); }
Storage::~Storage() { device_free(data_, size_, device_); }

static void check_shape(const Shape& shape) {
  if (shape.size() > static_cast<size_t>(kMaxDims))
    throw std::invalid_argument("tensor: at most 6 dimensions, got " + shape_str(shape));
  for (int64_t d : shape)
    if (d < 0) throw std::invalid_argument("tensor: negative dimension in " + shape_str(shape));
}

Tensor Tensor::empty(const Shape& shape, Device device) {
  check_shape(shape);
  auto impl = std::make_shared<TensorImpl>();
  try {
    impl->storage = std::make_shared<Storage>(static_cast<size_t>(shape_numel(shape)), device);
  } catch (const std::bad_alloc&) {   // name the request, not a bare "std::bad_alloc"
    throw std::runtime_error("out of memory: cannot allocate a tensor of shape " + shape_str(shape) + " (" +
                             std::to_string(static_cast<double>(shape_numel(shape)) * 4 / (1 << 20)) + " MiB)");
  }
  impl->shape = shape;
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, Device device) { return full(shape, 0.f, device); }

Tensor Tensor::full(const Shape& shape, float value, Device device) {
  Tensor t = empty(shape, device);
  t.fill(value);
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<float>& values) {
  if (static_cast<int64_t>(values.size()) != shape_numel(shape))
    throw std::invalid_argument("Tensor::from_vector: " + std::to_string(values.size()) +
                                " values for shape " + shape_str(shape));
  Tensor t = empty(shape);
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

static const TensorImpl& need(const std::shared_ptr<TensorImpl>& p) {
  if (!p) throw std::logic_error("tensor: use of an undefined Tensor");
  return *p;
}

const Shape& Tensor::shape() const { return need(impl_).shape; }

int64_t Tensor::size(int d) const {
  int n = dim();
  if (d < 0) d += n;
  if (d < 0 || d >= n)
    throw std::out_of_range("Tensor::size: dimension " + std::to_string(d) + " of " + shape_str(shape()));
  return shape()[d];
}

Device Tensor::device() const { return need(impl_).storage->device(); }
float* Tensor::data() { need(impl_); return impl_->storage->data() + impl_->offset; }
const float* Tensor::data() const { need(impl_); return impl_->storage->data() + impl_->offset; }

std::vector<float> Tensor::to_vector() const {
  std::vector<float> v(static_cast<size_t>(numel()));
  device_copy(v.data(), Device::CPU, data(), device(), v.size());
  return v;
}

float Tensor::item() const {
  if (numel() != 1) throw std::invalid_argument("Tensor::item: tensor of shape " + shape_str(shape()));
  return to_vector()[0];
}

Tensor Tensor::to(Device d) const {
  if (device() == d) return *this;
  Tensor t = empty(shape(), d);
  device_copy(t.data(), d, data(), device(), static_cast<size_t>(numel()));
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape(), device());
  device_copy(t.data(), device(), data(), device(), static_cast<size_t>(numel()));
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  if (src.numel() != numel())
    throw std::invalid_argument("Tensor::copy_from: " + shape_str(src.shape()) + " into " + shape_str(shape()));
  device_copy(data(), device(), src.data(), src.device(), static_cast<size_t>(numel()));
}

void Tensor::fill(float v) { device_fill(data(), v, static_cast<size_t>(numel()), device()); }

Tensor Tensor::view(const Shape& s) const {
  Shape out = s;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      if (infer >= 0) throw std::invalid_argument("Tensor::view: two -1 in " + shape_str(s));
      infer = static_cast<int>(i);
    } else {
      known *= out[i];
    }
  }
  if (infer >= 0) out[infer] = known == 0 ? 0 : numel() / known;
  check_shape(out);
  if (shape_numel(out) != numel())
    throw std::invalid_argument("Tensor::view: cannot view " + shape_str(shape()) + " as " + shape_str(s));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->offset = impl_->offset;
  impl->shape = out;
  return Tensor(std::move(impl));
}

Tensor Tensor::narrow0(int64_t start, int64_t length) const {
  if (dim() == 0 || start < 0 || length < 0 || start + length > shape()[0])
    throw std::out_of_range("Tensor::narrow0: rows [" + std::to_string(start) + ", " +
                            std::to_string(start + length) + ") of " + shape_str(shape()));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = shape();
  impl->shape[0] = length;
  impl->offset = impl_->offset + static_cast<size_t>(start * (numel() / std::max<int64_t>(shape()[0], 1)));
  return Tensor(std::move(impl));
}

bool Tensor::requires_grad() const { return need(impl_).requires_grad; }

Tensor& Tensor::set_requires_grad(bool on) {
  need(impl_);
  if (impl_->grad_fn) throw std::logic_error("set_requires_grad: only leaf tensors (not results of ops)");
  impl_->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return need(impl_).grad ? Tensor(impl_->grad) : Tensor(); }
void Tensor::zero_grad() { need(impl_); impl_->grad.reset(); }

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = need(impl_).storage;
  impl->offset = impl_->offset;
  impl->shape = impl_->shape;
  return Tensor(std::move(impl));
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* what) {
  if (a.shape() != b.shape())
    throw std::invalid_argument(std::string(what) + ": shapes differ, " + shape_str(a.shape()) + " vs " +
                                shape_str(b.shape()));
}

void check_same_device(const Tensor& a, const Tensor& b, const char* what) {
  if (a.device() != b.device())
    throw std::invalid_argument(std::string(what) + ": tensors on " + device_name(a.device()) + " and " +
                                device_name(b.device()));
}

}  // namespace ssmtl
