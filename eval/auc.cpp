#include "eval/auc.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace ssmtl::eval {
namespace {

// Tie groups of the scores in ascending order: for each distinct score, its number of positives and negatives.
struct TieGroup {
  double score;
  uint64_t pos, neg;
};

std::vector<TieGroup> tie_groups(const std::vector<double>& scores, const std::vector<int>& labels,
                                 uint64_t& total_pos, uint64_t& total_neg) {
  if (scores.size() != labels.size())
    throw std::invalid_argument("roc_auc: " + std::to_string(scores.size()) + " scores but " +
                                std::to_string(labels.size()) + " labels");
  if (scores.empty()) throw std::invalid_argument("roc_auc: no frames");
  for (size_t i = 0; i < scores.size(); ++i) {
    if (!std::isfinite(scores[i]))
      throw std::invalid_argument("roc_auc: score of frame " + std::to_string(i) + " is not finite");
    if (labels[i] != 0 && labels[i] != 1)
      throw std::invalid_argument("roc_auc: label of frame " + std::to_string(i) + " is " +
                                  std::to_string(labels[i]) + ", not 0 or 1");
  }
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  std::vector<TieGroup> groups;
  total_pos = total_neg = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    double s = scores[order[k]];
    if (groups.empty() || groups.back().score != s) groups.push_back({s, 0, 0});
    if (labels[order[k]] == 1) {
      ++groups.back().pos;
      ++total_pos;
    } else {
      ++groups.back().neg;
      ++total_neg;
    }
  }
  if (total_pos == 0 || total_neg == 0)
    throw std::invalid_argument(std::string("roc_auc: all ") + std::to_string(scores.size()) + " frames are " +
                                (total_pos == 0 ? "normal" : "abnormal") + "; the AUC of a single class is undefined");
  return groups;
}

}  // namespace

double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels) {
  uint64_t P = 0, N = 0;
  auto groups = tie_groups(scores, labels, P, N);
  // Twice the number of (positive, negative) pairs ranked correctly, ties counting 1/2 (kept integer).
  uint64_t twice_correct = 0, neg_below = 0;
  for (const auto& g : groups) {
    twice_correct += g.pos * (2 * neg_below + g.neg);
    neg_below += g.neg;
  }
  return static_cast<double>(twice_correct) / (2.0 * static_cast<double>(P) * static_cast<double>(N));
}

std::vector<RocPoint> roc_curve(const std::vector<double>& scores, const std::vector<int>& labels) {
  uint64_t P = 0, N = 0;
  auto groups = tie_groups(scores, labels, P, N);
  std::vector<RocPoint> curve{{0.0, 0.0}};
  uint64_t tp = 0, fp = 0;
  for (auto it = groups.rbegin(); it != groups.rend(); ++it) {   // threshold from high to low
    tp += it->pos;
    fp += it->neg;
    curve.push_back({static_cast<double>(fp) / static_cast<double>(N), static_cast<double>(tp) / static_cast<double>(P)});
  }
  return curve;
}

double micro_auc(const std::vector<VideoScores>& videos) {
  std::vector<double> s;
  std::vector<int> l;
  for (const auto& v : videos) {
    if (v.scores.size() != v.labels.size())
      throw std::invalid_argument("video " + v.name + ": " + std::to_string(v.scores.size()) + " scores but " +
                                  std::to_string(v.labels.size()) + " labels");
    s.insert(s.end(), v.scores.begin(), v.scores.end());
    l.insert(l.end(), v.labels.begin(), v.labels.end());
  }
  return roc_auc(s, l);
}

const char* macro_mode_name(MacroMode m) { return m == MacroMode::Pad ? "pad" : "skip"; }

MacroMode parse_macro_mode(const std::string& name) {
  if (name == "skip") return MacroMode::Skip;
  if (name == "pad") return MacroMode::Pad;
  throw std::invalid_argument("macro AUC mode '" + name + "' is not 'skip' or 'pad'");
}

MacroAuc macro_auc(const std::vector<VideoScores>& videos, MacroMode mode) {
  MacroAuc r;
  double sum = 0;
  size_t used = 0;
  for (const auto& v : videos) {
    if (v.scores.size() != v.labels.size())
      throw std::invalid_argument("video " + v.name + ": " + std::to_string(v.scores.size()) + " scores but " +
                                  std::to_string(v.labels.size()) + " labels");
    std::vector<double> s = v.scores;
    std::vector<int> l = v.labels;
    if (mode == MacroMode::Pad) {
      s.insert(s.begin(), 0.0);
      l.insert(l.begin(), 0);
      s.push_back(1.0);
      l.push_back(1);
    } else {
      bool has_pos = std::find(l.begin(), l.end(), 1) != l.end(), has_neg = std::find(l.begin(), l.end(), 0) != l.end();
      if (!has_pos || !has_neg) {
        r.skipped.push_back(v.name);
        r.per_video.push_back(std::numeric_limits<double>::quiet_NaN());
        continue;
      }
    }
    double a;
    try {
      a = roc_auc(s, l);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("video " + v.name + ": " + e.what());
    }
    r.per_video.push_back(a);
    sum += a;
    ++used;
  }
  if (used == 0) {   // name them: a labels folder of one class per video is the usual cause (wrong folder, clips)
    std::string which;
    for (size_t i = 0; i < videos.size() && i < 8; ++i) {
      const bool pos = std::find(videos[i].labels.begin(), videos[i].labels.end(), 1) != videos[i].labels.end();
      which += (i ? ", " : "") + videos[i].name +
               (videos[i].labels.empty() ? " (no frames)" : pos ? " (all abnormal)" : " (all normal)");
    }
    if (videos.size() > 8) which += ", ... (" + std::to_string(videos.size()) + " videos)";
    throw std::invalid_argument("macro AUC: no video has both normal and abnormal frames: " +
                                (which.empty() ? std::string("no videos") : which) +
                                "; --macro pad scores single-class videos");
  }
  r.auc = sum / static_cast<double>(used);
  return r;
}

}  // namespace ssmtl::eval
