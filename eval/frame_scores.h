// From per-object anomaly scores to per-frame scores (DESIGN.md section 7; PITFALLS.md item 13).
// Objects are Regions (regions/region_file.h): frame index, inclusive pixel box and the object's anomaly score.
// Every function returns exactly one score per frame: frames without objects get 0 (before any smoothing).
#pragma once
#include <cstdint>
#include <vector>

#include "regions/region_file.h"

namespace ssmtl::eval {

// Simple mode: the score of frame f = max score of the objects in frame f, 0 when it has none.
// Throws std::invalid_argument when an object's frame is outside [0, num_frames) or its score is not finite.
std::vector<double> frame_scores_max(const std::vector<Region>& objects, int64_t num_frames);

struct AnomalyMapOptions {
  int cell = 20;        // grid cell size in pixels (square cells; the last row/column may be cut by the frame)
  int filter_t = 3;     // 3D mean filter size over (time, y, x) in frames / cells; odd, 1 = no filtering
  int filter_y = 3;
  int filter_x = 3;
  // Objects whose box, clipped to the frame, is fewer than min_height pixels high (inclusive rows) write nothing
  // into the map (step 1); 0 = every object. Given relative to the normal objects' median height
  // (`ssmtl score --min-height-rel`, `ssmtl select`), it drops the small fragments the detector finds beside people
  // (docs/RESULTS.md sections 21 and 30). Their scores stay in the region files.
  int min_height = 0;
};

// Per-frame anomaly maps on a coarse grid of ceil(height / cell) x ceil(width / cell) cells.
//  1. Each object writes its score into every cell its box covers (cells floor(x_min / cell) ..
//     floor(x_max / cell), likewise in y, after clipping the box to the frame), keeping the max per cell;
//     cells without objects are 0. A box entirely outside the frame, or clipped lower than min_height, covers
//     nothing. (Object scores are meant to be >= 0: a negative object score is kept in its cells but mixes with
//     the 0 cells in step 2.)
//  2. A centred 3D mean filter of size filter_t x filter_y x filter_x with 'nearest' edges (edge cells repeat),
//     equal to scipy.ndimage.uniform_filter(maps, size=(t, y, x), mode='nearest') for odd sizes.
//  3. The frame score is the max of its filtered map.
// maps (optional, out): the filtered maps, [num_frames, grid_h, grid_w] row-major.
// Throws std::invalid_argument on a frame index outside [0, num_frames), a non-finite score, frame size < 1,
// cell < 1, min_height < 0, or an even or non-positive filter size.
std::vector<double> frame_scores_from_maps(const std::vector<Region>& objects, int64_t num_frames, int frame_width,
                                           int frame_height, const AnomalyMapOptions& options = {},
                                           std::vector<float>* maps = nullptr);

// The same steps one frame at a time, for a live stream (online/): what frame_scores_from_maps computes for
// frame t, from the raw maps of frames t - filter_t/2 .. t + filter_t/2 (indices clamped to the video, i.e.
// 'nearest' edges). frame_scores_from_maps is built from these two, so both paths give bitwise-equal scores.
// Grid size of a frame: ceil(height / cell) x ceil(width / cell).
struct MapGrid {
  int64_t gw = 0, gh = 0;
  int64_t cells() const { return gw * gh; }
};
// Throws std::invalid_argument (naming the value) on frame size < 1, cell < 1, min_height < 0 or an even /
// non-positive filter size.
MapGrid map_grid(int frame_width, int frame_height, const AnomalyMapOptions& options);
// Step 1 for the objects of one frame (their Region::frame is not read): gh x gw cells, row-major.
// Throws std::invalid_argument on a non-finite score.
std::vector<double> raw_anomaly_map(const std::vector<Region>& frame_objects, int frame_width, int frame_height,
                                    const AnomalyMapOptions& options);
// Steps 2-3 for one frame: `window` holds the filter_t raw maps of frames t-r..t+r (r = filter_t / 2), the
// caller having clamped the indices (at t = 0 with r = 1: map 0, map 0, map 1). Returns the frame score;
// `filtered` (optional, out) receives the frame's filtered map.
double filtered_frame_score(const std::vector<const std::vector<double>*>& window, const MapGrid& grid,
                            const AnomalyMapOptions& options, std::vector<double>* filtered = nullptr);

// Centred 3D mean filter with 'nearest' edges on a [d0, d1, d2] row-major volume, in place (used by the maps;
// separable: three 1D box filters). Sizes must be odd and positive.
void mean_filter_3d(std::vector<double>& volume, int64_t d0, int64_t d1, int64_t d2, int size0, int size1, int size2);

// Per-object mean of task scores stored task-major: scores[t * num_objects + o] is task t's score of object o.
// 2 objects x 3 tasks stored [1,10,2,20,3,30] -> [2,20]. Throws std::invalid_argument when the size is not
// num_objects * num_tasks or num_tasks < 1.
std::vector<double> average_task_scores(const std::vector<double>& task_major, int64_t num_objects, int64_t num_tasks);

}  // namespace ssmtl::eval
