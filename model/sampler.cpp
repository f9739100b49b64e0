#include "model/sampler.h"

#include <cstdio>
#include <stdexcept>

#include "data/jigsaw.h"
#include "data/ood.h"
#include "data/resize.h"
#include "data/sequences.h"
#include "data/tasks.h"
#include "eval/io.h"
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
    const std::vector<eval::Region> regions = eval::load_regions(det);
    std::vector<std::string> outside, below;   // reported, never dropped without a word
    if (teachers.any()) p.teachers_.push_back(load_video_teachers(teachers, name, det, regions));
    for (size_t line = 0; line < regions.size(); ++line) {
      const eval::Region& r = regions[line];
      if (r.score < min_score) {
        below.push_back("line " + std::to_string(line + 1));
        continue;
      }
      if (r.frame >= v->num_frames())
        throw std::runtime_error(det + ": frame " + std::to_string(r.frame) + " but video " + name + " has " +
                                 std::to_string(v->num_frames()) + " frames");
      Box b;
      b.x0 = static_cast<float>(r.box.x_min);
      b.y0 = static_cast<float>(r.box.y_min);
      b.x1 = static_cast<float>(r.box.x_max);
      b.y1 = static_cast<float>(r.box.y_max);
      b.score = static_cast<float>(r.score);
      auto c = clip_box(b, v->width(), v->height());
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
  if (cfg.tasks.pseudo && !ood) throw std::invalid_argument("SampleBuilder: T5 needs the out-of-distribution images");
  if (cfg.tasks.jigsaw && cfg.crop != 64)
    throw std::invalid_argument("T8 jigsaw needs model.crop = 64 (4x4 pieces of 16x16 pixels)");
  const TeacherSpec& ts = pool.teacher_spec();
  if (cfg.tasks.distill && pool.distill_classes() == 0)
    throw std::invalid_argument("T4 distillation needs the detector's class probabilities per object "
                                "(<detections>/class_probs/<video>.txt, written by ssmtl detect with a detector); "
                                "load the objects with TeacherSpec::for_model");
  if (cfg.tasks.distill && pool.distill_classes() != cfg.distill_classes)
    throw std::invalid_argument("T4 distillation: the class probabilities have " +
                                std::to_string(pool.distill_classes()) + " classes, model.distill_classes = " +
                                std::to_string(cfg.distill_classes));
  if (cfg.tasks.segmentation && !ts.segmentation)
    throw std::invalid_argument("T7 segmentation needs teacher maps (<teachers>/<video>.seg); load the objects "
                                "with TeacherSpec::for_model");
  if (cfg.tasks.pose && ts.pose_joints != cfg.pose_joints)
    throw std::invalid_argument("T9 pose needs teacher heat maps with model.pose_joints = " +
                                std::to_string(cfg.pose_joints) + " channels (<teachers>/<video>.pose), the objects "
                                "were loaded with " + std::to_string(ts.pose_joints));
  if ((cfg.tasks.segmentation || cfg.tasks.pose) && ts.crop != cfg.crop)
    throw std::invalid_argument("T7 / T9: the teacher maps are " + std::to_string(ts.crop) + "x" +
                                std::to_string(ts.crop) + ", model.crop = " + std::to_string(cfg.crop));
}

namespace {
// dst[i] = src (one sample into row i of a batch tensor)
void put(Tensor& dst, int64_t i, const Tensor& src) {
  const int64_t n = src.numel();
  std::copy(src.data(), src.data() + n, dst.data() + i * n);
}
// A 64x64 OOD image resized to the model's crop side.
Tensor to_crop(const Tensor& img64, int S) {
  if (S == img64.size(-1)) return img64;
  Tensor out = Tensor::empty({3, S, S});
  resize_bilinear_planar(out.data(), img64.data(), static_cast<int>(img64.size(2)), static_cast<int>(img64.size(1)), 3, S, S);
  return out;
}
}  // namespace

