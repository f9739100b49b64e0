// Post-processing of one video's frame scores before the AUC (DESIGN.md section 7; PITFALLS.md items 3, 4).
// Always applied per video, never across videos. The evaluate app smooths first, then normalises (so normalised
// scores span exactly [0, 1], as the 'pad' macro convention assumes).
#pragma once
#include <string>
#include <vector>

namespace ssmtl::eval {

// Throws std::invalid_argument "video <name>: score of frame <i> is NaN|infinite" on the first non-finite score.
void check_finite(const std::vector<double>& scores, const std::string& video);

// Per-video min-max normalisation to [0, 1]: (x - min) / (max - min). A constant vector (max == min) gives
// zeros (never 0/0 = NaN); so does an empty one. Changes the micro AUC, never a per-video (macro) AUC.
std::vector<double> minmax_normalize(const std::vector<double>& scores);

// The normalised Gaussian kernel of scipy.ndimage.gaussian_filter1d: radius r = int(truncate * sigma + 0.5),
// weights exp(-x^2 / (2 sigma^2)) for x = -r..r divided by their sum. Length 2r + 1.
std::vector<double> gaussian_kernel(double sigma, double truncate = 3.0);

// Centred Gaussian smoothing with 'nearest' edges (the first/last value repeats beyond the ends); the output
// has the input's length. Equals scipy.ndimage.gaussian_filter1d(x, sigma, mode='nearest', truncate=truncate).
// sigma == 0 returns the input unchanged. Throws std::invalid_argument when sigma < 0 or is not finite, or
// truncate <= 0.
std::vector<double> gaussian_smooth(const std::vector<double>& scores, double sigma, double truncate = 3.0);

// Causal half-Gaussian smoothing, for scores that must not wait for the future (a live stream, `ssmtl watch`):
// y[t] = sum_{k=0..r} w_k x[t-k] with w_k = exp(-k^2 / (2 sigma^2)) / sum_j w_j, r = int(truncate * sigma + 0.5),
// 'nearest' at the start (x[-k] = x[0]). It is the right half of gaussian_kernel renormalised, so it lags the
// centred filter by about 0.8 sigma frames. sigma == 0 returns the input unchanged. Throws like gaussian_kernel.
std::vector<double> half_gaussian_kernel(double sigma, double truncate = 3.0);   // w_0 .. w_r
std::vector<double> half_gaussian_smooth(const std::vector<double>& scores, double sigma, double truncate = 3.0);

// The same one value at a time: push(x[t]) returns y[t]. half_gaussian_smooth is this class applied in order,
// so both give bitwise-equal results.
class CausalSmoother {
 public:
  explicit CausalSmoother(double sigma, double truncate = 3.0);
  double push(double x);
  void reset() { seen_ = 0; }

 private:
  std::vector<double> w_;      // empty when sigma == 0
  std::vector<double> hist_;   // ring of the last w_.size() inputs
  size_t head_ = 0;            // where the next input goes
  size_t seen_ = 0;
};

// Smoothing kinds of `ssmtl evaluate --smooth-kind` and `ssmtl watch`: "gaussian" (centred, needs the future)
// or "half-gaussian" (causal). Throws std::invalid_argument naming the kinds for anything else.
std::vector<double> smooth_scores(const std::vector<double>& scores, const std::string& kind, double sigma);

}  // namespace ssmtl::eval
