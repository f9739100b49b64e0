// ssmtl select: chooses the post-processing constants (task score normalisation, checkpoint ensemble, anomaly map
// cell and mean filter, temporal smoothing sigma) by the micro AUC on SYNTHETIC anomalies made from the training
// split's held-out normal videos (`ssmtl synth`), never on test labels (issue 12). The models score every
// synthetic and normal object once per checkpoint; each candidate setting is then evaluated in memory exactly
// as `ssmtl score` + `ssmtl evaluate --smooth-sigma` would (same functions, so the numbers agree).
// The map cell is chosen as a multiple of the median height of the normal videos' detected objects, so the
// choice carries over to a camera with other frame and object sizes.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "apps/args.h"
#include "apps/command.h"
#include "apps/normal_stats.h"
#include "eval/auc.h"
#include "eval/io.h"
#include "eval/postprocess.h"
#include "model/checkpoint.h"
#include "model/scoring.h"
#include "model/trainer.h"
#include "data/video/frames.h"
#include "util/atomic_file.h"
#include "util/parse.h"
#include "util/progress.h"

namespace {

constexpr int kSelectFormatVersion = 2;   // 2: the min_height_rel / min_height_px columns

const char* kUsage =
    "usage: ssmtl select --data SYNTH --detections DIR --checkpoint CKPT [--checkpoint CKPT2 ...]\n"
    "                    --normal-data ROOT --normal-detections DIR --out FILE [--normal-videos 15,16]\n"
    "                    [--normalize none,zscore,log-zscore] [--cell-rel 0.33,0.5,0.67,1,1.33]\n"
    "                    [--min-height-rel 0,0.25,0.5,0.75,1,1.25] [--filter 1,3,5] [--sigma 0,1,3,5,8]\n"
    "                    [--batch 128] [--seed 0] [--device cpu|cuda] [--window-ends shift|clamp]\n"
    "  SYNTH is the output of `ssmtl synth` (testing/frames, testing/gt_frame, synthetic.txt); DIR its detections\n"
    "  (`ssmtl detect --data SYNTH --split testing`). Candidates: every normalisation x checkpoint set (the first\n"
    "  checkpoint alone, and all of them averaged per object when several are given) x map cell (--cell-rel times\n"
    "  the median height of the normal objects, in pixels, rounded) x minimum object height (--min-height-rel\n"
    "  times the same median: lower boxes write nothing into the map; 0 = all objects) x filter x sigma. The task\n"
    "  score statistics of a synthetic video come from the normal videos other than its source (cross-fitting; all of them when\n"
    "  there is no other), from ROOT's training split (default: the checkpoint's held-out validation videos).\n"
    "  Picks the candidate with the best micro AUC (ties: the earlier in the table's order) and writes FILE\n"
    "  atomically: format version, seed, inputs, the choice, and every candidate's micro / macro AUC and the\n"
    "  micro AUC per synthetic kind. --window-ends as for ssmtl score (the windows of objects in a video's first\n"
    "  or last 3 frames; fixed for the whole table).\n";

struct SynthVideo {
  std::string name, source, kind;
};

// synthetic.txt of `ssmtl synth`: "video source kind start length frames" lines after the key = value header.
std::vector<SynthVideo> read_synthetic_list(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("select: cannot read " + path + " (make SYNTH with `ssmtl synth`)");
  std::vector<SynthVideo> out;
  std::string line;
  int lineno = 0;
  bool version_ok = false;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty() || line[0] == '#') continue;
    if (line.find('=') != std::string::npos) {
      if (line.rfind("format_version", 0) == 0) version_ok = line == "format_version = 1";
      continue;
    }
    std::istringstream is(line);
    SynthVideo v;
    if (!(is >> v.name >> v.source >> v.kind))
      throw std::runtime_error(path + ":" + std::to_string(lineno) + ": expected 'video source kind ...'");
    out.push_back(v);
  }
  if (!version_ok) throw std::runtime_error(path + ": missing or unknown format_version (expected 1)");
  if (out.empty()) throw std::runtime_error(path + ": no synthetic video listed");
  return out;
}

