// Readable text configuration: one `key = value` per line, `#` starts a comment, lists are
// comma-separated ("16, 32, 32"). A run writes its resolved configuration (every key it used, with
// defaults filled in) next to its results, so a run can be repeated from that file alone.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace ssmtl::util {

class Config {
 public:
  Config() = default;
  // Throws std::runtime_error naming the file and line on a malformed line or a repeated key.
  static Config from_file(const std::string& path);
  static Config from_string(const std::string& text, const std::string& source = "<string>");

  // `key=value` overrides (command line --set); an override of an unknown key is caught by check_used.
  void set(const std::string& key, const std::string& value) {
    values_[key] = value;
    origin_[key] = "--set " + key;
  }
  bool has(const std::string& key) const { return values_.count(key) > 0; }

  // Typed getters with defaults; each records the resolved value. Throw std::runtime_error naming the
  // key (and the source file) when the text does not parse as the type.
  std::string get_string(const std::string& key, const std::string& def);
  int get_int(const std::string& key, int def);
  double get_double(const std::string& key, double def);
  bool get_bool(const std::string& key, bool def);
  std::vector<int> get_ints(const std::string& key, const std::vector<int>& def);

  // Throws std::runtime_error listing every key that was given but never read (typos).
  void check_used() const;
  // The resolved configuration as text (sorted keys), ready to be written next to a run's results.
  std::string resolved_text() const;
  const std::string& source() const { return source_; }

 private:
  std::string raw(const std::string& key) const;
  std::string where(const std::string& key) const;   // "--set key" or the file it came from
  std::map<std::string, std::string> origin_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::string> resolved_;
  std::string source_ = "<defaults>";
};

}  // namespace ssmtl::util
