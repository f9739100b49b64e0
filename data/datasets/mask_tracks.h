// Region tracks derived from pixel masks (the gt_tracks_derived/ files of shared/README.md): in each frame
// the connected components of the mask (8-connectivity, data/components.h) are the abnormal regions; a region
// continues the track of the previous frame's region it shares the most pixels with. Regions choose in raster
// order of their first pixel, each the best previous track not yet taken, so of two parts of a split region the
// upper (first) one keeps the track and the other starts a new one; of two merging regions the track sharing
// more pixels goes on.  A track
// ends in the first frame where nothing continues it (no gap is bridged). Track ids are 0-based in order of
// first appearance (frame, then raster order of the component). This approximates the official Street
// Scene-style tracks, which the UCSD, Avenue and ShanghaiTech distributions do not ship.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ssmtl::datasets {

struct TrackBoxI {
  int track_id = 0;
  int frame = 0;                         // 0-based
  int x_min = 0, y_min = 0, x_max = 0, y_max = 0;   // inclusive pixel box
};

class MaskTracker {
 public:
  // Regions smaller than min_area pixels are not regions (specks of hand-drawn masks). The default 10 reproduces
  // shared/data's gt_tracks_derived exactly: Ped2's 12 test videos and the 6 Avenue test videos shipped as .avi
  // (measured with scripts/check_prepare_roundtrip.py; every value from 7 to 20 does, 1 and 50 do not).
  explicit MaskTracker(int64_t min_area = 10) : min_area_(min_area) {}
  // The mask of the next frame (frame 0 first): width x height bytes, row-major, nonzero = abnormal.
  // Throws std::invalid_argument when the size differs from the first mask's.
  void add(const uint8_t* mask, int width, int height);
  int frames() const { return frame_; }
  int tracks() const { return next_id_; }
  // All boxes, sorted by track id, then frame.
  std::vector<TrackBoxI> boxes() const;

 private:
  int64_t min_area_ = 10;
  int frame_ = 0, next_id_ = 0, width_ = 0, height_ = 0;
  std::vector<int32_t> prev_labels_;     // label image of the previous frame
  std::vector<int> prev_track_;          // previous component label (1-based) -> track id
  std::vector<bool> prev_keep_;          // previous component label -> at least min_area
  std::vector<TrackBoxI> boxes_;
};

// "track_id,frame,x_min,y_min,x_max,y_max" lines, the gt_tracks*/<video>.txt format (regions/region_file.h load_tracks).
std::string format_tracks(const std::vector<TrackBoxI>& boxes);

}  // namespace ssmtl::datasets
