// The darknet layer types (semantics documented in data/detect/darknet.h) and the table that maps a .cfg
// section type to its builder.
#include <cmath>
#include <functional>
#include <map>
#include <stdexcept>

#include "autograd/activation.h"
#include "autograd/conv.h"
#include "autograd/elementwise.h"
#include "autograd/pool.h"
#include "autograd/shape.h"
#include "data/detect/darknet.h"

namespace ssmtl::darknet {

namespace {

enum class Activation { Linear, Leaky, Relu, Logistic };

Activation parse_activation(const CfgReader& r, const std::string& fallback) {
  static const std::map<std::string, Activation> names = {
      {"linear", Activation::Linear}, {"leaky", Activation::Leaky}, {"relu", Activation::Relu},
      {"logistic", Activation::Logistic}};
  const std::string s = r.get_string("activation", fallback);
  auto it = names.find(s);
  if (it == names.end()) r.fail("activation", "'" + s + "' is not supported (linear, leaky, relu, logistic)");
  return it->second;
}

Tensor activate(const Tensor& x, Activation a) {
  switch (a) {
    case Activation::Linear: return x;
    case Activation::Leaky: return leaky_relu(x, 0.1f);   // darknet leaky_activate: x > 0 ? x : .1f * x
    case Activation::Relu: return relu(x);
    case Activation::Logistic: return sigmoid(x);
  }
  return x;
}

// A layer index as written in the .cfg: negative values count back from `index`.
int resolve_layer(const CfgReader& r, const std::string& key, int value, int index) {
  const int abs = value < 0 ? index + value : value;
  if (abs < 0 || abs >= index)
    r.fail(key, "layer " + std::to_string(value) + " does not refer to an earlier layer (this is layer " +
                    std::to_string(index) + ")");
  return abs;
}

std::string shape_text(const FeatureShape& s) {
  return std::to_string(s.c) + "x" + std::to_string(s.h) + "x" + std::to_string(s.w);
}

// ---- [convolutional] ---------------------------------------------------------------------------
class ConvLayer : public Layer {
 public:
  ConvLayer(const CfgReader& r, const FeatureShape& in) : in_(in) {
    filters_ = r.get_int("filters");
    size_ = r.get_int("size", 1);
    stride_ = r.get_int("stride", 1);
    groups_ = r.get_int("groups", 1);
    pad_ = r.get_int("pad", 0) ? size_ / 2 : r.get_int("padding", 0);
    bn_ = r.get_int("batch_normalize", 0) != 0;
    act_ = parse_activation(r, "logistic");   // darknet's default
    if (filters_ < 1 || size_ < 1 || stride_ < 1 || groups_ < 1 || pad_ < 0)
      r.fail("", "filters, size, stride and groups must be positive and padding non-negative");
    if (filters_ > 16384 || size_ > 64 || stride_ > 64 || pad_ > 64)   // no int overflow in the shapes below
      r.fail("", "filters must be <= 16384, size, stride and padding <= 64");
    if (in.c % groups_ != 0 || filters_ % groups_ != 0)
      r.fail("groups", std::to_string(groups_) + " groups do not divide " + std::to_string(in.c) +
                           " input channels and " + std::to_string(filters_) + " filters");
    if (r.has("stride_x") && r.get_int("stride_x") != stride_) r.fail("stride_x", "must equal stride");
    if (r.has("stride_y") && r.get_int("stride_y") != stride_) r.fail("stride_y", "must equal stride");
    for (const char* key : {"binary", "xnor", "antialiasing", "deform", "sway", "rotate", "stretch"})
      r.require_default(key, 0);
    r.require_default("dilation", 1);
    if (r.has("share_index")) r.fail("share_index", "shared weights are not supported");
    out.c = filters_;
    out.h = (in.h + 2 * pad_ - size_) / stride_ + 1;
    out.w = (in.w + 2 * pad_ - size_) / stride_ + 1;
    if (out.h < 1 || out.w < 1) r.fail("size", "the output of a " + shape_text(in) + " input would be empty");
  }
  const char* kind() const override { return "convolutional"; }

  size_t num_parameters() const override {
    return static_cast<size_t>(filters_) * (in_.c / groups_) * size_ * size_ + filters_;
  }

