// T9 pose estimation (SSMTL++, paper section 3.3): predict the teacher's (UniPose) joint heat maps of the
// object from its middle crop. Head: Decoder to model.pose_joints channels, mean squared error to the
// teacher maps (data/teacher_maps.h). Score: the same error per object. Shares the middle-crop input with T7.
#include <stdexcept>

#include "autograd/loss.h"
#include "model/sampler.h"

namespace ssmtl {

namespace {

class Pose : public ProxyTask {
 public:
  Pose()
      : ProxyTask({"T9", "pose", "T9 pose", "pose", "pose", "middle_crop", Window::kSingleFrame, Source::kPoseMaps,
                   Role::kDescent, false}) {}
  std::unique_ptr<Head> make_head(const ModelConfig& c, int channels, Rng& rng) const override {
    return std::make_unique<Decoder>(channels, c.decoder_hidden, rng, c.pose_joints);
  }
  void check_sources(const ModelConfig& cfg, const ObjectPool& pool, const OodImages*) const override {
    const TeacherSpec& ts = pool.teacher_spec();
    if (ts.pose_joints != cfg.pose_joints)
      throw std::invalid_argument("T9 pose needs teacher heat maps with model.pose_joints = " +
                                  std::to_string(cfg.pose_joints) + " channels (<teachers>/<video>.pose), the objects "
                                  "were loaded with " + std::to_string(ts.pose_joints));
    if (ts.crop != cfg.crop)
      throw std::invalid_argument("T7 / T9: the teacher maps are " + std::to_string(ts.crop) + "x" +
                                  std::to_string(ts.crop) + ", model.crop = " + std::to_string(cfg.crop));
  }
  void begin_batch(TaskBatch& b, int64_t B, int S, const ObjectTeachers& t) const override {
    b.inputs[info().input] = Tensor::empty({B, 3, 1, S, S});
    b.tasks[info().name].target = t.pose;   // (B, J, S, S)
  }
  void sample(const ObjectSample& o, Rng&, TaskBatch& b, int64_t i) const override {
    put_row(b.inputs.at(info().input), i, o.middle);
  }
  Tensor loss(Head& head, const Tensor& f, const TaskSamples& s, bool training) const override {
    return mse_loss(head.forward(f, training), s.target);
  }
  std::vector<float> score(Head& head, ScoreContext& c) const override {
    const int64_t S = c.middle().size(-1);
    const Tensor& y = teacher_of(c.teachers.pose, {c.n, c.model.cfg.pose_joints, S, S}, info().label);
    return mse_per_sample(head.forward(c.features(Window::kSingleFrame), false), y).to_vector();
  }
};

}  // namespace

std::unique_ptr<ProxyTask> make_pose_task() { return std::make_unique<Pose>(); }

}  // namespace ssmtl
