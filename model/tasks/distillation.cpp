// T4 knowledge distillation (SSMTL, paper section 3): predict the object detector's class probabilities
// (K detector classes + 1 motion class, data/class_probs.h) from the forward sequence. Head: ClassHead
// with model.distill_classes outputs. Score (both variants): mean |softmax - teacher|, as the paper scores T4.
//   distillation     (model.tasks.distillation, the first release's): L1 loss between softmax and teacher.
//   distillation_ce  (model.tasks.distillation_ce, "T4ce"): cross-entropy with the teacher's probabilities as soft
//                    targets (Hinton et al. 2015's distillation loss at temperature 1). Why a second loss: under L1
//                    the optimum for a class that most objects have is the one-hot median, the softmax saturates
//                    within the first epoch and its gradient vanishes: on Ped2 the student then predicts the same
//                    one-hot "person" for every object and T4's score is the teacher's alone (docs/RESULTS.md 18).
//                    Cross-entropy's optimum is the teacher's distribution itself and its gradient does not vanish.
// Both may be on (they share the input and the teacher).
#include <stdexcept>

#include "autograd/activation.h"
#include "autograd/loss.h"
#include "model/sampler.h"

namespace ssmtl {

namespace {

class Distillation : public ProxyTask {
 public:
  explicit Distillation(bool soft_cross_entropy)
      : ProxyTask(soft_cross_entropy
                      ? TaskInfo{"T4ce", "distillation_ce", "T4 distillation (soft cross-entropy)", "distillation_ce",
                                 "distill_ce", "distill", Window::kSequence, Source::kClassProbs, Role::kDescent, false}
                      : TaskInfo{"T4", "distillation", "T4 distillation", "distillation", "distill", "distill",
                                 Window::kSequence, Source::kClassProbs, Role::kDescent, false}),
        soft_cross_entropy_(soft_cross_entropy) {}
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
    const Tensor logits = head.forward(f, training);
    return soft_cross_entropy_ ? cross_entropy_soft(logits, s.target) : l1_loss(softmax(logits), s.target);
  }
  std::vector<float> score(Head& head, ScoreContext& c) const override {
    const Tensor& p = teacher_of(c.teachers.class_probs, {c.n, c.model.cfg.distill_classes}, info().label);
    return l1_per_sample(softmax(head.forward(c.features(Window::kSequence), false)), p).to_vector();
  }

 private:
  bool soft_cross_entropy_;
};

}  // namespace

std::unique_ptr<ProxyTask> make_distillation_task() { return std::make_unique<Distillation>(false); }
std::unique_ptr<ProxyTask> make_distillation_ce_task() { return std::make_unique<Distillation>(true); }

}  // namespace ssmtl
