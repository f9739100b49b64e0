#include "util/config.h"

#include <sstream>
#include <stdexcept>

#include "util/atomic_file.h"

namespace ssmtl::util {

static std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

Config Config::from_string(const std::string& text, const std::string& source) {
  Config c;
  c.source_ = source;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    size_t hash = line.find('#');
    if (hash != std::string::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos)
      throw std::runtime_error(source + ":" + std::to_string(n) + ": expected `key = value`, got `" + line + "`");
    std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (key.empty()) throw std::runtime_error(source + ":" + std::to_string(n) + ": empty key");
    if (c.values_.count(key)) throw std::runtime_error(source + ":" + std::to_string(n) + ": key `" + key + "` repeated");
    c.values_[key] = value;
  }
  return c;
}

Config Config::from_file(const std::string& path) { return from_string(read_file(path), path); }

std::string Config::raw(const std::string& key) const { return values_.at(key); }

std::string Config::where(const std::string& key) const {
  auto it = origin_.find(key);
  return it != origin_.end() ? it->second : source_;
}

std::string Config::get_string(const std::string& key, const std::string& def) {
  std::string v = has(key) ? raw(key) : def;
  resolved_[key] = v;
  return v;
}

int Config::get_int(const std::string& key, int def) {
  if (!has(key)) { resolved_[key] = std::to_string(def); return def; }
  std::string v = raw(key);
  size_t pos = 0;
  int x = 0;
  try { x = std::stoi(v, &pos); } catch (...) { pos = 0; }
  if (pos != v.size() || v.empty()) throw std::runtime_error(where(key) + ": `" + key + "` must be an integer, got `" + v + "`");
  resolved_[key] = v;
  return x;
}

double Config::get_double(const std::string& key, double def) {
  if (!has(key)) {
    std::ostringstream o;
    o << def;
    resolved_[key] = o.str();
    return def;
  }
  std::string v = raw(key);
  size_t pos = 0;
  double x = 0;
  try { x = std::stod(v, &pos); } catch (...) { pos = 0; }
  if (pos != v.size() || v.empty()) throw std::runtime_error(where(key) + ": `" + key + "` must be a number, got `" + v + "`");
  resolved_[key] = v;
  return x;
}

bool Config::get_bool(const std::string& key, bool def) {
  if (!has(key)) { resolved_[key] = def ? "true" : "false"; return def; }
  std::string v = raw(key);
  bool x;
  if (v == "true" || v == "1" || v == "yes" || v == "on") x = true;
  else if (v == "false" || v == "0" || v == "no" || v == "off") x = false;
  else throw std::runtime_error(where(key) + ": `" + key + "` must be true or false, got `" + v + "`");
  resolved_[key] = x ? "true" : "false";
  return x;
}

std::vector<int> Config::get_ints(const std::string& key, const std::vector<int>& def) {
  std::vector<int> out;
  if (!has(key)) {
    out = def;
  } else {
    std::string v = raw(key), item;
    std::istringstream in(v);
    while (std::getline(in, item, ',')) {
      item = trim(item);
      size_t pos = 0;
      int x = 0;
      try { x = std::stoi(item, &pos); } catch (...) { pos = 0; }
      if (item.empty() || pos != item.size())
        throw std::runtime_error(where(key) + ": `" + key + "` must be a list of integers, got `" + v + "`");
      out.push_back(x);
    }
  }
  std::string s;
  for (size_t i = 0; i < out.size(); ++i) s += (i ? ", " : "") + std::to_string(out[i]);
  resolved_[key] = s;
  return out;
}

void Config::check_used() const {
  std::string unknown;
  for (auto& [k, v] : values_)
    if (!resolved_.count(k)) unknown += (unknown.empty() ? "" : ", ") + k + " (" + where(k) + ")";
  if (!unknown.empty()) throw std::runtime_error("unknown configuration keys: " + unknown);
}

std::string Config::resolved_text() const {
  std::string s;
  for (auto& [k, v] : resolved_) s += k + " = " + v + "\n";
  return s;
}

}  // namespace ssmtl::util
