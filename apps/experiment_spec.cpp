#include "apps/experiment_spec.h"

#include <cstdint>
#include <cstdio>
#include <set>
#include <sstream>
#include <stdexcept>

namespace ssmtl::app {

namespace {

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(trim(cur));
  return out;
}

// "KEY = VALUE" -> (KEY, VALUE); throws with the location when there is no '=' or no key.
std::pair<std::string, std::string> key_value(const std::string& s, const std::string& where) {
  size_t eq = s.find('=');
  if (eq == std::string::npos || trim(s.substr(0, eq)).empty())
    throw std::runtime_error(where + ": expected KEY = VALUE, got '" + s + "'");
  return {trim(s.substr(0, eq)), trim(s.substr(eq + 1))};
}

}  // namespace

ExperimentSpec ExperimentSpec::parse(const std::string& text, const std::string& file) {
  ExperimentSpec spec;
  std::istringstream in(text);
  std::string line;
  std::set<std::string> axis_names;
  Axis* variants = nullptr;
  for (int n = 1; std::getline(in, line); ++n) {
    const std::string where = file + ":" + std::to_string(n);
    line = trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    if (line.rfind("grid ", 0) == 0) {
      auto [key, vals] = key_value(line.substr(5), where);
      if (!axis_names.insert(key).second) throw std::runtime_error(where + ": axis " + key + " given twice");
      Axis a{key, {}};
      for (const std::string& v : split(vals, '|')) {
        if (v.empty()) throw std::runtime_error(where + ": empty value in axis " + key);
        a.values.push_back({v, {{key, v}}});
      }
      spec.axes.push_back(a);
    } else if (line.rfind("variant ", 0) == 0) {
      size_t colon = line.find(':');
      if (colon == std::string::npos) throw std::runtime_error(where + ": expected variant LABEL: K = V; K = V");
      AxisValue v{trim(line.substr(8, colon - 8)), {}};
      if (v.label.empty()) throw std::runtime_error(where + ": a variant needs a label");
      for (const std::string& kv : split(line.substr(colon + 1), ';'))
        if (!kv.empty()) v.settings.push_back(key_value(kv, where));
      if (!variants) {
        if (!axis_names.insert("variant").second) throw std::runtime_error(where + ": axis variant given twice");
        spec.axes.push_back({"variant", {}});
        variants = &spec.axes.back();
      }
      for (auto& a : spec.axes)   // (push_back may have moved the axes)
        if (a.name == "variant") variants = &a;
      variants->values.push_back(v);
    } else {
      auto [key, value] = key_value(line, where);
      if (key == "name") spec.name = value;
      else if (key == "data") spec.data = value;
      else if (key == "config") spec.config = value;
      else if (key == "seeds") {
        spec.seeds.clear();
        for (const std::string& s : split(value, ',')) {
          try {
            size_t used = 0;
            int seed = std::stoi(s, &used);
            if (used != s.size() || seed < 0) throw std::invalid_argument(s);
            spec.seeds.push_back(seed);
          } catch (const std::exception&) {
            throw std::runtime_error(where + ": seeds must be whole numbers >= 0, got '" + s + "'");
          }
        }
      } else spec.fixed.emplace_back(key, value);
    }
  }
  if (spec.name.empty() || spec.data.empty() || spec.config.empty())
    throw std::runtime_error(file + ": name, data and config are required");
  if (spec.seeds.empty()) throw std::runtime_error(file + ": no seeds");
  return spec;
}

std::vector<GridPoint> expand_grid(const ExperimentSpec& spec) {
  std::vector<GridPoint> points{GridPoint{}};
  for (auto& [k, v] : spec.fixed) points[0].settings[k] = v;
  for (const Axis& axis : spec.axes) {
    std::vector<GridPoint> next;
    for (const GridPoint& p : points)
      for (const AxisValue& v : axis.values) {
        GridPoint q = p;
        q.label += (q.label.empty() ? "" : ", ") + axis.name + "=" + v.label;
        for (auto& [k, val] : v.settings) q.settings[k] = val;
        next.push_back(q);
      }
    points = next;
  }
  if (points.size() == 1 && points[0].label.empty()) points[0].label = "(no axis)";
  return points;
}

std::string hash_key(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace ssmtl::app
