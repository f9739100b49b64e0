// T4 knowledge distillation (SSMTL, paper section 3): predict the object detector's class probabilities
// (K detector classes + 1 motion class, data/class_probs.h) from the forward sequence. Head: ClassHead
// with model.distill_classes outputs, softmax, L1 loss to the teacher. Score: mean |softmax - teacher|.
#include <stdexcept>

#include "autograd/activation.h"
#include "autograd/loss.h"
#include "model/sampler.h"

namespace ssmtl {

namespace {

class Distillation : public ProxyTask {
 public:
  Distillation()
      : ProxyTask({"T4", "distillation", "T4 distillation", "distillation", "distill", "distill", Window::kSequence,
                   Source::kClassProbs, Role::kDescent, false}) {}
  std::unique_ptr<Head> make_head(const ModelConfig& c, int channels, Rng& rng) const override {
    return std::make_unique<ClassHead>(channels, c.head_hidden, c.crop / 8, c.distill_classes, rng);
  }
  void check_sources(const ModelConfig& cfg, const ObjectPool& pool, const OodImages*) const override {
    if (pool.distill_classes() == 0)
      throw std::invalid_argument("T4 distillation needs the detector's class probabilities per object "
                                  "(<detections>/class_probs/<video>.txt, written by ssmtl detect with a detector); "
                                  "load the objects with TeacherSpec::for_model");
    if (pool.distill_classes() != cfg.distill_classes)
      throw std::invalid_argument("T4 distillation: the class probabilities have " +
                                  std::to_string(pool.distill_classes()) + " classes, model.distill_classes = " +
                                  std::to_string(cfg.distill_classes));
  }
  void begin_batch(TaskBatch& b, int64_t B, int S, const ObjectTeachers& t) const override {
    b.inputs[info().input] = Tensor::empty({B, 3, 7, S, S});
    b.tasks[info().name].target = t.class_probs;   // (B, K+1)
  }
  void sample(const ObjectSample& o, Rng&, TaskBatch& b, int64_t i) const override {
    put_row(b.inputs.at(info().input), i, o.sequence);   // the forward sequence, as at inference
  }
  Tensor loss(Head& head, const Tensor& f, const TaskSamples& s, bool training) const override {
    return l1_loss(softmax(head.forward(f, training)), s.target);
  }
  std::vector<float> score(Head& head, ScoreContext& c) const override {
    const Tensor& p = teacher_of(c.teachers.class_probs, {c.n, c.model.cfg.distill_classes}, info().label);
    return l1_per_sample(softmax(head.forward(c.features(Window::kSequence), false)), p).to_vector();
  }
};

}  // namespace

std::unique_ptr<ProxyTask> make_distillation_task() { return std::make_unique<Distillation>(); }

}  // namespace ssmtl
