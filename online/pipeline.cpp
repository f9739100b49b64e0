#include "online/pipeline.h"

#include <algorithm>
#include <cstdio>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>

#include "data/detect/class_probs.h"
#include "data/detect/detector.h"
#include "data/samples/sequences.h"
#include "model/scoring.h"
#include "model/tasks_loss.h"

namespace ssmtl::online {

DropPolicy parse_drop_policy(const std::string& s) {
  if (s == "oldest") return DropPolicy::kOldest;
  if (s == "none") return DropPolicy::kNone;
  throw std::invalid_argument("drop policy must be oldest or none, got '" + s + "'");
}
const char* drop_policy_name(DropPolicy p) { return p == DropPolicy::kOldest ? "oldest" : "none"; }

struct WatchPipeline::Arrived {
  int64_t frame = 0;
  std::shared_ptr<const Image> image;
  Clock::time_point at;
  double unix_time = 0;
};

struct WatchPipeline::Detected {
  std::shared_ptr<Arrived> frame;
  std::vector<Box> boxes;                 // detector boxes first, then motion objects (as `ssmtl detect` writes them)
  std::vector<std::vector<float>> teacher;   // T4: the K + 1 class probabilities of each detector box (in order)
  std::vector<int64_t> dropped_before;    // frames skipped just before this one
};

namespace {

bool uses_detector(DetectMethod m) {
  return m == DetectMethod::kDetector || m == DetectMethod::kHybrid || m == DetectMethod::kHybridBackground;
}
bool uses_flow(DetectMethod m) { return m == DetectMethod::kFlow || m == DetectMethod::kHybrid; }
bool is_live_input(const std::string& s) {
  return s.find("://") != std::string::npos || s.rfind("/dev/video", 0) == 0;
}
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// One persistent thread computing optical-flow fields while the detect stage runs the detector (a thread of its
// own, not one per field: dense_flow keeps its buffers per thread). Tasks run in submission order.
class FieldWorker {
 public:
  FieldWorker() : th_([this] { loop(); }) {}
  ~FieldWorker() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      done_ = true;
    }
    cv_.notify_one();
    th_.join();
  }
  std::future<FlowField> submit(std::function<FlowField()> f) {
    std::packaged_task<FlowField()> t(std::move(f));
    std::future<FlowField> fut = t.get_future();
    {
      std::lock_guard<std::mutex> lk(mu_);
      q_.push_back(std::move(t));
    }
    cv_.notify_one();
    return fut;
  }

 private:
  void loop() {
    for (;;) {
      std::packaged_task<FlowField()> t;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return done_ || !q_.empty(); });
        if (q_.empty()) return;
        t = std::move(q_.front());
        q_.pop_front();
      }
      t();   // an exception goes to the future
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<FlowField()>> q_;
  bool done_ = false;
  std::thread th_;
};

}  // namespace

WatchPipeline::WatchPipeline(SSMTLModel& model, const Detector* detector, WatchOptions o)
    : WatchPipeline(std::vector<ScoringModel>{{&model, nullptr}}, detector, std::move(o)) {}

