#include "data/detect/darknet_cfg.h"

#include "util/parse.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ssmtl::darknet {

namespace {

// Darknet removes every blank character of a line before reading it (src/utils.c strip()).
std::string strip_blanks(const std::string& line) {
  std::string out;
  out.reserve(line.size());
  for (char c : line)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '\v' && c != '\f') out.push_back(c);
  return out;
}

std::runtime_error cfg_error(const std::string& name, int line, const std::string& message) {
  return std::runtime_error(name + ":" + std::to_string(line) + ": " + message);
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  parts.push_back(cur);
  return parts;
}

// Whole-string conversions: "8#x" or "" are errors (darknet's atoi would accept them silently).
bool parse_int(const std::string& s, int& out) {
  int64_t v = 0;
  if (!util::parse_int64(s, v) || v < -2147483647LL || v > 2147483647LL) return false;
  out = static_cast<int>(v);
  return true;
}

bool parse_float(const std::string& s, float& out) {
  double v = 0;
  if (!util::parse_finite(s, v) || !std::isfinite(static_cast<float>(v))) return false;
  out = static_cast<float>(v);
  return true;
}

}  // namespace

const CfgEntry* CfgSection::find(const std::string& key) const {
  for (const CfgEntry& e : entries)
    if (e.key == key) return &e;
  return nullptr;
}

Cfg parse_cfg_text(const std::string& text, const std::string& name) {
  Cfg cfg;
  cfg.path = name;
  std::istringstream in(text);
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    const std::string line = strip_blanks(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      if (line.back() != ']' || line.size() < 3)
        throw cfg_error(name, line_no, "malformed section header '" + line + "' (expected [type])");
      cfg.sections.push_back(CfgSection{line.substr(1, line.size() - 2), line_no, {}});
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string::npos)
      throw cfg_error(name, line_no, "expected [section] or key=value, got '" + line + "'");
    if (cfg.sections.empty()) throw cfg_error(name, line_no, "entry '" + line + "' before the first [section]");
    CfgEntry e{line.substr(0, eq), line.substr(eq + 1), line_no};
    if (e.key.empty() || e.value.empty())
      throw cfg_error(name, line_no, "empty key or value in '" + line + "'");
    CfgSection& s = cfg.sections.back();
    if (const CfgEntry* prev = s.find(e.key))
      throw cfg_error(name, line_no,
                      "[" + s.type + "] key '" + e.key + "' repeated (first at line " + std::to_string(prev->line) + ")");
    s.entries.push_back(std::move(e));
  }
  if (cfg.sections.empty()) throw std::runtime_error(name + ": no [section] found (empty or not a darknet .cfg)");
  return cfg;
}

Cfg parse_cfg_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(path + ": cannot open darknet .cfg file");
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse_cfg_text(ss.str(), path);
}

// ---- CfgReader ---------------------------------------------------------------------------------

std::string CfgReader::where(const std::string& key) const {
  const CfgEntry* e = key.empty() ? nullptr : s_.find(key);
  const int line = e ? e->line : s_.line;
  std::string w = cfg_.path + ":" + std::to_string(line) + ": [" + s_.type + "]";
  if (!key.empty()) w += " " + key;
  return w;
}

void CfgReader::fail(const std::string& key, const std::string& message) const {
  throw std::runtime_error(where(key) + ": " + message);
}

int CfgReader::get_int(const std::string& key) const {
  const CfgEntry* e = s_.find(key);
  if (!e) fail(key, "required key is missing");
  int v = 0;
  if (!parse_int(e->value, v)) fail(key, "'" + e->value + "' is not an integer");
  return v;
}

int CfgReader::get_int(const std::string& key, int fallback) const {
  return has(key) ? get_int(key) : fallback;
}

float CfgReader::get_float(const std::string& key, float fallback) const {
  const CfgEntry* e = s_.find(key);
  if (!e) return fallback;
  float v = 0;
  if (!parse_float(e->value, v)) fail(key, "'" + e->value + "' is not a finite number");
  return v;
}

std::string CfgReader::get_string(const std::string& key, const std::string& fallback) const {
  const CfgEntry* e = s_.find(key);
  return e ? e->value : fallback;
}

std::vector<int> CfgReader::get_ints(const std::string& key) const {
  const CfgEntry* e = s_.find(key);
  if (!e) fail(key, "required key is missing");
  std::vector<int> out;
  for (const std::string& p : split_commas(e->value)) {
    int v = 0;
    if (!parse_int(p, v)) fail(key, "'" + e->value + "' is not a comma-separated list of integers");
    out.push_back(v);
  }
  return out;
}

std::vector<float> CfgReader::get_floats(const std::string& key) const {
  const CfgEntry* e = s_.find(key);
  if (!e) fail(key, "required key is missing");
  std::vector<float> out;
  for (const std::string& p : split_commas(e->value)) {
    float v = 0;
    if (!parse_float(p, v)) fail(key, "'" + e->value + "' is not a comma-separated list of numbers");
    out.push_back(v);
  }
  return out;
}

void CfgReader::check_keys(const std::vector<std::string>& known) const {
  for (const CfgEntry& e : s_.entries) {
    bool ok = false;
    for (const std::string& k : known) ok = ok || k == e.key;
    if (ok) continue;
    std::string list;
    for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
    fail(e.key, "unknown key (keys of [" + s_.type + "]: " + list + ")");
  }
}

void CfgReader::require_default(const std::string& key, float expected) const {
  if (!has(key)) return;
  if (get_float(key, expected) != expected) {
    std::ostringstream only;
    only << expected;
    fail(key, "value '" + s_.find(key)->value + "' is not supported by this engine (only " + only.str() + ")");
  }
}

}  // namespace ssmtl::darknet
