#include "model/train_state.h"

#include <cstdio>
#include <sstream>
#include <stdexcept>

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

void check_resume_config(const std::string& saved, const std::string& now, const std::string& path) {
  auto keys = [](const std::string& text) {
    std::map<std::string, std::string> m;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      const size_t eq = line.find('=');
      if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
      auto trim = [](std::string x) {
        const size_t a = x.find_first_not_of(" \t"), b = x.find_last_not_of(" \t\r");
        return a == std::string::npos ? std::string() : x.substr(a, b - a + 1);
      };
      const std::string k = trim(line.substr(0, eq));
      if (k == "train.device" || k == "train.stop_after_steps" || k == "train.epochs") continue;
      m[k] = trim(line.substr(eq + 1));
    }
    return m;
  };
  const auto a = keys(saved), b = keys(now);
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    const std::string w = it == b.end() ? "(unset)" : it->second;
    if (w != v)
      throw std::runtime_error(path + ": the run was trained with " + k + " = " + v + ", the resumed one has " + w +
                               " (resume with the same configuration; only train.device, train.epochs and "
                               "train.stop_after_steps may change)");
  }
  // Keys added after checkpoints were first written: absent from an older checkpoint's configuration means
  // their default then (and only that default may continue such a run).
  static const std::map<std::string, std::string> added_later = {{"train.adam_eps", "1e-08"}, {"train.sync_bn", "false"}};
  for (const auto& [k, v] : b)
    if (!a.count(k) && !(added_later.count(k) && added_later.at(k) == v))
      throw std::runtime_error(path + ": the resumed run sets " + k + " = " + v + ", which the checkpoint's run did not");
}

}  // namespace ssmtl
