// T6 inpainting (SSMTL++, paper section 3.3): reconstruct the middle crop from a copy with one square
// patch masked. Head: Decoder to 3 channels, mean squared error. Score: mask a patch, reconstruct, mask a
// new patch of the output, ... three times; mean squared error between the middle crop and the last
// reconstruction.
#include <algorithm>

#include "autograd/elementwise.h"
#include "autograd/loss.h"
#include "data/tasks.h"
#include "model/ssmtl.h"

namespace ssmtl {

namespace {

// The patch of one training sample or test-time pass. Sizes and spread scale with the crop side S (paper:
// 4..32 px, centre std 20 at 64x64).
Patch draw_patch(Rng& rng, int S) {
  const double k = S / 64.0;
  return sample_inpaint_patch(rng, S, S, std::max(1, static_cast<int>(4 * k)), static_cast<int>(32 * k), 20 * k);
}

class Inpainting : public ProxyTask {
 public:
  Inpainting()
      : ProxyTask({"T6", "inpainting", "T6 inpainting", "inpainting", "inpaint", "inpaint", Window::kSingleFrame,
                   Source::kFrames, Role::kDescent, false}) {}
  std::unique_ptr<Head> make_head(const ModelConfig& c, int channels, Rng& rng) const override {
    return std::make_unique<Decoder>(channels, c.decoder_hidden, rng);
  }
  void begin_batch(TaskBatch& b, int64_t B, int S, const ObjectTeachers&) const override {
    b.inputs[info().input] = Tensor::empty({B, 3, 1, S, S});
    b.tasks[info().name].target = Tensor::empty({B, 3, S, S});
  }
  void sample(const ObjectSample& o, Rng& rng, TaskBatch& b, int64_t i) const override {
    Patch p = draw_patch(rng, o.crop);
    Tensor masked = o.middle.clone();
    apply_patch(masked, p);
    put_row(b.inputs.at(info().input), i, masked);
    put_row(b.tasks.at(info().name).target, i, o.middle);
  }
  Tensor loss(Head& head, const Tensor& f, const TaskSamples& s, bool training) const override {
    return mse_loss(head.forward(f, training), s.target);
  }
  std::vector<float> score(Head& head, ScoreContext& c) const override {
    const Tensor& middle = c.middle();
    const int S = static_cast<int>(middle.size(-1));
    const int64_t N = c.n;
    const Device dev = c.model.device();
    std::vector<Rng> rngs;
    for (int64_t i = 0; i < N; ++i) rngs.emplace_back(c.seed ^ (c.keys[i] * 0x9E3779B97F4A7C15ULL));
    Tensor img = middle;
    for (int pass = 0; pass < 3; ++pass) {
      Tensor masked = img.to(Device::CPU).clone();   // patches are drawn and applied on the host
      for (int64_t i = 0; i < N; ++i) {
        Tensor one = masked.narrow0(i, 1).view({3, S, S});
        apply_patch(one, draw_patch(rngs[i], S));
      }
      img = head.forward(c.features_of(reshape(masked.to(dev), {N, 3, 1, S, S})), false);
    }
    return mse_per_sample(img, middle).to_vector();
  }
};

}  // namespace

std::unique_ptr<ProxyTask> make_inpainting_task() { return std::make_unique<Inpainting>(); }

}  // namespace ssmtl
