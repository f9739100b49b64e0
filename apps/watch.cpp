// ssmtl watch: anomaly detection on a live video (file, frame folder, RTSP/HTTP stream, camera) with a trained
// checkpoint, frame by frame with bounded latency (online/pipeline.h), JSON lines out (online/json_lines.h).
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "apps/args.h"
#include "apps/command.h"
#include "apps/normal_stats.h"
#include "data/detect/class_probs.h"
#include "data/detect/detector.h"
#include "data/video/frames.h"
#include "data/video/prepare.h"
#include "model/checkpoint.h"
#include "online/annotate.h"
#include "online/http_server.h"
#include "online/json_lines.h"
#include "online/pipeline.h"
#include "model/tasks_loss.h"
#include "util/parse.h"

namespace {

const char* kUsage =
    "usage: ssmtl watch --checkpoint FILE [--checkpoint FILE2 ...] --input SOURCE [--normalization FILE ...]\n"
    "                   [--normalize MODE --normal-data ROOT --normal-detections DIR] [--detect-config FILE]\n"
    "                   [--fps F] [--drop oldest|none] [--threshold T]\n"
    "                   [--out FILE.jsonl] [--reconnect N] [--calibrate VIDEO_DIR --false-alarms 0.01]\n"
    "                   [--size WxH] [--method hybrid|flow|detector] [--weights DIR] [--model yolo-fastest-1.1-xl]\n"
    "                   [--conf 0.5] [--flow-scale 1] [--frame-mode map|max] [--cell 20] [--filter 3]\n"
    "                   [--min-height 0]\n"
    "                   [--smooth-sigma 3] [--batch 64] [--queue 4] [--stall-timeout 10] [--stats-every 5]\n"
    "                   [--seed 0] [--window-ends shift|clamp] [--ffmpeg ffmpeg] [--ffprobe ffprobe] [--annotate OUT.mp4]\n"
    "                   [--serve PORT [--serve-host 127.0.0.1] [--serve-linger S]]\n"
    "  SOURCE: a video file, a frame folder (read like ssmtl detect/score read it), an rtsp:// or http:// URL or a\n"
    "  camera (/dev/video0); files, URLs and cameras are decoded by ffmpeg (a child process) to raw RGB at the\n"
    "  source's size (or --size). Stages run on their own threads with bounded queues (--queue frames before\n"
    "  detection, 2 after it):\n"
    "  decode -> detection (the detector + optical flow of ssmtl detect; defaults = make demo's) -> object\n"
    "  sequences t-3..t+3 -> the model -> frame score (as ssmtl score) -> causal half-Gaussian smoothing.\n"
    "  Look-ahead: a frame is scored 3 frames after it arrived (its sequence ends at t+3), 4 in map mode (the\n"
    "  map's temporal filter needs frame t+1's objects); the first 3 frames wait for frame 6 (--window-ends shift,\n"
    "  the default, as ssmtl score: their windows are frames 0..6; clamp: frame 0 repeated). --fps F paces the input as a live source of F frames/s.\n"
    "  --drop oldest (default): when a stage falls behind, the oldest waiting frame is skipped (bounded latency);\n"
    "  none: the source waits. Every skip is counted and written as {\"frame\": i, \"dropped\": true}.\n"
    "  Output: JSON lines (stdout, or --out FILE written as FILE.tmp.<pid> and renamed when complete): a header,\n"
    "  one line per frame {frame, timestamp, score, raw_score, alert, latency_ms, objects: [{box, score}]}, and\n"
    "  a summary. Stats (FPS in/out, latency p50/p99 from arrival to score, dropped) go to stderr every\n"
    "  --stats-every s and at the end. Ctrl-C stops the source, scores what was decoded and closes the output.\n"
    "  --min-height PX: objects lower than PX pixels write nothing into the anomaly map (score_config.txt's\n"
    "  min_height of ssmtl score --min-height-rel); 0 (default) = every object.\n"
    "  --threshold T: alert when the smoothed score >= T. --calibrate DIR --false-alarms R: T is chosen so that\n"
    "  at most a fraction R of the frames of the normal videos in DIR (frame folders or video files, e.g. the\n"
    "  training split) would alert; printed, then used for --input if given (never chosen on test labels).\n"
    "  --annotate OUT.mp4: the frames with boxes, object scores and a strip of the frame scores, encoded by ffmpeg\n"
    "  (H.264, at the source's rate or --fps; a skipped frame repeats the previous picture), renamed when complete.\n"
    "  --serve PORT: a page at http://127.0.0.1:PORT/ with the annotated stream and the score curve (loopback\n"
    "  only unless --serve-host says otherwise; --serve-linger S keeps it up S s after the end).\n"
    "  --checkpoint given several times: a checkpoint ensemble, the object score is the mean of the models' scores\n"
    "  (as ssmtl score with several --checkpoint). --normalization FILE: the task-score statistics ssmtl score\n"
    "  --normalize wrote (RUN/scores/normalization.txt, or normalization_<i>.txt, one per checkpoint in the same\n"
    "  order); the file must name the same checkpoint (same file or same file name). Without it: the plain mean.\n"
    "  --normalize none|zscore|log-zscore --normal-data ROOT --normal-detections DIR [--normal-videos 15,16]: the\n"
    "  statistics fitted here as ssmtl score --normalize fits them (ROOT/training's held-out validation videos,\n"
    "  detected in DIR), instead of read from a file.\n"
    "  --detect-config FILE: the detection settings of a run (ssmtl detect's DIR/detect_config.txt: method,\n"
    "  model, conf, classes, flow_scale, motion_threshold, motion_min_area_ref) instead of the defaults; options\n"
    "  given on the command line win.\n"
    "  Errors (exit 1): a source that cannot be opened, stalls (--stall-timeout s without data), ends inside a\n"
    "  frame or whose ffmpeg fails, after --reconnect N re-opens; the frames decoded before are still written.\n";

std::atomic<bool> g_interrupt{false};

extern "C" void on_sigint(int) {
  g_interrupt = true;
  signal(SIGINT, SIG_DFL);   // a second Ctrl-C ends the program at once
}

// The settings `ssmtl detect` wrote to DIR/detect_config.txt ("key = value" lines, '#' comments). Keys a live
// stream does not use (data, split) are skipped; an unknown key or a bad value is an error naming the line.
std::map<std::string, std::string> read_detect_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot read the detection settings");
  static const std::set<std::string> known = {"data", "split", "method", "model", "conf", "classes",
                                              "flow_scale", "motion_threshold", "motion_min_area_ref"};
  std::map<std::string, std::string> kv;
  std::string line;
  for (int no = 1; std::getline(in, line); ++no) {
    if (line.empty() || line[0] == '#') continue;
    const size_t eq = line.find(" = ");
    if (eq == std::string::npos) throw std::runtime_error(path + ":" + std::to_string(no) + ": expected 'key = value', got '" + line + "'");
    const std::string key = line.substr(0, eq);
    if (!known.count(key)) throw std::runtime_error(path + ":" + std::to_string(no) + ": unknown key '" + key + "'");
    kv[key] = line.substr(eq + 3);
  }
  return kv;
}

