#include "eval/frame_scores.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace ssmtl::eval {
namespace {

void check_object(const Region& r, int64_t num_frames) {
  if (r.frame < 0 || r.frame >= num_frames)
    throw std::invalid_argument("object in frame " + std::to_string(r.frame) + ", but there are " +
                                std::to_string(num_frames) + " frames");
  if (!std::isfinite(r.score))
    throw std::invalid_argument("object in frame " + std::to_string(r.frame) + " has a non-finite score");
}

void check_filter_size(int size, const char* axis) {
  if (size < 1 || size % 2 == 0)
    throw std::invalid_argument(std::string("mean filter size along ") + axis + " must be odd and >= 1, got " +
                                std::to_string(size));
}

// Centred box filter of odd `size` along one axis of a row-major [outer, n, inner] volume, 'nearest' edges.
void box_filter_axis(std::vector<double>& v, int64_t outer, int64_t n, int64_t inner, int size) {
  if (size == 1 || n == 0) return;
  const int64_t r = size / 2;
  std::vector<double> line(static_cast<size_t>(n));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t in = 0; in < inner; ++in) {
      double* base = v.data() + o * n * inner + in;
      for (int64_t i = 0; i < n; ++i) line[static_cast<size_t>(i)] = base[i * inner];
      for (int64_t i = 0; i < n; ++i) {
        double acc = 0;
        for (int64_t k = -r; k <= r; ++k) acc += line[static_cast<size_t>(std::clamp<int64_t>(i + k, 0, n - 1))];
        base[i * inner] = acc / static_cast<double>(size);
      }
    }
}

}  // namespace

std::vector<double> frame_scores_max(const std::vector<Region>& objects, int64_t num_frames) {
  if (num_frames < 0) throw std::invalid_argument("frame_scores_max: negative frame count");
  std::vector<double> out(static_cast<size_t>(num_frames), 0.0);
  std::vector<char> seen(static_cast<size_t>(num_frames), 0);
  for (const Region& r : objects) {
    check_object(r, num_frames);
    double& s = out[static_cast<size_t>(r.frame)];
    s = seen[static_cast<size_t>(r.frame)] ? std::max(s, r.score) : r.score;   // negative scores stay negative
    seen[static_cast<size_t>(r.frame)] = 1;
  }
  return out;
}

void mean_filter_3d(std::vector<double>& volume, int64_t d0, int64_t d1, int64_t d2, int size0, int size1, int size2) {
  check_filter_size(size0, "axis 0");
  check_filter_size(size1, "axis 1");
  check_filter_size(size2, "axis 2");
  if (static_cast<int64_t>(volume.size()) != d0 * d1 * d2)
    throw std::invalid_argument("mean_filter_3d: volume size does not match its dimensions");
  box_filter_axis(volume, 1, d0, d1 * d2, size0);
  box_filter_axis(volume, d0, d1, d2, size1);
  box_filter_axis(volume, d0 * d1, d2, 1, size2);
}

MapGrid map_grid(int frame_width, int frame_height, const AnomalyMapOptions& o) {
  if (frame_width < 1 || frame_height < 1)
    throw std::invalid_argument("frame_scores_from_maps: frame size " + std::to_string(frame_width) + "x" +
                                std::to_string(frame_height) + " is empty");
  if (o.cell < 1) throw std::invalid_argument("frame_scores_from_maps: cell size must be >= 1");
  if (o.min_height < 0)
    throw std::invalid_argument("frame_scores_from_maps: min_height must be >= 0, got " + std::to_string(o.min_height));
  check_filter_size(o.filter_t, "time");
  check_filter_size(o.filter_y, "y");
  check_filter_size(o.filter_x, "x");
  return MapGrid{(frame_width + o.cell - 1) / o.cell, (frame_height + o.cell - 1) / o.cell};
}

std::vector<double> raw_anomaly_map(const std::vector<Region>& objects, int frame_width, int frame_height,
                                    const AnomalyMapOptions& o) {
  const MapGrid g = map_grid(frame_width, frame_height, o);
  std::vector<double> map(static_cast<size_t>(g.cells()), 0.0);
  std::vector<char> filled(map.size(), 0);   // so that a negative object score is kept as the cell's max
  for (const Region& r : objects) {
    if (!std::isfinite(r.score))
      throw std::invalid_argument("object in frame " + std::to_string(r.frame) + " has a non-finite score");
    // Clip the inclusive box to the frame; skip it when nothing is left.
    const double x0 = std::max(r.box.x0, 0.0), y0 = std::max(r.box.y0, 0.0);
    const double x1 = std::min(r.box.x1, frame_width - 1.0), y1 = std::min(r.box.y1, frame_height - 1.0);
    if (x1 < x0 || y1 < y0) continue;
    if (std::floor(y1) - std::floor(y0) + 1 < o.min_height) continue;   // (rows covered, as the cells count them)
    const int64_t cx0 = static_cast<int64_t>(std::floor(x0)) / o.cell, cx1 = static_cast<int64_t>(std::floor(x1)) / o.cell;
    const int64_t cy0 = static_cast<int64_t>(std::floor(y0)) / o.cell, cy1 = static_cast<int64_t>(std::floor(y1)) / o.cell;
    for (int64_t cy = cy0; cy <= cy1; ++cy)
      for (int64_t cx = cx0; cx <= cx1; ++cx) {
        const size_t i = static_cast<size_t>(cy * g.gw + cx);
        map[i] = filled[i] ? std::max(map[i], r.score) : r.score;
        filled[i] = 1;
      }
  }
  return map;
}

