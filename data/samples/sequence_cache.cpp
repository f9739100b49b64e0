#include "data/samples/sequence_cache.h"

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "data/video/frames.h"
#include "util/atomic_file.h"

namespace ssmtl {
namespace {

constexpr char kMagic[8] = {'S', 'S', 'M', 'T', 'L', 'S', 'E', 'Q'};

template <typename T>
void put(std::ostream& o, T v) {
  o.write(reinterpret_cast<const char*>(&v), sizeof v);
}

// Everything before the data: written by save, and compared byte for byte by load.
std::string header_bytes(const Video& v, const std::vector<ObjectRef>& objects) {
  std::ostringstream o;
  util::write_header(o, kMagic, kSequenceCacheVersion);
  put<uint32_t>(o, static_cast<uint32_t>(v.name().size()));
  o.write(v.name().data(), static_cast<std::streamsize>(v.name().size()));
  put<int32_t>(o, v.num_frames());
  put<int32_t>(o, v.width());
  put<int32_t>(o, v.height());
  put<int32_t>(o, kSeqLen);
  put<int32_t>(o, kCropSize);
  put<int64_t>(o, static_cast<int64_t>(objects.size()));
  for (const auto& ob : objects) {
    put<int32_t>(o, ob.frame);
    for (float f : {ob.box.x0, ob.box.y0, ob.box.x1, ob.box.y1, ob.box.score}) put<float>(o, f);
    put<int32_t>(o, ob.box.cls);
  }
  return o.str();
}

}  // namespace

void save_sequence_cache(const std::string& path, const Video& video, const std::vector<ObjectRef>& objects,
                         const Tensor& sequences) {
  const Shape want{static_cast<int64_t>(objects.size()), 3, kSeqLen, kCropSize, kCropSize};
  if (sequences.shape() != want)
    throw std::invalid_argument("save_sequence_cache: " + path + ": sequences " + shape_str(sequences.shape()) +
                                " do not fit " + std::to_string(objects.size()) + " objects " + shape_str(want));
  const std::string head = header_bytes(video, objects);
  util::write_atomic(
      path,
      [&](std::ostream& o) {
        o.write(head.data(), static_cast<std::streamsize>(head.size()));
        o.write(reinterpret_cast<const char*>(sequences.data()),
                static_cast<std::streamsize>(sizeof(float) * sequences.numel()));
      },
      true);
}

std::optional<Tensor> load_sequence_cache(const std::string& path, const Video& video,
                                          const std::vector<ObjectRef>& objects) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  util::read_header(in, kMagic, kSequenceCacheVersion, path);   // throws on another format or version
  const std::string head = header_bytes(video, objects);
  std::string got(head.size() - 12, '\0');
  in.read(got.data(), static_cast<std::streamsize>(got.size()));
  if (!in || got != head.substr(12)) return std::nullopt;   // other video or other objects: stale
  Tensor t = Tensor::empty({static_cast<int64_t>(objects.size()), 3, kSeqLen, kCropSize, kCropSize});
  in.read(reinterpret_cast<char*>(t.data()), static_cast<std::streamsize>(sizeof(float) * t.numel()));
  if (!in || in.gcount() != static_cast<std::streamsize>(sizeof(float) * t.numel()))
    throw std::runtime_error(path + ": sequence cache truncated");
  if (in.peek() != std::char_traits<char>::eof()) throw std::runtime_error(path + ": trailing bytes in sequence cache");
  return t;
}

Tensor cached_sequences(const std::string& path, const Video& video, const std::vector<ObjectRef>& objects) {
  if (auto t = load_sequence_cache(path, video, objects)) return *t;
  Tensor t = extract_sequences(video, objects);
  save_sequence_cache(path, video, objects, t);
  return t;
}

}  // namespace ssmtl
