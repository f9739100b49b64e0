// Darknet .cfg files: the text format that describes a darknet network (Yolo-Fastest 1.1 uses it,
// DESIGN.md section 2). Grammar (as darknet's src/parser.c reads it, AlexeyAB fork):
//   - one "[type]" header line starts a section; "[net]" (or "[network]") comes first;
//   - "key = value" lines belong to the section above them; spaces and tabs anywhere are ignored;
//   - lines whose first non-blank character is '#' or ';' are comments, blank lines are skipped.
// Values stay strings here; the typed getters below convert them and, on a bad value, throw
// std::runtime_error naming the file, the line, the section and the key.
#pragma once
#include <string>
#include <vector>

namespace ssmtl::darknet {

struct CfgEntry {
  std::string key, value;
  int line = 0;   // 1-based line of the entry in the file
};

struct CfgSection {
  std::string type;   // header without brackets, lower case as written: "convolutional", "yolo", ...
  int line = 0;       // 1-based line of the "[type]" header
  std::vector<CfgEntry> entries;

  const CfgEntry* find(const std::string& key) const;   // nullptr when absent
};

struct Cfg {
  std::string path;   // file name used in error messages
  std::vector<CfgSection> sections;
};

// Parses a .cfg file. Throws std::runtime_error naming the file (and line) when it cannot be read,
// has an entry before the first section, a line that is neither "[type]" nor "key=value", an empty
// key or value, a key repeated in one section, or no section at all.
Cfg parse_cfg_file(const std::string& path);
// The same on text already in memory; `name` stands for the file in messages.
Cfg parse_cfg_text(const std::string& text, const std::string& name);

// Typed access to one section's values; every error names "<file>:<line>: [type] key".
class CfgReader {
 public:
  CfgReader(const Cfg& cfg, const CfgSection& section) : cfg_(cfg), s_(section) {}

  bool has(const std::string& key) const { return s_.find(key) != nullptr; }
  int get_int(const std::string& key) const;                 // required
  int get_int(const std::string& key, int fallback) const;   // optional
  float get_float(const std::string& key, float fallback) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  // Comma-separated integers ("3,4,5"); required.
  std::vector<int> get_ints(const std::string& key) const;
  std::vector<float> get_floats(const std::string& key) const;
  // Throws unless the (optional) key is absent or equals `expected`: for darknet options this engine
  // does not implement (e.g. dilation), so that a model using them fails loudly instead of silently.
  void require_default(const std::string& key, float expected) const;

  // Throws naming the first key of the section that is not in `known` (a misspelt key such as
  // "activati-on" would otherwise fall back to a default silently), listing the known keys.
  void check_keys(const std::vector<std::string>& known) const;

  // "<file>:<line>: [type]" (the section header's line), or the entry's line when `key` is present.
  std::string where(const std::string& key = "") const;
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;

  const CfgSection& section() const { return s_; }
  const std::string& path() const { return cfg_.path; }

 private:
  const Cfg& cfg_;
  const CfgSection& s_;
};

}  // namespace ssmtl::darknet
