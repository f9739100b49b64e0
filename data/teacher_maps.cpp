#include "data/teacher_maps.h"

#include <cmath>
#include <fstream>
#include <stdexcept>

#include "util/atomic_file.h"

namespace ssmtl {

namespace {

const char kMagic[8] = {'S', 'S', 'M', 'T', 'L', 'T', 'C', 'H'};
constexpr uint32_t kVersion = 1;
constexpr int64_t kRecordHeader = 8 + 4 * 8;   // i64 frame + 4 f64 box corners

template <class T>
void put(std::ostream& o, T v) { o.write(reinterpret_cast<const char*>(&v), sizeof v); }

template <class T>
bool get(std::istream& in, T& v) { return static_cast<bool>(in.read(reinterpret_cast<char*>(&v), sizeof v)); }

// Index of the first value outside [0, 1] (or not finite) in [p, p + n), or -1.
int64_t bad_value(const float* p, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!(p[i] >= 0.f && p[i] <= 1.f)) return i;
  return -1;
}

std::string object_str(size_t i, const TeacherObject& o) {
  return "object " + std::to_string(i) + " (frame " + std::to_string(o.frame) + ")";
}

}  // namespace

const char* teacher_kind_name(TeacherKind k) {
  return k == TeacherKind::kSegmentation ? "segmentation" : k == TeacherKind::kPose ? "pose" : "?";
}

const char* teacher_file_extension(TeacherKind k) { return k == TeacherKind::kSegmentation ? ".seg" : ".pose"; }

void save_teacher_maps(const std::string& path, const TeacherMaps& m) {
  if (m.channels < 1 || m.size < 1) throw std::invalid_argument(path + ": teacher maps need channels and size >= 1");
  const int64_t per = m.map_numel();
  if (static_cast<int64_t>(m.values.size()) != per * static_cast<int64_t>(m.objects.size()))
    throw std::invalid_argument(path + ": " + std::to_string(m.values.size()) + " values for " +
                                std::to_string(m.objects.size()) + " objects of " + std::to_string(per));
  for (size_t i = 0; i < m.objects.size(); ++i) {
    int64_t b = bad_value(m.map(i), per);
    if (b >= 0)
      throw std::invalid_argument(path + ": " + object_str(i, m.objects[i]) + ": value " +
                                  std::to_string(m.map(i)[b]) + " outside [0, 1]");
  }
  util::write_atomic(
      path,
      [&](std::ostream& o) {
        util::write_header(o, kMagic, kVersion);
        put<uint32_t>(o, static_cast<uint32_t>(m.kind));
        put<uint32_t>(o, static_cast<uint32_t>(m.channels));
        put<uint32_t>(o, static_cast<uint32_t>(m.size));
        put<uint64_t>(o, m.objects.size());
        for (size_t i = 0; i < m.objects.size(); ++i) {
          const TeacherObject& t = m.objects[i];
          put<int64_t>(o, t.frame);
          for (double v : {t.x_min, t.y_min, t.x_max, t.y_max}) put<double>(o, v);
          o.write(reinterpret_cast<const char*>(m.map(i)), static_cast<std::streamsize>(per * 4));
        }
      },
      true);
}

TeacherMaps load_teacher_maps(const std::string& path, TeacherKind kind, int channels, int size) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error(path + ": cannot open the " + std::string(teacher_kind_name(kind)) +
                             " teacher maps (one " + teacher_file_extension(kind) + " file per video, data/teacher_maps.h)");
  in.seekg(0, std::ios::end);
  const int64_t file_size = static_cast<int64_t>(in.tellg());
  in.seekg(0);
  util::read_header(in, kMagic, kVersion, path);
  uint32_t k = 0, c = 0, s = 0;
  uint64_t n = 0;
  if (!get(in, k) || !get(in, c) || !get(in, s) || !get(in, n)) throw std::runtime_error(path + ": truncated header");
  if (k != static_cast<uint32_t>(TeacherKind::kSegmentation) && k != static_cast<uint32_t>(TeacherKind::kPose))
    throw std::runtime_error(path + ": unknown teacher kind " + std::to_string(k) + " (1 = segmentation, 2 = pose)");
  TeacherMaps m;
  m.kind = static_cast<TeacherKind>(k);
  if (m.kind != kind)
    throw std::runtime_error(path + ": holds " + teacher_kind_name(m.kind) + " maps, expected " + teacher_kind_name(kind));
  if (static_cast<int>(c) != channels)
    throw std::runtime_error(path + ": maps have " + std::to_string(c) + " channels, the model expects " +
                             std::to_string(channels) + (kind == TeacherKind::kPose ? " (model.pose_joints)" : ""));
  if (static_cast<int>(s) != size)
    throw std::runtime_error(path + ": maps are " + std::to_string(s) + "x" + std::to_string(s) +
                             ", the model's crop is " + std::to_string(size) + "x" + std::to_string(size) + " (model.crop)");
  m.channels = channels;
  m.size = size;
  const int64_t per = m.map_numel();
  const int64_t header = 8 + 4 + 3 * 4 + 8, record = kRecordHeader + per * 4;
  // The count is checked against the file size before anything is allocated.
  if (n > static_cast<uint64_t>(std::max<int64_t>(0, file_size - header)) / static_cast<uint64_t>(record)) {
    int64_t whole = (file_size - header) / record;
    throw std::runtime_error(path + ": truncated at object " + std::to_string(whole) + " of " + std::to_string(n));
  }
  if (file_size != header + static_cast<int64_t>(n) * record)
    throw std::runtime_error(path + ": " + std::to_string(file_size - header - static_cast<int64_t>(n) * record) +
                             " bytes after the last of " + std::to_string(n) + " objects");
  m.objects.resize(n);
  m.values.resize(n * static_cast<size_t>(per));
  for (size_t i = 0; i < n; ++i) {
    TeacherObject& t = m.objects[i];
    bool ok = get(in, t.frame) && get(in, t.x_min) && get(in, t.y_min) && get(in, t.x_max) && get(in, t.y_max) &&
              in.read(reinterpret_cast<char*>(m.values.data() + i * per), static_cast<std::streamsize>(per * 4));
    if (!ok) throw std::runtime_error(path + ": truncated at object " + std::to_string(i));
    if (t.frame < 0) throw std::runtime_error(path + ": " + object_str(i, t) + ": negative frame");
    if (!(t.x_max >= t.x_min && t.y_max >= t.y_min))
      throw std::runtime_error(path + ": " + object_str(i, t) + ": box with x_max < x_min or y_max < y_min");
    int64_t b = bad_value(m.map(i), per);
    if (b >= 0)
      throw std::runtime_error(path + ": " + object_str(i, t) + ": value " + std::to_string(m.map(i)[b]) +
                               " at channel " + std::to_string(b / (per / channels)) + " outside [0, 1]");
  }
  return m;
}

}  // namespace ssmtl