std::vector<double> parse_doubles(const ssmtl::app::Args& args, const std::string& key, const std::string& def,
                                  double lo) {
  std::vector<std::string> items = args.list(key);
  if (items.empty()) {
    std::istringstream is(def);
    for (std::string s; std::getline(is, s, ',');) items.push_back(s);
  }
  std::vector<double> out;
  for (const std::string& s : items) {
    double x = 0;
    if (!ssmtl::util::parse_finite(s, x) || x < lo)
      throw ssmtl::app::UsageError("--" + key + ": '" + s + "' is not a number >= " + std::to_string(lo));
    out.push_back(x);
  }
  return out;
}

struct Row {
  std::string normalize, ckpts;
  double cell_rel = 0, min_height_rel = 0;
  int cell = 0, min_height = 0, filter = 0;
  double sigma = 0, micro = 0, macro = 0;
  std::map<std::string, double> per_kind;
};

std::string row_text(const Row& r) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-10s %-5s %5.2f %4d %5.2f %4d %3d %4.1f %.6f %.6f", r.normalize.c_str(),
                r.ckpts.c_str(), r.cell_rel, r.cell, r.min_height_rel, r.min_height, r.filter, r.sigma, r.micro, r.macro);
  std::string s = buf;
  for (auto& [k, v] : r.per_kind) {
    std::snprintf(buf, sizeof buf, " %.6f", v);
    s += buf;
  }
  return s;
}

struct Inputs {
  std::string synth, det, out, normal_root, normal_det;
  std::vector<std::string> ckpts, normal_videos, modes;
  std::vector<double> cell_rels, min_height_rels, filters, sigmas;
  ssmtl::ScoreOptions so;
  ssmtl::Device device = ssmtl::Device::CPU;
  std::map<std::string, SynthVideo> by_name;   // synthetic.txt
};

// What the models say about the synthetic and the normal videos, once per checkpoint.
struct Scored {
  std::unique_ptr<ssmtl::ObjectPool> pool;                 // the synthetic videos
  std::vector<std::vector<int>> labels;                    // per synthetic video
  std::set<std::string> kinds;
  std::vector<std::vector<ssmtl::VideoScores>> synth;      // [ckpt][video], raw task scores
  std::vector<std::map<std::string, std::map<std::string, std::vector<float>>>> normal;   // [ckpt][video][task]
  double median_h = 0;                                     // of the normal videos' objects, pixels
};

// Candidate object scores: one normalisation x checkpoint set, one score per object of each synthetic video.
struct ObjectScores {
  std::string mode, ckpts;
  std::vector<std::vector<double>> per_video;
};

Inputs parse_inputs(int argc, char** argv, bool& help) {
  using namespace ssmtl;
  app::Args args(argc, argv);
  Inputs in;
  help = args.help();
  if (help) return in;
  in.synth = args.need("data");
  in.det = args.need("detections");
  in.out = args.need("out");
  in.ckpts = args.all("checkpoint");
  if (in.ckpts.empty()) throw app::UsageError("missing required option --checkpoint");
  in.normal_root = args.need("normal-data");
  in.normal_det = args.need("normal-detections");
  in.normal_videos = args.list("normal-videos");
  in.modes = args.list("normalize");
  if (in.modes.empty()) in.modes = {"none", "zscore", "log-zscore"};
  for (auto& m : in.modes) eval::TaskNormalizer check(m);   // (throws on an unknown mode)
  in.cell_rels = parse_doubles(args, "cell-rel", "0.33,0.5,0.67,1,1.33", 1e-3);
  in.min_height_rels = parse_doubles(args, "min-height-rel", "0,0.25,0.5,0.75,1,1.25", 0);
  for (double h : in.min_height_rels)
    if (h > 100) throw app::UsageError("--min-height-rel: values must be <= 100 (times the median object height)");
  in.filters = parse_doubles(args, "filter", "1,3,5", 1);
  in.sigmas = parse_doubles(args, "sigma", "0,1,3,5,8", 0);
  for (double f : in.filters)
    if (f != std::floor(f) || static_cast<int>(f) % 2 == 0) throw app::UsageError("--filter: sizes must be odd integers");
  in.so.batch_size = args.get_int32("batch", 128, 1);
  in.so.seed = static_cast<uint64_t>(args.get_int("seed", 0, 0));
  in.so.window_ends = app::window_ends_option(args);
  in.device = app::device_option(args);
  args.check_used();
  for (auto& v : read_synthetic_list(in.synth + "/synthetic.txt")) in.by_name[v.name] = v;
  return in;
}

