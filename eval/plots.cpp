#include "eval/plots.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "util/atomic_file.h"

namespace ssmtl::eval {

std::vector<std::pair<int64_t, int64_t>> abnormal_intervals(const std::vector<int>& labels) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] != 1) continue;
    if (!out.empty() && out.back().second == static_cast<int64_t>(i) - 1) out.back().second = static_cast<int64_t>(i);
    else out.push_back({static_cast<int64_t>(i), static_cast<int64_t>(i)});
  }
  return out;
}

plot::Chart score_chart(const VideoScores& v, double auc) {
  plot::Chart c;
  char title[160];
  if (std::isfinite(auc)) std::snprintf(title, sizeof title, "video %s   AUC %.2f%%", v.name.c_str(), 100 * auc);
  else std::snprintf(title, sizeof title, "video %s   (single class: no AUC)", v.name.c_str());
  c.title = title;
  c.x_label = "frame";
  c.y_label = "anomaly score";
  plot::Series s;
  s.name = "score";
  s.color = plot::colors::blue;
  for (size_t i = 0; i < v.scores.size(); ++i) {
    s.x.push_back(static_cast<double>(i));
    s.y.push_back(v.scores[i]);
  }
  c.series.push_back(std::move(s));
  for (auto [a, b] : abnormal_intervals(v.labels)) c.bands.push_back({a - 0.5, b + 0.5, plot::colors::pink});
  if (!c.bands.empty()) c.extra_legend.push_back({"abnormal", plot::colors::pink});
  c.x_min = 0;
  c.x_max = v.scores.size() > 1 ? static_cast<double>(v.scores.size() - 1) : 1.0;
  return c;
}

plot::Chart roc_chart(const EvaluationResult& r) {
  std::vector<double> s;
  std::vector<int> l;
  for (const auto& v : r.videos) {
    s.insert(s.end(), v.scores.begin(), v.scores.end());
    l.insert(l.end(), v.labels.begin(), v.labels.end());
  }
  plot::Chart c;
  char title[160];
  std::snprintf(title, sizeof title, "ROC: micro AUC %.2f%%, macro %.2f%% (%s)", 100 * r.micro_auc,
                100 * r.macro.auc, macro_mode_name(r.options.macro));
  c.title = title;
  c.x_label = "false-positive rate";
  c.y_label = "true-positive rate";
  c.width = 640;
  c.height = 600;
  c.x_min = c.y_min = 0;
  c.x_max = c.y_max = 1;
  plot::Series roc;
  roc.name = "ROC";
  roc.color = plot::colors::blue;
  for (const auto& p : roc_curve(s, l)) {
    roc.x.push_back(p.fpr);
    roc.y.push_back(p.tpr);
  }
  plot::Series chance{"chance", {0, 1}, {0, 1}, plot::colors::gray, 1};
  c.series = {chance, roc};
  return c;
}

void write_evaluation_plots(const std::string& dir, const EvaluationResult& r) {
  util::make_dirs(dir);
  namespace fs = std::filesystem;
  for (size_t i = 0; i < r.videos.size(); ++i)
    plot::render_chart(score_chart(r.videos[i], r.macro.per_video[i]))
        .save_png((fs::path(dir) / (r.videos[i].name + "_scores.png")).string());
  plot::render_chart(roc_chart(r)).save_png((fs::path(dir) / "roc.png").string());
}

}  // namespace ssmtl::eval
