#include "model/checkpoint.h"

#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>

#include "util/atomic_file.h"

namespace ssmtl {

static const char kMagic[8] = {'S', 'S', 'M', 'T', 'L', 'C', 'K', 'P'};
static constexpr uint32_t kVersion = 1;

static void put_u64(std::ostream& o, uint64_t v) { o.write(reinterpret_cast<const char*>(&v), 8); }
static void put_str(std::ostream& o, const std::string& s) {
  put_u64(o, s.size());
  o.write(s.data(), static_cast<std::streamsize>(s.size()));
}
static uint64_t get_u64(std::istream& in, const std::string& path) {
  uint64_t v = 0;
  in.read(reinterpret_cast<char*>(&v), 8);
  if (!in) throw std::runtime_error(path + ": truncated checkpoint");
  return v;
}
static std::string get_str(std::istream& in, const std::string& path) {
  uint64_t n = get_u64(in, path);
  if (n > (1ull << 34)) throw std::runtime_error(path + ": corrupt checkpoint (string of " + std::to_string(n) + " bytes)");
  std::string s(n, '\0');
  in.read(s.data(), static_cast<std::streamsize>(n));
  if (!in) throw std::runtime_error(path + ": truncated checkpoint");
  return s;
}

void save_checkpoint(const std::string& path, Module& model, const CheckpointMeta& meta) {
  auto tensors = model.named_tensors();
  util::write_atomic(path, [&](std::ostream& o) {
    util::write_header(o, kMagic, kVersion);
    put_str(o, meta.config_text);
    put_str(o, meta.trainer_state);
    put_u64(o, tensors.size());
    for (auto& nt : tensors) {
      put_str(o, nt.name);
      const Tensor& t = *nt.tensor;
      put_u64(o, t.shape().size());
      for (int64_t d : t.shape()) put_u64(o, static_cast<uint64_t>(d));
      std::vector<float> v = t.to_vector();
      o.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
    }
  }, true);
}

static CheckpointMeta read_meta(std::istream& in, const std::string& path) {
  util::read_header(in, kMagic, kVersion, path);
  CheckpointMeta m;
  m.config_text = get_str(in, path);
  m.trainer_state = get_str(in, path);
  return m;
}

CheckpointMeta read_checkpoint_meta(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open checkpoint");
  return read_meta(in, path);
}

CheckpointMeta load_checkpoint(const std::string& path, Module& model) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open checkpoint");
  CheckpointMeta m = read_meta(in, path);
  std::map<std::string, Tensor*> want;
  for (auto& nt : model.named_tensors()) want[nt.name] = nt.tensor;
  uint64_t count = get_u64(in, path);
  for (uint64_t i = 0; i < count; ++i) {
    std::string name = get_str(in, path);
    uint64_t nd = get_u64(in, path);
    if (nd > 6) throw std::runtime_error(path + ": corrupt checkpoint at " + name);
    Shape shape(nd);
    for (auto& d : shape) d = static_cast<int64_t>(get_u64(in, path));
    auto it = want.find(name);
    if (it == want.end()) throw std::runtime_error(path + ": tensor " + name + " is not part of this model");
    Tensor& dst = *it->second;
    if (dst.shape() != shape)
      throw std::runtime_error(path + ": tensor " + name + " has shape " + shape_str(shape) + ", the model expects " +
                               shape_str(dst.shape()));
    std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
    in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
    if (!in) throw std::runtime_error(path + ": truncated checkpoint at " + name);
    dst.copy_from(Tensor::from_vector(shape, v));
    want.erase(it);
  }
  if (!want.empty()) throw std::runtime_error(path + ": checkpoint lacks tensor " + want.begin()->first);
  return m;
}

}  // namespace ssmtl
