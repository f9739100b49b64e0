// Reader for the reference files made by tests/reference/*.py with PyTorch (format in refio.py).
// Throws std::runtime_error naming the file on any malformed or missing content.
#pragma once
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ssmtl::test {

class RefFile {
 public:
  explicit RefFile(const std::string& stem) : path_(std::string(SSMTL_TEST_DATA_DIR) + "/" + stem + ".bin") {
    std::ifstream f(path_, std::ios::binary);
    if (!f) throw std::runtime_error(path_ + ": cannot open (run the generator script in tests/reference)");
    char magic[8];
    uint32_t version = 0, count = 0;
    f.read(magic, 8);
    f.read(reinterpret_cast<char*>(&version), 4);
    f.read(reinterpret_cast<char*>(&count), 4);
    if (!f || std::memcmp(magic, "SSMTLREF", 8) != 0 || version != 1)
      throw std::runtime_error(path_ + ": not a version-1 SSMTLREF file");
    for (uint32_t i = 0; i < count; ++i) {
      uint32_t len = 0, ndim = 0;
      f.read(reinterpret_cast<char*>(&len), 4);
      std::string key(len, '\0');
      f.read(key.data(), len);
      f.read(reinterpret_cast<char*>(&ndim), 4);
      Shape shape(ndim);
      f.read(reinterpret_cast<char*>(shape.data()), 8 * ndim);
      std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
      f.read(reinterpret_cast<char*>(v.data()), 4 * v.size());
      if (!f) throw std::runtime_error(path_ + ": truncated at tensor " + key);
      tensors_[key] = Tensor::from_vector(shape, v);
    }
  }
  // A fresh copy (so tests may set requires_grad on it).
  Tensor get(const std::string& key) const {
    auto it = tensors_.find(key);
    if (it == tensors_.end()) throw std::runtime_error(path_ + ": no tensor named " + key);
    return it->second.clone();
  }
  float scalar(const std::string& key) const { return get(key).item(); }

 private:
  std::string path_;
  std::map<std::string, Tensor> tensors_;
};

}  // namespace ssmtl::test
