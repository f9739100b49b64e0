// Multi-task loss and per-object anomaly scores of SSMTL / SSMTL++ (paper sections 3 and 3.3,
// DESIGN.md section 4): loops over the model's enabled tasks (model/tasks/task.h). Inputs are batches
// already cut out of the video (model/sampler.h makes them).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "model/ssmtl.h"

namespace ssmtl {

struct TaskLosses {
  Tensor normal;                          // sum of the descent tasks' losses (equal weights), scalar
  std::map<std::string, float> values;    // per task (TaskInfo::name), for logs: "arrow", "irregularity", ...
};

// Forward of every enabled descent task on `batch` (which must hold their inputs and samples, else
// std::invalid_argument naming the missing one). Inputs of the same window share one backbone pass
// (concatenated along N, windows and inputs in order of first use by the tasks in registry order), which
// also gives BatchNorm a bigger batch.
TaskLosses compute_task_losses(SSMTLModel& model, const TaskBatch& batch, bool training);

// The ascent tasks' loss (T5 pseudo-anomalies: L1 reconstruction of the out-of-distribution images,
// bounded in [0,1]), scalar, on their own backbone pass. Undefined when the model has no ascent task or
// the batch holds no samples of it (SampleBuilder::build without with_pseudo).
Tensor compute_pseudo_loss(SSMTLModel& model, const TaskBatch& batch, bool training);

// Per-object anomaly scores in eval mode (never updates BatchNorm statistics).
// seq: (N,3,7,S,S) the objects' forward, consecutive sequences, on any device: the model runs where its
// parameters are (seq and the teachers are copied there); the masking of T6 and the shuffling of T8 run on
// the CPU, so the scores are the same on both devices up to rounding.
// Returns per descent task (TaskInfo::name) a vector of N scores, and "object" = their mean:
//   T1 p(reversed); T2 p(irregular); T3 mean |prediction - middle crop|; T4 mean |softmax - teacher|;
//   T6 3 chained inpainting passes, mean squared error to the original; T7 / T9 mean squared error
//   between the decoder output on the middle crop and the teacher map; T8 1 - p(true permutation).
// The inpainting patches and jigsaw permutations of object i are drawn from an Rng seeded with
// (seed, keys[i]), so an object's score does not depend on its batch or on the thread count.
// Throws std::invalid_argument naming the task when its teacher signal is missing or of another shape,
// and when keys.size() != N.
std::map<std::string, std::vector<float>> score_objects(SSMTLModel& model, const Tensor& seq,
                                                        const ObjectTeachers& teachers, uint64_t seed,
                                                        const std::vector<uint64_t>& keys);
// The same with only T4's teacher (N, K+1) (undefined when the model has no T4).
std::map<std::string, std::vector<float>> score_objects(SSMTLModel& model, const Tensor& seq, const Tensor& teacher,
                                                        uint64_t seed, const std::vector<uint64_t>& keys);

}  // namespace ssmtl
