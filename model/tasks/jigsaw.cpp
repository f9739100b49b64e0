// T8 jigsaw puzzles (SSMTL++, paper section 3.3): which of the permutations (data/jigsaw.h) shuffled the
// 4x4 tiles of the middle crop? Head: ClassHead with model.jigsaw_classes outputs, cross-entropy.
// Score: 1 - p(true permutation) for a permutation drawn from (seed, object key).
#include <stdexcept>

#include "autograd/activation.h"
#include "autograd/loss.h"
#include "data/samples/jigsaw.h"
#include "model/ssmtl.h"

namespace ssmtl {

namespace {

class Jigsaw : public ProxyTask {
 public:
  Jigsaw()
      : ProxyTask({"T8", "jigsaw", "T8 jigsaw", "jigsaw", "jigsaw", "jigsaw", Window::kSingleFrame, Source::kFrames,
                   Role::kDescent, false}) {}
  std::unique_ptr<Head> make_head(const ModelConfig& c, int channels, Rng& rng) const override {
    return std::make_unique<ClassHead>(channels, c.head_hidden, c.crop / 8, c.jigsaw_classes, rng);
  }
  void check_sources(const ModelConfig& cfg, const ObjectPool&, const OodImages*) const override {
    if (cfg.crop != 64) throw std::invalid_argument("T8 jigsaw needs model.crop = 64 (4x4 pieces of 16x16 pixels)");
  }
  void begin_batch(TaskBatch& b, int64_t B, int S, const ObjectTeachers&) const override {
    b.inputs[info().input] = Tensor::empty({B, 3, 1, S, S});
    b.tasks[info().name].labels.resize(B);
  }
  void sample(const ObjectSample& o, Rng& rng, TaskBatch& b, int64_t i) const override {
    ClassSample s = jigsaw_sample(o.middle, rng);
    put_row(b.inputs.at(info().input), i, s.input);
    b.tasks.at(info().name).labels[i] = s.label;
  }
  Tensor loss(Head& head, const Tensor& f, const TaskSamples& s, bool training) const override {
    return cross_entropy(head.forward(f, training), s.labels);
  }
  std::vector<float> score(Head& head, ScoreContext& c) const override {
    const int64_t N = c.n;
    const int S = static_cast<int>(c.middle().size(-1));
    Tensor shuffled = Tensor::empty({N, 3, 1, S, S});
    const Tensor middle_host = c.middle().to(Device::CPU);   // tiles are shuffled on the host
    std::vector<int> perm(static_cast<size_t>(N));
    for (int64_t i = 0; i < N; ++i) {
      Rng r(c.seed ^ (c.keys[i] * 0xD1B54A32D192ED03ULL));
      ClassSample cs = jigsaw_sample(middle_host.narrow0(i, 1).view({3, S, S}), r);
      put_row(shuffled, i, cs.input);
      perm[i] = cs.label;
    }
    Tensor p = softmax(head.forward(c.features_of(shuffled.to(c.model.device())), false));
    std::vector<float> pv = p.to_vector(), sc(static_cast<size_t>(N));
    for (int64_t i = 0; i < N; ++i) sc[i] = 1.f - pv[i * p.size(1) + perm[i]];
    return sc;
  }
};

}  // namespace

std::unique_ptr<ProxyTask> make_jigsaw_task() { return std::make_unique<Jigsaw>(); }

}  // namespace ssmtl