WatchPipeline::WatchPipeline(std::vector<ScoringModel> models, const Detector* detector, WatchOptions o)
    : models_(std::move(models)), detector_(detector), o_(std::move(o)) {
  if (models_.empty()) throw std::invalid_argument("watch: no model");
  for (const ScoringModel& m : models_) {
    if (!m.model) throw std::invalid_argument("watch: a null model in the ensemble");
    const TaskSet& t = m.model->cfg.tasks;
    if (t.any(Source::kSegmentationMaps) || t.any(Source::kPoseMaps))
      throw std::invalid_argument("watch: the model's tasks " + t.names() +
                                  " include one that needs a teacher map (T7 or T9), which a live stream does not have");
    if (!t.any(Source::kClassProbs)) continue;
    const int k1 = m.model->cfg.distill_classes;
    if (distill_classes_ != 0 && distill_classes_ != k1)
      throw std::invalid_argument("watch: the ensemble's T4 models expect " + std::to_string(distill_classes_) +
                                  " and " + std::to_string(k1) + " class probabilities");
    distill_classes_ = k1;
  }
  if (distill_classes_ > 0) {
    if (!uses_detector(o_.detect.method) || !detector_)
      throw std::invalid_argument("watch: the model's task T4 (distillation) needs the detector's class probabilities: "
                                  "use detection method hybrid or detector, not " +
                                  std::string(detect_method_name(o_.detect.method)));
    if (!detector_->options().class_probs || detector_->num_classes() + 1 != distill_classes_)
      throw std::invalid_argument("watch: the model's task T4 expects " + std::to_string(distill_classes_) +
                                  " class probabilities (classes + motion); the detector gives " +
                                  (detector_->options().class_probs ? std::to_string(detector_->num_classes() + 1)
                                                                    : std::string("none")));
  }
  if (o_.detect.method == DetectMethod::kBackground || o_.detect.method == DetectMethod::kHybridBackground)
    throw std::invalid_argument("watch: detection method " + std::string(detect_method_name(o_.detect.method)) +
                                " is not supported on a live stream (use hybrid, flow or detector)");
  if (uses_detector(o_.detect.method) && !detector_)
    throw std::invalid_argument(std::string("watch: detection method ") + detect_method_name(o_.detect.method) +
                                " needs the detector");
  if (o_.frames.frame_mode != "map" && o_.frames.frame_mode != "max")
    throw std::invalid_argument("frame mode must be map or max, got " + o_.frames.frame_mode);
  if (o_.frames.frame_mode == "map") eval::map_grid(64, 64, o_.frames.map);   // validates cell and filter sizes
  if (o_.batch_size < 1) throw std::invalid_argument("watch: batch size must be >= 1");
  if (!o_.open) {
    SourceOptions so = o_.source;
    so.stop = &stop_;
    o_.open = [so] { return open_source(so); };
  }
  q1_ = std::make_unique<BoundedQueue<std::shared_ptr<Arrived>>>(o_.queue_frames);
  // Queue 2 is short: frames wait (and age) there only while the score stage is busy, so the drop point
  // (queue 1) stays close to the slowest stage and the latency bounded.
  q2_ = std::make_unique<BoundedQueue<std::shared_ptr<Detected>>>(2);
  q3_ = std::make_unique<BoundedQueue<FrameResult>>(std::max<size_t>(o_.queue_frames, 64));
}

int WatchPipeline::frame_waits_for_next(int64_t p) const {
  if (!uses_flow(o_.detect.method)) return 0;
  // Field k is frames k, k+1: the frame it takes while the stream goes on (data/detect/motion.h), past p or not.
  const int k = flow_field_for_frame(static_cast<int>(p), std::numeric_limits<int>::max(), o_.detect.motion.policy);
  return k >= 0 && k + 1 > p ? 1 : 0;
}

int WatchPipeline::lookahead_frames() const {
  // the detection stage's wait in steady state (frame 1 on), the sequence's 3, the map's temporal filter's
  return frame_waits_for_next(1) + kSeqHalf + (o_.frames.frame_mode == "map" ? o_.frames.map.filter_t / 2 : 0);
}

void WatchPipeline::fail(std::exception_ptr e) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!error_) error_ = e;
  }
  stop_ = true;
  q1_->close();
  q2_->close();
  q3_->close();
}

void WatchPipeline::warm_up(int width, int height) {
  Image blank;
  blank.width = width;
  blank.height = height;
  blank.rgb.assign(static_cast<size_t>(width) * height * 3, 128);
  if (detector_ && uses_detector(o_.detect.method)) detector_->detect_full({blank});
  if (uses_flow(o_.detect.method)) flow_field_of(blank, blank, o_.detect);
  Detected none;   // one motion object (no detector rows): its T4 teacher, if a model has T4
  const ObjectTeachers teachers = live_teachers(none, {0}, 0, 1);
  for (const ScoringModel& m : models_) {
    const int S = m.model->cfg.crop;
    score_objects(*m.model, Tensor::zeros({1, 3, kSeqLen, S, S}), teachers, o_.seed, {0});
  }
}