  void load_weights(WeightReader& rd, const DarknetOptions& opt) override {
    const std::string what = "[convolutional] of .cfg line " + std::to_string(line);
    const size_t n = static_cast<size_t>(filters_);
    const size_t per_filter = static_cast<size_t>(in_.c / groups_) * size_ * size_;
    const float* beta = rd.take(n, what + " (biases)");
    std::vector<double> gain(n, 1.0), shift(beta, beta + n);
    if (bn_) {
      const float* gamma = rd.take(n, what + " (batch-norm scales)");
      const float* mean = rd.take(n, what + " (batch-norm rolling mean)");
      const float* var = rd.take(n, what + " (batch-norm rolling variance)");
      for (size_t f = 0; f < n; ++f) {
        const double denom = static_cast<double>(var[f]) + opt.bn_eps;
        if (!(denom > 0))
          throw std::runtime_error(rd.path() + ": " + what + ": rolling variance " + std::to_string(var[f]) +
                                   " of filter " + std::to_string(f) + " is negative or NaN");
        gain[f] = gamma[f] / std::sqrt(denom);
        shift[f] = beta[f] - gamma[f] * static_cast<double>(mean[f]) / std::sqrt(denom);
      }
    }
    const float* w = rd.take(n * per_filter, what + " (weights)");
    std::vector<float> wv(n * per_filter), bv(n);
    for (size_t f = 0; f < n; ++f) {
      for (size_t i = 0; i < per_filter; ++i)
        wv[f * per_filter + i] = static_cast<float>(w[f * per_filter + i] * gain[f]);
      bv[f] = static_cast<float>(shift[f]);
    }
    weight_ = Tensor::from_vector({filters_, in_.c / groups_, size_, size_}, wv).to(opt.device);
    bias_ = Tensor::from_vector({filters_}, bv).to(opt.device);
  }

  Tensor forward(const Tensor& x, const std::vector<Tensor>&) const override {
    Conv2dOptions o;
    o.stride[0] = o.stride[1] = stride_;
    o.padding[0] = o.padding[1] = pad_;
    o.groups = groups_;
    return activate(conv2d(x, weight_, bias_, o), act_);
  }

 private:
  FeatureShape in_;
  int filters_ = 0, size_ = 1, stride_ = 1, groups_ = 1, pad_ = 0;
  bool bn_ = false;
  Activation act_ = Activation::Linear;
  Tensor weight_, bias_;   // BN folded in: (filters, in_c/groups, size, size), (filters)
};

// ---- [route]: concatenation (along channels) of earlier outputs, or a channel group of each ---------
class RouteLayer : public Layer {
 public:
  RouteLayer(const CfgReader& r, int index, const std::vector<FeatureShape>& shapes) {
    for (int v : r.get_ints("layers")) from_.push_back(resolve_layer(r, "layers", v, index));
    groups_ = r.get_int("groups", 1);
    group_id_ = r.get_int("group_id", 0);
    if (groups_ < 1 || group_id_ < 0 || group_id_ >= groups_)
      r.fail("group_id", "needs 0 <= group_id < groups (groups " + std::to_string(groups_) + ")");
    out = {0, shapes[from_[0]].h, shapes[from_[0]].w};
    for (int l : from_) {
      const FeatureShape& s = shapes[l];
      if (s.h != out.h || s.w != out.w)
        r.fail("layers", "layer " + std::to_string(l) + " is " + shape_text(s) + ", layer " +
                             std::to_string(from_[0]) + " is " + shape_text(shapes[from_[0]]) +
                             ": spatial sizes must agree");
      if (s.c % groups_ != 0)
        r.fail("groups", std::to_string(groups_) + " groups do not divide the " + std::to_string(s.c) +
                             " channels of layer " + std::to_string(l));
      out.c += s.c / groups_;
      if (out.c > 65536) r.fail("layers", "the concatenation would have over 65536 channels");
    }
  }
  const char* kind() const override { return "route"; }
  std::vector<int> references() const override { return from_; }

  Tensor forward(const Tensor&, const std::vector<Tensor>& outputs) const override {
    std::vector<Tensor> parts;
    for (int l : from_) {
      const Tensor& t = outputs[l];
      if (groups_ == 1) {
        parts.push_back(t);
      } else {
        const int64_t part = t.size(1) / groups_;
        parts.push_back(slice(t, 1, part * group_id_, part * (group_id_ + 1)));
      }
    }
    return parts.size() == 1 ? parts[0] : concat(parts, 1);
  }

 private:
  std::vector<int> from_;
  int groups_ = 1, group_id_ = 0;
};

// ---- [shortcut]: residual sum with one earlier output ----------------------------------------
class ShortcutLayer : public Layer {
 public:
  ShortcutLayer(const CfgReader& r, int index, const std::vector<FeatureShape>& shapes, const FeatureShape& in) {
    const std::vector<int> from = r.get_ints("from");
    if (from.size() != 1) r.fail("from", "only one layer is supported");
    from_ = resolve_layer(r, "from", from[0], index);
    act_ = parse_activation(r, "linear");
    if (r.get_string("weights_type", "none") != "none") r.fail("weights_type", "weighted shortcuts are not supported");
    const FeatureShape& s = shapes[from_];
    if (s.c != in.c || s.h != in.h || s.w != in.w)
      r.fail("from", "layer " + std::to_string(from_) + " is " + shape_text(s) + " but the input is " +
                         shape_text(in) + " (darknet's partial sums of unequal shapes are not supported)");
    out = in;
  }
  const char* kind() const override { return "shortcut"; }
  std::vector<int> references() const override { return {from_}; }
  Tensor forward(const Tensor& x, const std::vector<Tensor>& outputs) const override {
    return activate(add(x, outputs[from_]), act_);
  }

