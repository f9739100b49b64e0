#include "model/teachers.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "data/detect/class_probs.h"

namespace ssmtl {

namespace {

constexpr double kBoxTolerance = 0.01;   // pixels: both files print or store the same numbers

std::string region_str(int64_t frame, double x0, double y0, double x1, double y1) {
  std::ostringstream s;
  s << "frame " << frame << " box [" << x0 << ',' << y0 << ',' << x1 << ',' << y1 << ']';
  return s.str();
}

bool same(const Region& r, int64_t frame, double x0, double y0, double x1, double y1) {
  auto near = [](double a, double b) { return std::fabs(a - b) <= kBoxTolerance; };
  return r.frame == frame && near(r.box.x0, x0) && near(r.box.y0, y0) && near(r.box.x1, x1) &&
         near(r.box.y1, y1);
}

void check_count(const std::string& file, size_t n, const std::string& region_file, size_t lines) {
  if (n != lines)
    throw std::runtime_error(file + ": " + std::to_string(n) + " objects but the region file " + region_file +
                             " has " + std::to_string(lines) + " (teacher files must list its objects line by line)");
}

std::shared_ptr<const TeacherMaps> load_maps(const std::string& path, TeacherKind kind, int channels, int crop,
                                             const std::string& region_file, const std::vector<Region>& regions) {
  auto m = std::make_shared<TeacherMaps>(load_teacher_maps(path, kind, channels, crop));
  check_count(path, m->objects.size(), region_file, regions.size());
  for (size_t i = 0; i < regions.size(); ++i) {
    const TeacherObject& o = m->objects[i];
    if (!same(regions[i], o.frame, o.x_min, o.y_min, o.x_max, o.y_max))
      throw std::runtime_error(path + ": object " + std::to_string(i) + " (" +
                               region_str(o.frame, o.x_min, o.y_min, o.x_max, o.y_max) + ") does not match line " +
                               std::to_string(i + 1) + " of " + region_file + " (" +
                               region_str(regions[i].frame, regions[i].box.x0, regions[i].box.y0,
                                          regions[i].box.x1, regions[i].box.y1) + ")");
  }
  return m;
}

}  // namespace

TeacherSpec TeacherSpec::for_model(const ModelConfig& cfg, const std::string& detections,
                                   const std::string& teachers_dir) {
  TeacherSpec s;
  s.crop = cfg.crop;
  std::string needs_maps;   // the first task that reads teacher maps, for the message
  for (const ProxyTask* t : cfg.tasks.enabled()) {
    const Source src = t->info().source;
    if (src == Source::kClassProbs) {
      s.class_probs_dir = detections + "/class_probs";
      s.distill_classes = cfg.distill_classes;
    }
    if (src == Source::kSegmentationMaps) s.segmentation = true;
    if (src == Source::kPoseMaps) s.pose_joints = cfg.pose_joints;
    if ((src == Source::kSegmentationMaps || src == Source::kPoseMaps) && needs_maps.empty()) needs_maps = t->info().label;
  }
  if (!needs_maps.empty() && teachers_dir.empty())
    throw std::invalid_argument(needs_maps + " needs teacher maps: give --teachers DIR holding <video>.seg / "
                                "<video>.pose (data/teacher_maps.h)");
  s.maps_dir = teachers_dir;
  return s;
}

VideoTeachers load_video_teachers(const TeacherSpec& spec, const std::string& video, const std::string& region_file,
                                  const std::vector<Region>& regions) {
  VideoTeachers t;
  t.lines = static_cast<int>(regions.size());
  if (!spec.class_probs_dir.empty()) {
    const std::string path = spec.class_probs_dir + "/" + video + ".txt";
    ClassProbsFile f = load_class_probs(path);
    if (f.classes + 1 != spec.distill_classes)
      throw std::runtime_error(path + ": " + std::to_string(f.classes) + " detector classes + 1 motion class = " +
                               std::to_string(f.classes + 1) + " teacher classes, but model.distill_classes = " +
                               std::to_string(spec.distill_classes));
    check_count(path, f.objects.size(), region_file, regions.size());
    t.distill_classes = f.classes + 1;
    t.class_probs.reserve(regions.size() * static_cast<size_t>(t.distill_classes));
    for (size_t i = 0; i < regions.size(); ++i) {
      const ClassProbsObject& o = f.objects[i];
      if (!same(regions[i], o.frame, o.x_min, o.y_min, o.x_max, o.y_max))
        throw std::runtime_error(path + ":" + std::to_string(i + 2) + ": " +
                                 region_str(o.frame, o.x_min, o.y_min, o.x_max, o.y_max) + " does not match line " +
                                 std::to_string(i + 1) + " of " + region_file + " (" +
                                 region_str(regions[i].frame, regions[i].box.x0, regions[i].box.y0,
                                            regions[i].box.x1, regions[i].box.y1) + ")");
      t.class_probs.insert(t.class_probs.end(), o.probs.begin(), o.probs.end());
    }
  }
  const std::string base = spec.maps_dir + "/" + video;
  if (spec.segmentation)
    t.segmentation = load_maps(base + teacher_file_extension(TeacherKind::kSegmentation), TeacherKind::kSegmentation,
                               1, spec.crop, region_file, regions);
  if (spec.pose_joints > 0)
    t.pose = load_maps(base + teacher_file_extension(TeacherKind::kPose), TeacherKind::kPose, spec.pose_joints,
                       spec.crop, region_file, regions);
  return t;
}

}  // namespace ssmtl