double filtered_frame_score(const std::vector<const std::vector<double>*>& window, const MapGrid& g,
                            const AnomalyMapOptions& o, std::vector<double>* filtered) {
  if (static_cast<int>(window.size()) != o.filter_t)
    throw std::invalid_argument("filtered_frame_score: " + std::to_string(window.size()) + " maps for a temporal filter of " +
                                std::to_string(o.filter_t));
  const size_t plane = static_cast<size_t>(g.cells());
  std::vector<double> m(plane, 0.0);
  for (const std::vector<double>* w : window)
    if (!w || w->size() != plane) throw std::invalid_argument("filtered_frame_score: a map of the wrong size");
  if (o.filter_t == 1) {
    m = *window[0];
  } else {   // the temporal box filter, summed in the order t-r..t+r as box_filter_axis does
    for (size_t c = 0; c < plane; ++c) {
      double acc = 0;
      for (const std::vector<double>* w : window) acc += (*w)[c];
      m[c] = acc / static_cast<double>(o.filter_t);
    }
  }
  box_filter_axis(m, 1, g.gh, g.gw, o.filter_y);
  box_filter_axis(m, g.gh, g.gw, 1, o.filter_x);
  const double score = plane ? *std::max_element(m.begin(), m.end()) : 0.0;
  if (filtered) *filtered = std::move(m);
  return score;
}

std::vector<double> frame_scores_from_maps(const std::vector<Region>& objects, int64_t num_frames, int frame_width,
                                           int frame_height, const AnomalyMapOptions& o, std::vector<float>* maps) {
  if (num_frames < 0) throw std::invalid_argument("frame_scores_from_maps: negative frame count");
  const MapGrid g = map_grid(frame_width, frame_height, o);
  std::vector<std::vector<Region>> per_frame(static_cast<size_t>(num_frames));
  for (const Region& r : objects) {
    check_object(r, num_frames);
    per_frame[static_cast<size_t>(r.frame)].push_back(r);
  }
  std::vector<std::vector<double>> raw(static_cast<size_t>(num_frames));
  for (int64_t f = 0; f < num_frames; ++f)
    raw[static_cast<size_t>(f)] = raw_anomaly_map(per_frame[static_cast<size_t>(f)], frame_width, frame_height, o);
  const int64_t r = o.filter_t / 2;
  std::vector<double> out(static_cast<size_t>(num_frames));
  if (maps) maps->assign(static_cast<size_t>(num_frames * g.cells()), 0.f);
  std::vector<double> filtered;
  for (int64_t f = 0; f < num_frames; ++f) {
    std::vector<const std::vector<double>*> window;
    for (int64_t k = -r; k <= r; ++k) window.push_back(&raw[static_cast<size_t>(std::clamp<int64_t>(f + k, 0, num_frames - 1))]);
    out[static_cast<size_t>(f)] = filtered_frame_score(window, g, o, maps ? &filtered : nullptr);
    if (maps) std::copy(filtered.begin(), filtered.end(), maps->begin() + f * g.cells());
  }
  return out;
}

std::vector<double> average_task_scores(const std::vector<double>& task_major, int64_t num_objects, int64_t num_tasks) {
  if (num_tasks < 1 || num_objects < 0 || static_cast<int64_t>(task_major.size()) != num_objects * num_tasks)
    throw std::invalid_argument("average_task_scores: " + std::to_string(task_major.size()) + " scores for " +
                                std::to_string(num_objects) + " objects x " + std::to_string(num_tasks) + " tasks");
  std::vector<double> out(static_cast<size_t>(num_objects), 0.0);
  for (int64_t t = 0; t < num_tasks; ++t)
    for (int64_t i = 0; i < num_objects; ++i) out[static_cast<size_t>(i)] += task_major[static_cast<size_t>(t * num_objects + i)];
  for (double& v : out) v /= static_cast<double>(num_tasks);
  return out;
}

}  // namespace ssmtl::eval
