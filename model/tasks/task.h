// One proxy task of SSMTL / SSMTL++ (paper sections 3 and 3.3, DESIGN.md section 4) behind one interface:
// its names, the input window it needs, how it cuts a training sample out of an object, its head, its
// loss, its anomaly score at inference and the signal it needs beyond the frames (a teacher, OOD images).
// Each task is one file in this folder; model/tasks/builtin.cpp registers the paper's nine, and a task
// defined elsewhere (a test, an experiment) registers itself with register_task. The model, the sampler,
// the loss, the scoring, the checkpoint names and the configuration keys are loops over the enabled tasks.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "model/bn_window.h"
#include "model/heads.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

namespace ssmtl {

class ObjectPool;
class OodImages;
class SSMTLModel;
class Video;
struct ModelConfig;
struct PoolObject;

// Frames of a task's training input (B, 3, T, S, S). Inputs of the same window share one backbone pass
// (concatenated along N), which also gives BatchNorm a bigger batch.
enum class Window : int { kSequence = 7, kSixFrames = 6, kSingleFrame = 1 };
// BatchNorm keeps statistics per window (model/bn_window.h), which lists the same values.
static_assert(bn_window::kWindows[0] == static_cast<int>(Window::kSequence) &&
                  bn_window::kWindows[1] == static_cast<int>(Window::kSixFrames) &&
                  bn_window::kWindows[2] == static_cast<int>(Window::kSingleFrame),
              "model/bn_window.h kWindows must list Window's values");

// What a task needs beyond the frames; ObjectPool loads it per object (model/teachers.h).
enum class Source { kFrames, kClassProbs, kSegmentationMaps, kPoseMaps, kOodImages };

// Descent tasks are learnt together (equal weights) and give an anomaly score at inference. Ascent tasks
// (T5) are learnt by a second optimiser that pushes the backbone up their loss; they never score and
// their samples are drawn only while they are on (train.pseudo_start_epoch), after the other tasks'.
enum class Role { kDescent, kAscent };

struct TaskInfo {
  std::string id;           // "T1" (the paper's numbering; TaskSet::names)
  std::string name;         // "arrow": the key of its loss and score in logs and object_scores files
  std::string label;        // "T1 arrow of time", for messages
  std::string config_key;   // "arrow_of_time": configuration key model.tasks.<config_key>
  std::string module;       // "arrow": checkpoint tensor names "<module>.<layer>..."
  std::string input;        // key of its training input in TaskBatch::inputs (tasks may share one)
  Window window = Window::kSequence;
  Source source = Source::kFrames;
  Role role = Role::kDescent;
  bool default_on = false;  // enabled in every preset unless a configuration turns it off
};

// One task's part of a batch: the labels of a classification task or the target of a regression task.
struct TaskSamples {
  std::vector<int> labels;  // (B) classes; empty for regression tasks
  Tensor target;            // (B, ...) in [0, 1]; undefined for classification tasks
};

// One mini-batch for the enabled tasks. S = crop side; images RGB in [0, 1].
struct TaskBatch {
  std::map<std::string, Tensor> inputs;       // by TaskInfo::input: (B, 3, T, S, S), T = the window
  std::map<std::string, TaskSamples> tasks;   // by TaskInfo::name
  // The input `key` (std::invalid_argument naming the key when absent or undefined).
  const Tensor& input(const std::string& key) const;
  // The samples of task `name` (std::invalid_argument naming the task when absent).
  const TaskSamples& samples(const std::string& name) const;
  // The same batch with every tensor copied to device d (labels stay host vectors: the loss ops take them
  // as host data). The sampler builds batches on the CPU; the trainer moves them to the model.
  TaskBatch to(Device d) const;
};

// Teacher signals of a batch's objects; each undefined unless a task needs it.
struct ObjectTeachers {
  Tensor class_probs;    // T4: (N, K+1)
  Tensor segmentation;   // T7: (N, 1, S, S)
  Tensor pose;           // T9: (N, J, S, S)
  ObjectTeachers to(Device d) const;   // every defined tensor copied to device d
};

// One object while SampleBuilder cuts its samples (on the CPU, one thread per object).
struct ObjectSample {
  const Video& video;
  const PoolObject& object;
  int crop;                  // S
  const Tensor& sequence;    // (3, 7, S, S) frames t-3..t+3 (data/sequences.h), RGB in [0, 1]
  const Tensor& middle;      // (3, S, S) frame t
  const OodImages* ood;      // out-of-distribution images (null unless a task's source is kOodImages)
};

// The objects being scored, in eval mode on the model's device; backbone passes are computed once per
// kind of input and shared by the tasks that use them.
class ScoreContext {
 public:
  ScoreContext(SSMTLModel& model, const Tensor& seq, const ObjectTeachers& teachers, uint64_t seed,
               const std::vector<uint64_t>& keys);
  SSMTLModel& model;
  const Tensor& seq;                    // (N, 3, 7, S, S) forward, consecutive sequences
  const ObjectTeachers& teachers;       // on the model's device
  const uint64_t seed;                  // test-time random choices (inpainting patches, jigsaw permutations)
  const std::vector<uint64_t>& keys;    // one per object: its random choices come from (seed, keys[i])
  const int64_t n;                      // N
  const Tensor& middle() const { return middle_; }   // (N, 3, S, S) frame t
  // Backbone features of the 7-frame sequences, of the 6 frames without the middle one, or of the middle
  // crop (N, 3, 1, S, S): (N, C, S/8, S/8), computed on first use.
  const Tensor& features(Window w);
  // Backbone features of another input (N, 3, T, S, S), eval mode.
  Tensor features_of(const Tensor& x);

