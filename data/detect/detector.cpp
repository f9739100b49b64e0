#include "data/detect/detector.h"

#include <algorithm>
#include <fstream>
#include <stdexcept>

#include "autograd/engine.h"
#include "data/video/resize.h"

namespace ssmtl {

namespace {

DetectorOptions validated(DetectorOptions o) {
  if (!(o.conf_threshold >= 0.f && o.conf_threshold <= 1.f))
    throw std::invalid_argument("Detector: conf_threshold " + std::to_string(o.conf_threshold) + " outside [0, 1]");
  if (!(o.nms_iou >= 0.f && o.nms_iou <= 1.f))
    throw std::invalid_argument("Detector: nms_iou " + std::to_string(o.nms_iou) + " outside [0, 1]");
  if (o.batch_size < 1) throw std::invalid_argument("Detector: batch_size must be at least 1");
  return o;
}

}  // namespace

Detector::Detector(const std::string& cfg_path, const std::string& weights_path, DetectorOptions opt)
    : opt_(validated(std::move(opt))), net_(cfg_path, darknet::DarknetOptions{opt_.bn_eps, opt_.device}) {
  net_.load_weights(weights_path);
  for (const darknet::YoloHead& h : net_.heads())
    if (h.classes != num_classes())
      throw std::runtime_error(cfg_path + ": [yolo] layers disagree on the number of classes");
  if (net_.input_channels() != 3) throw std::runtime_error(cfg_path + ": [net] channels must be 3 (RGB frames)");
  for (int c : opt_.classes)
    if (c < 0 || c >= num_classes())
      throw std::invalid_argument("Detector: class id " + std::to_string(c) + " outside the model's 0.." +
                                  std::to_string(num_classes() - 1) + " (" + cfg_path + ")");
}

Tensor Detector::preprocess(const std::vector<Image>& frames, size_t first, size_t count) const {
  if (first + count > frames.size()) throw std::invalid_argument("Detector::preprocess: frame range out of bounds");
  const int W = net_.input_width(), H = net_.input_height();
  const size_t plane = static_cast<size_t>(W) * H;
  Tensor x = Tensor::empty({static_cast<int64_t>(count), 3, H, W});
  float* out = x.data();
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < static_cast<int64_t>(count); ++k) {
    const Image& f = frames[first + k];
    crop_resize_bilinear(out + k * 3 * plane, f.rgb.data(), f.width, f.height, 3, 0, 0, f.width - 1, f.height - 1,
                         W, H, 1.f / 255.f, plane);
  }
  return x;
}

std::vector<Tensor> Detector::raw_outputs(const Tensor& input) const {
  autograd::NoGradGuard no_grad;
  std::vector<Tensor> out = net_.forward(input);
  for (Tensor& t : out) t = t.to(Device::CPU);   // decoding reads host memory
  return out;
}

std::vector<std::vector<Detection>> Detector::detect_full(const std::vector<Image>& frames) const {
  for (size_t i = 0; i < frames.size(); ++i)
    if (frames[i].empty() || frames[i].rgb.size() != static_cast<size_t>(frames[i].width) * frames[i].height * 3)
      throw std::invalid_argument("Detector::detect: frame " + std::to_string(i) + " is empty or not RGB");
  YoloDecodeOptions dec;
  dec.conf_threshold = opt_.conf_threshold;
  dec.classes = opt_.classes;
  dec.class_probs = opt_.class_probs;
  std::vector<std::vector<Detection>> result(frames.size());
  for (size_t first = 0; first < frames.size(); first += opt_.batch_size) {
    const size_t count = std::min(frames.size() - first, static_cast<size_t>(opt_.batch_size));
    const std::vector<Tensor> raw = raw_outputs(preprocess(frames, first, count));
    for (size_t k = 0; k < count; ++k) {
      const Image& f = frames[first + k];
      std::vector<Detection> cand = decode_yolo(raw, static_cast<int>(k), net_.heads(), net_.input_width(),
                                                net_.input_height(), f.width, f.height, dec);
      result[first + k] = suppress_and_clip(std::move(cand), opt_.nms_iou, f.width, f.height);
    }
  }
  return result;
}

std::vector<std::vector<Box>> Detector::detect(const std::vector<Image>& frames) const {
  std::vector<std::vector<Box>> out;
  out.reserve(frames.size());
  for (auto& dets : detect_full(frames)) {
    std::vector<Box> boxes;
    boxes.reserve(dets.size());
    for (const Detection& d : dets) boxes.push_back(d.box);
    out.push_back(std::move(boxes));
  }
  return out;
}

std::vector<std::string> load_class_names(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error(path + ": cannot open class names file");
  std::vector<std::string> names;
  std::string line;
  while (std::getline(f, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  if (names.empty()) throw std::runtime_error(path + ": no class names");
  return names;
}

}  // namespace ssmtl