TaskBatch SampleBuilder::build(const std::vector<size_t>& ids, uint64_t seed, bool with_pseudo) const {
  const TaskSet& t = cfg_.tasks;
  const int S = cfg_.crop;
  const int64_t B = static_cast<int64_t>(ids.size());
  TaskBatch tb;
  if (t.arrow) { tb.arrow_x = Tensor::empty({B, 3, 7, S, S}); tb.arrow_y.resize(B); }
  if (t.irregularity) { tb.irreg_x = Tensor::empty({B, 3, 7, S, S}); tb.irreg_y.resize(B); }
  if (t.middle) { tb.middle_x = Tensor::empty({B, 3, 6, S, S}); tb.middle_y = Tensor::empty({B, 3, S, S}); }
  if (t.inpaint) { tb.inpaint_x = Tensor::empty({B, 3, 1, S, S}); tb.inpaint_y = Tensor::empty({B, 3, S, S}); }
  if (t.jigsaw) { tb.jigsaw_x = Tensor::empty({B, 3, 1, S, S}); tb.jigsaw_y.resize(B); }
  if (t.distill || t.segmentation || t.pose) {
    ObjectTeachers teach = gather_teachers(pool_, ids);
    if (t.distill) { tb.distill_x = Tensor::empty({B, 3, 7, S, S}); tb.distill_y = teach.class_probs; }
    if (t.segmentation) tb.seg_y = teach.segmentation;
    if (t.pose) tb.pose_y = teach.pose;
  }
  if (t.segmentation || t.pose) tb.crop_x = Tensor::empty({B, 3, 1, S, S});
  const bool pseudo = with_pseudo && t.pseudo;
  if (pseudo) tb.pseudo_x = Tensor::empty({B, 3, 1, S, S});
  std::vector<std::string> errors(B);

#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < B; ++i) {
    try {
      Rng rng(seed * 0x2545F4914F6CDD1DULL + static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ULL + 1);
      const PoolObject& o = pool_.objects()[ids[i]];
      const Video& v = pool_.video(o.video);
      auto window = sequence_frames(o.frame, v.num_frames());
      Tensor seq = crop_object(v, std::vector<int>(window.begin(), window.end()), o.box, S);
      Tensor middle = middle_frame(seq);
      if (t.arrow) {
        ClassSample s = arrow_of_time_sample(seq, rng);
        put(tb.arrow_x, i, s.input);
        tb.arrow_y[i] = s.label;
      }
      if (t.irregularity) {
        FrameIndexSample s = motion_irregularity_sample(o.frame, v.num_frames(), rng);
        put(tb.irreg_x, i, s.label ? crop_object(v, std::vector<int>(s.frames.begin(), s.frames.end()), o.box, S) : seq);
        tb.irreg_y[i] = s.label;
      }
      if (t.distill) put(tb.distill_x, i, seq);   // the forward sequence, as at inference
      if (t.segmentation || t.pose) put(tb.crop_x, i, middle);
      if (t.middle) {
        MiddleBoxSample s = middle_box_sample(seq);
        put(tb.middle_x, i, s.input);
        put(tb.middle_y, i, s.target);
      }
      if (t.inpaint) {
        // Patch sizes and spread scale with the crop (paper: 4..32 px, std 20 at 64x64).
        double k = S / 64.0;
        Patch p = sample_inpaint_patch(rng, S, S, std::max(1, static_cast<int>(4 * k)), static_cast<int>(32 * k), 20 * k);
        Tensor masked = middle.clone();
        apply_patch(masked, p);
        put(tb.inpaint_x, i, masked);
        put(tb.inpaint_y, i, middle);
      }
      if (t.jigsaw) {
        ClassSample s = jigsaw_sample(middle, rng);
        put(tb.jigsaw_x, i, s.input);
        tb.jigsaw_y[i] = s.label;
      }
      if (pseudo) {
        Tensor bg = S == 64 ? middle : Tensor();
        put(tb.pseudo_x, i, to_crop(ood_->sample(rng, bg), S));
      }
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  }
  for (auto& e : errors)
    if (!e.empty()) throw std::runtime_error(e);
  return tb;
}

}  // namespace ssmtl
