#include "eval/rbdc.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <stdexcept>
#include <unordered_map>

namespace ssmtl::eval {

double area_to(const std::vector<double>& x, const std::vector<double>& y, double x_max) {
  if (x.size() != y.size()) throw std::invalid_argument("area_to: x and y differ in length");
  double area = 0, px = 0, py = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] < px) throw std::invalid_argument("area_to: x decreases at point " + std::to_string(i));
    if (x[i] >= x_max) {   // cut: interpolate the segment that crosses x_max
      const double y_cut = x[i] == px ? y[i] : py + (y[i] - py) * (x_max - px) / (x[i] - px);
      return area + (x_max - px) * (py + y_cut) / 2;
    }
    area += (x[i] - px) * (py + y[i]) / 2;
    px = x[i];
    py = y[i];
  }
  return area + (x_max - px) * py;   // flat extension
}

namespace {

struct GtRegion {
  size_t track;   // index into the global track list
};

// A predicted region with the ground-truth regions (global indices) it matches.
struct Candidate {
  double score;
  std::vector<size_t> matches;
};

void check_frame(const VideoRegions& v, int64_t frame, const char* what) {
  if (frame < 0 || frame >= v.num_frames)
    throw std::invalid_argument("video " + v.name + ": " + what + " in frame " + std::to_string(frame) +
                                ", but the video has " + std::to_string(v.num_frames) + " frames");
}

}  // namespace

RegionMetrics region_track_metrics(const std::vector<VideoRegions>& videos, const RegionCriteria& criteria) {
  RegionMetrics m;
  std::vector<GtRegion> gt;
  std::vector<int64_t> track_len;
  std::vector<Candidate> cands;
  for (const auto& v : videos) {
    if (v.num_frames < 0) throw std::invalid_argument("video " + v.name + ": negative frame count");
    m.test_frames += v.num_frames;
    // Ground truth of this video: global track index per local id, GT regions grouped by frame.
    std::map<int64_t, size_t> track_index;
    std::unordered_map<int64_t, std::vector<size_t>> gt_by_frame;   // frame -> positions in v.tracks
    std::vector<size_t> global_gt(v.tracks.size());
    for (size_t i = 0; i < v.tracks.size(); ++i) {
      const TrackBox& t = v.tracks[i];
      check_frame(v, t.frame, "ground-truth track box");
      auto [it, fresh] = track_index.emplace(t.track_id, track_len.size());
      if (fresh) track_len.push_back(0);
      ++track_len[it->second];
      global_gt[i] = gt.size();
      gt.push_back({it->second});
      gt_by_frame[t.frame].push_back(i);
    }
    for (const Region& r : v.regions) {
      check_frame(v, r.frame, "predicted region");
      if (!std::isfinite(r.score))
        throw std::invalid_argument("video " + v.name + ": region score in frame " + std::to_string(r.frame) +
                                    " is not finite");
      Candidate c{r.score, {}};
      auto it = gt_by_frame.find(r.frame);
      if (it != gt_by_frame.end())
        for (size_t i : it->second)
          if (iou(r.box, v.tracks[i].box) >= criteria.beta) c.matches.push_back(global_gt[i]);
      cands.push_back(std::move(c));
    }
  }
  m.gt_regions = static_cast<int64_t>(gt.size());
  m.gt_tracks = static_cast<int64_t>(track_len.size());
  m.predicted_regions = static_cast<int64_t>(cands.size());
  if (m.test_frames <= 0) throw std::invalid_argument("RBDC/TBDC: no test frames");
  if (gt.empty()) throw std::invalid_argument("RBDC/TBDC: no ground-truth regions in any video");

  std::stable_sort(cands.begin(), cands.end(), [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  std::vector<char> gt_detected(gt.size(), 0);
  std::vector<int64_t> track_hits(track_len.size(), 0);
  std::vector<char> track_detected(track_len.size(), 0);
  int64_t fp = 0, regions_detected = 0, tracks_detected = 0;
  std::vector<double> fpr, rbdr, tbdr;
  for (size_t k = 0; k < cands.size();) {
    const double threshold = cands[k].score;
    for (; k < cands.size() && cands[k].score == threshold; ++k) {   // a tie group enters together
      if (cands[k].matches.empty()) {
        ++fp;
        continue;
      }
      for (size_t g : cands[k].matches) {
        if (gt_detected[g]) continue;
        gt_detected[g] = 1;
        ++regions_detected;
        const size_t t = gt[g].track;
        ++track_hits[t];
        if (!track_detected[t] &&
            static_cast<double>(track_hits[t]) / static_cast<double>(track_len[t]) >= criteria.alpha) {
          track_detected[t] = 1;
          ++tracks_detected;
        }
      }
    }
    DetectionPoint p;
    p.threshold = threshold;
    p.fpr = static_cast<double>(fp) / static_cast<double>(m.test_frames);
    p.rbdr = static_cast<double>(regions_detected) / static_cast<double>(m.gt_regions);
    p.tbdr = static_cast<double>(tracks_detected) / static_cast<double>(m.gt_tracks);
    m.curve.push_back(p);
    fpr.push_back(p.fpr);
    rbdr.push_back(p.rbdr);
    tbdr.push_back(p.tbdr);
  }
  m.rbdc = area_to(fpr, rbdr, 1.0);
  m.tbdc = area_to(fpr, tbdr, 1.0);
  return m;
}

}  // namespace ssmtl::eval
