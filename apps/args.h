// Minimal "--name value" / "--flag" parsing for the sub-commands. Unknown options are an error
// (UsageError: exit status 2), so a typo never silently falls back to a default.
#pragma once
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/device.h"

namespace ssmtl::app {

// A command line that does not parse (unknown or missing option, bad number): main() prints it with a
// pointer to --help and exits with status 2, as for an unknown command; errors found while running exit 1.
struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

class Args {
 public:
  // `flags`: options that take no value. Throws UsageError on "--x" without a value.
  Args(int argc, char** argv, std::set<std::string> flags = {}) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--help" || a == "-h") { help_ = true; continue; }
      if (a.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + a + "'");
      std::string k = a.substr(2);
      if (flags.count(k)) { values_[k].push_back("1"); continue; }
      if (i + 1 >= argc) throw UsageError("option --" + k + " needs a value");
      values_[k].push_back(argv[++i]);
    }
  }
  bool help() const { return help_; }
  bool has(const std::string& k) const { used_.insert(k); return values_.count(k) > 0; }
  std::string get(const std::string& k, const std::string& def = "") const {
    used_.insert(k);
    auto it = values_.find(k);
    return it == values_.end() ? def : it->second.back();
  }
  std::string need(const std::string& k) const {
    if (!has(k)) throw UsageError("missing required option --" + k);
    return get(k);
  }
  std::vector<std::string> all(const std::string& k) const {
    used_.insert(k);
    auto it = values_.find(k);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
  }
  // Numeric options: a clear error naming the option when the text is not a number or below `min`.
  long long get_int(const std::string& k, long long def, long long min) const {
    std::string v = get(k, std::to_string(def));
    size_t pos = 0;
    long long x = 0;
    try { x = std::stoll(v, &pos); } catch (...) { pos = 0; }
    if (pos == 0 || pos != v.size()) throw UsageError("--" + k + ": '" + v + "' is not an integer");
    if (x < min) throw UsageError("--" + k + " must be >= " + std::to_string(min) + ", got " + v);
    return x;
  }
  double get_double(const std::string& k, double def) const {
    std::string v = get(k, std::to_string(def));
    size_t pos = 0;
    double x = 0;
    try { x = std::stod(v, &pos); } catch (...) { pos = 0; }
    if (pos == 0 || pos != v.size()) throw UsageError("--" + k + ": '" + v + "' is not a number");
    return x;
  }
  // A comma-separated value ("01,02,05") as a list; empty when the option is absent.
  std::vector<std::string> list(const std::string& k) const {
    std::vector<std::string> out;
    std::string v = get(k), item;
    for (size_t a = 0; a <= v.size() && !v.empty();) {
      size_t b = v.find(',', a);
      if (b == std::string::npos) b = v.size();
      if (b > a) out.push_back(v.substr(a, b - a));
      a = b + 1;
    }
    return out;
  }
  // Throws UsageError naming options that were given but never read.
  void check_used() const {
    for (auto& [k, v] : values_)
      if (!used_.count(k)) throw UsageError("unknown option --" + k);
  }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  mutable std::set<std::string> used_;
  bool help_ = false;
};

// --device cpu|cuda (default cpu): an unknown name is a usage error; "cuda" without a GPU or in a build
// without CUDA is a run-time error (std::runtime_error from parse_device), raised before any work.
inline Device device_option(const Args& args) {
  try {
    return parse_device(args.get("device", "cpu"));
  } catch (const std::invalid_argument& e) {   // an unknown name: the command line is wrong
    throw UsageError(std::string("--device: ") + e.what());
  }
}

}  // namespace ssmtl::app
