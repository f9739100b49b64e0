#include "model/train_state.h"

#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "util/parse.h"
#include "util/text_lines.h"

namespace ssmtl {

std::string TrainerState::serialize() const {
  std::ostringstream o;
  o.precision(17);
  o << "trainer_state 2\n" << epoch << ' ' << step << ' ' << best_val << ' ' << best_epoch << ' ' << skipped << '\n'
    << adam_main.size() << '\n' << adam_main << adam_pseudo.size() << '\n' << adam_pseudo << '\n'
    << counted << ' ' << epoch_skipped << ' ' << sums.size() << '\n';
  for (auto& [k, v] : sums) o << k << ' ' << v << '\n';
  return o.str();
}

TrainerState TrainerState::parse(const std::string& s, const std::string& path) {
  std::istringstream in(s);
  std::string tag;
  int version = 0;
  TrainerState t;
  in >> tag >> version >> t.epoch >> t.step >> t.best_val >> t.best_epoch >> t.skipped;
  if (tag != "trainer_state" || (version != 1 && version != 2) || !in)
    throw std::runtime_error(path + ": no trainer state to resume from");
  auto blob = [&](std::string& dst) {
    size_t n = 0;
    in >> n;
    in.get();
    if (!in || n > s.size())   // checked before the allocation: a blob lies inside the state text
      throw std::runtime_error(path + ": corrupt trainer state (a blob of " + std::to_string(n) + " bytes)");
    dst.resize(n);
    in.read(dst.data(), static_cast<std::streamsize>(n));
    if (!in) throw std::runtime_error(path + ": truncated trainer state");
  };
  blob(t.adam_main);
  blob(t.adam_pseudo);
  if (version >= 2) {   // version 1 (older checkpoints) has no partial-epoch sums
    size_t n = 0;
    in >> t.counted >> t.epoch_skipped >> n;
    for (size_t i = 0; i < n && in; ++i) {
      std::string k;
      in >> k >> t.sums[k];
    }
    if (!in) throw std::runtime_error(path + ": truncated trainer state (epoch loss sums)");
  }
  return t;
}

std::string adam_blob(const Adam& a) {
  std::ostringstream o(std::ios::binary);
  a.save_state(o);
  return o.str();
}

void load_adam(Adam& a, const std::string& blob, const std::string& path) {
  std::istringstream in(blob, std::ios::binary);
  a.load_state(in, path);
}

namespace {

std::string json_map(const std::map<std::string, double>& m) {
  std::string s = "{";
  for (auto& [k, v] : m) {
    char b[64];
    std::snprintf(b, sizeof b, "%.6g", v);
    s += (s.size() > 1 ? ", \"" : "\"") + k + "\": " + b;
  }
  return s + "}";
}

}  // namespace

std::string epoch_json(const EpochLog& e) {
  char b[256];
  std::snprintf(b, sizeof b, "\"val_total\": %.6g, \"seconds\": %.2f, \"samples_per_s\": %.2f, \"skipped_steps\": %d",
                e.val_total, e.seconds, e.samples_per_s, e.skipped_steps);
  return "{\"epoch\": " + std::to_string(e.epoch) + ", \"train\": " + json_map(e.train) + ", \"val\": " +
         json_map(e.val) + ", " + b + "}";
}

namespace {

// The number after "\"key\": " in `s` from `from` on; when absent or not a number, `fallback` if given, else
// throws naming `where` and the key.
double json_number(const std::string& s, const std::string& key, size_t from, const std::string& where,
                   const double* fallback = nullptr) {
  const std::string k = "\"" + key + "\": ";
  const size_t p = s.find(k, from);
  double v = 0;
  if (p != std::string::npos) {
    size_t end = p + k.size();
    while (end < s.size() && s[end] != ',' && s[end] != '}') ++end;
    if (util::parse_finite(s.substr(p + k.size(), end - p - k.size()), v)) return v;
  }
  if (fallback) return *fallback;
  throw std::runtime_error(where + ": train_log line without a numeric \"" + key + "\"");
}

// The {"name": number, ...} object after "\"key\": " (names without commas or quotes, as epoch_json writes them).
std::map<std::string, double> json_object(const std::string& s, const std::string& key, const std::string& where) {
  const std::string k = "\"" + key + "\": {";
  const size_t a = s.find(k), b = a == std::string::npos ? a : s.find('}', a);
  if (b == std::string::npos) throw std::runtime_error(where + ": train_log line without a \"" + key + "\" object");
  std::map<std::string, double> m;
  std::istringstream entries(s.substr(a + k.size(), b - a - k.size()));
  for (std::string entry; std::getline(entries, entry, ',');) {
    const size_t q0 = entry.find('"'), q1 = q0 == std::string::npos ? q0 : entry.find('"', q0 + 1);
    if (q1 == std::string::npos) continue;   // the empty object
    const std::string name = entry.substr(q0 + 1, q1 - q0 - 1);
    m[name] = json_number(entry, name, 0, where + " (" + key + ")");
  }
  return m;
}

}  // namespace

EpochLog parse_epoch_json(const std::string& line, const std::string& where) {
  EpochLog e;
  e.epoch = static_cast<int>(json_number(line, "epoch", 0, where));
  e.train = json_object(line, "train", where);
  e.val = json_object(line, "val", where);
  e.val_total = json_number(line, "val_total", 0, where);
  const double zero = 0;   // the run's timings and skip count: absent in the oldest logs
  e.seconds = json_number(line, "seconds", 0, where, &zero);
  e.samples_per_s = json_number(line, "samples_per_s", 0, where, &zero);
  e.skipped_steps = static_cast<int>(json_number(line, "skipped_steps", 0, where, &zero));
  return e;
}

namespace {

// fn(key, value) for each "key = value" line of a configuration text, both trimmed (comments included: their key
// starts with '#').
template <class F>
void each_setting(const std::string& config_text, F fn) {
  std::istringstream in(config_text);
  for (std::string line; std::getline(in, line);) {
    const size_t eq = line.find('=');
    if (eq != std::string::npos) fn(util::trim(line.substr(0, eq)), util::trim(line.substr(eq + 1)));
  }
}

}  // namespace

std::map<std::string, std::string> run_settings(const std::string& config_text) {
  static const std::set<std::string> may_change = {"train.device", "train.epochs", "train.stop_after_steps",
                                                   "train.max_seconds", "train.swa_epochs"};
  std::map<std::string, std::string> m;
  each_setting(config_text, [&](const std::string& k, const std::string& v) {
    if (!k.empty() && k[0] != '#' && !may_change.count(k)) m[k] = v;
  });
  return m;
}

std::string join_videos(const std::vector<std::string>& videos) {
  std::string s;
  for (const std::string& x : videos) s += (s.empty() ? "" : ",") + x;
  return s;
}

std::string videos_line(const std::vector<std::string>& videos) {
  return videos.empty() ? "" : "# videos = " + join_videos(videos) + "\n";
}

std::vector<std::string> recorded_videos(const std::string& config_text) {
  std::istringstream in(config_text);
  std::vector<std::string> v;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("# videos = ", 0) == 0) {
      std::istringstream list(util::trim(line.substr(11)));
      for (std::string x; std::getline(list, x, ',');)
        if (!x.empty()) v.push_back(x);
    }
  return v;
}

