#include "util/config.h"

#include <filesystem>
#include <iomanip>
#include <sstream>
#include <stdexcept>

#include "util/atomic_file.h"
#include "util/parse.h"

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

Config Config::from_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw std::runtime_error(path + ": is a folder, not a configuration file");
  return from_string(read_file(path), path);
}

std::string Config::raw(const std::string& key) const { return values_.at(key); }

std::string Config::where(const std::string& key) const {
  auto it = origin_.find(key);
  return it != origin_.end() ? it->second : source_;
}

namespace {

std::string num_text(double v) {
  std::ostringstream o;
  o << std::setprecision(12) << v;
  return o.str();
}

std::string range_text(const KeySpec& k) {
  switch (k.type) {
    case 'i': return "an integer in [" + num_text(k.lo) + ", " + num_text(k.hi) + "]";
    case 'd': return "a finite number in [" + num_text(k.lo) + ", " + num_text(k.hi) + "]";
    case 'b': return "true or false";
    case 'l':
      return "a list of " +
             (k.min_items == k.max_items ? std::to_string(k.min_items)
                                         : std::to_string(k.min_items) + " to " + std::to_string(k.max_items)) +
             " integers, each in [" + num_text(k.lo) + ", " + num_text(k.hi) + "]";
    default: return *k.choices ? std::string("one of ") + k.choices : "a string";
  }
}

bool parse_bool(const std::string& v, bool& x) {
  if (v == "true" || v == "1" || v == "yes" || v == "on") x = true;
  else if (v == "false" || v == "0" || v == "no" || v == "off") x = false;
  else return false;
  return true;
}

bool in_choices(const char* choices, const std::string& v) {
  if (!*choices) return v.find('\0') == std::string::npos;
  std::string all = std::string("|") + choices + "|";
  return v.find('|') == std::string::npos && all.find("|" + v + "|") != std::string::npos;
}

std::vector<int> parse_list(const std::string& v, const KeySpec& k, bool& ok) {
  std::vector<int> out;
  std::string item;
  std::istringstream in(v);
  ok = true;
  while (std::getline(in, item, ',')) {
    int64_t x = 0;
    if (!parse_int64(trim(item), x) || x < k.lo || x > k.hi) { ok = false; return out; }
    out.push_back(static_cast<int>(x));
  }
  if (!v.empty() && v.back() == ',') ok = false;
  if (static_cast<int>(out.size()) < k.min_items || static_cast<int>(out.size()) > k.max_items) ok = false;
  return out;
}

}  // namespace

const KeySpec& Config::check_value(const std::string& key, char type, const std::string& v, const std::string& from) {
  const KeySpec* k = find_key_spec(key);
  if (!k) throw std::logic_error("configuration key `" + key + "` has no type and range in util/config_keys.cpp");
  if (k->type != type)
    throw std::logic_error("configuration key `" + key + "` is read as type " + type + " but declared " + k->type);
  bool ok = false;
  if (k->type == 'i') {
    int64_t x = 0;
    ok = parse_int64(v, x) && x >= k->lo && x <= k->hi;
  } else if (k->type == 'd') {
    double x = 0;
    ok = parse_finite(v, x) && x >= k->lo && x <= k->hi;
  } else if (k->type == 'b') {
    bool x = false;
    ok = parse_bool(v, x);
  } else if (k->type == 'l') {
    parse_list(v, *k, ok);
  } else {
    ok = in_choices(k->choices, v);
  }
  if (!ok)
    throw std::runtime_error(from + ": `" + key + "` = `" + printable(v) + "` is not " + range_text(*k));
  return *k;
}

std::string Config::get_string(const std::string& key, const std::string& def) {
  std::string v = has(key) ? raw(key) : def;
  check_value(key, 's', v, where(key));
  resolved_[key] = v;
  return v;
}

int Config::get_int(const std::string& key, int def) {
  std::string v = has(key) ? raw(key) : std::to_string(def);
  check_value(key, 'i', v, where(key));
  int64_t x = 0;
  parse_int64(v, x);
  resolved_[key] = v;
  return static_cast<int>(x);
}

double Config::get_double(const std::string& key, double def) {
  std::string v = has(key) ? raw(key) : num_text(def);
  if (!has(key)) {   // the default as written by num_text may round; keep the exact value
    check_value(key, 'd', v, where(key));
    resolved_[key] = v;
    return def;
  }
  check_value(key, 'd', v, where(key));
  double x = 0;
  parse_finite(v, x);
  resolved_[key] = v;
  return x;
}

bool Config::get_bool(const std::string& key, bool def) {
  std::string v = has(key) ? raw(key) : (def ? "true" : "false");
  check_value(key, 'b', v, where(key));
  bool x = false;
  parse_bool(v, x);
  resolved_[key] = x ? "true" : "false";
  return x;
}

std::vector<int> Config::get_ints(const std::string& key, const std::vector<int>& def) {
  std::string v;
  if (has(key)) {
    v = raw(key);
  } else {
    for (size_t i = 0; i < def.size(); ++i) v += (i ? "," : "") + std::to_string(def[i]);
  }
  const KeySpec& k = check_value(key, 'l', v, where(key));
  bool ok = false;
  std::vector<int> out = parse_list(v, k, ok);
  std::string s;
  for (size_t i = 0; i < out.size(); ++i) s += (i ? ", " : "") + std::to_string(out[i]);
  resolved_[key] = s;
  return out;
}

void Config::check_all() const {
  for (auto& [k, v] : values_) {
    const KeySpec* spec = find_key_spec(k);
    if (!spec) throw std::runtime_error(where(k) + ": unknown configuration key `" + printable(k) + "`");
    check_value(k, spec->type, v, where(k));
  }
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
