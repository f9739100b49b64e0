#include "model/sampler.h"

#include <cstdio>
#include <stdexcept>

#include "data/samples/sequences.h"
#include "data/tasks.h"
#include "util/parallel.h"
#include "util/parse.h"

namespace ssmtl {

ObjectPool ObjectPool::load(const std::string& root, const std::string& split, const std::string& detections,
                            double min_score, bool load_frames, const std::vector<std::string>& videos,
                            const TeacherSpec& teachers) {
  ObjectPool p;
  p.spec_ = teachers;
  std::vector<std::string> names = videos.empty() ? list_videos(root, split) : videos;
  for (const std::string& name : names) {
    VideoOptions vo;
    vo.load_all = load_frames;
    auto v = std::make_unique<Video>(video_dir(root, split, name), vo);
    std::string det = detections + "/" + name + ".txt";
    const std::vector<Region> regions = load_regions(det);
    std::vector<std::string> outside, below;   // reported, never dropped without a word
    if (teachers.any()) p.teachers_.push_back(load_video_teachers(teachers, name, det, regions));
    for (size_t line = 0; line < regions.size(); ++line) {
      const Region& r = regions[line];
      if (r.score < min_score) {
        below.push_back("line " + std::to_string(line + 1));
        continue;
      }
      if (r.frame >= v->num_frames())
        throw std::runtime_error(det + ": frame " + std::to_string(r.frame) + " but video " + name + " has " +
                                 std::to_string(v->num_frames()) + " frames");
      auto c = clip_box(object_box(r.box, static_cast<float>(r.score)), v->width(), v->height());
      if (!c) {
        outside.push_back("line " + std::to_string(line + 1));
        continue;
      }
      p.objects_.push_back({static_cast<int>(p.videos_.size()), static_cast<int>(r.frame), *c, static_cast<int>(line)});
    }
    util::warn_skipped(det + ": detections outside the " + std::to_string(v->width()) + "x" +
                           std::to_string(v->height()) + " frame, skipped", outside);
    if (!below.empty())
      std::fprintf(stderr, "note: %s: detections below the minimum score %g, skipped: %s\n", det.c_str(), min_score,
                   util::count_and_first(below).c_str());
    p.videos_.push_back(std::move(v));
  }
  return p;
}

const float* ObjectPool::class_probs(size_t id) const {
  if (teachers_.empty() || spec_.class_probs_dir.empty()) return nullptr;
  const PoolObject& o = objects_.at(id);
  return teachers_[o.video].probs(o.line);
}

const float* ObjectPool::segmentation_map(size_t id) const {
  if (teachers_.empty() || !spec_.segmentation) return nullptr;
  const PoolObject& o = objects_.at(id);
  return teachers_[o.video].segmentation->map(o.line);
}

const float* ObjectPool::pose_map(size_t id) const {
  if (teachers_.empty() || spec_.pose_joints <= 0) return nullptr;
  const PoolObject& o = objects_.at(id);
  return teachers_[o.video].pose->map(o.line);
}

ObjectTeachers gather_teachers(const ObjectPool& pool, const std::vector<size_t>& ids) {
  const int64_t B = static_cast<int64_t>(ids.size()), S = pool.teacher_spec().crop;
  ObjectTeachers t;
  // Rows of `n` floats from `row(id)` into a new (B, shape...) tensor.
  auto gather = [&](Shape shape, const float* (ObjectPool::*row)(size_t) const) {
    Tensor out = Tensor::empty(shape);
    const int64_t n = out.numel() / std::max<int64_t>(B, 1);
    for (int64_t i = 0; i < B; ++i) {
      const float* src = (pool.*row)(ids[i]);
      std::copy(src, src + n, out.data() + i * n);
    }
    return out;
  };
  if (pool.distill_classes() > 0) t.class_probs = gather({B, pool.distill_classes()}, &ObjectPool::class_probs);
  if (pool.teacher_spec().segmentation) t.segmentation = gather({B, 1, S, S}, &ObjectPool::segmentation_map);
  if (pool.teacher_spec().pose_joints > 0)
    t.pose = gather({B, pool.teacher_spec().pose_joints, S, S}, &ObjectPool::pose_map);
  return t;
}

Tensor crop_object(const Video& video, const std::vector<int>& indices, const Box& box, int S) {
  std::vector<std::shared_ptr<const Image>> keep;
  std::vector<const Image*> frames;
  for (int i : indices) {
    keep.push_back(video.frame(i));
    frames.push_back(keep.back().get());
  }
  Tensor out = Tensor::empty({3, static_cast<int64_t>(indices.size()), S, S});
  crop_frames(out.data(), frames.data(), static_cast<int>(frames.size()), box, S);
  return out;
}

SampleBuilder::SampleBuilder(const ObjectPool& pool, const ModelConfig& cfg, const OodImages* ood)
    : pool_(pool), cfg_(cfg), ood_(ood) {
  for (const ProxyTask* t : cfg.tasks.enabled()) t->check_sources(cfg, pool, ood);
}

TaskBatch SampleBuilder::build(const std::vector<size_t>& ids, uint64_t seed, bool with_pseudo,
                               int64_t first_position) const {
  const int S = cfg_.crop;
  const int64_t B = static_cast<int64_t>(ids.size());
  // Descent tasks draw first, ascent tasks (T5) after them and only when asked for, so that turning
  // the ascent on does not change the other tasks' samples.
  std::vector<const ProxyTask*> tasks;
  for (const ProxyTask* t : cfg_.tasks.enabled())
    if (t->info().role == Role::kDescent) tasks.push_back(t);
  if (with_pseudo)
    for (const ProxyTask* t : cfg_.tasks.enabled())
      if (t->info().role == Role::kAscent) tasks.push_back(t);
  bool teachers = false;
  for (const ProxyTask* t : tasks) teachers |= t->info().source != Source::kFrames && t->info().source != Source::kOodImages;
  const ObjectTeachers teach = teachers ? gather_teachers(pool_, ids) : ObjectTeachers();
  TaskBatch tb;
  for (const ProxyTask* t : tasks) t->begin_batch(tb, B, S, teach);

  util::parallel_for(B, [&](int64_t i) {
    Rng rng(seed * 0x2545F4914F6CDD1DULL + static_cast<uint64_t>(i + first_position) * 0x9E3779B97F4A7C15ULL + 1);
    const PoolObject& o = pool_.objects()[ids[i]];
    const Video& v = pool_.video(o.video);
    auto window = sequence_frames(o.frame, v.num_frames());
    const Tensor seq = crop_object(v, std::vector<int>(window.begin(), window.end()), o.box, S);
    const Tensor middle = middle_frame(seq);
    const ObjectSample sample{v, o, S, seq, middle, ood_};
    for (const ProxyTask* t : tasks) t->sample(sample, rng, tb, i);
  });
  return tb;
}

}  // namespace ssmtl