namespace {

std::string video_list(const std::vector<std::string>& v) {
  return v.empty() ? "all videos of the split (no --videos)" : "videos " + join_videos(v);
}

}  // namespace

bool records_videos(const std::string& config_text) {
  bool found = false;
  each_setting(config_text, [&](const std::string& k, const std::string&) { found = found || k == "train.swa_epochs"; });
  return found;
}

std::string check_resume_config(const std::string& saved, const std::string& now, const std::string& path) {
  const std::vector<std::string> saved_videos = recorded_videos(saved), now_videos = recorded_videos(now);
  std::string note;
  if (saved_videos.empty() && !records_videos(saved)) {
    if (!now_videos.empty())
      note = path + " was written before runs recorded their training videos: resuming on " + video_list(now_videos) +
             " as given (unchecked; it must be the list the run started with)";
  } else if (saved_videos != now_videos) {
    throw std::runtime_error(path + ": the run was trained on " + video_list(saved_videos) + ", the resumed one on " +
                             video_list(now_videos) +
                             (saved_videos.empty() ? " (resume without --videos)"
                                                   : " (resume with the run's --videos: its config.txt's '# videos' line)"));
  }
  const auto a = run_settings(saved), b = run_settings(now);
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    const std::string w = it == b.end() ? "(unset)" : it->second;
    if (w != v)
      throw std::runtime_error(path + ": the run was trained with " + k + " = " + v + ", the resumed one has " + w +
                               " (resume with the same configuration; only train.device, train.epochs, "
                               "train.stop_after_steps, train.max_seconds and train.swa_epochs may change)");
  }
  // Keys added after checkpoints were first written: absent from an older checkpoint's configuration means
  // their default then (and only that default may continue such a run).
  static const std::map<std::string, std::string> added_later = {
      {"train.adam_eps", "1e-08"}, {"train.sync_bn", "false"}, {"train.precise_bn", "0"}};
  for (const auto& [k, v] : b)
    if (!a.count(k) && !(added_later.count(k) && added_later.at(k) == v))
      throw std::runtime_error(path + ": the resumed run sets " + k + " = " + v + ", which the checkpoint's run did not");
  return note;
}

}  // namespace ssmtl