double config_number(const std::map<std::string, std::string>& kv, const std::string& key, const std::string& path) {
  double x = 0;
  if (!ssmtl::util::parse_finite(kv.at(key), x))
    throw std::runtime_error(path + ": " + key + " = '" + kv.at(key) + "' is not a number");
  return x;
}

std::unique_ptr<ssmtl::SSMTLModel> load_model(const std::string& ckpt, ssmtl::util::Config* cfg_out = nullptr) {
  ssmtl::CheckpointMeta meta = ssmtl::read_checkpoint_meta(ckpt);
  ssmtl::util::Config cfg = ssmtl::util::Config::from_string(meta.config_text, ckpt);
  ssmtl::ModelConfig mc = ssmtl::ModelConfig::from_config(cfg);
  cfg.check_all();
  if (cfg_out) *cfg_out = cfg;   // (train.val_fraction: the held-out videos of --normalize)
  auto model = std::make_unique<ssmtl::SSMTLModel>(mc, 0);
  ssmtl::load_checkpoint(ckpt, *model);
  return model;
}

// A normalisation file must belong to the checkpoint it is used with (the same file, or the same file name when a
// run was copied elsewhere) and have statistics for every task the model scores (checked on one blank object).
void check_normalization(const std::string& file, const ssmtl::eval::NormalizationFile& n, const std::string& ckpt,
                         ssmtl::SSMTLModel& model, ssmtl::WindowEnds window_ends) {
  namespace fs = std::filesystem;
  if (n.checkpoint.empty())
    throw std::runtime_error(file + ": does not say which checkpoint its statistics belong to");
  std::error_code ec;
  const bool same_file = fs::exists(n.checkpoint) && fs::equivalent(n.checkpoint, ckpt, ec);
  if (!same_file && fs::path(n.checkpoint).filename() != fs::path(ckpt).filename())
    throw std::runtime_error(file + ": statistics of checkpoint " + n.checkpoint + ", not of " + ckpt +
                             " (give one --normalization per --checkpoint, in the same order)");
  if (n.window_ends != ssmtl::window_ends_name(window_ends))   // (statistics differ at the videos' ends only)
    std::fprintf(stderr, "watch: warning: %s holds statistics of normal objects scored with %s windows at the videos' "
                 "ends, this run scores with %s windows (--window-ends; rerun ssmtl score --normalize for a matching "
                 "file)\n", file.c_str(), n.window_ends.c_str(), ssmtl::window_ends_name(window_ends));
  if (n.legacy)
    std::fprintf(stderr, "watch: %s has no format line (written before format 1): statistics with 9 digits, object "
                 "scores may differ from ssmtl score's in the last digits\n", file.c_str());
  const int S = model.cfg.crop;
  ssmtl::ObjectTeachers teachers;   // (T4: one motion object's teacher)
  if (model.cfg.tasks.any(ssmtl::Source::kClassProbs))
    teachers.class_probs = ssmtl::Tensor::from_vector({1, model.cfg.distill_classes},
                                                      ssmtl::motion_teacher_class_probs(model.cfg.distill_classes - 1));
  auto s = ssmtl::score_objects(model, ssmtl::Tensor::zeros({1, 3, 7, S, S}), teachers, 0, {0});
  try {
    n.normalizer.combine(s);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(file + " (for " + ckpt + "): " + e.what());
  }
}

