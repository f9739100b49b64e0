// T5 pseudo-anomalies (SSMTL++, paper section 3.3): a decoder reconstructs out-of-distribution images
// (data/ood.h) while the backbone is pushed up that loss (gradient ascent, model/trainer.h), so that the
// features stop representing what normal training data never shows. Training only: no anomaly score.
// Loss: L1 reconstruction of the (B,3,1,S,S) images; bounded in [0,1] (sigmoid output, targets in [0,1]),
// so the ascent cannot diverge through the loss value; the trainer also stops the ascent above a cap.
#include <stdexcept>

#include "autograd/loss.h"
#include "data/samples/ood.h"
#include "data/video/resize.h"
#include "model/ssmtl.h"

namespace ssmtl {

namespace {

// A 64x64 OOD image resized to the model's crop side.
Tensor to_crop(const Tensor& img64, int S) {
  if (S == img64.size(-1)) return img64;
  Tensor out = Tensor::empty({3, S, S});
  resize_bilinear_planar(out.data(), img64.data(), static_cast<int>(img64.size(2)), static_cast<int>(img64.size(1)),
                         3, S, S);
  return out;
}

class PseudoAnomalies : public ProxyTask {
 public:
  PseudoAnomalies()
      : ProxyTask({"T5", "pseudo", "T5 pseudo-anomalies", "pseudo_anomalies", "pseudo", "pseudo",
                   Window::kSingleFrame, Source::kOodImages, Role::kAscent, false}) {}
  std::unique_ptr<Head> make_head(const ModelConfig& c, int channels, Rng& rng) const override {
    return std::make_unique<Decoder>(channels, c.decoder_hidden, rng);
  }
  void check_sources(const ModelConfig&, const ObjectPool&, const OodImages* ood) const override {
    if (!ood) throw std::invalid_argument("SampleBuilder: T5 needs the out-of-distribution images");
  }
  void begin_batch(TaskBatch& b, int64_t B, int S, const ObjectTeachers&) const override {
    Tensor x = Tensor::empty({B, 3, 1, S, S});
    b.inputs[info().input] = x;
    b.tasks[info().name].target = x;   // the same storage: the images are their own target
  }
  void sample(const ObjectSample& o, Rng& rng, TaskBatch& b, int64_t i) const override {
    Tensor bg = o.crop == 64 ? o.middle : Tensor();   // cut-outs are pasted on the object at 64x64
    put_row(b.inputs.at(info().input), i, to_crop(o.ood->sample(rng, bg), o.crop));
  }
  Tensor loss(Head& head, const Tensor& f, const TaskSamples& s, bool training) const override {
    return l1_loss(head.forward(f, training), squeeze_time(s.target));
  }
};

}  // namespace

std::unique_ptr<ProxyTask> make_pseudo_anomalies_task() { return std::make_unique<PseudoAnomalies>(); }

}  // namespace ssmtl
