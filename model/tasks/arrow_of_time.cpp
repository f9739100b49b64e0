// T1 arrow of time (paper section 3): is the object's 7-frame sequence played forward (0) or backward (1)?
// Head: ClassHead with 2 classes, cross-entropy. Score: p(backward) on the forward sequence.
#include "autograd/activation.h"
#include "autograd/loss.h"
#include "data/tasks.h"
#include "model/ssmtl.h"

namespace ssmtl {

namespace {

class ArrowOfTime : public ProxyTask {
 public:
  ArrowOfTime()
      : ProxyTask({"T1", "arrow", "T1 arrow of time", "arrow_of_time", "arrow", "arrow", Window::kSequence,
                   Source::kFrames, Role::kDescent, true}) {}
  std::unique_ptr<Head> make_head(const ModelConfig& c, int channels, Rng& rng) const override {
    return std::make_unique<ClassHead>(channels, c.head_hidden, c.crop / 8, 2, rng);
  }
  void begin_batch(TaskBatch& b, int64_t B, int S, const ObjectTeachers&) const override {
    b.inputs[info().input] = Tensor::empty({B, 3, 7, S, S});
    b.tasks[info().name].labels.resize(B);
  }
  void sample(const ObjectSample& o, Rng& rng, TaskBatch& b, int64_t i) const override {
    ClassSample s = arrow_of_time_sample(o.sequence, rng);   // one bernoulli draw
    put_row(b.inputs.at(info().input), i, s.input);
    b.tasks.at(info().name).labels[i] = s.label;
  }
  Tensor loss(Head& head, const Tensor& f, const TaskSamples& s, bool training) const override {
    return cross_entropy(head.forward(f, training), s.labels);
  }
  std::vector<float> score(Head& head, ScoreContext& c) const override {
    return probs_column(softmax(head.forward(c.features(Window::kSequence), false)), 1);
  }
};

}  // namespace

std::unique_ptr<ProxyTask> make_arrow_of_time_task() { return std::make_unique<ArrowOfTime>(); }

}  // namespace ssmtl
