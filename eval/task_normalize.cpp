#include "eval/task_normalize.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ssmtl::eval {

TaskNormalizer::TaskNormalizer(std::string mode) : mode_(std::move(mode)) {
  if (mode_ != "none" && mode_ != "zscore" && mode_ != "log-zscore")
    throw std::invalid_argument("task score normalisation must be none, zscore or log-zscore, got '" + mode_ + "'");
}

double TaskNormalizer::transform(double s) const {
  return mode_ == "log-zscore" ? std::log(std::max(s, kLogFloor)) : s;
}

void TaskNormalizer::fit(const std::map<std::string, std::vector<float>>& normal) {
  stats_.clear();
  if (mode_ == "none") return;
  for (const auto& [task, v] : normal) {
    if (task == "object") continue;
    if (v.size() < 2)
      throw std::invalid_argument("task normalisation: task " + task + " has " + std::to_string(v.size()) +
                                  " normal objects (need at least 2)");
    double sum = 0, sq = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      if (!std::isfinite(v[i]))
        throw std::invalid_argument("task normalisation: task " + task + ", normal object " + std::to_string(i) +
                                    " has a non-finite score");
      double x = transform(v[i]);
      sum += x;
      sq += x * x;
    }
    const double n = static_cast<double>(v.size()), mean = sum / n;
    const double var = std::max(0.0, sq / n - mean * mean);
    if (!(var > 0))
      throw std::invalid_argument("task normalisation: task " + task + " has the same score on every normal object");
    stats_[task] = {mean, std::sqrt(var), static_cast<int64_t>(v.size())};
  }
  if (stats_.empty()) throw std::invalid_argument("task normalisation: no task scores to fit");
}

std::vector<float> TaskNormalizer::combine(const std::map<std::string, std::vector<float>>& scores) const {
  size_t n = 0, tasks = 0;
  bool first = true;
  for (const auto& [task, v] : scores) {
    if (task == "object") continue;
    if (!first && v.size() != n)
      throw std::invalid_argument("task normalisation: task " + task + " has " + std::to_string(v.size()) +
                                  " scores, another task " + std::to_string(n));
    n = v.size();
    first = false;
    ++tasks;
  }
  if (tasks == 0) throw std::invalid_argument("task normalisation: no task scores to combine");
  std::vector<double> acc(n, 0.0);
  for (const auto& [task, v] : scores) {
    if (task == "object") continue;
    double mean = 0, sd = 1;
    if (mode_ != "none") {
      auto it = stats_.find(task);
      if (it == stats_.end())
        throw std::invalid_argument("task normalisation: no normal statistics for task " + task);
      mean = it->second.mean;
      sd = it->second.std;
    }
    for (size_t i = 0; i < n; ++i) acc[i] += (transform(v[i]) - mean) / sd;
  }
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(acc[i] / static_cast<double>(tasks));
  return out;
}

void TaskNormalizer::set_stats(const std::string& task, TaskScoreStats s) {
  if (!std::isfinite(s.mean) || !std::isfinite(s.std) || !(s.std > 0))
    throw std::invalid_argument("task normalisation: task " + task + " needs a finite mean and std > 0");
  stats_[task] = s;
}

std::string TaskNormalizer::to_text() const {
  std::ostringstream o;
  o.precision(17);
  o << "mode = " << mode_ << "\n";
  for (const auto& [task, s] : stats_) o << task << " mean " << s.mean << " std " << s.std << " count " << s.count << "\n";
  return o.str();
}

std::string normalization_file_text(const TaskNormalizer& n, const std::string& checkpoint, const std::string& comment,
                                    const std::string& window_ends) {
  return "# " + comment + "\nformat = " + std::to_string(kNormalizationFormat) + "\ncheckpoint = " + checkpoint +
         "\nwindow_ends = " + window_ends + "\n" + n.to_text();
}

NormalizationFile read_normalization_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot read the normalisation file");
  NormalizationFile f;
  f.legacy = true;
  f.format = 1;   // (until a format line says otherwise)
  std::string line, mode, first_comment;
  std::vector<std::pair<std::string, TaskScoreStats>> tasks;
  int no = 0;
  auto bad = [&](const std::string& why) {
    return std::runtime_error(path + ":" + std::to_string(no) + ": " + why + " (line '" + line + "')");
  };
  while (std::getline(in, line)) {
    ++no;
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (first_comment.empty()) first_comment = line;
      continue;
    }
    const size_t eq = line.find(" = ");
    if (eq != std::string::npos) {
      const std::string key = line.substr(0, eq), value = line.substr(eq + 3);
      if (key == "format") {
        if (value != "1" && value != std::to_string(kNormalizationFormat))
          throw bad("format " + value + " is not supported (this program reads formats 1 and " +
                    std::to_string(kNormalizationFormat) + ")");
        f.format = std::stoi(value);
        f.legacy = false;
      } else if (key == "checkpoint") {
        f.checkpoint = value;
      } else if (key == "window_ends") {
        if (f.format < 2) throw bad("window_ends in a format 1 file");
        if (value != "shift" && value != "clamp") throw bad("window_ends must be shift or clamp");
        f.window_ends = value;
      } else if (key == "mode") {
        mode = value;
      } else {
        throw bad("unknown key '" + key + "'");
      }
      continue;
    }
    std::istringstream ls(line);
    std::string task, w_mean, w_std, w_count, rest;
    TaskScoreStats s;
    if (!(ls >> task >> w_mean >> s.mean >> w_std >> s.std >> w_count >> s.count) || w_mean != "mean" ||
        w_std != "std" || w_count != "count" || (ls >> rest))
      throw bad("expected '<task> mean M std S count N'");
    tasks.emplace_back(task, s);
  }
  if (mode.empty()) throw std::runtime_error(path + ": no 'mode = ...' line (not a normalisation file of ssmtl score?)");
  try {
    f.normalizer = TaskNormalizer(mode);
    for (auto& [task, s] : tasks) f.normalizer.set_stats(task, s);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  if (mode != "none" && tasks.empty()) throw std::runtime_error(path + ": mode " + mode + " but no task statistics");
  if (f.legacy && f.checkpoint.empty()) {   // "# ssmtl score: task score statistics of normal objects (...) of CKPT"
    const size_t at = first_comment.rfind(") of ");
    if (at != std::string::npos) f.checkpoint = first_comment.substr(at + 5);
  }
  return f;
}

}  // namespace ssmtl::eval