// Smoothed scores of every frame of every video in `dir` (no pacing, no drops).
std::vector<double> calibration_scores(const std::vector<ssmtl::online::ScoringModel>& models, const ssmtl::Detector* det,
                                       const ssmtl::online::WatchOptions& base, const std::string& dir) {
  std::vector<std::string> inputs;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_directory()) inputs.push_back(e.path().string());
  if (inputs.empty())
    for (const std::string& f : ssmtl::list_video_files(dir)) inputs.push_back(f);
  std::sort(inputs.begin(), inputs.end(), ssmtl::natural_less);
  std::vector<double> scores;
  for (const std::string& in : inputs) {
    ssmtl::online::WatchOptions o = base;
    o.source.input = in;
    o.open = nullptr;
    o.pace_fps = 0;
    o.drop = ssmtl::online::DropPolicy::kNone;
    o.reconnect = 0;
    ssmtl::online::WatchPipeline p(models, det, o);
    size_t before = scores.size();
    p.run([&](const ssmtl::online::FrameResult& r) {
      if (!r.dropped) scores.push_back(r.score);
    });
    std::fprintf(stderr, "calibrate: %s: %zu frames\n", in.c_str(), scores.size() - before);
    if (g_interrupt) throw std::runtime_error("calibration interrupted");
  }
  if (scores.empty()) throw std::runtime_error(dir + ": no frames to calibrate on");
  return scores;
}

