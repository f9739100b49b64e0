// `ssmtl evaluate`: frame-level micro/macro AUC and, with regions and tracks, RBDC/TBDC of a folder of score
// files against the ground truth (DESIGN.md section 8). All the work is in eval/evaluate.h.
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "apps/command.h"
#include "eval/evaluate.h"
#include "eval/plots.h"
#include "util/atomic_file.h"
#include "util/parse.h"

namespace {

const char* kUsage =
    "usage: ssmtl evaluate --scores DIR --labels DIR [--regions DIR --tracks DIR] [--smooth-sigma S]\n"
    "                      [--smooth-kind gaussian|half-gaussian] [--normalize none|video] [--macro skip|pad] [--json FILE] [--write-scores DIR]\n"
    "                      [--plots DIR]\n"
    "\n"
    "  --scores DIR        <video>.txt frame anomaly scores, one per line (higher = more abnormal)\n"
    "  --labels DIR        gt_frame/<video>.txt labels (1 = abnormal); these files define the video set\n"
    "  --regions DIR       <video>.txt predicted regions 'frame,x_min,y_min,x_max,y_max,score' (RBDC/TBDC)\n"
    "  --tracks DIR        gt_tracks*/<video>.txt ground truth 'track_id,frame,x_min,y_min,x_max,y_max'\n"
    "  --smooth-sigma S    Gaussian smoothing of each video's scores (frames, 0..10000; truncate 3, 'nearest');\n"
    "                      0 = off\n"
    "  --smooth-kind K     gaussian (default: centred) or half-gaussian (causal: the past only, as ssmtl watch)\n"
    "  --normalize MODE    none (default) or video: per-video min-max to [0,1], applied after smoothing\n"
    "  --macro MODE        skip (default): mean AUC of two-class videos, single-class videos listed;\n"
    "                      pad: the authors' convention, each video padded with (0,0) first and (1,1) last\n"
    "  --json FILE         write all metrics, counts and options as JSON (atomically)\n"
    "  --write-scores DIR  write the evaluated (smoothed / normalised) scores, <video>.txt\n"
    "  --plots DIR         write <video>_scores.png per video and roc.png\n"
    "\n"
    "Frames are 0-based; boxes are inclusive pixels. RBDC/TBDC: IoU >= 0.1, track detected at >= 10% of its\n"
    "regions, FPR = false-positive regions per test frame, area for FPR in [0, 1]. A <video>.TXT (not lower-case\n"
    "  .txt) in a folder is an error; other files there are listed in one warning with their count. Numbers\n"
    "  are whole decimal tokens (no hex, NaN or bytes after them). Exit status 1 on any input\n"
    "error (the message names the video and line), 2 on a usage error.\n";

// A finite decimal number in [lo, hi] (util/parse.h: no hex, NaN or trailing bytes).
double parse_double(const std::string& flag, const std::string& v, double lo, double hi) {
  double d = 0;
  if (!ssmtl::util::parse_finite(v, d))
    throw std::invalid_argument(flag + ": '" + ssmtl::util::printable(v) + "' is not a finite number");
  if (d < lo || d > hi) {
    char b[160];
    std::snprintf(b, sizeof b, ": %s is outside [%g, %g]", v.c_str(), lo, hi);
    throw std::invalid_argument(flag + b);
  }
  return d;
}

// The pad convention adds scores 0 and 1: meaningful only for scores in [0, 1]. Warns once.
void warn_pad_range(const ssmtl::eval::EvaluationResult& r) {
  for (const auto& v : r.videos)
    for (double s : v.scores)
      if (s < 0 || s > 1) {
        std::fprintf(stderr, "warning: --macro pad pads with scores 0 and 1 but video %s has a score %g outside "
                             "[0, 1]; consider --normalize video\n", v.name.c_str(), s);
        return;
      }
}

int run_evaluate(int argc, char** argv) {
  ssmtl::eval::EvaluateOptions o;
  std::string json, write_scores, plots;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i], value;
      if (a == "--help" || a == "-h") {
        std::fputs(kUsage, stdout);
        return 0;
      }
      const size_t eq = a.find('=');
      if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
      } else {
        if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
        value = argv[++i];
      }
      if (a == "--scores") o.scores_dir = value;
      else if (a == "--labels") o.labels_dir = value;
      else if (a == "--regions") o.regions_dir = value;
      else if (a == "--tracks") o.tracks_dir = value;
      else if (a == "--smooth-sigma") o.smooth_sigma = parse_double(a, value, 0, 10000);
      else if (a == "--smooth-kind") {
        if (value != "gaussian" && value != "half-gaussian")
          throw std::invalid_argument("--smooth-kind: use gaussian or half-gaussian");
        o.smooth_kind = value;
      } else if (a == "--normalize") {
        if (value != "none" && value != "video") throw std::invalid_argument("--normalize: use none or video");
        o.normalize_video = value == "video";
      } else if (a == "--macro") o.macro = ssmtl::eval::parse_macro_mode(value);
      else if (a == "--json") json = value;
      else if (a == "--write-scores") write_scores = value;
      else if (a == "--plots") plots = value;
      else throw std::invalid_argument("unknown option " + a);
    }
    if (o.scores_dir.empty() || o.labels_dir.empty()) throw std::invalid_argument("--scores and --labels are required");
    if (o.regions_dir.empty() != o.tracks_dir.empty())
      throw std::invalid_argument("--regions and --tracks go together");
    if (!(o.smooth_sigma >= 0)) throw std::invalid_argument("--smooth-sigma must be >= 0");
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "ssmtl evaluate: %s\n\n%s", e.what(), kUsage);
    return 2;
  }

  const ssmtl::eval::EvaluationResult r = ssmtl::eval::evaluate(o);   // input errors throw: exit 1 in main
  for (const auto& name : r.macro.skipped)
    std::fprintf(stderr, "warning: video %s has a single class; skipped in the macro AUC\n", name.c_str());
  if (o.macro == ssmtl::eval::MacroMode::Pad) warn_pad_range(r);
  std::fputs(ssmtl::eval::evaluation_table(r).c_str(), stdout);
  if (!json.empty()) {
    ssmtl::util::write_text_atomic(json, ssmtl::eval::evaluation_json(r));
    std::printf("wrote %s\n", json.c_str());
  }
  if (!write_scores.empty()) {
    ssmtl::eval::write_evaluated_scores(write_scores, r);
    std::printf("wrote %zu score files to %s\n", r.videos.size(), write_scores.c_str());
  }
  if (!plots.empty()) {
    ssmtl::eval::write_evaluation_plots(plots, r);
    std::printf("wrote %zu plots to %s\n", r.videos.size() + 1, plots.c_str());
  }
  return 0;
}

ssmtl::app::Command reg{"evaluate", "micro/macro AUC, RBDC, TBDC of score files vs ground truth", run_evaluate};

}  // namespace
