// Training samples for every proxy task, cut from the videos' frames around detected objects
// (DESIGN.md sections 3-4, data/tasks.h). ObjectPool holds the frames and the objects of one split;
// SampleBuilder turns a list of object ids into one TaskBatch, in parallel, with every random choice
// drawn from Rng(batch_seed, position): the batch does not depend on the thread count.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "regions/box.h"
#include "data/video/frames.h"
#include "model/ssmtl.h"
#include "model/teachers.h"

namespace ssmtl {

class OodImages;

struct PoolObject {
  int video = 0;   // index into ObjectPool::videos()
  int frame = 0;
  Box box;         // clipped to the frame
  int line = 0;    // 0-based line of the region file (teacher files are indexed by it)
};

class ObjectPool {
 public:
  // Videos of <root>/<split>/frames (all frames decoded into memory) and the objects of
  // <detections>/<video>.txt (region format; boxes clipped, empty ones dropped, score filter).
  // Throws std::runtime_error naming the missing detection file or the bad line.
  // `videos` empty = every video of the split. `teachers` names the teacher files to read with each
  // region file (model/teachers.h; TeacherSpec::for_model(cfg, ...) gives what a model needs); their
  // errors name the teacher file and line / object.
  static ObjectPool load(const std::string& root, const std::string& split, const std::string& detections,
                         double min_score, bool load_frames = true, const std::vector<std::string>& videos = {},
                         const TeacherSpec& teachers = {});
  int num_videos() const { return static_cast<int>(videos_.size()); }
  const Video& video(int i) const { return *videos_[i]; }
  const std::vector<PoolObject>& objects() const { return objects_; }
  const TeacherSpec& teacher_spec() const { return spec_; }

  // Teacher signals of object `id` (index into objects()); nullptr when that teacher was not read.
  const float* class_probs(size_t id) const;        // distill_classes() floats
  const float* segmentation_map(size_t id) const;   // (1, S, S)
  const float* pose_map(size_t id) const;           // (J, S, S)
  int distill_classes() const { return spec_.class_probs_dir.empty() ? 0 : spec_.distill_classes; }

 private:
  std::vector<std::unique_ptr<Video>> videos_;
  std::vector<PoolObject> objects_;
  TeacherSpec spec_;
  std::vector<VideoTeachers> teachers_;   // per video, when spec_.any()
};

// The teacher signals of pool objects `ids` as batch tensors: class_probs (B, K+1), segmentation (B,1,S,S),
// pose (B,J,S,S), each defined when the pool read it. Used by training batches and scoring alike.
ObjectTeachers gather_teachers(const ObjectPool& pool, const std::vector<size_t>& ids);

// (3, indices.size(), S, S) crops of `box` from the given frames of `video`, RGB in [0,1].
Tensor crop_object(const Video& video, const std::vector<int>& indices, const Box& box, int S);

class SampleBuilder {
 public:
  // Throws std::invalid_argument (ProxyTask::check_sources) when an enabled task cannot be fed: its teacher
  // signal was not loaded into the pool or has another shape than cfg says, T5 without `ood`, ...
  SampleBuilder(const ObjectPool& pool, const ModelConfig& cfg, const OodImages* ood);
  // One sample per enabled task per object (ProxyTask::sample, in registry order); `with_pseudo` adds the
  // ascent tasks' samples (T5: out-of-distribution images). The first error of an object is rethrown.
  // Object i's random choices come from Rng(batch_seed, first_position + i): a data-parallel rank building
  // its share of a global batch passes the share's position in it, so every object gets the same sample
  // whatever the number of ranks.
  TaskBatch build(const std::vector<size_t>& object_ids, uint64_t batch_seed, bool with_pseudo,
                  int64_t first_position = 0) const;

 private:
  const ObjectPool& pool_;
  ModelConfig cfg_;
  const OodImages* ood_;
};

}  // namespace ssmtl
