// T3 middle bounding box prediction (paper section 3): reconstruct frame t from frames t-3..t-1, t+1..t+3.
// Head: Decoder to 3 channels, L1 loss. Score: mean |prediction - middle crop|.
#include "autograd/loss.h"
#include "data/tasks.h"
#include "model/ssmtl.h"

namespace ssmtl {

namespace {

class MiddleBox : public ProxyTask {
 public:
  MiddleBox()
      : ProxyTask({"T3", "middle", "T3 middle box prediction", "middle_box", "middle", "middle",
                   Window::kSixFrames, Source::kFrames, Role::kDescent, true}) {}
  std::unique_ptr<Head> make_head(const ModelConfig& c, int channels, Rng& rng) const override {
    return std::make_unique<Decoder>(channels, c.decoder_hidden, rng);
  }
  void begin_batch(TaskBatch& b, int64_t B, int S, const ObjectTeachers&) const override {
    b.inputs[info().input] = Tensor::empty({B, 3, 6, S, S});
    b.tasks[info().name].target = Tensor::empty({B, 3, S, S});
  }
  void sample(const ObjectSample& o, Rng&, TaskBatch& b, int64_t i) const override {
    MiddleBoxSample s = middle_box_sample(o.sequence);
    put_row(b.inputs.at(info().input), i, s.input);
    put_row(b.tasks.at(info().name).target, i, s.target);
  }
  Tensor loss(Head& head, const Tensor& f, const TaskSamples& s, bool training) const override {
    return l1_loss(head.forward(f, training), s.target);
  }
  std::vector<float> score(Head& head, ScoreContext& c) const override {
    return l1_per_sample(head.forward(c.features(Window::kSixFrames), false), c.middle()).to_vector();
  }
};

}  // namespace

std::unique_ptr<ProxyTask> make_middle_box_task() { return std::make_unique<MiddleBox>(); }

}  // namespace ssmtl