int run_watch(int argc, char** argv) {
  using namespace ssmtl;
  app::Args args(argc, argv);
  if (args.help()) { std::printf("%s", kUsage); return 0; }
  const std::vector<std::string> ckpts = args.all("checkpoint");
  if (ckpts.empty()) throw app::UsageError("missing required option --checkpoint");
  const std::vector<std::string> norm_files = args.all("normalization");
  const std::string norm_mode = args.get("normalize", "none");
  const std::string normal_root = args.get("normal-data"), normal_det = args.get("normal-detections");
  const std::vector<std::string> normal_videos = args.list("normal-videos");
  if (norm_mode != "none" && !norm_files.empty())
    throw app::UsageError("--normalize and --normalization exclude each other (statistics fitted here, or read)");
  if (norm_mode != "none" && (normal_root.empty() || normal_det.empty()))
    throw app::UsageError("--normalize " + norm_mode + " needs --normal-data ROOT and --normal-detections DIR (the "
                          "training split and its detections, as ssmtl score --data / --normal-detections)");
  if (!norm_files.empty() && norm_files.size() != ckpts.size())
    throw app::UsageError("--normalization given " + std::to_string(norm_files.size()) + " times for " +
                          std::to_string(ckpts.size()) + " --checkpoint (one file per checkpoint, in the same order)");
  online::WatchOptions o;
  const std::string detect_cfg = args.get("detect-config");
  std::map<std::string, std::string> dc;
  if (!detect_cfg.empty()) dc = read_detect_config(detect_cfg);
  auto from_cfg = [&](const std::string& opt, const std::string& key, const std::string& def) {
    return args.has(opt) ? args.get(opt) : dc.count(key) ? dc.at(key) : def;
  };
  const std::string calibrate = args.get("calibrate");
  if (calibrate.empty()) o.source.input = args.need("input");
  else o.source.input = args.get("input");
  if (args.has("size")) {
    try {
      online::parse_size(args.get("size"), o.source.width, o.source.height);
    } catch (const std::invalid_argument& e) {
      throw app::UsageError(std::string("--size: ") + e.what());
    }
  }
  o.source.stall_timeout = args.get_double("stall-timeout", 10, 0.1, 86400);
  o.source.ffmpeg = args.get("ffmpeg", "ffmpeg");
  o.source.ffprobe = args.get("ffprobe", "ffprobe");
  o.pace_fps = args.get_double("fps", 0, 0, 1000);
  try {
    o.drop = online::parse_drop_policy(args.get("drop", "oldest"));
    o.detect.method = parse_detect_method(from_cfg("method", "method", "hybrid"));
  } catch (const std::invalid_argument& e) {
    throw app::UsageError(e.what());
  }
  o.threshold = args.get_double("threshold", std::numeric_limits<double>::infinity());
  const double false_alarms = args.get_double("false-alarms", 0.01, 0, 1);
  o.reconnect = args.get_int32("reconnect", 0, 0);
  o.queue_frames = static_cast<size_t>(args.get_int("queue", 4, 1));
  o.batch_size = args.get_int32("batch", 64, 1);
  o.seed = static_cast<uint64_t>(args.get_int("seed", 0, 0));
  o.window_ends = app::window_ends_option(args);
  o.detect.flow_scale = static_cast<float>(args.get_double("flow-scale", 1.0, 1e-3, 1));
  if (!args.has("flow-scale") && dc.count("flow_scale")) {
    o.detect.flow_scale = static_cast<float>(config_number(dc, "flow_scale", detect_cfg));
    if (!(o.detect.flow_scale > 0 && o.detect.flow_scale <= 1))
      throw std::runtime_error(detect_cfg + ": flow_scale must be in (0, 1], got " + dc.at("flow_scale"));
  }
  if (dc.count("motion_threshold"))
    o.detect.motion.magnitude_threshold = static_cast<float>(config_number(dc, "motion_threshold", detect_cfg));
  if (dc.count("motion_min_area_ref")) o.detect.motion.min_area_ref = config_number(dc, "motion_min_area_ref", detect_cfg);
  o.frames.frame_mode = args.get("frame-mode", "map");
  if (o.frames.frame_mode != "map" && o.frames.frame_mode != "max")
    throw app::UsageError("--frame-mode must be map or max, got " + o.frames.frame_mode);
  o.frames.map.cell = args.get_int32("cell", 20, 1);
  const long long min_height = args.get_int("min-height", 0, 0);   // pixels (ssmtl score's min_height)
  if (min_height > 100000) throw app::UsageError("--min-height must be <= 100000 pixels");
  if (min_height > 0 && o.frames.frame_mode != "map")
    throw app::UsageError("--min-height applies to the anomaly map (--frame-mode map)");
  o.frames.map.min_height = static_cast<int>(min_height);
  const int f = args.get_int32("filter", 3, 1);
  if (f % 2 == 0) throw app::UsageError("--filter must be odd");
  o.frames.map.filter_t = o.frames.map.filter_y = o.frames.map.filter_x = f;
  o.frames.smooth_sigma = args.get_double("smooth-sigma", 3, 0, 1000);
  o.score_delay = std::chrono::milliseconds(args.get_int("slow-ms", 0, 0));   // tests: an artificially slow stage
  const double stats_every = args.get_double("stats-every", 5, 0.1, 86400);
  const std::string out = args.get("out", "-");
  const std::string annotate = args.get("annotate");
  const int serve_port = args.has("serve") ? args.get_int32("serve", 0, 0) : -1;
  const std::string serve_host = args.get("serve-host", "127.0.0.1");
  const double serve_linger = args.get_double("serve-linger", 0, 0, 86400);
  o.keep_images = !annotate.empty() || serve_port >= 0;
  const std::string weights = args.get("weights", "../shared/weights/yolo-fastest");
  const std::string det_model = from_cfg("model", "model", "yolo-fastest-1.1-xl");
  DetectorOptions dopt;
  dopt.class_probs = true;   // T4's live teacher (as ssmtl detect writes class_probs/)
  dopt.conf_threshold = static_cast<float>(args.get_double("conf", 0.5, 0, 1));
  if (!args.has("conf") && dc.count("conf")) dopt.conf_threshold = static_cast<float>(config_number(dc, "conf", detect_cfg));
  if (dc.count("classes") && dc.at("classes") != "all") {
    std::istringstream cs(dc.at("classes"));
    for (std::string c; std::getline(cs, c, ',');) {
      int64_t id = -1;
      if (!util::parse_int64(c, id) || id < 0 || id > 100000)
        throw std::runtime_error(detect_cfg + ": classes: '" + c + "' is not a class id");
      dopt.classes.push_back(static_cast<int>(id));
    }
  }
  args.check_used();

  std::vector<std::unique_ptr<SSMTLModel>> models;
  std::vector<eval::NormalizationFile> norms(norm_files.size());
  std::vector<online::ScoringModel> ensemble;
  std::vector<eval::TaskNormalizer> fitted;
  fitted.reserve(ckpts.size());   // (pointers into it are kept)
  for (size_t c = 0; c < ckpts.size(); ++c) {
    util::Config ckpt_cfg;
    models.push_back(load_model(ckpts[c], &ckpt_cfg));
    ensemble.push_back({models.back().get(), nullptr});
    if (norm_mode != "none") {   // as ssmtl score --normalize: statistics of the held-out normal training videos
      ScoreOptions so;
      so.frame_mode = o.frames.frame_mode;
      so.seed = o.seed;
      so.window_ends = o.window_ends;
      app::NormalStats ns = app::fit_normal_stats(*models.back(), ckpt_cfg, normal_root, normal_det, normal_videos,
                                                  norm_mode, so);
      fitted.push_back(ns.normalizer);
      ensemble.back().normalizer = &fitted.back();
      std::fprintf(stderr, "watch: %s\n%s", app::normal_stats_comment(ns, ckpts[c]).c_str(), ns.normalizer.to_text().c_str());
      continue;
    }
    if (norm_files.empty()) continue;
    norms[c] = eval::read_normalization_file(norm_files[c]);
    check_normalization(norm_files[c], norms[c], ckpts[c], *models.back(), o.window_ends);
    ensemble.back().normalizer = &norms[c].normalizer;
  }
  SSMTLModel* model = models.front().get();
  std::unique_ptr<Detector> detector;
  if (o.detect.method != DetectMethod::kFlow)
    detector = std::make_unique<Detector>(weights + "/" + det_model + ".cfg", weights + "/" + det_model + ".weights", dopt);

  signal(SIGPIPE, SIG_IGN);   // a child encoder or a browser that goes away is an error to report, not a kill
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  o.interrupt = &g_interrupt;

  if (!calibrate.empty()) {
    std::vector<double> s = calibration_scores(ensemble, detector.get(), o, calibrate);
    std::sort(s.begin(), s.end());
    const size_t allowed = static_cast<size_t>(std::floor(false_alarms * static_cast<double>(s.size())));
    // alert = score >= T: T just above the (n - allowed)-th smallest score lets at most `allowed` frames through
    o.threshold = allowed >= s.size() ? s.front() : std::nextafter(s[s.size() - 1 - allowed], INFINITY);
    std::printf("calibrated threshold %.17g: %zu normal frames of %s, at most %zu (%.4g) above it\n", o.threshold,
                s.size(), calibrate.c_str(), allowed, false_alarms);
    std::fflush(stdout);
    if (o.source.input.empty()) return 0;
  }

  online::WatchPipeline pipeline(ensemble, detector.get(), o);
  std::string ckpt_list, norm_list;
  for (size_t c = 0; c < ckpts.size(); ++c) {
    ckpt_list += (c ? ", " : "") + online::json_quote(ckpts[c]);
    if (!norm_files.empty()) norm_list += (c ? ", " : "") + online::json_quote(norm_files[c]);
  }
  std::string header = "\"input\": " + online::json_quote(o.source.input) + ", \"checkpoint\": " + online::json_quote(ckpts[0]) +
                       ", \"checkpoints\": [" + ckpt_list + "], \"normalization\": [" + norm_list + "], \"task_normalize\": " +
                       online::json_quote(norms.empty() ? norm_mode : norms[0].normalizer.mode()) +
                       ", \"model\": " + online::json_quote(model->cfg.name) + ", \"method\": " +
                       online::json_quote(detect_method_name(o.detect.method)) + ", \"detector\": " + online::json_quote(det_model) +
                       ", \"conf\": " + std::to_string(dopt.conf_threshold) + ", \"flow_scale\": " + std::to_string(o.detect.flow_scale) +
                       ", \"window_ends\": " + online::json_quote(window_ends_name(o.window_ends)) + ", \"frame_mode\": " +
                       online::json_quote(o.frames.frame_mode) + ", \"smoother\": \"half-gaussian\", \"smooth_sigma\": " +
                       std::to_string(o.frames.smooth_sigma) + ", \"lookahead_frames\": " +
                       std::to_string(pipeline.lookahead_frames()) + ", \"drop\": " +
                       online::json_quote(online::drop_policy_name(o.drop)) + ", \"fps\": " + std::to_string(o.pace_fps) +
                       ", \"threshold\": " + (std::isfinite(o.threshold) ? std::to_string(o.threshold) : "null") +
                       ", \"seed\": " + std::to_string(o.seed);
  online::JsonLinesWriter writer(out, header);
  std::unique_ptr<online::LiveServer> server;
  if (serve_port >= 0) {
    server = std::make_unique<online::LiveServer>(serve_host, serve_port, o.threshold);
    std::fprintf(stderr, "watch: serving http://%s:%d/\n", serve_host.c_str(), server->port());
  }
  online::AnnotateOptions ao;
  ao.threshold = o.threshold;
  online::Annotator annotator(ao);
  std::unique_ptr<online::Mp4Writer> mp4;
  Image last_picture;
  std::fprintf(stderr, "watch: %s on %s, %s detection, look-ahead %d frames, drop %s\n", model->cfg.name.c_str(),
               o.source.input.c_str(), detect_method_name(o.detect.method), pipeline.lookahead_frames(),
               online::drop_policy_name(o.drop));
  std::string error;
  try {
    pipeline.run([&](const online::FrameResult& r) {
                   writer.write(r);
                   if (!o.keep_images) return;
                   if (!r.dropped) {
                     last_picture = annotator.draw(r);
                     if (server) server->update(last_picture, r, pipeline.stats().line());
                   }
                   if (!annotate.empty() && !last_picture.empty()) {
                     if (!mp4)
                       mp4 = std::make_unique<online::Mp4Writer>(annotate, last_picture.width, last_picture.height,
                                                                 pipeline.source_fps() > 0 ? pipeline.source_fps() : 25.0,
                                                                 o.source.ffmpeg);
                     mp4->write(last_picture);
                   }
                 },
                 [](const online::StatsSnapshot& s) { std::fprintf(stderr, "%s\n", s.line().c_str()); }, stats_every);
  } catch (const online::SourceError& e) {   // the frames decoded before the failure are written
    error = e.what();
  }
  const online::StatsSnapshot s = pipeline.stats();
  writer.close(s, error);
  if (mp4) {
    mp4->close();
    std::fprintf(stderr, "watch: %s: %d annotated frames\n", annotate.c_str(), mp4->frames());
  }
  for (double waited = 0; server && waited < serve_linger && !g_interrupt; waited += 0.1)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::fprintf(stderr, "%s%s\n", s.line().c_str(), g_interrupt ? " (interrupted)" : "");
  std::fprintf(stderr, "%s\n", s.stages_line().c_str());
  if (!error.empty()) {
    std::fprintf(stderr, "ssmtl watch: %s\n", error.c_str());
    return 1;
  }
  return 0;
}

ssmtl::app::Command reg{"watch", "anomaly scores of a live video (file, folder, stream, camera), bounded latency",
                        run_watch};

}  // namespace
