#include "regions/region_file.h"

#include <cmath>
#include <sstream>

#include "util/atomic_file.h"
#include "util/text_lines.h"

namespace ssmtl {
namespace {

int64_t parse_frame(const std::string& path, int64_t line_no, const std::string& field) {
  int64_t f = util::parse_integer(path, line_no, field, "frame index");
  if (f < 0) util::fail_line(path, line_no, "frame index " + field + " is negative (frames are 0-based)");
  return f;
}

RegionBox parse_box(const std::string& path, int64_t line_no, const std::vector<std::string>& f, size_t first) {
  RegionBox b{util::parse_number(path, line_no, f[first], "x_min"),
              util::parse_number(path, line_no, f[first + 1], "y_min"),
              util::parse_number(path, line_no, f[first + 2], "x_max"),
              util::parse_number(path, line_no, f[first + 3], "y_max")};
  if (b.x1 < b.x0) util::fail_line(path, line_no, "x_max " + f[first + 2] + " < x_min " + f[first]);
  if (b.y1 < b.y0) util::fail_line(path, line_no, "y_max " + f[first + 3] + " < y_min " + f[first + 1]);
  return b;
}

}  // namespace

std::vector<Region> load_regions(const std::string& path) {
  std::vector<Region> out;
  util::for_each_line(path, [&](int64_t n, const std::string& line) {
    auto f = util::split_fields(path, n, line, 6, "frame,x_min,y_min,x_max,y_max,score");
    Region r;
    r.frame = parse_frame(path, n, f[0]);
    r.box = parse_box(path, n, f, 1);
    r.score = util::parse_number(path, n, f[5], "score");
    out.push_back(r);
  });
  return out;
}

std::vector<TrackBox> load_tracks(const std::string& path) {
  std::vector<TrackBox> out;
  util::for_each_line(path, [&](int64_t n, const std::string& line) {
    auto f = util::split_fields(path, n, line, 6, "track_id,frame,x_min,y_min,x_max,y_max");
    TrackBox t;
    t.track_id = util::parse_integer(path, n, f[0], "track id");
    t.frame = parse_frame(path, n, f[1]);
    t.box = parse_box(path, n, f, 2);
    out.push_back(t);
  });
  return out;
}

void write_region_box(std::ostream& o, int64_t frame, const RegionBox& b) {
  o << frame << ',' << b.x0 << ',' << b.y0 << ',' << b.x1 << ',' << b.y1;
}

std::string region_file_text(const std::vector<Region>& regions, int digits) {
  std::ostringstream o;
  o.precision(digits);
  for (const Region& r : regions) {
    write_region_box(o, r.frame, r.box);
    o << ',' << r.score << '\n';
  }
  return o.str();
}

void save_regions(const std::string& path, const std::vector<Region>& regions, int digits) {
  util::write_text_atomic(path, region_file_text(regions, digits));
}

std::vector<Region> regions_of(const std::vector<std::vector<Box>>& objects_per_frame) {
  std::vector<Region> out;
  for (size_t t = 0; t < objects_per_frame.size(); ++t)
    for (const Box& b : objects_per_frame[t]) out.push_back({static_cast<int64_t>(t), region_box(b), b.score});
  return out;
}

}  // namespace ssmtl