void WatchPipeline::decode_stage() {
  try {
    int attempts = 0;
    int64_t index = 0;
    Clock::time_point start = Clock::now();
    while (!stop_) {
      std::unique_ptr<FrameSource> src;
      bool ended_cleanly = false;
      try {
        src = o_.open();
        source_fps_ = o_.pace_fps > 0 ? o_.pace_fps : src->nominal_fps();
        for (;;) {
          auto img = std::make_shared<Image>();
          const Clock::time_point t0 = Clock::now();
          const bool got = !stop_ && src->next(*img);
          stats_.busy(Stage::kDecode, since(t0));
          if (!got) {
            ended_cleanly = true;
            break;
          }
          if (width_ == 0) {
            width_ = img->width;
            height_ = img->height;
            // (the other stages wait for this first frame: the detector and the models are free here)
            if (o_.warm_up) warm_up(width_, height_);
            start = Clock::now();
          } else if (img->width != width_ || img->height != height_) {
            throw SourceError(src->describe() + ": frame " + std::to_string(index) + " is " + std::to_string(img->width) +
                              "x" + std::to_string(img->height) + ", the stream started at " + std::to_string(width_) +
                              "x" + std::to_string(height_));
          }
          attempts = 0;
          if (o_.pace_fps > 0) {   // a file played as a live source: frame i is not there before i / fps
            std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                                      std::chrono::duration<double>(static_cast<double>(index) / o_.pace_fps)));
          }
          auto a = std::make_shared<Arrived>();
          a->frame = index++;
          a->image = std::move(img);
          a->at = Clock::now();
          a->unix_time = unix_now();
          stats_.frame_in();
          frames_decoded_ = index;
          std::vector<std::shared_ptr<Arrived>> dropped = q1_->push(std::move(a), o_.drop);
          if (!dropped.empty()) stats_.dropped(static_cast<int64_t>(dropped.size()));
        }
      } catch (const SourceError& e) {
        if (stop_ || attempts >= o_.reconnect) {
          std::lock_guard<std::mutex> lk(mu_);
          source_error_ = std::current_exception();
          break;
        }
        std::fprintf(stderr, "watch: %s; reconnecting (%d of %d) in %.1f s\n", e.what(), attempts + 1, o_.reconnect,
                     o_.reconnect_wait);
      }
      if (ended_cleanly && (stop_ || !is_live_input(o_.source.input) || attempts >= o_.reconnect)) break;
      if (ended_cleanly) std::fprintf(stderr, "watch: %s ended; reconnecting (%d of %d)\n", o_.source.input.c_str(),
                                      attempts + 1, o_.reconnect);
      ++attempts;
      stats_.reconnect();
      src.reset();
      std::this_thread::sleep_for(std::chrono::duration<double>(o_.reconnect_wait));
    }
  } catch (...) {
    fail(std::current_exception());
  }
  q1_->close();
}

ObjectTeachers WatchPipeline::live_teachers(const Detected& d, const std::vector<size_t>& kept, size_t a,
                                            int64_t n) const {
  ObjectTeachers t;
  if (distill_classes_ == 0) return t;
  t.class_probs = Tensor::zeros({n, distill_classes_});
  for (int64_t i = 0; i < n; ++i) {
    const size_t k = kept[a + static_cast<size_t>(i)];
    float* row = t.class_probs.data() + i * distill_classes_;
    const std::vector<float> p = k < d.teacher.size() ? d.teacher[k] : motion_teacher_class_probs(distill_classes_ - 1);
    std::copy(p.begin(), p.end(), row);
  }
  return t;
}

