#include "data/detect/darknet.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ssmtl::darknet {

const float* WeightReader::take(size_t n, const std::string& what) {
  if (n > remaining())
    throw std::runtime_error(path_ + ": weights file too short for the .cfg: " + what + " needs " + std::to_string(n) +
                             " floats, only " + std::to_string(remaining()) + " left");
  const float* p = v_.data() + pos_;
  for (size_t i = 0; i < n; ++i)   // NaN / inf weights would make every detection vanish without an error
    if (!std::isfinite(p[i]))
      throw std::runtime_error(path_ + ": " + what + ": non-finite value " + std::to_string(p[i]) + " at index " +
                               std::to_string(i) + " (float " + std::to_string(pos_ + i) + " of the payload)");
  pos_ += n;
  return p;
}

Network::Network(const std::string& cfg_path, DarknetOptions opt) : cfg_path_(cfg_path), opt_(opt) {
  build(parse_cfg_file(cfg_path));
}

Network::Network(const Cfg& cfg, DarknetOptions opt) : cfg_path_(cfg.path), opt_(opt) { build(cfg); }

void Network::build(const Cfg& cfg) {
  const CfgSection& first = cfg.sections.front();
  CfgReader net(cfg, first);
  if (first.type != "net" && first.type != "network")
    net.fail("", "the first section must be [net] (the input size)");
  // [net]: the input size is read; the rest are darknet's training settings, known so that a misspelt key
  // is an error rather than a silent default.
  net.check_keys({"width", "height", "channels", "batch", "subdivisions", "momentum", "decay", "angle",
                  "saturation", "exposure", "hue", "learning_rate", "burn_in", "max_batches", "policy", "steps",
                  "scales", "step", "gamma", "power", "mosaic", "mixup", "cutmix", "flip", "blur", "letter_box",
                  "max_chart_loss", "label_smooth_eps", "adam", "B1", "B2", "eps", "aspect", "jitter", "min_crop",
                  "max_crop", "inputs", "workspace_size_limit_MB", "optimized_memory", "resize_step"});
  in_ = {net.get_int("channels", 3), net.get_int("height"), net.get_int("width")};
  if (in_.c < 1 || in_.h < 1 || in_.w < 1) net.fail("", "width, height and channels must be positive");
  // Bounds that keep every shape computation inside int and every layer's memory plausible.
  if (in_.c > 64 || in_.h > 8192 || in_.w > 8192) net.fail("", "width and height must be <= 8192, channels <= 64");

  std::vector<FeatureShape> shapes;
  for (size_t i = 1; i < cfg.sections.size(); ++i) {
    CfgReader r(cfg, cfg.sections[i]);
    const int index = static_cast<int>(i) - 1;
    const FeatureShape& input = shapes.empty() ? in_ : shapes.back();
    layers_.push_back(make_layer(r, index, shapes, input));
    shapes.push_back(layers_.back()->out);
    if (const YoloHead* h = layers_.back()->head()) heads_.push_back(*h);
  }
  if (layers_.empty()) throw std::runtime_error(cfg.path + ": no layers after [net]");
  if (heads_.empty()) throw std::runtime_error(cfg.path + ": no [yolo] layer, nothing to detect with");

  // An output may be released after the last layer that reads it (the next layer, or a route/shortcut).
  last_use_.assign(layers_.size(), 0);
  for (size_t i = 0; i < layers_.size(); ++i) {
    last_use_[i] = static_cast<int>(i) + 1;
    for (int ref : layers_[i]->references()) last_use_[ref] = std::max(last_use_[ref], static_cast<int>(i));
  }
}

void Network::load_weights(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(path + ": cannot open darknet .weights file");
  std::ostringstream ss;
  ss << f.rdbuf();
  const std::string bytes = ss.str();
  int32_t header[3] = {0, 0, 0};
  if (bytes.size() < sizeof(header)) throw std::runtime_error(path + ": truncated darknet .weights header");
  std::memcpy(header, bytes.data(), sizeof(header));
  major = header[0];
  minor = header[1];
  revision = header[2];
  // A version is three small numbers (darknet writes 0.2.0); anything else is not a .weights file (and
  // major * 10 would overflow).
  if (major < 0 || major > 1000 || minor < 0 || minor > 1000 || revision < 0)
    throw std::runtime_error(path + ": not a darknet .weights file (version " + std::to_string(major) + "." +
                             std::to_string(minor) + "." + std::to_string(revision) + ")");
  // darknet src/parser.c: `seen` is 64-bit from version 0.2 on, 32-bit before.
  const bool seen64 = major * 10 + minor >= 2;
  size_t pos = sizeof(header);
  if (bytes.size() < pos + (seen64 ? 8 : 4)) throw std::runtime_error(path + ": truncated darknet .weights header");
  if (seen64) {
    std::memcpy(&seen, bytes.data() + pos, 8);
    pos += 8;
  } else {
    uint32_t s32 = 0;
    std::memcpy(&s32, bytes.data() + pos, 4);
    seen = s32;
    pos += 4;
  }
  if ((bytes.size() - pos) % 4 != 0)
    throw std::runtime_error(path + ": payload of " + std::to_string(bytes.size() - pos) +
                             " bytes is not a whole number of float32 values");
  std::vector<float> values((bytes.size() - pos) / 4);
  if (!values.empty()) std::memcpy(values.data(), bytes.data() + pos, values.size() * 4);   // no memcpy(nullptr)

  WeightReader reader(path, std::move(values));
  for (auto& layer : layers_) layer->load_weights(reader, opt_);
  if (reader.remaining() != 0)
    throw std::runtime_error(path + ": weights file too long for " + cfg_path_ + ": " +
                             std::to_string(reader.remaining()) + " floats left after the last layer");
  loaded_ = true;
}

size_t Network::num_parameters() const {
  size_t n = 0;
  for (const auto& l : layers_) n += l->num_parameters();
  return n;
}

std::vector<Tensor> Network::forward(const Tensor& x) const {
  if (!loaded_) throw std::logic_error("darknet forward (" + cfg_path_ + "): weights not loaded");
  if (x.dim() != 4 || x.size(1) != in_.c || x.size(2) != in_.h || x.size(3) != in_.w)
    throw std::invalid_argument("darknet forward (" + cfg_path_ + "): input " + shape_str(x.shape()) +
                                ", expected [B, " + std::to_string(in_.c) + ", " + std::to_string(in_.h) + ", " +
                                std::to_string(in_.w) + "]");
  const Tensor x_dev = x.to(opt_.device);
  std::vector<Tensor> outputs(layers_.size());
  std::vector<Tensor> heads;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Tensor& input = i == 0 ? x_dev : outputs[i - 1];
    outputs[i] = layers_[i]->forward(input, outputs);
    if (layers_[i]->head()) heads.push_back(outputs[i]);
    // Release what no later layer reads (keeps peak memory near the widest few activations).
    for (size_t j = 0; j <= i; ++j)
      if (outputs[j].defined() && static_cast<size_t>(last_use_[j]) <= i) outputs[j] = Tensor();
  }
  return heads;
}

}  // namespace ssmtl::darknet
