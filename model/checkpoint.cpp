#include "model/checkpoint.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>

#include "util/atomic_file.h"
#include "util/parse.h"

namespace ssmtl {

static const char kMagic[8] = {'S', 'S', 'M', 'T', 'L', 'C', 'K', 'P'};
// Version 2: a checkpoint that holds optional buffers (BatchNorm's per-window statistics), so that builds from
// before them say "format version 2" instead of failing on an unknown tensor; one without them is written as
// version 1, which every build reads.
static constexpr uint32_t kVersion = 1, kVersionOptional = 2;

static void put_u64(std::ostream& o, uint64_t v) { o.write(reinterpret_cast<const char*>(&v), 8); }
static void put_str(std::ostream& o, const std::string& s) {
  put_u64(o, s.size());
  o.write(s.data(), static_cast<std::streamsize>(s.size()));
}
// Every length field is checked against the bytes the file really has left before anything is allocated.
struct Reader {
  std::istream& in;
  const std::string& path;
  uint64_t left;   // bytes not yet read

  uint64_t u64(const char* what) {
    if (left < 8) throw std::runtime_error(path + ": truncated checkpoint (" + what + ")");
    uint64_t v = 0;
    in.read(reinterpret_cast<char*>(&v), 8);
    if (!in) throw std::runtime_error(path + ": read error (" + what + ")");
    left -= 8;
    return v;
  }
  void bytes(char* dst, uint64_t n, const std::string& what) {
    if (n > left)
      throw std::runtime_error(path + ": corrupt checkpoint: " + what + " of " + std::to_string(n) +
                               " bytes, only " + std::to_string(left) + " left in the file");
    in.read(dst, static_cast<std::streamsize>(n));
    if (!in) throw std::runtime_error(path + ": read error (" + what + ")");
    left -= n;
  }
  std::string str(const std::string& what) {
    const uint64_t n = u64(what.c_str());
    if (n > left)
      throw std::runtime_error(path + ": corrupt checkpoint: " + what + " of " + std::to_string(n) +
                               " bytes, only " + std::to_string(left) + " left in the file");
    std::string s(n, '\0');
    bytes(s.data(), n, what);
    return s;
  }
};

static uint64_t file_size(std::istream& in, const std::string& path) {
  const std::streampos here = in.tellg();
  in.seekg(0, std::ios::end);
  const std::streampos end = in.tellg();
  in.seekg(here);
  if (here < 0 || end < here || !in) throw std::runtime_error(path + ": cannot size the checkpoint file");
  return static_cast<uint64_t>(end - here);
}

void save_checkpoint(const std::string& path, Module& model, const CheckpointMeta& meta) {
  auto tensors = model.named_tensors();
  bool optional = false;
  for (const auto& nt : tensors) optional = optional || nt.optional_like != nullptr;
  util::write_atomic(path, [&](std::ostream& o) {
    util::write_header(o, kMagic, optional ? kVersionOptional : kVersion);
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

static constexpr uint64_t kHeaderBytes = 12;   // magic + version

static std::ifstream open_checkpoint(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw std::runtime_error(path + ": is a folder, not a checkpoint");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open checkpoint");
  return in;
}

static CheckpointMeta read_meta(Reader& r) {
  util::read_header(r.in, kMagic, kVersion, kVersionOptional, r.path);
  r.left = r.left >= kHeaderBytes ? r.left - kHeaderBytes : 0;
  CheckpointMeta m;
  m.config_text = r.str("configuration text");
  m.trainer_state = r.str("trainer state");
  return m;
}

CheckpointMeta read_checkpoint_meta(const std::string& path) {
  std::ifstream in = open_checkpoint(path);
  Reader r{in, path, file_size(in, path)};
  return read_meta(r);
}

CheckpointMeta load_checkpoint(const std::string& path, Module& model) {
  std::ifstream in = open_checkpoint(path);
  Reader r{in, path, file_size(in, path)};
  CheckpointMeta m = read_meta(r);
  std::map<std::string, NamedTensor> want;
  for (auto& nt : model.named_tensors("", true)) want[nt.name] = nt;
  // Optional buffers come in groups (the name up to its last '.', e.g. "...bn0.window7"): all of one or none.
  auto group = [](const std::string& name) { return name.substr(0, name.rfind('.')); };
  std::map<std::string, std::string> loaded_groups;   // group -> a member read from the file
  const uint64_t count = r.u64("tensor count");
  if (count > want.size())
    throw std::runtime_error(path + ": corrupt checkpoint: " + std::to_string(count) + " tensors, the model has " +
                             std::to_string(want.size()));
  for (uint64_t i = 0; i < count; ++i) {
    const std::string name = r.str("name of tensor " + std::to_string(i));
    const uint64_t nd = r.u64("rank");
    if (nd > 6) throw std::runtime_error(path + ": corrupt checkpoint: tensor " + util::printable(name) + " has rank " +
                                         std::to_string(nd));
    Shape shape(nd);
    for (auto& d : shape) d = static_cast<int64_t>(r.u64("shape"));
    auto it = want.find(name);
    if (it == want.end())
      throw std::runtime_error(path + ": tensor " + util::printable(name) + " is not part of this model");
    const NamedTensor& nt = it->second;
    const Tensor& like = nt.optional_like ? *nt.optional_like : *nt.tensor;
    if (like.shape() != shape)   // before any allocation: the model's shape bounds the size
      throw std::runtime_error(path + ": tensor " + name + " has shape " + shape_str(shape) + ", the model expects " +
                               shape_str(like.shape()));
    std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
    r.bytes(reinterpret_cast<char*>(v.data()), v.size() * 4, "tensor " + name);
    for (size_t j = 0; j < v.size(); ++j)
      if (!std::isfinite(v[j]))
        throw std::runtime_error(path + ": tensor " + name + " holds a non-finite value (" + std::to_string(v[j]) +
                                 ") at index " + std::to_string(j));
    const Tensor loaded = Tensor::from_vector(shape, v);
    if (nt.optional_like) {   // an optional buffer may be undefined in the model: it takes its like's device
      *nt.tensor = loaded.to(like.device());
      loaded_groups[group(name)] = name;
    } else {
      nt.tensor->copy_from(loaded);
    }
    want.erase(it);
  }
  for (auto& [name, nt] : want) {
    if (!nt.optional_like) throw std::runtime_error(path + ": checkpoint lacks tensor " + name);
    const auto partner = loaded_groups.find(group(name));
    if (partner != loaded_groups.end())
      throw std::runtime_error(path + ": checkpoint has " + partner->second + " but lacks " + name +
                               " (they go together)");
    *nt.tensor = Tensor();   // absent from the file: whatever the model held before is not this checkpoint's
  }
  if (r.left != 0)
    throw std::runtime_error(path + ": " + std::to_string(r.left) + " bytes after the last tensor (corrupt or appended)");
  return m;
}

}  // namespace ssmtl
