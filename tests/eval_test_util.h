// Test helpers for eval/: a fresh temporary folder per test and small file writers.
#pragma once
#include <unistd.h>

#include <atomic>
#include <exception>
#include <filesystem>
#include <functional>
#include <fstream>
#include <string>
#include <vector>

namespace ssmtl::test {

// A new empty folder under the system temp dir, removed with everything in it when the object goes away.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "eval") {
    static std::atomic<int> counter{0};
    path_ = (std::filesystem::temp_directory_path() /
             ("ssmtl_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++)))
                .string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string str() const { return path_; }
  std::string operator/(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }
  // Writes `text` to <dir>/<rel> exactly as given (creating sub-folders); returns the full path.
  std::string write(const std::string& rel, const std::string& text) const {
    std::filesystem::path p = std::filesystem::path(path_) / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

 private:
  std::string path_;
};

// The message of the exception f throws, or "(no error)": for tests that compare whole error texts.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

// "v0\nv1\n..." (std::to_string per value).
template <class T>
std::string lines_of(const std::vector<T>& values) {
  std::string s;
  for (const T& v : values) s += std::to_string(v) + "\n";
  return s;
}

}  // namespace ssmtl::test
