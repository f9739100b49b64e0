#include "util/atomic_file.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ssmtl::util {
namespace fs = std::filesystem;

void make_dirs(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error(dir + ": cannot create folder: " + ec.message());
}

void write_atomic(const std::string& path, const std::function<void(std::ostream&)>& write, bool binary) {
  fs::path p(path);
  if (p.has_parent_path()) make_dirs(p.parent_path().string());
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    std::ofstream out(tmp, binary ? std::ios::binary | std::ios::trunc : std::ios::trunc);
    if (!out) throw std::runtime_error(path + ": cannot open " + tmp + " for writing: " + std::strerror(errno));
    write(out);
    out.flush();
    if (!out) throw std::runtime_error(path + ": write failed");
    out.close();
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error(path + ": cannot rename temporary file: " + std::strerror(errno));
  }
}

void write_text_atomic(const std::string& path, const std::string& text) {
  write_atomic(path, [&](std::ostream& o) { o << text; });
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_header(std::ostream& out, const char magic[8], uint32_t version) {
  out.write(magic, 8);
  out.write(reinterpret_cast<const char*>(&version), 4);
}

void read_header(std::istream& in, const char magic[8], uint32_t version, const std::string& path) {
  char m[8] = {};
  uint32_t v = 0;
  in.read(m, 8);
  in.read(reinterpret_cast<char*>(&v), 4);
  if (!in || std::memcmp(m, magic, 8) != 0)
    throw std::runtime_error(path + ": not a " + std::string(magic, 8) + " file");
  if (v != version)
    throw std::runtime_error(path + ": format version " + std::to_string(v) + ", this build reads version " +
                             std::to_string(version));
}

}  // namespace ssmtl::util
