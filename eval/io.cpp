#include "eval/io.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "util/atomic_file.h"
#include "util/parse.h"

namespace ssmtl::eval {
namespace {

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) --e;
  return s.substr(b, e - b);
}

// Calls fn(line_number (1-based), trimmed line) for every line; blank lines are allowed only at the end.
template <class Fn>
void for_each_line(const std::string& path, Fn fn) {
  std::string text = util::read_file(path);
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(trim(text.substr(start, nl - start)));
    start = nl + 1;
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) throw std::runtime_error(path + ":" + std::to_string(i + 1) + ": empty line");
    fn(static_cast<int64_t>(i + 1), lines[i]);
  }
}

[[noreturn]] void fail(const std::string& path, int64_t line, const std::string& what) {
  throw std::runtime_error(path + ":" + std::to_string(line) + ": " + what);
}

std::vector<std::string> split_fields(const std::string& path, int64_t line_no, const std::string& line,
                                      size_t expected, const char* format) {
  std::vector<std::string> fields;
  std::stringstream ss(line);
  std::string f;
  while (std::getline(ss, f, ',')) fields.push_back(trim(f));
  if (!line.empty() && line.back() == ',') fields.push_back("");
  if (fields.size() != expected)
    fail(path, line_no, "expected " + std::to_string(expected) + " comma-separated fields (" + format + "), got " +
                            std::to_string(fields.size()) + " in '" + line + "'");
  return fields;
}

// A finite number; `what` names the field in the error.
double parse_number(const std::string& path, int64_t line_no, const std::string& field, const char* what) {
  if (field.empty()) fail(path, line_no, std::string("empty ") + what);
  double v = 0;
  if (util::parse_finite(field, v)) return v;   // whole token, decimal (util/parse.h)
  const std::string low = [&] { std::string t; for (char c : field) t += static_cast<char>(std::tolower(c)); return t; }();
  if (low.find("nan") != std::string::npos) fail(path, line_no, std::string(what) + " is NaN");
  if (low.find("inf") != std::string::npos) fail(path, line_no, std::string(what) + " '" + field + "' is not finite");
  fail(path, line_no, std::string(what) + " '" + util::printable(field) + "' is not a number");
}

int64_t parse_integer(const std::string& path, int64_t line_no, const std::string& field, const char* what) {
  double v = parse_number(path, line_no, field, what);
  if (v != std::floor(v) || std::fabs(v) > 9.0e15)
    fail(path, line_no, std::string(what) + " '" + field + "' is not an integer");
  return static_cast<int64_t>(v);
}

int64_t parse_frame(const std::string& path, int64_t line_no, const std::string& field) {
  int64_t f = parse_integer(path, line_no, field, "frame index");
  if (f < 0) fail(path, line_no, "frame index " + field + " is negative (frames are 0-based)");
  return f;
}

Box parse_box(const std::string& path, int64_t line_no, const std::vector<std::string>& f, size_t first) {
  Box b{parse_number(path, line_no, f[first], "x_min"), parse_number(path, line_no, f[first + 1], "y_min"),
        parse_number(path, line_no, f[first + 2], "x_max"), parse_number(path, line_no, f[first + 3], "y_max")};
  if (b.x_max < b.x_min) fail(path, line_no, "x_max " + f[first + 2] + " < x_min " + f[first]);
  if (b.y_max < b.y_min) fail(path, line_no, "y_max " + f[first + 3] + " < y_min " + f[first + 1]);
  return b;
}

std::string frame_note(int64_t line_no) { return " (frame " + std::to_string(line_no - 1) + ")"; }

}  // namespace

std::vector<double> load_scores(const std::string& path) {
  std::vector<double> out;
  for_each_line(path, [&](int64_t n, const std::string& line) {
    try {
      if (line.find(',') != std::string::npos) fail(path, n, "expected one score per line, got '" + line + "'");
      out.push_back(parse_number(path, n, line, "score"));
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(e.what() + frame_note(n));
    }
  });
  return out;
}

std::vector<int> load_labels(const std::string& path) {
  std::vector<int> out;
  for_each_line(path, [&](int64_t n, const std::string& line) {
    if (line != "0" && line != "1") fail(path, n, "label '" + line + "' is not 0 or 1" + frame_note(n));
    out.push_back(line == "1" ? 1 : 0);
  });
  return out;
}

std::vector<Region> load_regions(const std::string& path) {
  std::vector<Region> out;
  for_each_line(path, [&](int64_t n, const std::string& line) {
    auto f = split_fields(path, n, line, 6, "frame,x_min,y_min,x_max,y_max,score");
    Region r;
    r.frame = parse_frame(path, n, f[0]);
    r.box = parse_box(path, n, f, 1);
    r.score = parse_number(path, n, f[5], "score");
    out.push_back(r);
  });
  return out;
}

std::vector<TrackBox> load_tracks(const std::string& path) {
  std::vector<TrackBox> out;
  for_each_line(path, [&](int64_t n, const std::string& line) {
    auto f = split_fields(path, n, line, 6, "track_id,frame,x_min,y_min,x_max,y_max");
    TrackBox t;
    t.track_id = parse_integer(path, n, f[0], "track id");
    t.frame = parse_frame(path, n, f[1]);
    t.box = parse_box(path, n, f, 2);
    out.push_back(t);
  });
  return out;
}

std::vector<int> labels_from_intervals(const std::vector<std::pair<int64_t, int64_t>>& one_based, int64_t num_frames) {
  if (num_frames < 0) throw std::invalid_argument("labels_from_intervals: negative frame count");
  std::vector<int> labels(static_cast<size_t>(num_frames), 0);
  for (auto [first, last] : one_based) {
    if (last < first || first < 1 || last > num_frames)
      throw std::invalid_argument("labels_from_intervals: interval [" + std::to_string(first) + "," +
                                  std::to_string(last) + "] is not inside frames 1.." + std::to_string(num_frames));
    for (int64_t f = first; f <= last; ++f) labels[static_cast<size_t>(f - 1)] = 1;
  }
  return labels;
}

void save_scores(const std::string& path, const std::vector<double>& scores) {
  std::string text;
  char buf[64];
  for (double s : scores) {
    std::snprintf(buf, sizeof buf, "%.9g\n", s);
    text += buf;
  }
  util::write_text_atomic(path, text);
}

std::map<std::string, std::string> list_video_files(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw std::runtime_error(dir + ": not a folder");
  std::map<std::string, std::string> out;
  std::vector<std::string> skipped;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string ext = entry.path().extension().string(), name = entry.path().filename().string();
    if (entry.is_regular_file() && ext == ".txt") {
      out[entry.path().stem().string()] = entry.path().string();
    } else if (ext.size() == 4 && ext != ".txt" && std::tolower(ext[1]) == 't' && std::tolower(ext[2]) == 'x' &&
               std::tolower(ext[3]) == 't') {   // 01.TXT would be one video silently missing from the set
      throw std::runtime_error(dir + "/" + name + ": video files end in lower-case .txt; rename it or move it away");
    } else {
      skipped.push_back(name);
    }
  }
  if (ec) throw std::runtime_error(dir + ": cannot list: " + ec.message());
  std::sort(skipped.begin(), skipped.end());
  util::warn_skipped(dir + ": entries that are not <video>.txt files, not read", skipped);
  if (out.empty()) throw std::runtime_error(dir + ": no <video>.txt files");
  return out;
}

}  // namespace ssmtl::eval