 private:
  int from_ = 0;
  Activation act_ = Activation::Linear;
};

// ---- [maxpool] --------------------------------------------------------------------------------
class MaxPoolLayer : public Layer {
 public:
  MaxPoolLayer(const CfgReader& r, const FeatureShape& in) {
    stride_ = r.get_int("stride", 1);
    size_ = r.get_int("size", stride_);
    if (stride_ < 1 || size_ < 1) r.fail("size", "size and stride must be positive");
    if (stride_ > 64 || size_ > 64) r.fail("size", "size and stride must be <= 64");
    if (r.get_int("padding", size_ - 1) != size_ - 1)
      r.fail("padding", "only darknet's default padding (size - 1) is supported");
    for (const char* key : {"stride_x", "stride_y"})
      if (r.has(key) && r.get_int(key) != stride_) r.fail(key, "must equal stride");
    r.require_default("maxpool_depth", 0);
    r.require_default("antialiasing", 0);
    out = {in.c, (in.h - 1) / stride_ + 1, (in.w - 1) / stride_ + 1};   // (in + (size-1) - size)/stride + 1
  }
  const char* kind() const override { return "maxpool"; }
  Tensor forward(const Tensor& x, const std::vector<Tensor>&) const override {
    return max_pool2d_same(x, size_, stride_);
  }

 private:
  int size_ = 1, stride_ = 1;
};

// ---- [upsample] -------------------------------------------------------------------------------
class UpsampleLayer : public Layer {
 public:
  UpsampleLayer(const CfgReader& r, const FeatureShape& in) {
    stride_ = r.get_int("stride", 2);
    if (stride_ < 1) r.fail("stride", "only up-sampling (stride >= 1) is supported");
    if (stride_ > 64 || static_cast<int64_t>(in.h) * stride_ > 8192 || static_cast<int64_t>(in.w) * stride_ > 8192)
      r.fail("stride", "the output would exceed 8192 pixels a side");
    r.require_default("scale", 1);
    out = {in.c, in.h * stride_, in.w * stride_};
  }
  const char* kind() const override { return "upsample"; }
  Tensor forward(const Tensor& x, const std::vector<Tensor>&) const override {
    return stride_ == 1 ? x : upsample_nearest2d(x, stride_);
  }

 private:
  int stride_ = 2;
};

// ---- [dropout]: identity at inference ------------------------------------------------------------
class DropoutLayer : public Layer {
 public:
  explicit DropoutLayer(const FeatureShape& in) { out = in; }
  const char* kind() const override { return "dropout"; }
  Tensor forward(const Tensor& x, const std::vector<Tensor>&) const override { return x; }
};

// ---- [yolo]: marks its input as a detection head; decoding is data/detect/yolo_decode.h -----------------
class YoloLayer : public Layer {
 public:
  YoloLayer(const CfgReader& r, int index, const FeatureShape& in) {
    const int num = r.get_int("num", 1);
    head_.classes = r.get_int("classes", 20);
    const std::vector<float> anchors = r.get_floats("anchors");
    if (num < 1 || num > 1000 || static_cast<int>(anchors.size()) != 2 * num)
      r.fail("anchors", std::to_string(anchors.size()) + " values, expected 2 * num = " + std::to_string(2 * static_cast<int64_t>(num)));
    for (size_t i = 0; i < anchors.size(); ++i)   // widths and heights in input pixels
      if (!(anchors[i] > 0))
        r.fail("anchors", "value " + std::to_string(i) + " (" + std::to_string(anchors[i]) + ") is not positive");
    std::vector<int> mask;
    if (r.has("mask")) {
      mask = r.get_ints("mask");
    } else {
      for (int i = 0; i < num; ++i) mask.push_back(i);
    }
    for (int m : mask) {
      if (m < 0 || m >= num) r.fail("mask", "anchor " + std::to_string(m) + " outside 0.." + std::to_string(num - 1));
      head_.anchors.push_back(anchors[2 * m]);
      head_.anchors.push_back(anchors[2 * m + 1]);
    }
    head_.scale_x_y = r.get_float("scale_x_y", 1.f);
    r.require_default("new_coords", 0);
    if (head_.classes < 1 || head_.classes > 10000) r.fail("classes", "must be in [1, 10000]");
    const int64_t expect = static_cast<int64_t>(mask.size()) * (head_.classes + 5);
    if (in.c != expect)
      r.fail("", "input has " + std::to_string(in.c) + " channels, expected " + std::to_string(mask.size()) +
                     " anchors x (5 + " + std::to_string(head_.classes) + " classes) = " + std::to_string(expect));
    head_.layer = index;
    head_.grid_h = in.h;
    head_.grid_w = in.w;
    out = in;
  }
  const char* kind() const override { return "yolo"; }
  const YoloHead* head() const override { return &head_; }
  Tensor forward(const Tensor& x, const std::vector<Tensor>&) const override { return x; }

