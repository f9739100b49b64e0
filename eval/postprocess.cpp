#include "eval/postprocess.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ssmtl::eval {

void check_finite(const std::vector<double>& scores, const std::string& video) {
  for (size_t i = 0; i < scores.size(); ++i)
    if (!std::isfinite(scores[i]))
      throw std::invalid_argument("video " + video + ": score of frame " + std::to_string(i) + " is " +
                                  (std::isnan(scores[i]) ? "NaN" : "infinite"));
}

std::vector<double> minmax_normalize(const std::vector<double>& scores) {
  std::vector<double> out(scores.size(), 0.0);
  if (scores.empty()) return out;
  auto [lo, hi] = std::minmax_element(scores.begin(), scores.end());
  double mn = *lo, range = *hi - *lo;
  if (!(range > 0)) return out;   // constant vector: zeros, not 0/0
  for (size_t i = 0; i < scores.size(); ++i) out[i] = (scores[i] - mn) / range;
  return out;
}

std::vector<double> gaussian_kernel(double sigma, double truncate) {
  if (!(sigma > 0) || !std::isfinite(sigma))
    throw std::invalid_argument("gaussian_kernel: sigma must be finite and > 0, got " + std::to_string(sigma));
  if (!(truncate > 0)) throw std::invalid_argument("gaussian_kernel: truncate must be > 0");
  if (truncate * sigma > 1e6)   // checked before the int conversion and the allocation
    throw std::invalid_argument("gaussian_kernel: sigma " + std::to_string(sigma) + " x truncate " +
                                std::to_string(truncate) + " asks for a kernel radius over 1e6 frames");
  const int r = static_cast<int>(truncate * sigma + 0.5);
  std::vector<double> w(2 * static_cast<size_t>(r) + 1);
  double sum = 0;
  for (int x = -r; x <= r; ++x) {
    w[static_cast<size_t>(x + r)] = std::exp(-0.5 * x * x / (sigma * sigma));
    sum += w[static_cast<size_t>(x + r)];
  }
  for (double& v : w) v /= sum;
  return w;
}

std::vector<double> gaussian_smooth(const std::vector<double>& scores, double sigma, double truncate) {
  if (sigma == 0) return scores;
  std::vector<double> w = gaussian_kernel(sigma, truncate);   // validates sigma and truncate
  const int64_t n = static_cast<int64_t>(scores.size()), r = static_cast<int64_t>(w.size() / 2);
  std::vector<double> out(scores.size());
  for (int64_t i = 0; i < n; ++i) {
    double acc = 0;
    for (int64_t k = -r; k <= r; ++k) {
      int64_t j = std::clamp<int64_t>(i + k, 0, n - 1);   // 'nearest' edge mode
      acc += w[static_cast<size_t>(k + r)] * scores[static_cast<size_t>(j)];
    }
    out[static_cast<size_t>(i)] = acc;
  }
  return out;
}

std::vector<double> half_gaussian_kernel(double sigma, double truncate) {
  std::vector<double> full = gaussian_kernel(sigma, truncate);   // validates sigma and truncate
  const size_t r = full.size() / 2;
  std::vector<double> w(full.begin() + static_cast<std::ptrdiff_t>(r), full.end());
  double sum = 0;
  for (double v : w) sum += v;
  for (double& v : w) v /= sum;
  return w;
}

CausalSmoother::CausalSmoother(double sigma, double truncate) {
  if (sigma != 0) w_ = half_gaussian_kernel(sigma, truncate);
  hist_.assign(w_.size(), 0.0);
}

double CausalSmoother::push(double x) {
  if (w_.empty()) return x;
  if (seen_ == 0) std::fill(hist_.begin(), hist_.end(), x);   // 'nearest': the past before frame 0 is frame 0
  hist_[head_] = x;
  const size_t n = w_.size();
  double acc = 0;
  for (size_t k = 0; k < n; ++k) acc += w_[k] * hist_[(head_ + n - k) % n];
  head_ = (head_ + 1) % n;
  ++seen_;
  return acc;
}

std::vector<double> half_gaussian_smooth(const std::vector<double>& scores, double sigma, double truncate) {
  CausalSmoother s(sigma, truncate);
  std::vector<double> out;
  out.reserve(scores.size());
  for (double x : scores) out.push_back(s.push(x));
  return out;
}

std::vector<double> smooth_scores(const std::vector<double>& scores, const std::string& kind, double sigma) {
  if (kind == "gaussian") return gaussian_smooth(scores, sigma, 3.0);
  if (kind == "half-gaussian") return half_gaussian_smooth(scores, sigma, 3.0);
  throw std::invalid_argument("smoothing kind must be gaussian (centred) or half-gaussian (causal), got '" + kind + "'");
}

}  // namespace ssmtl::eval
