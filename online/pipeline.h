// The live pipeline behind `ssmtl watch`: anomaly scores of a video stream with bounded latency on the CPU.
// Stages run on their own threads, joined by bounded queues (online/queue.h), frames in order:
//
//   decode  (source -> frames; --fps pacing)          -- queue 1, drop policy (oldest | none) --
//   detect  (the offline detector + optical flow on each frame, data/detect/detect_video.h; the flow field of
//            frames t-1, t is computed on a worker thread while the detector runs on frame t)  -- queue 2 (2 frames), blocks --
//   score   (object-centric sequences t-3..t+3 from a ring of frames, the trained model, object -> frame
//            scores with the offline functions, the causal smoother)                      -- queue 3, blocks --
//   caller  (run()'s thread: the sink, JSON lines, stats every few seconds)
//
// Look-ahead, fixed: a frame is scored once the 3 frames after it have been through detection (its sequence is
// t-3..t+3, as in training), and in "map" frame mode once the objects of frame t+1 are scored too (the map's
// temporal mean filter): 4 frames in all with the defaults, 3 in "max" mode. The detection stage hands a frame on
// as soon as its flow field exists: with the default policy frame t >= 1 takes field t-1 (frames t-1, t) and goes
// on when it arrives, frame 0 takes field 0 and waits for frame 1 (kNextFieldLastReuses: every frame waits for the
// next, one frame more of look-ahead). Until session 18 every frame waited for the next one.
// The stream's first and last 3 frames get the windows `ssmtl score` gives a video's ends (WatchOptions::window_ends,
// data/samples/sequences.h): shifted by default, i.e. frames 0-2 wait for frame 6 (their frames 0..6 through detection) and, once the
// stream has ended, its last 3 frames take its last 7; clamped, repeated first / last frames.
//
// Only queue 1 ever skips frames: with DropPolicy::kOldest a full queue drops its oldest frame, so a slow stage
// makes the pipeline skip frames instead of falling further behind. Every skipped frame is counted in the stats
// and given to the sink as a FrameResult with dropped = true, in frame order; the kept frames form the stream
// the later stages see (flow, sequences and filters run over consecutive kept frames).
#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "data/detect/detect_video.h"
#include "data/samples/sequences.h"
#include "eval/task_normalize.h"
#include "model/ssmtl.h"
#include "online/frame_scorer.h"
#include "online/queue.h"
#include "online/source.h"
#include "online/stats.h"
#include "regions/region_file.h"

namespace ssmtl {
class Detector;
}

