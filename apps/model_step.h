// The training step and the scoring step of model/trainer.cpp and `ssmtl score` on synthetic batches, for
// measurements that need no data set (`ssmtl profile`, bench/bench_model.cpp). The training step is the
// trainer's: main Adam update of every descent task, then, when the model has T5, the pseudo-anomaly update
// (backbone ascent, BatchNorm statistics restored), as in every epoch from train.pseudo_start_epoch on.
#pragma once
#include <memory>
#include <vector>

#include "model/tasks_loss.h"
#include "optim/adam.h"
#include "tensor/profile.h"
#include "tensor/rng.h"

namespace ssmtl::app {

// A batch of B objects with every input and target of the model's tasks filled with uniform noise in [0, 1)
// (labels: uniform 0/1, jigsaw: uniform permutation index). Shapes as in model/tasks_loss.h.
inline TaskBatch synthetic_batch(const ModelConfig& c, int B, uint64_t seed) {
  Rng r(seed);
  const int S = c.crop;
  const TaskSet& t = c.tasks;
  auto labels = [&](int classes) {
    std::vector<int> y(static_cast<size_t>(B));
    for (int& v : y) v = static_cast<int>(r.randint(0, static_cast<uint64_t>(classes)));
    return y;
  };
  TaskBatch b;
  if (t.arrow) b.arrow_x = rand_uniform({B, 3, c.frames, S, S}, r), b.arrow_y = labels(2);
  if (t.irregularity) b.irreg_x = rand_uniform({B, 3, c.frames, S, S}, r), b.irreg_y = labels(2);
  if (t.middle) b.middle_x = rand_uniform({B, 3, c.frames - 1, S, S}, r), b.middle_y = rand_uniform({B, 3, S, S}, r);
  if (t.distill) b.distill_x = rand_uniform({B, 3, c.frames, S, S}, r), b.distill_y = rand_uniform({B, c.distill_classes}, r);
  if (t.inpaint) b.inpaint_x = rand_uniform({B, 3, 1, S, S}, r), b.inpaint_y = rand_uniform({B, 3, S, S}, r);
  if (t.segmentation || t.pose) b.crop_x = rand_uniform({B, 3, 1, S, S}, r);
  if (t.segmentation) b.seg_y = rand_uniform({B, 1, S, S}, r);
  if (t.pose) b.pose_y = rand_uniform({B, c.pose_joints, S, S}, r);
  if (t.jigsaw) b.jigsaw_x = rand_uniform({B, 3, 1, S, S}, r), b.jigsaw_y = labels(c.jigsaw_classes);
  if (t.pseudo) b.pseudo_x = rand_uniform({B, 3, 1, S, S}, r);
  return b;
}

// The trainer's two optimisers and its step (model/trainer.cpp), lr 1e-3 and T5 ascent at -0.2 x lr.
class TrainStep {
 public:
  explicit TrainStep(SSMTLModel& m) : m_(m) {
    std::vector<Tensor> main = m.backbone_parameters();
    for (Tensor& p : m.head_parameters(false)) main.push_back(p);
    main_ = std::make_unique<Adam>(std::vector<ParamGroup>{ParamGroup{main, 1e-3f}});
    if (m.cfg.tasks.pseudo)
      pseudo_ = std::make_unique<Adam>(std::vector<ParamGroup>{ParamGroup{m.backbone_parameters(), -0.2e-3f},
                                                               ParamGroup{m.pseudo_parameters(), 1e-3f}});
  }
  // Returns the descent tasks' total loss.
  float operator()(const TaskBatch& b) {
    main_->zero_grad();
    TaskLosses L = compute_task_losses(m_, b, true);
    const float total = L.normal.item();
    L.normal.backward();
    {
      prof::PhaseGuard ph(prof::Phase::Optimizer);
      main_->step();
    }
    if (pseudo_ && b.pseudo_x.defined()) {
      std::vector<Tensor> keep;   // out-of-distribution batches leave the BatchNorm statistics alone
      for (NamedTensor& nt : m_.backbone.named_tensors())
        if (nt.is_buffer) keep.push_back(nt.tensor->clone());
      pseudo_->zero_grad();
      Tensor l5 = compute_pseudo_loss(m_, b.pseudo_x, true);
      size_t i = 0;
      for (NamedTensor& nt : m_.backbone.named_tensors())
        if (nt.is_buffer) nt.tensor->copy_from(keep[i++]);
      l5.backward();
      prof::PhaseGuard ph(prof::Phase::Optimizer);
      pseudo_->step();
    }
    return total;
  }

 private:
  SSMTLModel& m_;
  std::unique_ptr<Adam> main_, pseudo_;
};

// Inputs of `ssmtl score` for B objects: forward sequences and, for T4 / T7 / T9, teacher signals.
struct ScoreInputs {
  Tensor seq;
  ObjectTeachers teachers;
  std::vector<uint64_t> keys;
};
inline ScoreInputs synthetic_score_inputs(const ModelConfig& c, int B, uint64_t seed) {
  Rng r(seed);
  ScoreInputs s;
  s.seq = rand_uniform({B, 3, c.frames, c.crop, c.crop}, r);
  if (c.tasks.distill) s.teachers.class_probs = rand_uniform({B, c.distill_classes}, r);
  if (c.tasks.segmentation) s.teachers.segmentation = rand_uniform({B, 1, c.crop, c.crop}, r);
  if (c.tasks.pose) s.teachers.pose = rand_uniform({B, c.pose_joints, c.crop, c.crop}, r);
  for (int i = 0; i < B; ++i) s.keys.push_back(static_cast<uint64_t>(i));
  return s;
}
inline void score_step(SSMTLModel& m, const ScoreInputs& in) { score_objects(m, in.seq, in.teachers, 7, in.keys); }

}  // namespace ssmtl::app
