// Tensor: float32, row-major, contiguous, up to 6 dimensions (NCDHW for video batches, as PyTorch).
// A Tensor is a cheap handle (shared ownership) to a TensorImpl; copies of a handle alias the same data.
// Views (reshape/view, slice of the first dimension) share storage; every other op allocates.
// Autograd state (requires_grad, grad, grad_fn) lives in the TensorImpl; the graph and backward belong to
// autograd/engine.h (autograd::backward(loss)), one layer up: tensor/ depends on util/ only.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace ssmtl {

enum class Device { CPU, CUDA };
const char* device_name(Device d);

using Shape = std::vector<int64_t>;
constexpr int kMaxDims = 6;
int64_t shape_numel(const Shape& s);
std::string shape_str(const Shape& s);   // "[2, 3, 7, 64, 64]"

// Move-only owner of a float buffer on one device. CUDA buffers come from the caching allocator
// (kernels/cuda); in a build without CUDA, asking for one throws std::runtime_error.
class Storage {
 public:
  Storage(size_t n, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  float* data() { return data_; }
  const float* data() const { return data_; }
  size_t size() const { return size_; }
  Device device() const { return device_; }
 private:
  float* data_ = nullptr;
  size_t size_ = 0;
  Device device_ = Device::CPU;
};

struct Node;
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  size_t offset = 0;                      // in floats
  Shape shape;
  bool requires_grad = false;             // leaf parameter, or output of a recorded op
  std::shared_ptr<TensorImpl> grad;       // same shape and device; allocated by the first backward
  std::shared_ptr<Node> grad_fn;          // the op that produced this tensor (null for leaves)
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation (all contiguous) ----
  static Tensor empty(const Shape& shape, Device device = Device::CPU);   // uninitialised
  static Tensor zeros(const Shape& shape, Device device = Device::CPU);
  static Tensor full(const Shape& shape, float value, Device device = Device::CPU);
  static Tensor ones(const Shape& shape, Device device = Device::CPU) { return full(shape, 1.f, device); }
  // Copies `values` (size must equal the shape's element count, else std::invalid_argument).
  static Tensor from_vector(const Shape& shape, const std::vector<float>& values);
  static Tensor scalar(float v) { return from_vector({}, {v}); }

  // ---- shape ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int dim() const { return static_cast<int>(shape().size()); }
  int64_t size(int d) const;                // negative d counts from the end; throws std::out_of_range
  int64_t numel() const { return shape_numel(shape()); }
  Device device() const;
  bool is_cuda() const { return device() == Device::CUDA; }

  // ---- data ----
  float* data();                            // first element (storage + offset)
  const float* data() const;
  std::vector<float> to_vector() const;     // copies to host
  float item() const;                       // numel must be 1, else std::invalid_argument
  Tensor to(Device device) const;           // explicit transfer; returns *this when already there
  Tensor clone() const;                     // deep copy, no autograd history
  void copy_from(const Tensor& src);        // same numel; any devices
  void fill(float v);

  // ---- views without autograd history (for kernels, data loading and tests) ----
  Tensor view(const Shape& shape) const;    // same numel; one dimension may be -1
  Tensor narrow0(int64_t start, int64_t length) const;   // rows [start, start+length) of dim 0

  // ---- autograd ----
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on = true);   // only on leaves
  Tensor grad() const;                      // undefined Tensor when no gradient was computed
  void zero_grad();                         // drops the gradient buffer
  Tensor detach() const;                    // shares data, no history, requires_grad false

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Throws std::invalid_argument with `what` and both shapes when a != b.
void check_same_shape(const Tensor& a, const Tensor& b, const char* what);
void check_same_device(const Tensor& a, const Tensor& b, const char* what);

}  // namespace ssmtl
