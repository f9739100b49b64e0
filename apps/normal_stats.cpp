#include "apps/normal_stats.h"

#include <stdexcept>

#include "data/video/frames.h"
#include "model/trainer.h"
#include "util/progress.h"

namespace ssmtl::app {

std::vector<std::string> normal_video_names(util::Config& cfg, const std::string& root,
                                            std::vector<std::string> nv) {
  if (!nv.empty()) return nv;
  // the videos training held out for validation: normal and never trained on
  std::vector<std::string> all = list_videos(root, "training");
  const int n = num_validation_videos(static_cast<int>(all.size()), TrainOptions::from_config(cfg).val_fraction);
  nv.assign(all.end() - n, all.end());
  if (nv.empty())
    throw std::runtime_error("the training split of " + root + " has no held-out validation video; name normal "
                             "videos with --normal-videos");
  return nv;
}

ObjectPool load_normal_pool(const ModelConfig& mc, const std::string& root, const std::string& normal_det,
                            const std::vector<std::string>& nv, const ScoreOptions& so, const std::string& teachers) {
  return ObjectPool::load(root, "training", normal_det, so.min_detection_score, false, nv,
                          TeacherSpec::for_model(mc, normal_det, teachers));
}

NormalStats fit_normal_stats(SSMTLModel& model, util::Config& cfg, const std::string& root,
                             const std::string& normal_det, std::vector<std::string> nv, const std::string& mode,
                             const ScoreOptions& so, const std::string& teachers) {
  if (mode == "none") return {eval::TaskNormalizer(mode), {}};
  nv = normal_video_names(cfg, root, nv);
  return fit_normal_stats(model, load_normal_pool(model.cfg, root, normal_det, nv, so, teachers), nv, mode, so);
}

NormalStats fit_normal_stats(SSMTLModel& model, const ObjectPool& npool, const std::vector<std::string>& nv,
                             const std::string& mode, const ScoreOptions& so) {
  NormalStats out{eval::TaskNormalizer(mode), nv};
  if (mode == "none") return out;
  std::map<std::string, std::vector<float>> normal;
  util::Progress np("score (normal objects)", static_cast<int64_t>(npool.objects().size()), "objects");
  ScoreOptions plain = so;
  plain.normalizer = nullptr;
  for (int v = 0; v < npool.num_videos(); ++v) {
    VideoScores s = score_video(model, npool, v, plain, [&](int64_t n) { np.add(n); });
    for (auto& [task, vals] : s.task_scores) normal[task].insert(normal[task].end(), vals.begin(), vals.end());
  }
  np.finish();
  out.normalizer.fit(normal);
  return out;
}

std::string normal_stats_comment(const NormalStats& s, const std::string& ckpt) {
  std::string text = "ssmtl score: task score statistics of normal objects (training videos";
  for (const auto& v : s.videos) text += " " + v;
  return text + ") of " + ckpt;
}

}  // namespace ssmtl::app
