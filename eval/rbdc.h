// Region- and track-based detection criteria, RBDC and TBDC (Ramachandra & Jones, "Street Scene: A new dataset
// and evaluation protocol for video anomaly detection", WACV 2020), exactly as DESIGN.md section 8 fixes them:
//  - a predicted region and a ground-truth region of the same video and frame match when their inclusive-pixel
//    IoU (regions/box.h, in double) >= beta (0.1);
//  - the score threshold sweeps from high to low; all regions with the same score enter together;
//  - a ground-truth region is detected once any entered region matches it (counted once, however many match;
//    one region matching two ground-truth regions detects both); RBDR = detected GT regions / all GT regions;
//  - a false positive is an entered region that matches no ground-truth region; FPR = false positives / number
//    of test frames (all frames of all test videos, with or without anomalies);
//  - a track is detected when at least alpha (0.1) of its regions are detected; TBDR = detected tracks / tracks;
//  - RBDC / TBDC = trapezoidal area under RBDR(FPR) / TBDR(FPR) for FPR in [0, 1]: the curve starts at (0,0),
//    is cut at FPR = 1 (interpolated linearly on the segment that crosses it) and extended flat to FPR = 1 when
//    it ends earlier. No predicted region at all gives 0 for both.
// Track ids are local to a video (track 0 of video 01 and track 0 of video 02 are different tracks).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "regions/region_file.h"

namespace ssmtl::eval {

// Everything RBDC/TBDC needs from one test video.
struct VideoRegions {
  std::string name;
  int64_t num_frames = 0;            // frames of the video (all count in the FPR denominator)
  std::vector<Region> regions;       // predictions, any order
  std::vector<TrackBox> tracks;      // ground truth, any order
};

struct RegionCriteria {
  double beta = 0.1;       // IoU needed for a match
  double alpha = 0.1;      // fraction of a track's regions that must be detected
};

// One threshold of the sweep (after all regions with score >= threshold entered).
struct DetectionPoint {
  double threshold = 0, fpr = 0, rbdr = 0, tbdr = 0;
};

struct RegionMetrics {
  double rbdc = 0, tbdc = 0;
  int64_t test_frames = 0, gt_regions = 0, gt_tracks = 0, predicted_regions = 0;
  std::vector<DetectionPoint> curve;   // one point per distinct score, high to low (without the (0,0) start)
};

// Throws std::invalid_argument naming the video when a region or track frame is >= num_frames, when a score is
// not finite, when the videos hold no ground-truth region, or when there are no test frames.
RegionMetrics region_track_metrics(const std::vector<VideoRegions>& videos, const RegionCriteria& criteria = {});

// Trapezoidal area under the polyline (0,0), (x[0],y[0]), ... for x in [0, x_max], with the cut and flat
// extension described above. x must be non-decreasing. Exposed for tests.
double area_to(const std::vector<double>& x, const std::vector<double>& y, double x_max);

}  // namespace ssmtl::eval
