// A random task batch for any model configuration, built through the task interface alone
// (model/tasks/task.h): each enabled task allocates its slots, then every input, target and teacher gets
// uniform noise and every class label a draw in {0, 1}. For tests, benchmarks and `ssmtl profile`,
// which need a batch without a data set (gradient checks, CPU vs GPU steps, op profiles).
#pragma once
#include <algorithm>
#include <string>
#include <vector>

#include "model/ssmtl.h"
#include "tensor/rng.h"

namespace ssmtl {

// Overwrites t's values in place (handles sharing its storage see them: T5's target is its input).
inline void fill_uniform(Tensor& t, Rng& r, float lo = 0.f, float hi = 1.f) {
  Tensor v = rand_uniform(t.shape(), r, lo, hi);
  std::copy(v.data(), v.data() + v.numel(), t.data());
}

// with_ascent: also the ascent tasks' samples (T5), as SampleBuilder::build(..., true). Draws task by
// task (descent tasks, then ascent ones, each in registry order): its input unless shared and drawn
// already, its labels, then its target; a teacher target is a class distribution (rows in [0.1, 1],
// normalised) or maps in [0, 1].
inline TaskBatch random_batch(const ModelConfig& c, int64_t B, uint64_t seed, bool with_ascent = true) {
  Rng r(seed);
  const int64_t S = c.crop;
  TaskBatch b;
  std::vector<const ProxyTask*> order;
  for (Role role : {Role::kDescent, Role::kAscent})
    for (const ProxyTask* t : c.tasks.enabled())
      if (t->info().role == role && (with_ascent || role == Role::kDescent)) order.push_back(t);
  std::vector<std::string> filled;
  for (const ProxyTask* t : order) {
    const TaskInfo& info = t->info();
    t->begin_batch(b, B, c.crop, ObjectTeachers());
    if (std::find(filled.begin(), filled.end(), info.input) == filled.end()) {
      fill_uniform(b.inputs.at(info.input), r);
      filled.push_back(info.input);
    }
    TaskSamples& s = b.tasks[info.name];
    for (int& y : s.labels) y = static_cast<int>(r.randint(0, 2));
    if (info.source == Source::kClassProbs) {
      const int64_t K = c.distill_classes;
      s.target = rand_uniform({B, K}, r, 0.1f, 1.f);
      float* d = s.target.data();
      for (int64_t i = 0; i < B; ++i) {
        float sum = 0;
        for (int64_t k = 0; k < K; ++k) sum += d[i * K + k];
        for (int64_t k = 0; k < K; ++k) d[i * K + k] /= sum;
      }
    } else if (info.source == Source::kSegmentationMaps) {
      s.target = rand_uniform({B, 1, S, S}, r);
    } else if (info.source == Source::kPoseMaps) {
      s.target = rand_uniform({B, c.pose_joints, S, S}, r);
    } else if (s.target.defined() && s.target.data() != b.inputs.at(info.input).data()) {
      fill_uniform(s.target, r);
    }
  }
  return b;
}

}  // namespace ssmtl
