#include "eval/task_normalize.h"

#include <cmath>
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

std::string TaskNormalizer::to_text() const {
  std::ostringstream o;
  o.precision(9);
  o << "mode = " << mode_ << "\n";
  for (const auto& [task, s] : stats_) o << task << " mean " << s.mean << " std " << s.std << " count " << s.count << "\n";
  return o.str();
}

}  // namespace ssmtl::eval
