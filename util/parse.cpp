#include "util/parse.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace ssmtl::util {

namespace {
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Length of the run of digits starting at i.
size_t digits(const std::string& s, size_t i) {
  size_t n = 0;
  while (i + n < s.size() && is_digit(s[i + n])) ++n;
  return n;
}
}  // namespace

bool parse_int64(const std::string& s, int64_t& out) {
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  const size_t n = digits(s, i);
  if (n == 0 || i + n != s.size()) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno == ERANGE || end != s.c_str() + s.size()) return false;
  out = static_cast<int64_t>(v);
  return true;
}

bool parse_finite(const std::string& s, double& out) {
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  size_t mant = digits(s, i);
  i += mant;
  if (i < s.size() && s[i] == '.') {
    const size_t frac = digits(s, i + 1);
    mant += frac;
    i += 1 + frac;
  }
  if (mant == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    size_t j = i + 1;
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
    const size_t ex = digits(s, j);
    if (ex == 0) return false;
    i = j + ex;
  }
  if (i != s.size()) return false;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return false;
  out = v;
  return true;
}

std::string printable(const std::string& s) {
  std::string o;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      o.push_back(static_cast<char>(c));
    } else {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      o += b;
    }
  }
  return o;
}

std::string count_and_first(const std::vector<std::string>& names, size_t show) {
  std::string s = std::to_string(names.size()) + " (";
  for (size_t i = 0; i < names.size() && i < show; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > show) s += ", ...";
  return s + ")";
}

void warn_skipped(const std::string& what, const std::vector<std::string>& names, size_t show) {
  if (names.empty()) return;
  std::fprintf(stderr, "warning: %s: %s\n", what.c_str(), count_and_first(names, show).c_str());
}

}  // namespace ssmtl::util