// The synthetic videos with the teacher signals model `mc` reads, their labels and kinds.
void load_synthetic(Inputs& in, const ssmtl::ModelConfig& mc, Scored& sc) {
  using namespace ssmtl;
  sc.pool = std::make_unique<ObjectPool>(ObjectPool::load(in.synth, "testing", in.det, in.so.min_detection_score, false,
                                                          {}, TeacherSpec::for_model(mc, in.det, "")));
  sc.labels.resize(sc.pool->num_videos());
  for (int v = 0; v < sc.pool->num_videos(); ++v) {
    const std::string& name = sc.pool->video(v).name();
    if (!in.by_name.count(name)) throw std::runtime_error("select: video " + name + " is not in " + in.synth + "/synthetic.txt");
    sc.kinds.insert(in.by_name[name].kind);
    sc.labels[v] = eval::load_labels(in.synth + "/testing/gt_frame/" + name + ".txt");
    if (static_cast<int>(sc.labels[v].size()) != sc.pool->video(v).num_frames())
      throw std::runtime_error("select: video " + name + " has " + std::to_string(sc.pool->video(v).num_frames()) +
                               " frames but " + std::to_string(sc.labels[v].size()) + " labels");
  }
}

Scored score_all(Inputs& in) {
  using namespace ssmtl;
  Scored sc;
  for (size_t c = 0; c < in.ckpts.size(); ++c) {
    CheckpointMeta meta = read_checkpoint_meta(in.ckpts[c]);
    util::Config cfg = util::Config::from_string(meta.config_text, in.ckpts[c]);
    ModelConfig mc = ModelConfig::from_config(cfg);
    cfg.check_all();
    SSMTLModel model(mc, 0);
    load_checkpoint(in.ckpts[c], model);
    model.to(in.device);
    if (!sc.pool) load_synthetic(in, mc, sc);
    in.normal_videos = app::normal_video_names(cfg, in.normal_root, in.normal_videos);
    const ObjectPool npool = app::load_normal_pool(mc, in.normal_root, in.normal_det, in.normal_videos, in.so, "");
    util::Progress progress("select: score " + in.ckpts[c],
                            static_cast<int64_t>(npool.objects().size() + sc.pool->objects().size()), "objects");
    sc.normal.emplace_back();
    for (int v = 0; v < npool.num_videos(); ++v)
      sc.normal.back()[npool.video(v).name()] =
          score_video(model, npool, v, in.so, [&](int64_t n) { progress.add(n); }).task_scores;
    if (c == 0) sc.median_h = median_object_height(npool);
    sc.synth.emplace_back();
    for (int v = 0; v < sc.pool->num_videos(); ++v)
      sc.synth.back().push_back(score_video(model, *sc.pool, v, in.so, [&](int64_t n) { progress.add(n); }));
    progress.finish();
  }
  return sc;
}

// Checkpoint c's object scores of every synthetic video under `mode`; task statistics cross-fitted: from the
// normal videos other than the synthetic video's source (all of them when there is no other).
std::vector<std::vector<double>> normalised_scores(const Inputs& in, const Scored& sc, const std::string& mode, size_t c) {
  std::vector<std::vector<double>> out(sc.pool->num_videos());
  std::map<std::string, ssmtl::eval::TaskNormalizer> by_source;
  for (int v = 0; v < sc.pool->num_videos(); ++v) {
    if (mode == "none") {   // the plain mean exactly as score_video computed it (what `ssmtl score` writes)
      for (const ssmtl::Region& r : sc.synth[c][v].regions) out[v].push_back(r.score);
      continue;
    }
    const std::string& src = in.by_name.at(sc.pool->video(v).name()).source;
    if (!by_source.count(src)) {
      std::map<std::string, std::vector<float>> fit;
      for (int pass = 0; pass < 2 && fit.empty(); ++pass)   // pass 1: all, when no other normal video exists
        for (auto& [nv, tasks] : sc.normal[c])
          if (pass == 1 || nv != src)
            for (auto& [task, vals] : tasks) fit[task].insert(fit[task].end(), vals.begin(), vals.end());
      ssmtl::eval::TaskNormalizer n(mode);
      n.fit(fit);
      by_source.emplace(src, n);
    }
    const std::vector<float> o = by_source.at(src).combine(sc.synth[c][v].task_scores);
    out[v].assign(o.begin(), o.end());
  }
  return out;
}

