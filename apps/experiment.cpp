// ssmtl experiment FILE: a grid of detect -> train -> score -> evaluate runs (apps/experiment_spec.h), each stage
// cached under a key of its resolved settings, so a rerun (after an interruption, or another grid sharing runs)
// continues where it stopped and reuses detections and trained models; then a results table (markdown + JSON)
// with mean +- std over the seeds of each grid point and the time of every run.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "apps/args.h"
#include "apps/command.h"
#include "apps/experiment_spec.h"
#include "model/ssmtl.h"
#include "model/trainer.h"
#include "util/atomic_file.h"
#include "util/config.h"

namespace {

namespace fs = std::filesystem;
using ssmtl::app::GridPoint;

const char* kUsage =
    "usage: ssmtl experiment FILE [--cache runs/cache] [--out runs/experiments/<name>] [--max-new-runs N] [--dry-run 1]\n"
    "  runs every grid point x seed of FILE (format: apps/experiment_spec.h; examples: configs/experiments/):\n"
    "  ssmtl detect (training and test split), train, score and evaluate, each stage cached in\n"
    "  CACHE/{detections,train,scores}/<key> (key = hash of the stage's resolved settings and of the stages it\n"
    "  reads), so a rerun skips what is done and resumes an interrupted training (--resume last.ckpt).\n"
    "  --dry-run 1 lists every run with its settings (each checked as ssmtl train would) and runs nothing.\n"
    "  --max-new-runs N stops after N runs that were not cached (a time box; rerun to continue).\n"
    "  writes OUT/results.md and OUT/results.json: per grid point micro/macro AUC, RBDC, TBDC as mean +- std\n"
    "  (sample std over the seeds) and per run its metrics and seconds per stage (as measured when computed).\n";

int call(std::vector<std::string> argv) {   // a sub-command of this program, in process
  std::string cmd;
  for (auto& a : argv) cmd += a + " ";
  std::fprintf(stderr, "experiment: ssmtl %s\n", cmd.c_str());
  std::vector<char*> p;
  for (auto& a : argv) p.push_back(a.data());
  return ssmtl::app::commands().at(argv[0]).fn(static_cast<int>(p.size()), p.data());
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string get(const std::map<std::string, std::string>& m, const std::string& k, const std::string& def) {
  auto it = m.find(k);
  return it == m.end() ? def : it->second;
}

// Runs `stage` into `dir` unless dir/done exists; the time it took goes to dir/seconds.txt. Returns the
// seconds (measured now or when it was computed) and whether it ran now.
std::pair<double, bool> cached(const std::string& dir, const std::function<void()>& stage) {
  if (fs::exists(dir + "/done")) {
    std::ifstream in(dir + "/seconds.txt");
    double s = 0;
    in >> s;
    return {s, false};
  }
  ssmtl::util::make_dirs(dir);
  double t0 = now_s();
  stage();
  double s = now_s() - t0;
  ssmtl::util::write_text_atomic(dir + "/seconds.txt", std::to_string(s) + "\n");
  ssmtl::util::write_text_atomic(dir + "/done", "");
  return {s, true};
}

double json_number(const std::string& text, const std::string& key, const std::string& file) {
  size_t p = text.find("\"" + key + "\":");
  if (p == std::string::npos) throw std::runtime_error(file + ": no " + key);
  return std::stod(text.substr(p + key.size() + 3));
}

struct RunResult {
  std::string point;
  int seed = 0;
  double metric[4] = {0, 0, 0, 0};   // micro, macro, rbdc, tbdc
  double seconds[3] = {0, 0, 0};     // detect, train, score+evaluate
  bool reused = false;
  std::string train_dir;
};
const char* kMetricNames[4] = {"micro_auc", "macro_auc", "rbdc", "tbdc"};

struct Stats {
  double mean = 0, std = 0;
};
Stats stats(const std::vector<double>& v) {
  Stats s;
  for (double x : v) s.mean += x / static_cast<double>(v.size());
  if (v.size() > 1) {
    for (double x : v) s.std += (x - s.mean) * (x - s.mean);
    s.std = std::sqrt(s.std / static_cast<double>(v.size() - 1));
  }
  return s;
}

// The resolved training configuration of a grid point (what `ssmtl train` writes to config.txt): the cache
// key of its model, so equal settings spelled differently share one model.
std::string resolved_train_config(const std::string& config, const std::map<std::string, std::string>& settings) {
  ssmtl::util::Config cfg = ssmtl::util::Config::from_file(config);
  for (auto& [k, v] : settings)
    if (k.rfind("model.", 0) == 0 || k.rfind("train.", 0) == 0) cfg.set(k, v);
  ssmtl::ModelConfig::from_config(cfg);
  const int swa_epochs = ssmtl::TrainOptions::from_config(cfg).swa_epochs;
  cfg.check_used();
  if (get(settings, "score.checkpoint", "best") == "swa" && swa_epochs == 0)   // (also caught by --dry-run)
    throw std::runtime_error("experiment: score.checkpoint = swa needs train.swa_epochs > 0 (swa.ckpt)");
  return cfg.resolved_text();
}

void check_setting_keys(const std::map<std::string, std::string>& s) {
  static const std::set<std::string> known{"detect.method", "detect.conf", "detect.flow_scale", "score.normalize",
                                           "score.frame_mode", "score.cell", "score.min_height_rel", "score.filter",
                                           "score.window_ends", "score.checkpoint", "eval.sigma",
                                           "videos.training", "videos.testing"};
  for (auto& [k, v] : s)
    if (!known.count(k) && k.rfind("model.", 0) != 0 && k.rfind("train.", 0) != 0)
      throw std::runtime_error("experiment: unknown setting " + k + " (see ssmtl experiment --help)");
  const std::string which = get(s, "score.checkpoint", "best");
  if (which != "best" && which != "swa")
    throw std::runtime_error("experiment: score.checkpoint must be best or swa, got " + which);
}

RunResult run_one(const ssmtl::app::ExperimentSpec& spec, const GridPoint& p, int seed, const std::string& cache) {
  RunResult r;
  r.point = p.label;
  r.seed = seed;
  auto s = p.settings;
  s["train.seed"] = std::to_string(seed);
  check_setting_keys(s);
  const std::string tr_videos = get(s, "videos.training", ""), te_videos = get(s, "videos.testing", "");
  // Detections: both splits under one key.
  std::string det_text = "data=" + spec.data + "\nmethod=" + get(s, "detect.method", "hybrid") + "\nconf=" +
                         get(s, "detect.conf", "") + "\nflow_scale=" + get(s, "detect.flow_scale", "") +
                         "\ntraining=" + tr_videos + "\ntesting=" + te_videos + "\n";
  const std::string det = cache + "/detections/" + ssmtl::app::hash_key(det_text);
  bool fresh = false;
  auto d = cached(det, [&] {
    ssmtl::util::write_text_atomic(det + "/settings.txt", det_text);
    for (const char* split : {"training", "testing"}) {
      std::vector<std::string> a{"detect", "--data", spec.data, "--split", split, "--method",
                                 get(s, "detect.method", "hybrid"), "--out", det + "/" + split};
      if (s.count("detect.conf")) a.insert(a.end(), {"--conf", s["detect.conf"]});
      if (s.count("detect.flow_scale")) a.insert(a.end(), {"--flow-scale", s["detect.flow_scale"]});
      const std::string& v = std::string(split) == "training" ? tr_videos : te_videos;
      if (!v.empty()) a.insert(a.end(), {"--videos", v});
      if (call(a) != 0) throw std::runtime_error("experiment: detection failed (" + det + ")");
    }
  });
  r.seconds[0] = d.first;
  fresh |= d.second;
  // Training: keyed by the detections and the resolved configuration (seed included).
  const std::string cfg_text = resolved_train_config(spec.config, s);
  // (a run without weight averaging keeps the key it had before train.swa_epochs existed)
  ssmtl::util::Config resolved = ssmtl::util::Config::from_string(cfg_text, "the resolved configuration");
  const int swa_epochs = ssmtl::TrainOptions::from_config(resolved).swa_epochs;
  std::string key_text;
  std::istringstream lines(cfg_text);
  for (std::string line; std::getline(lines, line);)
    if (swa_epochs > 0 || line.rfind("train.swa_epochs ", 0) != 0) key_text += line + "\n";
  const std::string which = get(s, "score.checkpoint", "best");   // (checked with the keys and the config)
  const std::string train = cache + "/train/" + ssmtl::app::hash_key(det + "\n" + tr_videos + "\n" + key_text);
  r.train_dir = train;
  auto t = cached(train, [&] {
    ssmtl::util::write_text_atomic(train + "/settings.txt", cfg_text);
    std::vector<std::string> a{"train", "--data", spec.data, "--detections", det + "/training", "--out", train,
                               "--config", spec.config};
    for (auto& [k, v] : s)
      if (k.rfind("model.", 0) == 0 || k.rfind("train.", 0) == 0) a.insert(a.end(), {"--set", k + "=" + v});
    if (!tr_videos.empty()) a.insert(a.end(), {"--videos", tr_videos});
    if (fs::exists(train + "/last.ckpt")) a.insert(a.end(), {"--resume", train + "/last.ckpt"});
    const int rc = call(a);
    if (rc != 0 || !fs::exists(train + "/best.ckpt") || (swa_epochs > 0 && !fs::exists(train + "/swa.ckpt")))
      throw std::runtime_error("experiment: training stopped (exit " + std::to_string(rc) + "); rerun to resume " + train);
  });
  r.seconds[1] = t.first;
  fresh |= t.second;
  // Scores and metrics, of best.ckpt (the paper's rule) or swa.ckpt (score.checkpoint, checked above).
  const std::string ckpt = train + "/" + which + ".ckpt";
  if (!fs::exists(ckpt)) throw std::runtime_error("experiment: training wrote no " + ckpt);
  std::string sc_text = train + "\n" + te_videos + "\nnormalize=" + get(s, "score.normalize", "none") + "\nmode=" +
                        get(s, "score.frame_mode", "map") + "\ncell=" + get(s, "score.cell", "20") + "\nfilter=" +
                        get(s, "score.filter", "3") + "\nsigma=" + get(s, "eval.sigma", "3") + "\n";
  const std::string min_h = get(s, "score.min_height_rel", "");   // (keys made before it existed stay the same)
  if (!min_h.empty()) sc_text += "min_height_rel=" + min_h + "\n";
  // (scores cached before the option existed were made with clamped windows: they keep their key under clamp)
  const std::string ends = get(s, "score.window_ends", "shift");
  if (ends != "clamp") sc_text += "window_ends=" + ends + "\n";
  if (which != "best") sc_text += "checkpoint=" + which + "\n";
  const std::string sc = cache + "/scores/" + ssmtl::app::hash_key(sc_text);
  auto e = cached(sc, [&] {
    ssmtl::util::write_text_atomic(sc + "/settings.txt", sc_text);
    std::vector<std::string> a{"score", "--data", spec.data, "--detections", det + "/testing", "--checkpoint",
                               ckpt, "--out", sc, "--normalize", get(s, "score.normalize", "none"),
                               "--frame-mode", get(s, "score.frame_mode", "map"), "--cell", get(s, "score.cell", "20"),
                               "--filter", get(s, "score.filter", "3")};
    if (!min_h.empty()) a.insert(a.end(), {"--min-height-rel", min_h});
    a.insert(a.end(), {"--window-ends", ends});
    if (get(s, "score.normalize", "none") != "none" || !min_h.empty()) {   // (statistics / median object height)
      a.insert(a.end(), {"--normal-detections", det + "/training"});
      if (!tr_videos.empty()) {   // the validation videos of this training run: the last of its list
        std::vector<std::string> v;
        std::stringstream in(tr_videos);
        for (std::string x; std::getline(in, x, ',');) v.push_back(x);
        ssmtl::util::Config c = ssmtl::util::Config::from_string(cfg_text, train + "/settings.txt");
        const int n = ssmtl::num_validation_videos(static_cast<int>(v.size()), ssmtl::TrainOptions::from_config(c).val_fraction);
        std::string list;
        for (size_t i = v.size() - n; i < v.size(); ++i) list += (list.empty() ? "" : ",") + v[i];
        if (!list.empty()) a.insert(a.end(), {"--normal-videos", list});
      }
    }
    if (!te_videos.empty()) a.insert(a.end(), {"--videos", te_videos});
    if (call(a) != 0) throw std::runtime_error("experiment: scoring failed (" + sc + ")");
    const std::string gt = spec.data + "/testing", labels = sc + "/labels";
    ssmtl::util::make_dirs(labels);
    for (auto& f : fs::directory_iterator(sc + "/frame_scores"))
      fs::copy_file(gt + "/gt_frame/" + f.path().filename().string(), labels + "/" + f.path().filename().string(),
                    fs::copy_options::overwrite_existing);
    if (call({"evaluate", "--scores", sc + "/frame_scores", "--labels", labels, "--regions", sc + "/regions",
              "--tracks", gt + "/gt_tracks_derived", "--smooth-sigma", get(s, "eval.sigma", "3"), "--json",
              sc + "/metrics.json"}) != 0)
      throw std::runtime_error("experiment: evaluation failed (" + sc + ")");
  });
  r.seconds[2] = e.first;
  fresh |= e.second;
  const std::string m = ssmtl::util::read_file(sc + "/metrics.json");
  for (int k = 0; k < 4; ++k) r.metric[k] = json_number(m, kMetricNames[k], sc + "/metrics.json");
  r.reused = !fresh;
  return r;
}

void write_results(const ssmtl::app::ExperimentSpec& spec, const std::vector<GridPoint>& points,
                   const std::vector<RunResult>& runs, const std::string& out, bool complete) {
  std::ostringstream md, js;
  md << "# Experiment " << spec.name << "\n\ndata " << spec.data << ", config " << spec.config << ", seeds";
  for (int s : spec.seeds) md << " " << s;
  md << (complete ? "" : "\n\n**Incomplete**: rerun `ssmtl experiment` to continue.") << "\n\n"
     << "| grid point | runs | micro AUC | macro AUC | RBDC | TBDC |\n|---|---|---|---|---|---|\n";
  js.precision(6);
  js << "{\n  \"format_version\": 1,\n  \"name\": \"" << spec.name << "\",\n  \"complete\": "
     << (complete ? "true" : "false") << ",\n  \"points\": [";
  for (size_t i = 0; i < points.size(); ++i) {
    std::vector<double> v[4];
    for (auto& r : runs)
      if (r.point == points[i].label)
        for (int k = 0; k < 4; ++k) v[k].push_back(100 * r.metric[k]);
    md << "| " << points[i].label << " | " << v[0].size();
    js << (i ? "," : "") << "\n    {\"point\": \"" << points[i].label << "\", \"runs\": " << v[0].size();
    for (int k = 0; k < 4; ++k) {
      Stats st = v[k].empty() ? Stats{} : stats(v[k]);
      char buf[64];
      std::snprintf(buf, sizeof buf, v[k].empty() ? "-" : "%.2f +- %.2f", st.mean, st.std);
      md << " | " << buf;
      js << ", \"" << kMetricNames[k] << "_mean\": " << st.mean << ", \"" << kMetricNames[k] << "_std\": " << st.std;
    }
    md << " |\n";
    js << "}";
  }
  md << "\n| grid point | seed | micro | macro | RBDC | TBDC | detect s | train s | score+eval s | model |\n"
     << "|---|---|---|---|---|---|---|---|---|---|\n";
  js << "\n  ],\n  \"runs\": [";
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunResult& r = runs[i];
    char buf[256];
    std::snprintf(buf, sizeof buf, "| %s | %d | %.2f | %.2f | %.2f | %.2f | %.0f | %.0f | %.0f | %s |\n",
                  r.point.c_str(), r.seed, 100 * r.metric[0], 100 * r.metric[1], 100 * r.metric[2],
                  100 * r.metric[3], r.seconds[0], r.seconds[1], r.seconds[2], r.train_dir.c_str());
    md << buf;
    js << (i ? "," : "") << "\n    {\"point\": \"" << r.point << "\", \"seed\": " << r.seed;
    for (int k = 0; k < 4; ++k) js << ", \"" << kMetricNames[k] << "\": " << r.metric[k];
    js << ", \"detect_s\": " << r.seconds[0] << ", \"train_s\": " << r.seconds[1] << ", \"score_s\": "
       << r.seconds[2] << ", \"reused\": " << (r.reused ? "true" : "false") << ", \"model\": \"" << r.train_dir
       << "\"}";
  }
  js << "\n  ]\n}\n";
  md << "\nTimes are those measured when each stage ran (a cached stage keeps its time).\n";
  ssmtl::util::make_dirs(out);
  ssmtl::util::write_text_atomic(out + "/results.md", md.str());
  ssmtl::util::write_text_atomic(out + "/results.json", js.str());
}

int run_experiment(int argc, char** argv) {
  std::string file;   // the one positional argument, first
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i)
    if (i == 1 && argv[i][0] != '-') file = argv[i];
    else rest.push_back(argv[i]);
  ssmtl::app::Args args(static_cast<int>(rest.size()), rest.data());
  if (args.help()) { std::printf("%s", kUsage); return 0; }
  if (file.empty()) throw ssmtl::app::UsageError("missing the experiment FILE");
  const std::string cache = args.get("cache", "runs/cache");
  const int max_new = args.get_int32("max-new-runs", 0, 0);
  const bool dry = args.get("dry-run", "0") != "0";
  ssmtl::app::ExperimentSpec spec = ssmtl::app::ExperimentSpec::parse(ssmtl::util::read_file(file), file);
  const std::string out = args.get("out", "runs/experiments/" + spec.name);
  args.check_used();
  const std::vector<GridPoint> points = ssmtl::app::expand_grid(spec);
  std::fprintf(stderr, "experiment %s: %zu grid points x %zu seeds\n", spec.name.c_str(), points.size(), spec.seeds.size());
  if (dry) {   // every run's settings resolved and checked (a key typo fails here), nothing run
    for (const GridPoint& p : points)
      for (int seed : spec.seeds) {
        auto s = p.settings;
        s["train.seed"] = std::to_string(seed);
        check_setting_keys(s);
        resolved_train_config(spec.config, s);
        std::printf("%s, seed %d:", p.label.c_str(), seed);
        for (auto& [k, v] : s) std::printf(" %s=%s", k.c_str(), v.c_str());
        std::printf("\n");
      }
    return 0;
  }
  std::vector<RunResult> runs;
  int fresh = 0;
  bool complete = true;
  for (const GridPoint& p : points)
    for (int seed : spec.seeds) {
      if (max_new > 0 && fresh >= max_new) {
        complete = false;
        break;
      }
      runs.push_back(run_one(spec, p, seed, cache));
      fresh += runs.back().reused ? 0 : 1;
      std::fprintf(stderr, "experiment: [%zu/%zu] %s seed %d: micro AUC %.2f%s\n", runs.size(),
                   points.size() * spec.seeds.size(), p.label.c_str(), seed, 100 * runs.back().metric[0],
                   runs.back().reused ? " (cached)" : "");
      write_results(spec, points, runs, out, false);   // a partial table survives an interruption
    }
  write_results(spec, points, runs, out, complete);
  std::printf("experiment %s: %zu runs (%d computed now)%s; results in %s/results.md\n", spec.name.c_str(),
              runs.size(), fresh, complete ? "" : ", stopped by --max-new-runs (rerun to continue)", out.c_str());
  return 0;
}

ssmtl::app::Command reg{"experiment", "a grid of runs from a file, cached and resumable, with a results table",
                        run_experiment};

}  // namespace
