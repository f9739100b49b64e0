// T2 motion irregularity (paper section 3): are the 7 frames consecutive (0) or with random forward
// skips (1)? Head: ClassHead with 2 classes, cross-entropy. Score: p(irregular) on the forward sequence.
#include "autograd/activation.h"
#include "autograd/loss.h"
#include "data/tasks.h"
#include "model/sampler.h"

namespace ssmtl {

namespace {

class MotionIrregularity : public ProxyTask {
 public:
  MotionIrregularity()
      : ProxyTask({"T2", "irregularity", "T2 motion irregularity", "motion_irregularity", "irregularity",
                   "irregularity", Window::kSequence, Source::kFrames, Role::kDescent, true}) {}
  std::unique_ptr<Head> make_head(const ModelConfig& c, int channels, Rng& rng) const override {
    return std::make_unique<ClassHead>(channels, c.head_hidden, c.crop / 8, 2, rng);
  }
  void begin_batch(TaskBatch& b, int64_t B, int S, const ObjectTeachers&) const override {
    b.inputs[info().input] = Tensor::empty({B, 3, 7, S, S});
    b.tasks[info().name].labels.resize(B);
  }
  void sample(const ObjectSample& o, Rng& rng, TaskBatch& b, int64_t i) const override {
    const int frame = o.object.frame, n = o.video.num_frames();
    FrameIndexSample s = motion_irregularity_sample(frame, n, rng);
    // The box of frame t on every frame, as for the regular sequence.
    put_row(b.inputs.at(info().input), i,
            s.label ? crop_object(o.video, std::vector<int>(s.frames.begin(), s.frames.end()), o.object.box, o.crop)
                    : o.sequence);
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

std::unique_ptr<ProxyTask> make_motion_irregularity_task() { return std::make_unique<MotionIrregularity>(); }

}  // namespace ssmtl