 private:
  Tensor middle_;
  std::map<int, Tensor> cache_;
};

class ProxyTask {
 public:
  explicit ProxyTask(TaskInfo info) : info_(std::move(info)) {}
  virtual ~ProxyTask() = default;
  const TaskInfo& info() const { return info_; }

  // The task's head on backbone features of `channels` channels (N, C, S/8, S/8). Heads are built in
  // registry order from one Rng, so one seed gives the same weights.
  virtual std::unique_ptr<Head> make_head(const ModelConfig& cfg, int channels, Rng& rng) const = 0;
  // Throws std::invalid_argument naming the task when the configuration or the loaded signals (pool
  // teachers, OOD images) cannot feed it. Called once by SampleBuilder.
  virtual void check_sources(const ModelConfig& cfg, const ObjectPool& pool, const OodImages* ood) const;
  // Allocates the task's slots of a batch of B objects: its input (unless a task sharing it did),
  // labels, targets; teacher targets come from `teachers` (the batch's objects, gathered).
  virtual void begin_batch(TaskBatch& b, int64_t B, int S, const ObjectTeachers& teachers) const = 0;
  // Row i of its input and samples for one object; every random choice draws from `rng`. Called for
  // several objects at once (one thread each): look the batch's slots up with at(), never operator[].
  virtual void sample(const ObjectSample& o, Rng& rng, TaskBatch& b, int64_t i) const = 0;
  // Scalar loss of the head on `features` (the backbone on the task's input) against its samples.
  virtual Tensor loss(Head& head, const Tensor& features, const TaskSamples& s, bool training) const = 0;
  // Per-object anomaly scores (N), higher = more anomalous. Descent tasks only.
  virtual std::vector<float> score(Head& head, ScoreContext& c) const;

 private:
  TaskInfo info_;
};

// ---- the registry ----
// Adds a task after the ones already registered (the paper's nine come first, model/tasks/builtin.cpp).
// Throws std::invalid_argument when its name, module or configuration key is taken. Returns true, so that
// a file can register at static initialisation: `const bool kRegistered = register_task(...);`.
bool register_task(std::unique_ptr<ProxyTask> task);
// Every registered task, in registry order (head construction, sample draws and loss order).
std::vector<const ProxyTask*> registered_tasks();
// The task `name` (TaskInfo::name); throws std::invalid_argument listing the known names.
const ProxyTask& find_task(const std::string& name);

// The enabled tasks of a model configuration.
class TaskSet {
 public:
  TaskSet();   // the tasks registered with default_on
  bool on(const std::string& name) const { return on_.count(name) > 0; }
  void set(const std::string& name, bool on = true);   // throws std::invalid_argument for an unknown task
  std::vector<const ProxyTask*> enabled() const;       // registry order
  bool any(Source s) const;                            // an enabled task needs source s
  int count_scored() const;                            // enabled descent tasks (they give an anomaly score)
  std::string names() const;                           // "T1+T2+T3+T5", by id
 private:
  std::set<std::string> on_;
};

// Helpers for task files.
// dst[i] = src: one sample into row i of a batch tensor (numel(dst) = B * numel(src)).
void put_row(Tensor& dst, int64_t i, const Tensor& src);
// (N, 3, S, S) view of an (N, 3, 1, S, S) single-frame input.
Tensor squeeze_time(const Tensor& x);
// probs[:, k] of (N, K) probabilities, on the host.
std::vector<float> probs_column(const Tensor& probs, int k);
// A teacher tensor of shape `want`, or std::invalid_argument "score_objects: <label> ..." naming the task.
const Tensor& teacher_of(const Tensor& t, const Shape& want, const std::string& label);

}  // namespace ssmtl
