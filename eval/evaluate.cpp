#include "eval/evaluate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "eval/io.h"
#include "regions/region_file.h"
#include "eval/postprocess.h"
#include "util/atomic_file.h"
#include "util/parse.h"

namespace ssmtl::eval {
namespace {

std::string video_file(const std::string& dir, const std::string& video, const char* what) {
  std::string path = (std::filesystem::path(dir) / (video + ".txt")).string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw std::runtime_error("video " + video + ": no " + what + " file " + path);
  return path;
}

// Re-throws a loader error with the video named first.
template <class Fn>
auto for_video(const std::string& video, Fn fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("video " + video + ": " + e.what());
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("video " + video + ": " + e.what());
  }
}

std::string num(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace

std::vector<VideoScores> load_video_scores(const std::string& scores_dir, const std::string& labels_dir) {
  std::vector<VideoScores> videos;
  const std::map<std::string, std::string> label_files = list_video_files(labels_dir);
  for (const auto& [name, label_path] : label_files) {
    VideoScores v;
    v.name = name;
    v.labels = for_video(name, [&, path = label_path] { return load_labels(path); });
    const std::string score_path = video_file(scores_dir, name, "score");
    v.scores = for_video(name, [&] { return load_scores(score_path); });
    if (v.scores.size() != v.labels.size())
      throw std::runtime_error("video " + name + ": " + std::to_string(v.scores.size()) + " scores in " + score_path +
                               " but " + std::to_string(v.labels.size()) + " labels in " + label_path);
    videos.push_back(std::move(v));
  }
  std::vector<std::string> unused;   // the labels define the video set; say which score files are left out
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(scores_dir, ec))
    if (e.path().extension() == ".txt" && !label_files.count(e.path().stem().string()))
      unused.push_back(e.path().filename().string());
  std::sort(unused.begin(), unused.end());
  util::warn_skipped(scores_dir + ": score files of videos without labels, not evaluated", unused);
  return videos;
}

std::vector<VideoScores> postprocess_scores(const std::vector<VideoScores>& videos, const EvaluateOptions& o) {
  std::vector<VideoScores> out = videos;
  for (auto& v : out) {
    check_finite(v.scores, v.name);
    if (o.smooth_sigma != 0) v.scores = smooth_scores(v.scores, o.smooth_kind, o.smooth_sigma);
    if (o.normalize_video) v.scores = minmax_normalize(v.scores);
  }
  return out;
}

EvaluationResult evaluate(const EvaluateOptions& o) {
  if (o.regions_dir.empty() != o.tracks_dir.empty())
    throw std::invalid_argument("regions and tracks folders must be given together (RBDC/TBDC need both)");
  EvaluationResult r;
  r.options = o;
  r.videos = postprocess_scores(load_video_scores(o.scores_dir, o.labels_dir), o);
  for (const auto& v : r.videos) r.frames += static_cast<int64_t>(v.labels.size());
  r.micro_auc = micro_auc(r.videos);
  r.macro = macro_auc(r.videos, o.macro);
  if (!o.regions_dir.empty()) {
    std::vector<VideoRegions> vr;
    for (const auto& v : r.videos) {
      VideoRegions x;
      x.name = v.name;
      x.num_frames = static_cast<int64_t>(v.labels.size());
      const std::string rp = video_file(o.regions_dir, v.name, "region");
      const std::string tp = video_file(o.tracks_dir, v.name, "track");
      x.regions = for_video(v.name, [&] { return load_regions(rp); });
      x.tracks = for_video(v.name, [&] { return load_tracks(tp); });
      vr.push_back(std::move(x));
    }
    r.regions = region_track_metrics(vr);
    r.has_regions = true;
  }
  return r;
}

std::string evaluation_json(const EvaluationResult& r) {
  const auto& o = r.options;
  std::string j = "{\n";
  j += "  \"format_version\": " + std::to_string(kEvaluationFormatVersion) + ",\n";
  j += "  \"micro_auc\": " + num(r.micro_auc) + ",\n";
  j += "  \"macro_auc\": " + num(r.macro.auc) + ",\n";
  j += "  \"rbdc\": " + (r.has_regions ? num(r.regions.rbdc) : "null") + ",\n";
  j += "  \"tbdc\": " + (r.has_regions ? num(r.regions.tbdc) : "null") + ",\n";
  j += "  \"frames\": " + std::to_string(r.frames) + ",\n";
  j += "  \"videos\": " + std::to_string(r.videos.size()) + ",\n";
  j += "  \"skipped_videos\": [";
  for (size_t i = 0; i < r.macro.skipped.size(); ++i) j += (i ? ", " : "") + quoted(r.macro.skipped[i]);
  j += "],\n";
  if (r.has_regions) {
    j += "  \"regions\": {\"test_frames\": " + std::to_string(r.regions.test_frames) +
         ", \"gt_regions\": " + std::to_string(r.regions.gt_regions) +
         ", \"gt_tracks\": " + std::to_string(r.regions.gt_tracks) +
         ", \"predicted_regions\": " + std::to_string(r.regions.predicted_regions) + ", \"beta\": 0.1, \"alpha\": 0.1},\n";
  }
  j += "  \"options\": {\"scores\": " + quoted(o.scores_dir) + ", \"labels\": " + quoted(o.labels_dir) +
       ", \"regions\": " + (o.regions_dir.empty() ? "null" : quoted(o.regions_dir)) +
       ", \"tracks\": " + (o.tracks_dir.empty() ? "null" : quoted(o.tracks_dir)) +
       ", \"smooth_sigma\": " + num(o.smooth_sigma) + ", \"smooth_truncate\": 3.0, \"smooth_mode\": \"nearest\", \"smooth_kind\": " + quoted(o.smooth_kind) +
       ", \"normalize\": " + quoted(o.normalize_video ? "video" : "none") +
       ", \"macro\": " + quoted(macro_mode_name(o.macro)) + ", \"order\": \"smooth, then normalize\"},\n";
  j += "  \"per_video\": [";
  for (size_t i = 0; i < r.videos.size(); ++i) {
    const auto& v = r.videos[i];
    int64_t abnormal = 0;
    for (int l : v.labels) abnormal += l;
    j += std::string(i ? ",\n" : "\n") + "    {\"name\": " + quoted(v.name) + ", \"frames\": " +
         std::to_string(v.labels.size()) + ", \"abnormal_frames\": " + std::to_string(abnormal) +
         ", \"auc\": " + num(r.macro.per_video[i]) + "}";
  }
  j += "\n  ]\n}\n";
  return j;
}

std::string evaluation_table(const EvaluationResult& r) {
  char buf[512];
  std::string t;
  std::snprintf(buf, sizeof buf, "%zu videos, %lld frames; smoothing %s sigma %g, normalize %s, macro %s\n",
                r.videos.size(), static_cast<long long>(r.frames), r.options.smooth_kind.c_str(), r.options.smooth_sigma,
                r.options.normalize_video ? "video" : "none", macro_mode_name(r.options.macro));
  t += buf;
  t += "  metric      value\n";
  std::snprintf(buf, sizeof buf, "  micro AUC   %6.2f%%\n  macro AUC   %6.2f%%", 100 * r.micro_auc, 100 * r.macro.auc);
  t += buf;
  if (!r.macro.skipped.empty()) {
    t += "  (" + std::to_string(r.macro.skipped.size()) + " single-class videos skipped:";
    for (const auto& s : r.macro.skipped) t += " " + s;
    t += ")";
  }
  t += "\n";
  if (r.has_regions) {
    std::snprintf(buf, sizeof buf, "  RBDC        %6.2f%%\n  TBDC        %6.2f%%\n", 100 * r.regions.rbdc,
                  100 * r.regions.tbdc);
    t += buf;
  } else {
    t += "  RBDC        -  (no --regions/--tracks)\n  TBDC        -\n";
  }
  return t;
}

void write_evaluated_scores(const std::string& dir, const EvaluationResult& r) {
  util::make_dirs(dir);
  for (const auto& v : r.videos) save_scores((std::filesystem::path(dir) / (v.name + ".txt")).string(), v.scores);
}

}  // namespace ssmtl::eval
