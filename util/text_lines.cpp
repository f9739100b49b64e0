#include "util/text_lines.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "util/atomic_file.h"
#include "util/parse.h"

namespace ssmtl::util {

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) --e;
  return s.substr(b, e - b);
}

void for_each_line(const std::string& path, const std::function<void(int64_t, const std::string&)>& fn) {
  std::string text = read_file(path);
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

void fail_line(const std::string& path, int64_t line, const std::string& what) {
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
    fail_line(path, line_no, "expected " + std::to_string(expected) + " comma-separated fields (" + format +
                                 "), got " + std::to_string(fields.size()) + " in '" + line + "'");
  return fields;
}

double parse_number(const std::string& path, int64_t line_no, const std::string& field, const char* what) {
  if (field.empty()) fail_line(path, line_no, std::string("empty ") + what);
  double v = 0;
  if (parse_finite(field, v)) return v;   // a whole decimal token (util/parse.h): no hex, no trailing bytes
  std::string low;
  for (char c : field) low += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (low.find("nan") != std::string::npos) fail_line(path, line_no, std::string(what) + " is NaN");
  if (low.find("inf") != std::string::npos) fail_line(path, line_no, std::string(what) + " '" + field + "' is not finite");
  fail_line(path, line_no, std::string(what) + " '" + printable(field) + "' is not a number");
}

int64_t parse_integer(const std::string& path, int64_t line_no, const std::string& field, const char* what) {
  double v = parse_number(path, line_no, field, what);
  if (v != std::floor(v) || std::fabs(v) > 9.0e15)
    fail_line(path, line_no, std::string(what) + " '" + field + "' is not an integer");
  return static_cast<int64_t>(v);
}

}  // namespace ssmtl::util
