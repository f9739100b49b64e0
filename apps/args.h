// Minimal "--name value" / "--flag" parsing for the sub-commands. Unknown options are an error
// (UsageError: exit status 2), so a typo never silently falls back to a default.
#pragma once
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/samples/sequences.h"
#include "dist/communicator.h"
#include "tensor/device.h"
#include "util/config.h"
#include "util/parse.h"

namespace ssmtl::app {

// A command line that does not parse (unknown or missing option, bad number): main() prints it with a
// pointer to --help and exits with status 2, as for an unknown command; errors found while running exit 1.
struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

class Args {
 public:
  // `flags`: options that take no value. "--x value" and "--x=value" both give x its value. Throws UsageError
  // on "--x" without a value and on "--flag=value".
  Args(int argc, char** argv, std::set<std::string> flags = {}) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--help" || a == "-h") { help_ = true; continue; }
      if (a.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + a + "'");
      std::string k = a.substr(2);
      const size_t eq = k.find('=');
      if (eq != std::string::npos) {   // --key=value, as GNU getopt_long takes it
        const std::string key = k.substr(0, eq);
        if (flags.count(key)) throw UsageError("option --" + key + " takes no value");
        values_[key].push_back(k.substr(eq + 1));
        continue;
      }
      if (flags.count(k)) { values_[k].push_back("1"); continue; }
      // (which options exist is known only after parsing: a bare unknown option at the end lands here too)
      if (i + 1 >= argc) throw UsageError("option --" + k + " needs a value, or is not an option of this command");
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
    int64_t x = 0;
    if (!util::parse_int64(v, x)) throw UsageError("--" + k + ": '" + util::printable(v) + "' is not an integer");
    if (x < min) throw UsageError("--" + k + " must be >= " + std::to_string(min) + ", got " + v);
    return x;
  }
  // An option held in an int (counts, sizes): as get_int, and above `max` (INT_MAX unless given) a clear error
  // instead of a value that wraps when narrowed (--steps 4294967296 ran 0 steps, 2147483648 a negative count).
  int get_int32(const std::string& k, int def, int min, int max = std::numeric_limits<int>::max()) const {
    const long long x = get_int(k, def, min);
    if (x > max) throw UsageError("--" + k + " must be <= " + std::to_string(max) + ", got " + get(k));
    return static_cast<int>(x);
  }
  // A finite decimal number in [lo, hi] (no hex, NaN or inf).
  double get_double(const std::string& k, double def, double lo = -1e300, double hi = 1e300) const {
    if (!has(k)) return def;
    std::string v = get(k);
    double x = 0;
    if (!util::parse_finite(v, x)) throw UsageError("--" + k + ": '" + util::printable(v) + "' is not a finite number");
    if (x < lo || x > hi) {
      std::ostringstream o;
      o << "--" << k << ": " << v << " is outside [" << lo << ", " << hi << "]";
      throw UsageError(o.str());
    }
    return x;
  }
  // A comma-separated value ("01,02,05") as a list; empty when the option is absent. An item given twice
  // is a UsageError (it would be processed twice).
  std::vector<std::string> list(const std::string& k) const {
    std::vector<std::string> out;
    std::string v = get(k), item;
    for (size_t a = 0; a <= v.size() && !v.empty();) {
      size_t b = v.find(',', a);
      if (b == std::string::npos) b = v.size();
      if (b > a) {
        const std::string item = v.substr(a, b - a);
        for (const std::string& prev : out)
          if (prev == item) throw UsageError("--" + k + ": '" + item + "' is given twice");
        out.push_back(item);
      }
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
// without CUDA is a run-time error (std::runtime_error from parse_device), raised before any work. Under
// mpirun with several ranks, "cuda" also makes GPU (node-local rank mod GPU count) current, so that the ranks
// of a machine share its GPUs out (as the NCCL communicator of `ssmtl train` does).
inline Device device_option(const Args& args) {
  Device d;
  try {
    d = parse_device(args.get("device", "cpu"));
  } catch (const std::invalid_argument& e) {   // an unknown name: the command line is wrong
    throw UsageError(std::string("--device: ") + e.what());
  }
  if (d == Device::CUDA && dist::world().size() > 1) select_cuda_device(dist::world().local_rank());
  return d;
}

// --window-ends shift|clamp (default shift): the windows of objects at a video's ends (data/samples/sequences.h
// WindowEnds); another value is a usage error.
inline WindowEnds window_ends_option(const Args& args) {
  try {
    return parse_window_ends(args.get("window-ends", "shift"), "--window-ends");
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
}

// The configuration of --config FILE (empty without it) with every --set key=value applied in order.
// Throws UsageError for a --set without '='; the file's and the values' own errors as util::Config does.
inline util::Config config_option(const Args& args) {
  util::Config cfg = args.has("config") ? util::Config::from_file(args.get("config")) : util::Config();
  for (const std::string& kv : args.all("set")) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) throw UsageError("--set needs key=value, got " + kv);
    cfg.set(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return cfg;
}

}  // namespace ssmtl::app
