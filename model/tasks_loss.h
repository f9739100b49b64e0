// Multi-task loss and per-object anomaly scores of SSMTL / SSMTL++ (paper sections 3 and 3.3,
// DESIGN.md section 4). Inputs are batches already cut out of the video (data/tasks.h makes them).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "model/ssmtl.h"

namespace ssmtl {

// One mini-batch for every enabled task; tensors of disabled tasks stay undefined.
// S = crop side. All images RGB in [0,1].
struct TaskBatch {
  Tensor arrow_x;   std::vector<int> arrow_y;     // T1: (B,3,7,S,S); 0 = forward, 1 = reversed
  Tensor irreg_x;   std::vector<int> irreg_y;     // T2: (B,3,7,S,S); 0 = consecutive, 1 = skipped frames
  Tensor middle_x;  Tensor middle_y;              // T3: (B,3,6,S,S) without the middle frame; (B,3,S,S)
  Tensor distill_x; Tensor distill_y;             // T4: (B,3,7,S,S) forward sequence; (B,K+1) teacher class
                                                  //     probabilities (data/detect/class_probs.h)
  Tensor inpaint_x; Tensor inpaint_y;             // T6: (B,3,1,S,S) masked middle frame; (B,3,S,S)
  Tensor crop_x;                                  // T7, T9: (B,3,1,S,S) the middle crop (shared input)
  Tensor seg_y;                                   // T7: (B,1,S,S) teacher segmentation map in [0,1]
  Tensor pose_y;                                  // T9: (B,J,S,S) teacher joint heat maps in [0,1]
  Tensor jigsaw_x;  std::vector<int> jigsaw_y;    // T8: (B,3,1,S,S) shuffled middle frame; permutation index
  Tensor pseudo_x;                                // T5: (B,3,1,S,S) out-of-distribution images

  // The same batch with every defined tensor copied to device d (labels stay host vectors: the loss ops
  // take them as host data). The sampler builds batches on the CPU; the trainer moves them to the model.
  TaskBatch to(Device d) const;
};

struct TaskLosses {
  Tensor normal;                          // sum of the descent tasks' losses (equal weights), scalar
  Tensor pseudo;                          // T5 reconstruction loss (undefined when T5 is off), scalar
  std::map<std::string, float> values;    // per task, for logs: "arrow", "irregularity", ...
};

// Forward of every enabled task. Tasks with the same temporal length share one backbone pass
// (their inputs are concatenated along N), which also gives BatchNorm a bigger batch.
TaskLosses compute_task_losses(SSMTLModel& model, const TaskBatch& batch, bool training);

// T7 / T9 losses: L2 (mean squared error) between the decoder output on the middle crop and the
// teacher map (paper section 3.3). Both share the single-frame backbone pass with T6 and T8.

// T5 pseudo-anomalies: L1 reconstruction of out-of-distribution images ood (B,3,1,S,S). Bounded in
// [0,1] (sigmoid output, targets in [0,1]), so the gradient ascent of the backbone on it cannot diverge
// through the loss value; the trainer also stops the ascent above a cap.
Tensor compute_pseudo_loss(SSMTLModel& model, const Tensor& ood, bool training);

// Teacher signals of the objects being scored; each undefined unless its task is on.
struct ObjectTeachers {
  Tensor class_probs;    // T4: (N, K+1)
  Tensor segmentation;   // T7: (N, 1, S, S)
  Tensor pose;           // T9: (N, J, S, S)
  ObjectTeachers to(Device d) const;   // every defined tensor copied to device d
};

// Per-object anomaly scores in eval mode (never updates BatchNorm statistics).
// seq: (N,3,7,S,S) the objects' forward, consecutive sequences, on any device: the model runs where its
// parameters are (seq and the teachers are copied there); the masking of T6 and the shuffling of T8 run on
// the CPU, so the scores are the same on both devices up to rounding.
// Returns per task (names as in TaskLosses::values) a vector of N scores, and "object" = their mean:
//   T1 p(reversed); T2 p(irregular); T3 mean |prediction - middle crop|; T4 mean |softmax - teacher|;
//   T6 3 chained inpainting passes, mean squared error to the original; T7 / T9 mean squared error
//   between the decoder output on the middle crop and the teacher map; T8 1 - p(true permutation).
// The inpainting patches and jigsaw permutations of object i are drawn from an Rng seeded with
// (seed, keys[i]), so an object's score does not depend on its batch or on the thread count.
// Throws std::invalid_argument naming the task when its teacher signal is missing or of another shape.
std::map<std::string, std::vector<float>> score_objects(SSMTLModel& model, const Tensor& seq,
                                                        const ObjectTeachers& teachers, uint64_t seed,
                                                        const std::vector<uint64_t>& keys);
// The same with only T4's teacher (N, K+1) (undefined when the model has no T4).
std::map<std::string, std::vector<float>> score_objects(SSMTLModel& model, const Tensor& seq, const Tensor& teacher,
                                                        uint64_t seed, const std::vector<uint64_t>& keys);

}  // namespace ssmtl
