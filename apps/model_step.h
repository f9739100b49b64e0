// The trainer's real training step (model/trainer.h train_step) and the scoring step of `ssmtl score` on
// synthetic batches (random_batch, model/synthetic_batch.h), for measurements that need no data set (`ssmtl profile`, bench/bench_model.cpp). The
// training step runs as in every epoch from train.pseudo_start_epoch on: the main Adam update of every
// descent task, then, when the model has an ascent task (T5), the bounded backbone ascent.
#pragma once
#include <vector>

#include "model/synthetic_batch.h"
#include "model/trainer.h"
#include "tensor/rng.h"

namespace ssmtl::app {

// The trainer's optimisers (default train.* options: lr 1e-3, ascent at -0.2 x lr) and train_step.
class TrainStep {
 public:
  explicit TrainStep(SSMTLModel& m) : m_(m), optim_(m, opts_) {}
  // Returns the descent tasks' total loss.
  float operator()(const TaskBatch& b) { return train_step(m_, optim_, b, true, opts_.pseudo_loss_cap).loss; }

 private:
  SSMTLModel& m_;
  TrainOptions opts_;
  Optimisers optim_;
};

// Inputs of `ssmtl score` for B objects: forward sequences and, for the tasks that read one, their teacher
// signal (T4 class probabilities, T7 segmentation maps, T9 pose maps), uniform noise.
struct ScoreInputs {
  Tensor seq;
  ObjectTeachers teachers;
  std::vector<uint64_t> keys;
};
inline ScoreInputs synthetic_score_inputs(const ModelConfig& c, int B, uint64_t seed) {
  Rng r(seed);
  ScoreInputs s;
  s.seq = rand_uniform({B, 3, c.frames, c.crop, c.crop}, r);
  for (const ProxyTask* t : c.tasks.enabled()) {
    const Source src = t->info().source;
    if (src == Source::kClassProbs) s.teachers.class_probs = rand_uniform({B, c.distill_classes}, r);
    if (src == Source::kSegmentationMaps) s.teachers.segmentation = rand_uniform({B, 1, c.crop, c.crop}, r);
    if (src == Source::kPoseMaps) s.teachers.pose = rand_uniform({B, c.pose_joints, c.crop, c.crop}, r);
  }
  for (int i = 0; i < B; ++i) s.keys.push_back(static_cast<uint64_t>(i));
  return s;
}
inline void score_step(SSMTLModel& m, const ScoreInputs& in) { score_objects(m, in.seq, in.teachers, 7, in.keys); }

}  // namespace ssmtl::app
