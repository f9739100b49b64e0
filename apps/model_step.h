// The trainer's real training step (model/trainer.h train_step) and the scoring step of `ssmtl score` on
// synthetic batches (random_batch, model/synthetic_batch.h), for measurements that need no data set (`ssmtl profile`, bench/bench_model.cpp). The
// training step runs as in every epoch from train.pseudo_start_epoch on: the main Adam update of every
// descent task, then, when the model has an ascent task (T5), the bounded backbone ascent.
#pragma once
#include <stdexcept>
#include <vector>

#include "model/synthetic_batch.h"
#include "model/trainer.h"
#include "tensor/rng.h"

namespace ssmtl::app {

// The trainer's optimisers and train_step, with the default train.* options except a learning rate of 0: the
// same work per step (Adam's update is computed and applied, it just moves nothing), but repeated steps on one
// batch no longer drift. With lr 1e-3 the paper-size model diverged on a repeated random batch within 5 steps;
// train_step then skips everything after the forward pass of a non-finite loss, and a profile or benchmark
// timed forward passes only (measured: 187 instead of 480 GFLOP counted per step, "119 objects/s").
class TrainStep {
 public:
  explicit TrainStep(SSMTLModel& m) : m_(m), opts_(no_update()), optim_(m, opts_) {}
  // Returns the descent tasks' total loss. Throws std::runtime_error when the step was skipped (non-finite
  // loss), so that no measurement silently times a partial step.
  float operator()(const TaskBatch& b) {
    const StepResult r = train_step(m_, optim_, b, true, opts_.pseudo_loss_cap);
    if (r.skipped || (r.ascent_ran && !r.ascent_finite))
      throw std::runtime_error("TrainStep: the loss is not finite; the step was skipped and would not measure a full step");
    return r.loss;
  }

 private:
  static TrainOptions no_update() {
    TrainOptions o;
    o.lr = 0;
    return o;
  }
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
