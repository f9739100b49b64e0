// The pretrained object detector of SSMTL++ (paper section 3.1; DESIGN.md section 2): a Yolo-Fastest 1.1
// darknet model (shared/weights/yolo-fastest) run on this engine, frames in, boxes out.
//
// Per frame: RGB uint8 -> bilinear resize to the network input (320x320 for Yolo-Fastest), no letterbox,
// values / 255, planar (data/video/resize.h pixel-centre convention, no rounding to uint8) -> network
// (data/detect/darknet.h) -> decoding, confidence threshold and class filter (data/detect/yolo_decode.h) -> class-wise
// NMS -> boxes clipped to the frame, in its inclusive pixel coordinates (regions/box.h).
// The golden test (tests/test_detector.cpp) matches OpenCV's darknet importer on Ped2 frames.
#pragma once
#include <string>
#include <vector>

#include "data/detect/darknet.h"
#include "data/detect/yolo_decode.h"
#include "data/video/image.h"

namespace ssmtl {

struct DetectorOptions {
  float conf_threshold = 0.25f;   // keep boxes with objectness * class probability >= this (per-dataset value)
  float nms_iou = 0.45f;          // class-wise NMS: drop a box overlapping a better one of its class by IoU > this
  std::vector<int> classes;       // allowed class ids (COCO: 0 = person); empty = every class of the model
  bool class_probs = false;       // fill Detection::class_probs (distillation task T4)
  int batch_size = 8;             // frames per network call (bounds memory)
  float bn_eps = 1e-5f;           // batch-norm epsilon folded at load time (data/detect/darknet.h)
  Device device = Device::CPU;    // where the network runs; frames are resized and boxes decoded on the CPU
};

class Detector {
 public:
  // Loads the model. Throws std::runtime_error naming the file for unreadable or inconsistent .cfg /
  // .weights files, std::invalid_argument for invalid options (threshold outside [0, 1], NMS IoU outside
  // [0, 1], class id outside the model's classes, batch size < 1).
  Detector(const std::string& cfg_path, const std::string& weights_path, DetectorOptions opt = {});

  // Boxes per frame, highest score first. Frames may differ in size; empty frames throw std::invalid_argument
  // naming their index.
  std::vector<std::vector<Box>> detect(const std::vector<Image>& frames) const;
  // The same with class probabilities when options().class_probs is set.
  std::vector<std::vector<Detection>> detect_full(const std::vector<Image>& frames) const;

  // Steps, exposed for tests and tools: the network input of frames [first, first + count), (count, 3, H, W),
  // on the CPU, and the raw head outputs for such an input (darknet::Network::forward, under NoGradGuard),
  // copied back to the CPU.
  Tensor preprocess(const std::vector<Image>& frames, size_t first, size_t count) const;
  std::vector<Tensor> raw_outputs(const Tensor& input) const;

  const darknet::Network& network() const { return net_; }
  const DetectorOptions& options() const { return opt_; }
  int num_classes() const { return net_.heads().front().classes; }

 private:
  DetectorOptions opt_;
  darknet::Network net_;
};

// Class names, one per line (coco.names, body.names); blank lines skipped. Throws naming the file.
std::vector<std::string> load_class_names(const std::string& path);

}  // namespace ssmtl