void WatchPipeline::detect_stage() {
  try {
    std::deque<std::shared_ptr<Detected>> win;   // positions first_.. (the frame being processed and its neighbours)
    int64_t first = 0, received = 0, next = 0;
    // Field k (frames k, k+1) is started on the worker as soon as frame k+1 arrives, before the detector runs on
    // frame k+1: the two overlap (o_.overlap_flow). The boxes are the same either way (flow_field_of +
    // motion_boxes_of = flow_motion_boxes).
    std::unique_ptr<FieldWorker> worker;
    if (uses_flow(o_.detect.method) && o_.overlap_flow) worker = std::make_unique<FieldWorker>();
    std::map<int64_t, std::future<FlowField>> fields;
    auto image_at = [&](int64_t k) {   // (checked: a frame handed on before its field's frames arrived is a bug)
      if (k < first || k >= first + static_cast<int64_t>(win.size()))
        throw std::logic_error("watch: detection needs frame " + std::to_string(k) + ", holding " +
                               std::to_string(first) + ".." + std::to_string(first + static_cast<int64_t>(win.size()) - 1));
      return win[static_cast<size_t>(k - first)]->frame->image;
    };
    auto field_task = [&](int64_t k) {
      std::shared_ptr<const Image> a = image_at(k), b = image_at(k + 1);
      return [this, a, b] {
        const Clock::time_point t0 = Clock::now();
        FlowField f = flow_field_of(*a, *b, o_.detect);
        stats_.busy(Stage::kFlow, since(t0));
        return f;
      };
    };
    auto process = [&](int64_t p, int n) {
      Detected& d = *win[static_cast<size_t>(p - first)];
      if (uses_flow(o_.detect.method)) {
        const int k = flow_field_for_frame(static_cast<int>(p), n, o_.detect.motion.policy);
        if (k >= 0) {
          auto it = fields.find(k);
          FlowField f = it != fields.end() ? it->second.get() : field_task(k)();
          if (it != fields.end()) fields.erase(it);
          const Clock::time_point t0 = Clock::now();
          for (const Box& b : motion_boxes_of(f, d.boxes, o_.detect)) d.boxes.push_back(b);
          stats_.busy(Stage::kFlow, since(t0));
          // the default policy gives frames 0 and 1 field 0: keep it for frame 1
          if (p == 0 && k == 0 && worker && flow_field_for_frame(1, n, o_.detect.motion.policy) == 0) {
            std::promise<FlowField> keep;
            keep.set_value(std::move(f));
            fields.emplace(0, keep.get_future());
          }
        }
      }
      bool accepted = false;
      q2_->push(win[static_cast<size_t>(p - first)], DropPolicy::kNone, &accepted);
      while (first < p) {   // keep frame p: it is frame p+1's previous frame
        win.pop_front();
        ++first;
      }
    };
    while (auto a = q1_->pop()) {
      // One frame per network call, whatever is waiting: a frame's boxes never depend on the timing.
      std::vector<std::shared_ptr<Arrived>> batch{std::move(*a)};
      if (worker && received >= 1) {   // field (received-1, received) needs no detector boxes: start it now
        const int64_t k = received - 1;
        const std::shared_ptr<const Image> prev = image_at(k), cur = batch[0]->image;
        fields.emplace(k, worker->submit([this, prev, cur] {
          const Clock::time_point t0 = Clock::now();
          FlowField f = flow_field_of(*prev, *cur, o_.detect);
          stats_.busy(Stage::kFlow, since(t0));
          return f;
        }));
      }
      std::vector<std::vector<Detection>> found;
      if (detector_ && uses_detector(o_.detect.method)) {
        const Clock::time_point t0 = Clock::now();
        found = detector_->detect_full({*batch[0]->image});
        stats_.busy(Stage::kDetector, since(t0));
      }
      for (size_t i = 0; i < batch.size(); ++i) {
        auto d = std::make_shared<Detected>();
        d->frame = std::move(batch[i]);
        for (int64_t f = frames_seen_; f < d->frame->frame; ++f) d->dropped_before.push_back(f);
        frames_seen_ = d->frame->frame + 1;
        if (!found.empty())
          for (const Detection& x : found[i]) {
            d->boxes.push_back(x.box);
            if (distill_classes_ > 0) d->teacher.push_back(teacher_class_probs(x, distill_classes_ - 1));
          }
        win.push_back(std::move(d));
        ++received;
        // A frame goes on as soon as the flow field it takes exists (frame_waits_for_next: frame 0, or every
        // frame with the next-field policy, needs the next frame; the others only their own and the previous).
        while (next < received && next + frame_waits_for_next(next) < received)
          process(next++, std::numeric_limits<int>::max());
      }
    }
    while (next < received) process(next++, static_cast<int>(received));
    if (!fields.empty())   // every field started was taken by its frame
      throw std::logic_error("watch: flow field " + std::to_string(fields.begin()->first) + " was computed for no frame");
  } catch (...) {
    fail(std::current_exception());
  }
  q2_->close();
}