std::vector<ObjectScores> object_score_sets(const Inputs& in, const Scored& sc) {
  std::vector<ObjectScores> sets;
  std::vector<std::string> ckpt_sets = {"first"};
  if (in.ckpts.size() > 1) ckpt_sets.push_back("all");
  for (const std::string& mode : in.modes) {
    std::vector<std::vector<std::vector<double>>> normalised;   // [ckpt][video][object]
    for (size_t c = 0; c < in.ckpts.size(); ++c) normalised.push_back(normalised_scores(in, sc, mode, c));
    for (const std::string& set : ckpt_sets) {
      ObjectScores os{mode, set, {}};
      const size_t nc = set == "all" ? in.ckpts.size() : 1;
      for (int v = 0; v < sc.pool->num_videos(); ++v) {
        std::vector<double> s(normalised[0][v].size(), 0.0);
        for (size_t c = 0; c < nc; ++c)
          for (size_t i = 0; i < s.size(); ++i) s[i] += normalised[c][v][i];
        for (double& x : s) x = static_cast<float>(x / static_cast<double>(nc));   // as average_video_scores (float)
        os.per_video.push_back(std::move(s));
      }
      sets.push_back(std::move(os));
    }
  }
  return sets;
}

// The frame scores of every synthetic video from one candidate's object scores and map options.
std::vector<std::vector<double>> candidate_frames(const Scored& sc, const ObjectScores& os,
                                                  const ssmtl::eval::AnomalyMapOptions& mo) {
  const ssmtl::ObjectPool& pool = *sc.pool;
  std::vector<std::vector<double>> frames(pool.num_videos());
  for (int v = 0; v < pool.num_videos(); ++v) {
    std::vector<ssmtl::Region> regions = sc.synth[0][v].regions;
    for (size_t i = 0; i < regions.size(); ++i) regions[i].score = os.per_video[v][i];
    frames[v] = ssmtl::eval::frame_scores_from_maps(regions, pool.video(v).num_frames(), pool.video(v).width(),
                                                    pool.video(v).height(), mo);
  }
  return frames;
}

// One row per candidate: the object scores' anomaly maps with each cell, minimum height and filter, smoothed
// with each sigma.
std::vector<Row> evaluate_grid(const Inputs& in, const Scored& sc, const std::vector<ObjectScores>& sets) {
  using namespace ssmtl;
  const ObjectPool& pool = *sc.pool;
  std::vector<Row> rows;
  util::Progress grid("select: candidates",
                      static_cast<int64_t>(sets.size() * in.cell_rels.size() * in.min_height_rels.size() *
                                           in.filters.size() * in.sigmas.size()),
                      "settings");
  for (const ObjectScores& os : sets)
    for (double rel : in.cell_rels)
      for (double hrel : in.min_height_rels)
        for (double fd : in.filters) {
          eval::AnomalyMapOptions mo;
          mo.cell = std::max(1, static_cast<int>(std::lround(rel * sc.median_h)));   // as `ssmtl score --cell-rel`
          mo.min_height = static_cast<int>(std::lround(hrel * sc.median_h));         // as `--min-height-rel`
          mo.filter_t = mo.filter_y = mo.filter_x = static_cast<int>(fd);
          const std::vector<std::vector<double>> frames = candidate_frames(sc, os, mo);
          for (double sigma : in.sigmas) {
            std::vector<eval::VideoScores> ev;
            for (int v = 0; v < pool.num_videos(); ++v)
              ev.push_back({pool.video(v).name(), eval::gaussian_smooth(frames[v], sigma), sc.labels[v]});
            Row r{os.mode, os.ckpts, rel, hrel, mo.cell, mo.min_height, mo.filter_t, sigma, eval::micro_auc(ev),
                  eval::macro_auc(ev, eval::MacroMode::Skip).auc, {}};
            for (const std::string& k : sc.kinds) {
              std::vector<eval::VideoScores> sub;
              for (const eval::VideoScores& e : ev)
                if (in.by_name.at(e.name).kind == k) sub.push_back(e);
              r.per_kind[k] = eval::micro_auc(sub);
            }
            rows.push_back(r);
            grid.add(1);
          }
        }
  grid.finish();
  return rows;
}

