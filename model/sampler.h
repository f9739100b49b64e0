// Training samples for every proxy task, cut from the videos' frames around detected objects
// (DESIGN.md sections 3-4, data/tasks.h). ObjectPool holds the frames and the objects of one split;
// SampleBuilder turns a list of object ids into one TaskBatch, in parallel, with every random choice
// drawn from Rng(batch_seed, position): the batch does not depend on the thread count.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/box.h"
#include "data/frames.h"
#include "model/ssmtl.h"
#include "model/tasks_loss.h"

namespace ssmtl {

class OodImages;

struct PoolObject {
  int video = 0;   // index into ObjectPool::videos()
  int frame = 0;
  Box box;         // clipped to the frame
};

class ObjectPool {
 public:
  // Videos of <root>/<split>/frames (all frames decoded into memory) and the objects of
  // <detections>/<video>.txt (region format; boxes clipped, empty ones dropped, score filter).
  // Throws std::runtime_error naming the missing detection file or the bad line.
  // `videos` empty = every video of the split.
  static ObjectPool load(const std::string& root, const std::string& split, const std::string& detections,
                         double min_score, bool load_frames = true, const std::vector<std::string>& videos = {});
  int num_videos() const { return static_cast<int>(videos_.size()); }
  const Video& video(int i) const { return *videos_[i]; }
  const std::vector<PoolObject>& objects() const { return objects_; }

 private:
  std::vector<std::unique_ptr<Video>> videos_;
  std::vector<PoolObject> objects_;
};

// (3, indices.size(), S, S) crops of `box` from the given frames of `video`, RGB in [0,1].
Tensor crop_object(const Video& video, const std::vector<int>& indices, const Box& box, int S);

class SampleBuilder {
 public:
  SampleBuilder(const ObjectPool& pool, const ModelConfig& cfg, const OodImages* ood);
  // One sample per task per object; `with_pseudo` adds out-of-distribution images (T5).
  TaskBatch build(const std::vector<size_t>& object_ids, uint64_t batch_seed, bool with_pseudo) const;

 private:
  const ObjectPool& pool_;
  ModelConfig cfg_;
  const OodImages* ood_;
};

}  // namespace ssmtl
