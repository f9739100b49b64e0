// Darknet networks (.cfg + .weights) run on this engine: the pretrained Yolo-Fastest 1.1 detectors of
// DESIGN.md section 2 (paper section 3.1 uses a pretrained YOLO detector; shared/weights/yolo-fastest).
//
// Supported sections (darknet semantics, AlexeyAB fork, which Yolo-Fastest is built on):
//   [net]            width, height, channels (the input size; training keys are ignored)
//   [convolutional]  filters, size, stride, pad (pad=1 means padding = size/2, else `padding`, default 0),
//                    groups, batch_normalize, activation (linear | leaky (slope 0.1) | relu | logistic)
//   [route]          layers (negative = relative to this layer), groups + group_id (a channel slice of each)
//   [shortcut]       from (one layer), activation linear: elementwise sum with that layer's output
//   [maxpool]        size, stride; darknet padding (size - 1, window starting at -(size-1)/2)
//   [upsample]       stride: nearest-neighbour up-sampling
//   [dropout]        identity at inference
//   [yolo]           mask, anchors, classes, num, scale_x_y: a detection head (decoded in data/detect/yolo_decode.h)
// Options that change the arithmetic and that this engine does not implement (dilation, antialiasing,
// binary/xnor convolutions, weighted shortcuts, new_coords, ...) are rejected with the file and line.
//
// Weights file (darknet src/parser.c load_weights): int32 major, minor, revision; then `seen` as uint64
// when major*10 + minor >= 2, else uint32; then per [convolutional] in order: biases[filters]; when
// batch_normalize: scales[filters], rolling_mean[filters], rolling_variance[filters]; then the weights
// [filters][channels/groups][size][size] (PyTorch's OIHW). All little-endian float32. We require the file
// to end exactly after the last layer (darknet does not check): a size mismatch is an error naming the file.
//
// Batch normalisation is folded into the convolution when the weights are loaded:
//   w' = w * gamma / sqrt(var + eps),   b' = beta - gamma * mean / sqrt(var + eps)   (computed in double)
// with eps = 1e-5 by default, the value AlexeyAB's darknet uses both in normalize_cpu and in
// fuse_conv_batchnorm (sqrt(variance + .00001)). Original darknet (pjreddie) divides by sqrt(var) + 1e-6
// and OpenCV's importer uses sqrt(var + 1e-6): DarknetOptions::bn_eps selects (the golden test uses 1e-6).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/detect/darknet_cfg.h"
#include "tensor/tensor.h"

namespace ssmtl::darknet {

struct FeatureShape {
  int c = 0, h = 0, w = 0;
};

// One [yolo] head, as the decoder needs it.
struct YoloHead {
  int layer = 0;                 // index of the [yolo] section among the layers (0-based, [net] excluded)
  int classes = 0;
  std::vector<float> anchors;    // the masked anchors: (w, h) pairs in network-input pixels
  float scale_x_y = 1.f;
  int grid_h = 0, grid_w = 0;
  int num_anchors() const { return static_cast<int>(anchors.size() / 2); }
};

struct DarknetOptions {
  float bn_eps = 1e-5f;        // see the header comment
  Device device = Device::CPU; // where the folded weights live and forward runs (the input is copied there)
};

// Sequential reader over the float payload of a .weights file; errors name the file.
class WeightReader {
 public:
  WeightReader(std::string path, std::vector<float> values) : path_(std::move(path)), v_(std::move(values)) {}
  // The next n floats; throws std::runtime_error naming the file and `what` when fewer remain or when one
  // of them is NaN or infinite (then with its index within `what`).
  const float* take(size_t n, const std::string& what);
  size_t remaining() const { return v_.size() - pos_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<float> v_;
  size_t pos_ = 0;
};

// A layer of the network. Layers see every earlier layer's output (route, shortcut refer back).
class Layer {
 public:
  virtual ~Layer() = default;
  virtual const char* kind() const = 0;
  // Reads this layer's parameters (only convolutions have any).
  virtual void load_weights(WeightReader&, const DarknetOptions&) {}
  virtual size_t num_parameters() const { return 0; }
  // x: the previous layer's output (the network input for layer 0); outputs[i]: layer i's output for
  // every i this layer references (others may have been released).
  virtual Tensor forward(const Tensor& x, const std::vector<Tensor>& outputs) const = 0;
  // Earlier layers read besides the previous one (so the network knows when an output may be freed).
  virtual std::vector<int> references() const { return {}; }
  // The detection head this layer is ([yolo] only).
  virtual const YoloHead* head() const { return nullptr; }

  FeatureShape out;   // output shape for one sample, set when the layer is built
  int line = 0;       // header line in the .cfg, for messages
};

class Network {
 public:
  // Parses and validates the .cfg (layer references, shapes). Throws std::runtime_error naming the
  // file and line of the first problem.
  explicit Network(const std::string& cfg_path, DarknetOptions opt = {});
  Network(const Cfg& cfg, DarknetOptions opt = {});

  // Loads (and folds) all parameters. Throws std::runtime_error naming the file when it cannot be read,
  // when its header is truncated, or when its size does not match the .cfg (too short or too long).
  void load_weights(const std::string& weights_path);
  bool weights_loaded() const { return loaded_; }

  // x: (B, channels, height, width), RGB in [0, 1], contiguous. Returns one raw tensor per [yolo]
  // head (in .cfg order): (B, A * (5 + classes), grid_h, grid_w), channel a*(5+classes) + k holds, for
  // anchor a: k = 0..3 tx, ty, tw, th; k = 4 objectness logit; k >= 5 class logits (no activation).
  // Run it under autograd::NoGradGuard for inference. x may live on any device; the outputs live on
  // DarknetOptions::device. Throws std::invalid_argument on a wrong input shape and std::logic_error
  // before load_weights.
  std::vector<Tensor> forward(const Tensor& x) const;

  int input_width() const { return in_.w; }
  int input_height() const { return in_.h; }
  int input_channels() const { return in_.c; }
  const std::vector<YoloHead>& heads() const { return heads_; }
  size_t num_layers() const { return layers_.size(); }
  const Layer& layer(size_t i) const { return *layers_[i]; }
  size_t num_parameters() const;
  const std::string& cfg_path() const { return cfg_path_; }
  // From the weights header: darknet version and the number of training images seen.
  int major = 0, minor = 0, revision = 0;
  uint64_t seen = 0;

 private:
  void build(const Cfg& cfg);

  std::string cfg_path_;
  DarknetOptions opt_;
  FeatureShape in_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<int> last_use_;   // last layer index that reads layer i's output
  std::vector<YoloHead> heads_;
  bool loaded_ = false;
};

// Builds one layer from its section (data/detect/darknet_layers.cpp holds the table of section types).
// index: the layer's position; shapes: output shapes of layers 0..index-1; input: the shape it reads.
// Throws std::runtime_error naming the file and line for an unknown type or an invalid option.
std::unique_ptr<Layer> make_layer(const CfgReader& r, int index, const std::vector<FeatureShape>& shapes,
                                  const FeatureShape& input);

}  // namespace ssmtl::darknet