std::string selection_text(const Inputs& in, const Scored& sc, const std::vector<Row>& rows, const Row& b) {
  int64_t nframes = 0, nabnormal = 0;
  for (auto& l : sc.labels) {
    nframes += static_cast<int64_t>(l.size());
    for (int x : l) nabnormal += x;
  }
  std::ostringstream o;
  o << "# ssmtl select: post-processing constants chosen by the micro AUC on synthetic anomalies in held-out\n"
    << "# normal training videos (never test labels)\nformat_version = " << kSelectFormatVersion << "\nseed = " << in.so.seed
    << "\ndata = " << in.synth << "\ndetections = " << in.det << "\ncheckpoints =";
  for (size_t i = 0; i < in.ckpts.size(); ++i) o << (i ? ", " : " ") << in.ckpts[i];
  o << "\nnormal_data = " << in.normal_root << "\nnormal_detections = " << in.normal_det << "\nnormal_videos =";
  for (size_t i = 0; i < in.normal_videos.size(); ++i) o << (i ? "," : " ") << in.normal_videos[i];
  o << "\nsynthetic_videos = " << sc.pool->num_videos() << "\nsynthetic_frames = " << nframes
    << "\nsynthetic_abnormal_frames = " << nabnormal << "\nmedian_object_height_px = " << sc.median_h
    << "\nwindow_ends = " << window_ends_name(in.so.window_ends)
    << "\n# the choice\nnormalize = " << b.normalize << "\ncheckpoint_set = " << b.ckpts << "\ncell_rel = " << b.cell_rel
    << "\ncell_px = " << b.cell << "\nmin_height_rel = " << b.min_height_rel << "\nmin_height_px = " << b.min_height
    << "\nfilter = " << b.filter << "\nsigma = " << b.sigma << "\nmicro_auc = " << b.micro
    << "\nmacro_auc = " << b.macro << "\n# table: normalize checkpoint_set cell_rel cell_px min_height_rel min_height_px filter sigma micro_auc"
    << " macro_auc";
  for (const std::string& k : sc.kinds) o << " micro_" << k;
  o << "\n";
  for (const Row& r : rows) o << row_text(r) << "\n";
  return o.str();
}

int run_select(int argc, char** argv) {
  bool help = false;
  Inputs in = parse_inputs(argc, argv, help);
  if (help) { std::printf("%s", kUsage); return 0; }
  const Scored sc = score_all(in);
  const std::vector<Row> rows = evaluate_grid(in, sc, object_score_sets(in, sc));
  size_t best = 0;   // the best micro AUC; ties: the earlier row
  for (size_t i = 1; i < rows.size(); ++i)
    if (rows[i].micro > rows[best].micro) best = i;
  ssmtl::util::write_text_atomic(in.out, selection_text(in, sc, rows, rows[best]));

  std::vector<size_t> order(rows.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return rows[x].micro > rows[y].micro; });
  std::printf("select: %zu candidates on %d synthetic videos; median object height %.1f px\n"
              "best 5 (normalize ckpts cell_rel cell_px min_height_rel min_height_px filter sigma micro macro per-kind):\n",
              rows.size(), sc.pool->num_videos(), sc.median_h);
  for (size_t i = 0; i < std::min<size_t>(5, order.size()); ++i) std::printf("  %s\n", row_text(rows[order[i]]).c_str());
  std::printf("choice written to %s\n", in.out.c_str());
  return 0;
}

ssmtl::app::Command reg{"select", "post-processing constants chosen on synthetic anomalies (no test labels)", run_select};

}  // namespace
