#include "util/atomic_file.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <set>

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

std::vector<std::string> remove_stale_temporaries(const std::string& dir) {
  std::vector<std::string> removed;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir.empty() ? "." : dir, ec)) {
    const std::string name = e.path().filename().string();
    const size_t at = name.rfind(".tmp.");
    if (at == std::string::npos || at == 0 || at + 5 >= name.size()) continue;
    const std::string digits = name.substr(at + 5);
    if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
    const long pid = std::stol(digits);
    if (pid == static_cast<long>(::getpid())) continue;
    if (pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH)) continue;   // its writer still runs
    std::error_code rm;
    if (e.is_regular_file(rm) && fs::remove(e.path(), rm)) removed.push_back(name);
  }
  if (!removed.empty()) {
    std::sort(removed.begin(), removed.end());
    std::string list;
    for (size_t i = 0; i < removed.size() && i < 5; ++i) list += (i ? ", " : "") + removed[i];
    if (removed.size() > 5) list += ", ...";
    std::fprintf(stderr, "note: %s: removed %zu temporary files of interrupted writes (%s)\n",
                 dir.empty() ? "." : dir.c_str(), removed.size(), list.c_str());
  }
  return removed;
}

bool is_special_file(const std::string& path) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  return !ec && fs::exists(st) && !fs::is_regular_file(st) && !fs::is_directory(st);
}

namespace {
void write_in_place(const std::string& path, const std::function<void(std::ostream&)>& write, bool binary) {
  std::ofstream out(path, binary ? std::ios::binary | std::ios::out : std::ios::out);
  if (!out) throw std::runtime_error(path + ": cannot open for writing: " + std::strerror(errno));
  write(out);
  out.flush();
  if (!out) throw std::runtime_error(path + ": write failed");
}
}  // namespace

void write_atomic(const std::string& path, const std::function<void(std::ostream&)>& write, bool binary) {
  if (is_special_file(path)) return write_in_place(path, write, binary);
  fs::path p(path);
  if (p.has_parent_path()) make_dirs(p.parent_path().string());
  {   // once per folder and process: what a killed writer left behind (its pid no longer runs)
    static std::mutex mu;
    static std::set<std::string> cleaned;
    const std::string dir = p.has_parent_path() ? p.parent_path().string() : std::string();
    std::lock_guard<std::mutex> lock(mu);
    if (cleaned.insert(dir).second) remove_stale_temporaries(dir);
  }
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
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw std::runtime_error(path + ": is a folder, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw std::runtime_error(path + ": read error");
  return ss.str();
}

void write_header(std::ostream& out, const char magic[8], uint32_t version) {
  out.write(magic, 8);
  out.write(reinterpret_cast<const char*>(&version), 4);
}

void read_header(std::istream& in, const char magic[8], uint32_t version, const std::string& path) {
  read_header(in, magic, version, version, path);
}

uint32_t read_header(std::istream& in, const char magic[8], uint32_t min_version, uint32_t max_version,
                     const std::string& path) {
  char m[8] = {};
  uint32_t v = 0;
  in.read(m, 8);
  in.read(reinterpret_cast<char*>(&v), 4);
  if (!in || std::memcmp(m, magic, 8) != 0)
    throw std::runtime_error(path + ": not a " + std::string(magic, 8) + " file");
  if (v < min_version || v > max_version)
    throw std::runtime_error(path + ": format version " + std::to_string(v) + ", this build reads version " +
                             (min_version == max_version ? std::to_string(max_version)
                                                         : std::to_string(min_version) + " to " + std::to_string(max_version)));
  return v;
}

}  // namespace ssmtl::util
