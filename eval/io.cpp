#include "eval/io.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "util/atomic_file.h"
#include "util/parse.h"
#include "util/text_lines.h"

namespace ssmtl::eval {
namespace {

std::string frame_note(int64_t line_no) { return " (frame " + std::to_string(line_no - 1) + ")"; }

}  // namespace

std::vector<double> load_scores(const std::string& path) {
  std::vector<double> out;
  util::for_each_line(path, [&](int64_t n, const std::string& line) {
    try {
      if (line.find(',') != std::string::npos)
        util::fail_line(path, n, "expected one score per line, got '" + line + "'");
      out.push_back(util::parse_number(path, n, line, "score"));
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(e.what() + frame_note(n));
    }
  });
  return out;
}

std::vector<int> load_labels(const std::string& path) {
  std::vector<int> out;
  util::for_each_line(path, [&](int64_t n, const std::string& line) {
    if (line != "0" && line != "1") util::fail_line(path, n, "label '" + line + "' is not 0 or 1" + frame_note(n));
    out.push_back(line == "1" ? 1 : 0);
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
