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

}  // namespace ssmtl::eval
