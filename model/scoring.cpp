#include "model/scoring.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "data/samples/sequences.h"
#include "eval/io.h"
#include "model/tasks_loss.h"
#include "regions/region_file.h"
#include "util/atomic_file.h"
#include "util/parallel.h"

namespace ssmtl {

namespace {
std::vector<double> frame_scores_of(const std::vector<Region>& regions, const Video& video, const ScoreOptions& opt) {
  if (opt.frame_mode == "max") return eval::frame_scores_max(regions, video.num_frames());
  if (opt.frame_mode == "map")
    return eval::frame_scores_from_maps(regions, video.num_frames(), video.width(), video.height(), opt.map);
  throw std::invalid_argument("frame mode must be map or max, got " + opt.frame_mode);
}
}  // namespace

VideoScores score_video(SSMTLModel& model, const ObjectPool& pool, int v, const ScoreOptions& opt,
                        const std::function<void(int64_t)>& progress) {
  const Video& video = pool.video(v);
  std::vector<size_t> ids;
  for (size_t i = 0; i < pool.objects().size(); ++i)
    if (pool.objects()[i].video == v) ids.push_back(i);
  VideoScores out;
  out.video = video.name();
  out.num_frames = video.num_frames();
  const int S = model.cfg.crop;
  const TaskSet& t = model.cfg.tasks;
  if ((t.any(Source::kClassProbs) && pool.distill_classes() == 0) ||
      (t.any(Source::kSegmentationMaps) && !pool.teacher_spec().segmentation) ||
      (t.any(Source::kPoseMaps) && pool.teacher_spec().pose_joints == 0))
    throw std::invalid_argument("score: " + t.names() + " needs teacher signals that were not loaded with the objects "
                                "(load them with TeacherSpec::for_model)");
  for (size_t a = 0; a < ids.size(); a += static_cast<size_t>(opt.batch_size)) {
    size_t b = std::min(ids.size(), a + static_cast<size_t>(opt.batch_size));
    const int64_t n = static_cast<int64_t>(b - a);
    Tensor seq = Tensor::empty({n, 3, 7, S, S});
    std::vector<uint64_t> keys(static_cast<size_t>(n));
    util::parallel_for(n, [&](int64_t i) {
      const PoolObject& o = pool.objects()[ids[a + i]];
      auto w = sequence_frames(o.frame, video.num_frames(), opt.window_ends);
      Tensor one = crop_object(video, std::vector<int>(w.begin(), w.end()), o.box, S);
      std::copy(one.data(), one.data() + one.numel(), seq.data() + i * one.numel());
      keys[i] = object_score_key(v, o.frame, a + static_cast<uint64_t>(i));
    });
    ObjectTeachers teach = gather_teachers(pool, std::vector<size_t>(ids.begin() + a, ids.begin() + b));
    auto s = score_objects(model, seq, teach, opt.seed, keys);
    for (auto& [task, vals] : s) out.task_scores[task].insert(out.task_scores[task].end(), vals.begin(), vals.end());
    if (progress) progress(n);
  }
  if (opt.normalizer && !ids.empty()) out.task_scores["object"] = opt.normalizer->combine(out.task_scores);
  const std::vector<float>& obj = out.task_scores["object"];
  for (size_t k = 0; k < ids.size(); ++k) {
    const PoolObject& o = pool.objects()[ids[k]];
    out.regions.push_back({o.frame, region_box(o.box), static_cast<double>(obj[k])});
  }
  out.frame_scores = frame_scores_of(out.regions, video, opt);
  return out;
}

std::vector<float> mean_over_runs(const std::vector<const std::vector<float>*>& runs) {
  if (runs.empty()) throw std::invalid_argument("mean_over_runs: no runs");
  const size_t n = runs[0]->size();
  std::vector<double> sum(n, 0.0);
  for (const std::vector<float>* r : runs) {
    if (r->size() != n)
      throw std::invalid_argument("mean_over_runs: a run has " + std::to_string(r->size()) + " scores, another " +
                                  std::to_string(n));
    for (size_t k = 0; k < n; ++k) sum[k] += (*r)[k];
  }
  std::vector<float> out(n);
  for (size_t k = 0; k < n; ++k) out[k] = static_cast<float>(sum[k] / static_cast<double>(runs.size()));
  return out;
}

VideoScores average_video_scores(const std::vector<VideoScores>& runs, const Video& video, const ScoreOptions& opt) {
  if (runs.empty()) throw std::invalid_argument("average_video_scores: no runs");
  VideoScores out = runs[0];
  for (const VideoScores& r : runs) {
    bool same = r.video == out.video && r.num_frames == out.num_frames && r.regions.size() == out.regions.size();
    for (size_t k = 0; same && k < r.regions.size(); ++k)
      same = r.regions[k].frame == out.regions[k].frame && r.regions[k].box.x0 == out.regions[k].box.x0 &&
             r.regions[k].box.y0 == out.regions[k].box.y0;
    if (!same) throw std::invalid_argument("average_video_scores: video " + r.video + ": the runs scored other objects");
  }
  for (auto it = out.task_scores.begin(); it != out.task_scores.end();) {
    bool everywhere = true;
    for (const VideoScores& r : runs) everywhere &= r.task_scores.count(it->first) > 0;
    if (!everywhere) { it = out.task_scores.erase(it); continue; }
    std::vector<const std::vector<float>*> cols;
    for (const VideoScores& r : runs) cols.push_back(&r.task_scores.at(it->first));
    it->second = mean_over_runs(cols);
    ++it;
  }
  if (!out.regions.empty()) {
    const std::vector<float>& obj = out.task_scores.at("object");
    for (size_t k = 0; k < out.regions.size(); ++k) out.regions[k].score = obj[k];
  }
  out.frame_scores = frame_scores_of(out.regions, video, opt);
  return out;
}

void write_video_scores(const std::string& out, const VideoScores& s) {
  eval::save_scores(out + "/frame_scores/" + s.video + ".txt", s.frame_scores);
  std::ostringstream o;
  o.precision(9);
  o << "# frame,x_min,y_min,x_max,y_max";
  std::vector<std::string> tasks;
  for (auto& [t, v] : s.task_scores) {
    tasks.push_back(t);
    o << ',' << t;
  }
  o << '\n';
  for (size_t k = 0; k < s.regions.size(); ++k) {
    write_region_box(o, s.regions[k].frame, s.regions[k].box);
    for (auto& t : tasks) o << ',' << s.task_scores.at(t)[k];
    o << '\n';
  }
  save_regions(out + "/regions/" + s.video + ".txt", s.regions, 9);
  util::write_text_atomic(out + "/object_scores/" + s.video + ".txt", o.str());
}

double median_object_height(const ObjectPool& pool) {
  std::vector<double> h;
  for (const PoolObject& o : pool.objects()) h.push_back(region_box(o.box).height());
  if (h.empty()) throw std::invalid_argument("median object height: the pool has no object");
  std::nth_element(h.begin(), h.begin() + h.size() / 2, h.end());
  return h[h.size() / 2];
}

}  // namespace ssmtl