void WatchPipeline::score_stage() {
  try {
    std::deque<std::shared_ptr<Detected>> ring;   // positions first.. received-1
    int64_t first = 0, received = 0, next = 0, objects_total = 0;
    std::unique_ptr<OnlineFrameScores> scorer;
    std::deque<FrameResult> waiting;              // scored objects, frame score not final yet (map look-ahead)
    bool ended = false;
    auto flush_dropped = [&]() {   // skipped frames go out as soon as every frame before them has
      while (!waiting.empty() && waiting.front().dropped) {
        q3_->push(std::move(waiting.front()), DropPolicy::kNone);
        waiting.pop_front();
      }
    };
    auto emit = [&](const std::vector<ScoredFrame>& done) {
      for (const ScoredFrame& f : done) {
        flush_dropped();
        FrameResult r = std::move(waiting.front());
        waiting.pop_front();
        r.raw_score = f.raw;
        r.score = f.smoothed;
        r.alert = r.score >= o_.threshold;
        q3_->push(std::move(r), DropPolicy::kNone);
      }
      flush_dropped();
    };
    auto score_ready = [&]() {
      // p's window as ssmtl score takes it (sequence_frames): in a video of the stream's length once it has
      // ended, before that in one without an end.
      auto window = [&](int64_t p) {
        return sequence_frames(static_cast<int>(p), ended ? static_cast<int>(received) : std::numeric_limits<int>::max(),
                               o_.window_ends);
      };
      int64_t stop_at = next;   // positions < stop_at have their window
      while (stop_at < received && (ended || window(stop_at)[kSeqLen - 1] < received)) ++stop_at;
      if (next >= stop_at) return;
      if (!scorer) scorer = std::make_unique<OnlineFrameScores>(o_.frames, ring.front()->frame->image->width,
                                                                ring.front()->frame->image->height);
      // One frame at a time, its objects in calls of at most batch_size: what a frame's scores are computed
      // with never depends on how many frames happened to be waiting (same input, same output, bit for bit).
      for (int64_t p = next; p < stop_at; ++p) {
        const Detected& d = *ring[static_cast<size_t>(p - first)];
        const Image& img = *d.frame->image;
        std::vector<Box> boxes;
        std::vector<size_t> kept;   // index in d.boxes of each clipped box (its teacher row)
        for (size_t k = 0; k < d.boxes.size(); ++k)
          if (auto c = clip_box(d.boxes[k], img.width, img.height)) boxes.push_back(*c), kept.push_back(k);
        std::vector<float> scores(boxes.size());
        std::vector<const Image*> frames;
        for (const int f : window(p)) frames.push_back(ring[static_cast<size_t>(f - first)]->frame->image.get());
        for (size_t a = 0; a < boxes.size(); a += static_cast<size_t>(o_.batch_size)) {
          const size_t b = std::min(boxes.size(), a + static_cast<size_t>(o_.batch_size));
          const int64_t n = static_cast<int64_t>(b - a);
          std::vector<uint64_t> keys(static_cast<size_t>(n));
          for (int64_t i = 0; i < n; ++i)
            keys[static_cast<size_t>(i)] =
                object_score_key(0, p, static_cast<uint64_t>(objects_total) + a + static_cast<uint64_t>(i));
          // Each model scores the same objects (as ssmtl score runs score_video per checkpoint), its task scores
          // standardised by its own normaliser; the ensemble's object score is the mean over models.
          std::vector<std::vector<float>> per_model(models_.size());
          const ObjectTeachers teachers = live_teachers(d, kept, a, n);
          Tensor seq;
          int seq_crop = 0;
          for (size_t m = 0; m < models_.size(); ++m) {
            const int S = models_[m].model->cfg.crop;
            if (S != seq_crop) {   // crops are cut once per crop size
              const Clock::time_point t0 = Clock::now();
              seq = Tensor::empty({n, 3, kSeqLen, S, S});
              for (int64_t i = 0; i < n; ++i)
                crop_frames(seq.data() + i * 3 * kSeqLen * S * S, frames.data(), kSeqLen, boxes[a + static_cast<size_t>(i)], S);
              seq_crop = S;
              stats_.busy(Stage::kCrops, since(t0));
            }
            const Clock::time_point t0 = Clock::now();
            auto s = score_objects(*models_[m].model, seq, teachers, o_.seed, keys);
            per_model[m] = models_[m].normalizer ? models_[m].normalizer->combine(s) : s.at("object");
            stats_.busy(Stage::kModel, since(t0));
          }
          std::vector<const std::vector<float>*> cols;
          for (const auto& v : per_model) cols.push_back(&v);
          const std::vector<float> obj = mean_over_runs(cols);
          std::copy(obj.begin(), obj.end(), scores.begin() + static_cast<std::ptrdiff_t>(a));
        }
        objects_total += static_cast<int64_t>(boxes.size());
        for (int64_t f : d.dropped_before) {
          FrameResult r;
          r.frame = f;
          r.dropped = true;
          waiting.push_back(std::move(r));   // in order with the kept frames; not scored
        }
        FrameResult r;
        r.frame = d.frame->frame;
        r.timestamp = d.frame->unix_time;
        if (o_.keep_images) r.image = d.frame->image;
        std::vector<Region> regions;
        for (size_t k = 0; k < boxes.size(); ++k) regions.push_back({p, region_box(boxes[k]), scores[k]});
        r.objects = regions;
        for (Region& g : r.objects) g.frame = r.frame;
        waiting.push_back(std::move(r));
        if (o_.score_delay.count() > 0) std::this_thread::sleep_for(o_.score_delay);
        const Clock::time_point t0 = Clock::now();
        std::vector<ScoredFrame> done = scorer->add(regions);
        stats_.busy(Stage::kFrames, since(t0));
        emit(done);
      }
      next = stop_at;
      // Frames the next windows no longer need (a shifted window at the stream's end reaches 6 frames back).
      while (first < next - (o_.window_ends == WindowEnds::kShift ? kSeqLen - 1 : kSeqHalf)) {
        ring.pop_front();
        ++first;
      }
    };
    while (auto d = q2_->pop()) {
      ring.push_back(std::move(*d));
      ++received;
      while (auto more = q2_->try_pop()) {   // a backlog is scored in shared model calls
        ring.push_back(std::move(*more));
        ++received;
      }
      score_ready();
    }
    ended = true;
    score_ready();
    if (scorer) {
      emit(scorer->finish());
    }
    // Frames skipped after the last kept one (none with kOldest, which keeps the newest; the detect stage has
    // closed queue 2, so both counters are final: the decode stage ended before it).
    for (int64_t f = frames_seen_; f < frames_decoded_; ++f) {
      FrameResult r;
      r.frame = f;
      r.dropped = true;
      q3_->push(std::move(r), DropPolicy::kNone);
    }
  } catch (...) {
    fail(std::current_exception());
  }
  q3_->close();
}

