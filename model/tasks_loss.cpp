#include "model/tasks_loss.h"

#include <stdexcept>

#include "autograd/activation.h"
#include "autograd/engine.h"
#include "autograd/elementwise.h"
#include "autograd/loss.h"
#include "autograd/shape.h"
#include "data/samples/jigsaw.h"
#include "data/tasks.h"

namespace ssmtl {

namespace {

// One backbone pass for several inputs of the same temporal length; returns one feature map per input.
std::vector<Tensor> shared_features(SSMTLModel& m, const std::vector<Tensor>& xs, bool training) {
  if (xs.empty()) return {};
  Tensor f = m.features(xs.size() == 1 ? xs[0] : concat(xs, 0), training);
  if (xs.size() == 1) return {f};
  std::vector<Tensor> out;
  int64_t start = 0;
  for (const Tensor& x : xs) {
    out.push_back(slice(f, 0, start, start + x.size(0)));
    start += x.size(0);
  }
  return out;
}

// (N,3,S,S) view of a (N,3,1,S,S) single-frame input
Tensor squeeze_time(const Tensor& x) { return reshape(x, {x.size(0), x.size(1), x.size(3), x.size(4)}); }

// A teacher tensor of the expected shape, or std::invalid_argument naming the task.
const Tensor& teacher_of(const Tensor& t, const Shape& want, const char* task) {
  if (!t.defined()) throw std::invalid_argument(std::string("score_objects: ") + task + " needs its teacher signal");
  if (t.shape() != want)
    throw std::invalid_argument(std::string("score_objects: ") + task + " teacher " + shape_str(t.shape()) +
                                ", expected " + shape_str(want));
  return t;
}

Tensor moved(const Tensor& t, Device d) { return t.defined() ? t.to(d) : t; }

}  // namespace

TaskBatch TaskBatch::to(Device d) const {
  TaskBatch o = *this;
  for (Tensor* t : {&o.arrow_x, &o.irreg_x, &o.middle_x, &o.middle_y, &o.distill_x, &o.distill_y, &o.inpaint_x,
                    &o.inpaint_y, &o.crop_x, &o.seg_y, &o.pose_y, &o.jigsaw_x, &o.pseudo_x})
    *t = moved(*t, d);
  return o;
}

ObjectTeachers ObjectTeachers::to(Device d) const {
  return {moved(class_probs, d), moved(segmentation, d), moved(pose, d)};
}

TaskLosses compute_task_losses(SSMTLModel& m, const TaskBatch& b, bool training) {
  const TaskSet& t = m.cfg.tasks;
  TaskLosses out;
  std::vector<Tensor> terms;
  auto record = [&](const char* name, Tensor loss) {
    out.values[name] = loss.item();
    terms.push_back(loss);
  };

  // Sequences of 7 frames: T1, T2, T4 share one pass.
  std::vector<Tensor> seven;
  if (t.arrow) seven.push_back(b.arrow_x);
  if (t.irregularity) seven.push_back(b.irreg_x);
  if (t.distill) seven.push_back(b.distill_x);
  for (auto& x : seven)
    if (!x.defined()) throw std::invalid_argument("compute_task_losses: a 7-frame task input is missing");
  std::vector<Tensor> f7 = shared_features(m, seven, training);
  size_t i7 = 0;
  if (t.arrow) record("arrow", cross_entropy(m.arrow.forward(f7[i7++], training), b.arrow_y));
  if (t.irregularity) record("irregularity", cross_entropy(m.irregularity.forward(f7[i7++], training), b.irreg_y));
  if (t.distill) {
    Tensor p = softmax(m.distill.forward(f7[i7++], training));
    record("distillation", l1_loss(p, b.distill_y));
  }
  if (t.middle) {
    Tensor f = m.features(b.middle_x, training);
    record("middle", l1_loss(m.middle.forward(f, training), b.middle_y));
  }
  // Single frames: T6, T8 and the middle crop of T7 / T9 share one pass.
  const bool crop = t.segmentation || t.pose;
  std::vector<Tensor> single;
  if (t.inpaint) single.push_back(b.inpaint_x);
  if (t.jigsaw) single.push_back(b.jigsaw_x);
  if (crop) single.push_back(b.crop_x);
  for (auto& x : single)
    if (!x.defined()) throw std::invalid_argument("compute_task_losses: a single-frame task input is missing");
  std::vector<Tensor> f1 = shared_features(m, single, training);
  size_t i1 = 0;
  if (t.inpaint) record("inpainting", mse_loss(m.inpaint.forward(f1[i1++], training), b.inpaint_y));
  if (t.jigsaw) record("jigsaw", cross_entropy(m.jigsaw.forward(f1[i1++], training), b.jigsaw_y));
  if (crop) {
    const Tensor& f = f1[i1++];
    if (t.segmentation) record("segmentation", mse_loss(m.segmentation.forward(f, training), b.seg_y));
    if (t.pose) record("pose", mse_loss(m.pose.forward(f, training), b.pose_y));
  }

  out.normal = terms[0];
  for (size_t k = 1; k < terms.size(); ++k) out.normal = add(out.normal, terms[k]);
  return out;
}

Tensor compute_pseudo_loss(SSMTLModel& m, const Tensor& ood, bool training) {
  if (!m.cfg.tasks.pseudo) throw std::logic_error("compute_pseudo_loss: the model has no T5 head");
  return l1_loss(m.pseudo.forward(m.features(ood, training), training), squeeze_time(ood));
}

std::map<std::string, std::vector<float>> score_objects(SSMTLModel& m, const Tensor& seq, const Tensor& teacher,
                                                        uint64_t seed, const std::vector<uint64_t>& keys) {
  ObjectTeachers t;
  t.class_probs = teacher;
  return score_objects(m, seq, t, seed, keys);
}

std::map<std::string, std::vector<float>> score_objects(SSMTLModel& m, const Tensor& seq_in,
                                                        const ObjectTeachers& teach_in, uint64_t seed,
                                                        const std::vector<uint64_t>& keys) {
  if (static_cast<int64_t>(keys.size()) != seq_in.size(0))
    throw std::invalid_argument("score_objects: one key per object needed");
  autograd::NoGradGuard no_grad;
  const Device dev = m.device();
  const Tensor seq = seq_in.to(dev);
  const ObjectTeachers teach = teach_in.to(dev);
  const TaskSet& t = m.cfg.tasks;
  const int64_t N = seq.size(0);
  std::map<std::string, std::vector<float>> s;
  auto column = [](const Tensor& probs, int k) {   // probs (N, K) -> probs[:, k]
    std::vector<float> v = probs.to_vector(), c(static_cast<size_t>(probs.size(0)));
    for (size_t i = 0; i < c.size(); ++i) c[i] = v[i * probs.size(1) + k];
    return c;
  };
  Tensor middle = squeeze_time(slice(seq, 2, 3, 4));   // (N,3,S,S)
  if (t.arrow || t.irregularity || t.distill) {
    Tensor f = m.features(seq, false);
    if (t.arrow) s["arrow"] = column(softmax(m.arrow.forward(f, false)), 1);
    if (t.irregularity) s["irregularity"] = column(softmax(m.irregularity.forward(f, false)), 1);
    if (t.distill) {
      const Tensor& p = teacher_of(teach.class_probs, {N, m.cfg.distill_classes}, "T4 distillation");
      s["distillation"] = l1_per_sample(softmax(m.distill.forward(f, false)), p).to_vector();
    }
  }
  if (t.middle) {
    Tensor six = concat({slice(seq, 2, 0, 3), slice(seq, 2, 4, 7)}, 2);
    s["middle"] = l1_per_sample(m.middle.forward(m.features(six, false), false), middle).to_vector();
  }
  if (t.inpaint) {
    // Paper section 3.3: mask a patch, reconstruct, mask a new patch of the output, ... three times;
    // score = mean squared error between the original middle crop and the last reconstruction.
    const int S = static_cast<int>(middle.size(-1));
    const double k = S / 64.0;
    std::vector<Rng> rngs;
    for (int64_t i = 0; i < N; ++i) rngs.emplace_back(seed ^ (keys[i] * 0x9E3779B97F4A7C15ULL));
    Tensor img = middle;
    for (int pass = 0; pass < 3; ++pass) {
      Tensor masked = img.to(Device::CPU).clone();   // patches are drawn and applied on the host
      for (int64_t i = 0; i < N; ++i) {
        Tensor one = masked.narrow0(i, 1).view({3, S, S});
        apply_patch(one, sample_inpaint_patch(rngs[i], S, S, std::max(1, static_cast<int>(4 * k)),
                                              static_cast<int>(32 * k), 20 * k));
      }
      img = m.inpaint.forward(m.features(reshape(masked.to(dev), {N, 3, 1, S, S}), false), false);
    }
    s["inpainting"] = mse_per_sample(img, middle).to_vector();
  }
  if (t.segmentation || t.pose) {
    const int64_t S = middle.size(-1);
    Tensor f = m.features(reshape(middle, {N, 3, 1, S, S}), false);
    if (t.segmentation) {
      const Tensor& y = teacher_of(teach.segmentation, {N, 1, S, S}, "T7 segmentation");
      s["segmentation"] = mse_per_sample(m.segmentation.forward(f, false), y).to_vector();
    }
    if (t.pose) {
      const Tensor& y = teacher_of(teach.pose, {N, m.cfg.pose_joints, S, S}, "T9 pose");
      s["pose"] = mse_per_sample(m.pose.forward(f, false), y).to_vector();
    }
  }
  if (t.jigsaw) {
    const int S = static_cast<int>(middle.size(-1));
    Tensor shuffled = Tensor::empty({N, 3, 1, S, S});
    const Tensor middle_host = middle.to(Device::CPU);   // tiles are shuffled on the host
    std::vector<int> perm(static_cast<size_t>(N));
    for (int64_t i = 0; i < N; ++i) {
      Rng r(seed ^ (keys[i] * 0xD1B54A32D192ED03ULL));
      ClassSample cs = jigsaw_sample(middle_host.narrow0(i, 1).view({3, S, S}), r);
      std::copy(cs.input.data(), cs.input.data() + cs.input.numel(), shuffled.data() + i * cs.input.numel());
      perm[i] = cs.label;
    }
    Tensor p = softmax(m.jigsaw.forward(m.features(shuffled.to(dev), false), false));
    std::vector<float> pv = p.to_vector(), sc(static_cast<size_t>(N));
    for (int64_t i = 0; i < N; ++i) sc[i] = 1.f - pv[i * p.size(1) + perm[i]];
    s["jigsaw"] = sc;
  }
  std::vector<float> obj(static_cast<size_t>(N), 0.f);
  int tasks = 0;
  for (auto& [name, v] : s) {
    ++tasks;
    for (int64_t i = 0; i < N; ++i) obj[i] += v[i];
  }
  for (auto& x : obj) x /= static_cast<float>(std::max(tasks, 1));
  s["object"] = obj;
  return s;
}

}  // namespace ssmtl