namespace ssmtl::online {

struct WatchOptions {
  SourceOptions source;
  // Opens the source (again after a failure, with reconnect); default: open_source(source). Tests substitute
  // synthetic streams.
  std::function<std::unique_ptr<FrameSource>()> open;
  double pace_fps = 0;                 // > 0: deliver frame i no earlier than i / pace_fps s after the start
  DropPolicy drop = DropPolicy::kOldest;
  size_t queue_frames = 4;             // capacity of queue 1 (decode -> detect), frames; queue 2 holds 2
  int reconnect = 0;                   // re-open a failed source (or an ended URL / device) this many times in a row
  double reconnect_wait = 1.0;         // seconds before each re-open
  DetectVideoOptions detect;           // hybrid / flow / detector (the background methods are not supported live)
  bool overlap_flow = true;            // the optical flow of frames (t-1, t) runs on a worker thread while the
                                       // detector runs on frame t (same boxes; false: one after the other)
  FrameScoreOptions frames;
  int batch_size = 64;                 // at most this many objects per model call; a call never mixes frames, so
                                       // the scores do not depend on timing (same input, same output, bitwise)
  uint64_t seed = 0;                   // as `ssmtl score --seed` (inpainting patches, jigsaw permutations)
  WindowEnds window_ends = WindowEnds::kShift;   // as `ssmtl score --window-ends`
  double threshold = std::numeric_limits<double>::infinity();   // alert when the smoothed score >= threshold
  bool keep_images = false;            // FrameResult::image set (drawing, the web page)
  std::chrono::milliseconds score_delay{0};   // added to the score stage per frame: an artificially slow stage
  const std::atomic<bool>* interrupt = nullptr;   // e.g. set by a SIGINT handler: stop, flush, return
  // Before the first frame enters the pipeline (and before a paced source's clock starts): one detector call,
  // one optical-flow field and one model call per checkpoint on blank frames of the stream's size. First calls
  // allocate and start thread pools (~0.2 s here); without this the first frames of a 30 FPS source are dropped.
  bool warm_up = true;
};

// One member of the scoring ensemble: a trained model and, optionally, the statistics that standardise its task
// scores before they are averaged into the object score (eval/task_normalize.h; `ssmtl score --normalize`).
// Not owned.
struct ScoringModel {
  SSMTLModel* model = nullptr;
  const eval::TaskNormalizer* normalizer = nullptr;   // null: the object score is the plain mean of the task scores
};

struct FrameResult {
  int64_t frame = 0;             // index in the source (0-based, counting skipped frames)
  bool dropped = false;          // skipped by the drop policy: no score
  double timestamp = 0;          // arrival, seconds since the Unix epoch
  double latency_ms = 0;         // arrival -> handed to the sink
  double raw_score = 0;          // frame score before smoothing
  double score = 0;              // after the causal smoother
  bool alert = false;            // score >= threshold
  std::vector<Region> objects;   // box and object score (Region::frame = frame)
  std::shared_ptr<const Image> image;   // with keep_images
};

class WatchPipeline {
 public:
  // The models must stay alive and unused elsewhere while run() runs. `detector` may be null for the flow method.
  // Throws std::invalid_argument for a model that needs teacher maps (T7, T9: not available live), a model with
  // T4 (distillation) without a detector to give each object its class probabilities (the flow method), or with
  // a detector that does not report them (DetectorOptions::class_probs) or whose class count differs from the
  // model's, a background detection method, a method that needs a detector without one, or invalid frame-score
  // options. T4's teacher is computed live exactly as `ssmtl detect` writes it (data/detect/class_probs.h).
  WatchPipeline(SSMTLModel& model, const Detector* detector, WatchOptions options);
  // A checkpoint ensemble, as `ssmtl score --checkpoint A --checkpoint B`: each model scores the objects (each
  // with its own normaliser, if any) and the object score is their mean (model/scoring.h mean_over_runs).
  // Throws std::invalid_argument as above, and for an empty ensemble or a null model.
  WatchPipeline(std::vector<ScoringModel> models, const Detector* detector, WatchOptions options);
  // Runs until the source ends (or fails, after the reconnects) or stop() / interrupt; every frame already
  // decoded is scored and handed to `sink` before run() returns. `report` is called every `report_every`
  // seconds on the same thread. Rethrows the first error of a stage (a source error after the flush).
  void run(const std::function<void(const FrameResult&)>& sink,
           const std::function<void(const StatsSnapshot&)>& report = {}, double report_every = 5);
  void stop() { stop_ = true; }
  StatsSnapshot stats() const { return stats_.snapshot(); }
  int lookahead_frames() const;   // 3 + the frame scorer's (+1 with the next-field flow policy; see above)
  double source_fps() const { return source_fps_; }   // the source's declared rate once open (0 = unknown)

 private:
  // 1 when the detection stage must wait for frame p+1 before handing frame p on (its flow field needs it), else 0.
  int frame_waits_for_next(int64_t p) const;
  struct Arrived;
  struct Detected;
  void decode_stage();
  void warm_up(int width, int height);   // WatchOptions::warm_up
  void detect_stage();
  void score_stage();
  void fail(std::exception_ptr e);
  // T4's teachers of the objects [a, a + n) of the clipped boxes (kept: their index in d.boxes); empty without T4.
  ObjectTeachers live_teachers(const Detected& d, const std::vector<size_t>& kept, size_t a, int64_t n) const;

  std::vector<ScoringModel> models_;
  const Detector* detector_;
  WatchOptions o_;
  PipelineStats stats_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<BoundedQueue<std::shared_ptr<Arrived>>> q1_;
  std::unique_ptr<BoundedQueue<std::shared_ptr<Detected>>> q2_;
  std::unique_ptr<BoundedQueue<FrameResult>> q3_;
  std::mutex mu_;
  std::exception_ptr error_;         // first stage error (aborts)
  std::exception_ptr source_error_;  // the source's (after the flush)
  // Frames 0..frames_decoded_-1 came from the source; the detect stage has accounted for 0..frames_seen_-1
  // (kept or skipped). Skips are read off index gaps where frames leave queue 1, which is in order: no
  // bookkeeping shared with the decode thread that could race its push (the cause of an out-of-order report).
  std::atomic<int64_t> frames_decoded_{0}, frames_seen_{0};
  int width_ = 0, height_ = 0;
  int distill_classes_ = 0;   // K + 1 of the models with T4 (0: none has it)
  std::atomic<double> source_fps_{0};
};

}  // namespace ssmtl::online