 private:
  YoloHead head_;
};

using Builder = std::function<std::unique_ptr<Layer>(const CfgReader&, int, const std::vector<FeatureShape>&,
                                                     const FeatureShape&)>;

// Section type -> builder (darknet's own aliases included).
const std::map<std::string, Builder>& builders() {
  static const std::map<std::string, Builder> table = [] {
    std::map<std::string, Builder> t;
    t["convolutional"] = [](const CfgReader& r, int, const std::vector<FeatureShape>&, const FeatureShape& in) {
      return std::unique_ptr<Layer>(new ConvLayer(r, in));
    };
    t["route"] = [](const CfgReader& r, int i, const std::vector<FeatureShape>& s, const FeatureShape&) {
      return std::unique_ptr<Layer>(new RouteLayer(r, i, s));
    };
    t["shortcut"] = [](const CfgReader& r, int i, const std::vector<FeatureShape>& s, const FeatureShape& in) {
      return std::unique_ptr<Layer>(new ShortcutLayer(r, i, s, in));
    };
    t["maxpool"] = [](const CfgReader& r, int, const std::vector<FeatureShape>&, const FeatureShape& in) {
      return std::unique_ptr<Layer>(new MaxPoolLayer(r, in));
    };
    t["upsample"] = [](const CfgReader& r, int, const std::vector<FeatureShape>&, const FeatureShape& in) {
      return std::unique_ptr<Layer>(new UpsampleLayer(r, in));
    };
    t["dropout"] = [](const CfgReader&, int, const std::vector<FeatureShape>&, const FeatureShape& in) {
      return std::unique_ptr<Layer>(new DropoutLayer(in));
    };
    t["yolo"] = [](const CfgReader& r, int i, const std::vector<FeatureShape>&, const FeatureShape& in) {
      return std::unique_ptr<Layer>(new YoloLayer(r, i, in));
    };
    t["conv"] = t["convolutional"];
    t["max"] = t["maxpool"];
    return t;
  }();
  return table;
}

}  // namespace

// The keys each section type may hold: those the layer reads, and darknet's training-only keys, which
// do not change inference (jitter, ignore_thresh, ...). Anything else is refused by check_keys.
static const std::vector<std::string>& known_keys(const std::string& type) {
  static const std::map<std::string, std::vector<std::string>> table = {
      {"convolutional", {"filters", "size", "stride", "stride_x", "stride_y", "groups", "pad", "padding",
                         "batch_normalize", "activation", "binary", "xnor", "antialiasing", "deform", "sway",
                         "rotate", "stretch", "dilation", "share_index"}},
      {"route", {"layers", "groups", "group_id"}},
      {"shortcut", {"from", "activation", "weights_type"}},
      {"maxpool", {"size", "stride", "stride_x", "stride_y", "padding", "maxpool_depth", "antialiasing"}},
      {"upsample", {"stride", "scale"}},
      {"dropout", {"probability", "dropblock", "dropblock_size_rel", "dropblock_size_abs"}},
      {"yolo", {"mask", "anchors", "classes", "num", "scale_x_y", "new_coords",
                // training only
                "jitter", "ignore_thresh", "truth_thresh", "random", "iou_normalizer", "cls_normalizer",
                "obj_normalizer", "iou_loss", "iou_thresh", "iou_thresh_kind", "nms_kind", "beta_nms", "max_delta",
                "resize", "focal_loss", "label_smooth_eps", "counters_per_class", "objectness_smooth"}},
  };
  static const std::vector<std::string> none;
  std::string t = type == "conv" ? "convolutional" : type == "max" ? "maxpool" : type;
  auto it = table.find(t);
  return it == table.end() ? none : it->second;
}

std::unique_ptr<Layer> make_layer(const CfgReader& r, int index, const std::vector<FeatureShape>& shapes,
                                  const FeatureShape& input) {
  auto it = builders().find(r.section().type);
  if (it == builders().end()) r.fail("", "layer type not supported by this engine");
  r.check_keys(known_keys(r.section().type));
  std::unique_ptr<Layer> layer = it->second(r, index, shapes, input);
  layer->line = r.section().line;
  return layer;
}

}  // namespace ssmtl::darknet
