// Readable text configuration: one `key = value` per line, `#` starts a comment, lists are
// comma-separated ("16, 32, 32"). A run writes its resolved configuration (every key it used, with
// defaults filled in) next to its results, so a run can be repeated from that file alone.
// Every key has a type and a range (util/config_keys.cpp, the one table of them); a value from a file,
// from --set or from a checkpoint's stored configuration goes through the same checks, and an error names
// where the value came from, the key, the value and what is allowed:
//   "run.txt: `model.cvt.heads` = `0` is not an integer in [1, 64]".
// Numbers are whole decimal tokens (util/parse.h): no hex, no NaN / inf, no trailing bytes.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace ssmtl::util {

// The type and range of one configuration key. type: 'i' int, 'd' finite double, 'b' bool, 's' string,
// 'l' list of ints (each in [lo, hi], between min_items and max_items of them). `choices` ("none|3d|2d")
// restricts a string; empty = any (checked by its reader, e.g. model.name by ModelConfig::preset).
struct KeySpec {
  const char* key;
  char type;
  double lo, hi;
  const char* choices = "";
  int min_items = 1, max_items = 8;
};
// nullptr when the key is not a configuration key.
const KeySpec* find_key_spec(const std::string& key);
// Adds a key that a higher layer defines (e.g. each registered proxy task's model.tasks.<key>); spec.key is
// ignored (the name is copied). Throws std::logic_error when the key exists already. Not thread-safe: call it
// while registering, before configurations are read.
void add_key_spec(const std::string& key, const KeySpec& spec);
// Every key of the table (for --help and the tests).
const std::vector<KeySpec>& key_specs();

class Config {
 public:
  Config() = default;
  // Throws std::runtime_error naming the file and line on a malformed line or a repeated key, and naming
  // the path when it is not a readable regular file (a folder is an error, not an empty configuration).
  static Config from_file(const std::string& path);
  static Config from_string(const std::string& text, const std::string& source = "<string>");

  // `key=value` overrides (command line --set); an override of an unknown key is caught by check_used.
  void set(const std::string& key, const std::string& value) {
    values_[key] = value;
    origin_[key] = "--set " + key;
  }
  bool has(const std::string& key) const { return values_.count(key) > 0; }

  // Typed getters with defaults; each records the resolved value. Throw std::runtime_error naming the
  // source, the key, the value and the allowed range (KeySpec) when the text does not parse as the key's
  // type or lies outside its range; std::logic_error when the key has no KeySpec (add it to the table).
  std::string get_string(const std::string& key, const std::string& def);
  int get_int(const std::string& key, int def);
  double get_double(const std::string& key, double def);
  bool get_bool(const std::string& key, bool def);
  std::vector<int> get_ints(const std::string& key, const std::vector<int>& def);

  // Throws std::runtime_error listing every key that was given but never read (typos).
  void check_used() const;
  // Checks every given key against the table without reading it: throws std::runtime_error naming the
  // source on the first key that is unknown or whose value is outside its range (for a checkpoint's
  // stored configuration, of which a command reads only a part).
  void check_all() const;
  // The resolved configuration as text (sorted keys), ready to be written next to a run's results.
  std::string resolved_text() const;
  const std::string& source() const { return source_; }

 private:
  std::string raw(const std::string& key) const;
  std::string where(const std::string& key) const;   // "--set key" or the file it came from
  // Throws unless `value` is valid for `key` (of type `type`); `from` names where it came from.
  static const KeySpec& check_value(const std::string& key, char type, const std::string& value, const std::string& from);
  std::map<std::string, std::string> origin_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::string> resolved_;
  std::string source_ = "<defaults>";
};

}  // namespace ssmtl::util