void WatchPipeline::run(const std::function<void(const FrameResult&)>& sink,
                        const std::function<void(const StatsSnapshot&)>& report, double report_every) {
  std::thread t1([this] { decode_stage(); });
  std::thread t2([this] { detect_stage(); });
  std::thread t3([this] { score_stage(); });
  Clock::time_point last_report = Clock::now();
  try {
    for (;;) {
      if (o_.interrupt && o_.interrupt->load()) stop_ = true;
      std::optional<FrameResult> r = q3_->pop_for(std::chrono::milliseconds(100));
      if (r) {
        if (!r->dropped) {
          r->latency_ms = std::chrono::duration<double, std::milli>(std::chrono::duration<double>(unix_now() - r->timestamp)).count();
          stats_.frame_out(r->latency_ms);
        }
        sink(*r);
      } else if (q3_->closed_and_empty()) {
        break;
      }
      if (report && std::chrono::duration<double>(Clock::now() - last_report).count() >= report_every) {
        report(stats_.snapshot());
        last_report = Clock::now();
      }
    }
  } catch (...) {
    fail(std::current_exception());
  }
  t1.join();
  t2.join();
  t3.join();
  if (error_) std::rethrow_exception(error_);
  if (source_error_) std::rethrow_exception(source_error_);
}

}  // namespace ssmtl::online
