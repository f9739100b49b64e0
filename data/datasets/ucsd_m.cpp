#include "data/datasets/ucsd_m.h"

#include <cctype>
#include <fstream>
#include <stdexcept>

namespace ssmtl::datasets {
namespace {

std::string strip(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

std::string no_spaces(const std::string& s) {
  std::string o;
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c))) o.push_back(c);
  return o;
}

int64_t parse_int(const std::string& s, const std::string& where) {
  if (s.empty() || s.size() > 12) throw std::runtime_error(where + ": '" + s + "' is not a frame number");
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) throw std::runtime_error(where + ": '" + s + "' is not a frame number");
  return std::stoll(s);
}

Intervals parse_ranges(const std::string& body, const std::string& where) {
  Intervals iv;
  std::string tok;
  auto flush = [&] {
    if (tok.empty()) return;
    const size_t c1 = tok.find(':');
    int64_t a, b;
    if (c1 == std::string::npos) {
      a = b = parse_int(tok, where);
    } else {
      if (tok.find(':', c1 + 1) != std::string::npos)
        throw std::runtime_error(where + ": range '" + tok + "' has a step; only a:b ranges are read");
      a = parse_int(tok.substr(0, c1), where);
      b = parse_int(tok.substr(c1 + 1), where);
    }
    if (a < 1 || b < a) throw std::runtime_error(where + ": bad range '" + tok + "' (1-based, first <= last)");
    iv.emplace_back(a, b);
    tok.clear();
  };
  for (char c : body) {
    if (c == ',' || std::isspace(static_cast<unsigned char>(c))) flush();
    else tok.push_back(c);
  }
  flush();
  return iv;
}

}  // namespace

std::vector<Intervals> read_ucsd_m(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error(path + ": cannot open the UCSD label file");
  std::vector<Intervals> clips;
  std::vector<bool> given;
  std::string line;
  for (int no = 1; std::getline(f, line); ++no) {
    const std::string where = path + ":" + std::to_string(no);
    const size_t pct = line.find('%');
    const std::string code = strip(pct == std::string::npos ? line : line.substr(0, pct));
    if (code.empty() || no_spaces(code) == "TestVideoFile={};") continue;
    const std::string c = no_spaces(code.substr(0, code.find('=')));
    const std::string prefix = "TestVideoFile{", suffix = "}.gt_frame";
    const size_t eq = code.find('='), open = code.find('[', eq == std::string::npos ? 0 : eq);
    const size_t close = code.rfind(']');
    if (eq == std::string::npos || c.rfind(prefix, 0) != 0 || c.size() < prefix.size() + suffix.size() ||
        c.compare(c.size() - suffix.size(), suffix.size(), suffix) != 0 || open == std::string::npos ||
        close == std::string::npos || close < open || strip(code.substr(close + 1)) != ";" ||
        !strip(code.substr(eq + 1, open - eq - 1)).empty())
      throw std::runtime_error(where + ": not a line 'TestVideoFile{end+1}.gt_frame = [a:b, ...];': " + strip(line));
    const std::string index = c.substr(prefix.size(), c.size() - prefix.size() - suffix.size());
    size_t k = clips.size();
    if (index != "end+1") {
      const int64_t i = parse_int(index, where);
      if (i < 1 || i > static_cast<int64_t>(clips.size()) + 1)
        throw std::runtime_error(where + ": clip index " + index + " skips clips (next is " +
                                 std::to_string(clips.size() + 1) + ")");
      k = static_cast<size_t>(i - 1);
    }
    if (k < clips.size() && given[k]) throw std::runtime_error(where + ": clip " + std::to_string(k + 1) + " given twice");
    Intervals iv = parse_ranges(code.substr(open + 1, close - open - 1), where);
    if (k == clips.size()) { clips.push_back(iv); given.push_back(true); }
    else { clips[k] = iv; given[k] = true; }
  }
  if (clips.empty()) throw std::runtime_error(path + ": no 'TestVideoFile{end+1}.gt_frame = [...]' line");
  return clips;
}

std::vector<int> labels_from_intervals(const Intervals& iv, int64_t num_frames, const std::string& what) {
  std::vector<int> labels(static_cast<size_t>(num_frames), 0);
  for (const auto& [a, b] : iv) {
    if (b > num_frames)
      throw std::runtime_error(what + ": abnormal range " + std::to_string(a) + ":" + std::to_string(b) +
                               " reaches past the clip's " + std::to_string(num_frames) + " frames");
    for (int64_t i = a; i <= b; ++i) labels[static_cast<size_t>(i - 1)] = 1;
  }
  return labels;
}

}  // namespace ssmtl::datasets
