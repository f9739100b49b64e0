#include "data/video/frames.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include "util/parse.h"

#include "util/parallel.h"

namespace ssmtl {
namespace fs = std::filesystem;

bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      // Compare digit runs by value: skip leading zeros, then longer run = larger, then lexicographic.
      size_t ie = i, je = j;
      while (ie < a.size() && digit(a[ie])) ++ie;
      while (je < b.size() && digit(b[je])) ++je;
      size_t ia = i, jb = j;
      while (ia + 1 < ie && a[ia] == '0') ++ia;
      while (jb + 1 < je && b[jb] == '0') ++jb;
      if (ie - ia != je - jb) return ie - ia < je - jb;
      int c = a.compare(ia, ie - ia, b, jb, je - jb);
      if (c != 0) return c < 0;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
      ++i;
      ++j;
    }
  }
  if ((a.size() - i) != (b.size() - j)) return a.size() - i < b.size() - j;
  return a < b;
}

// "0012.jpg" -> "12.jpg": names that natural_less orders only by their zeros.
static std::string without_leading_zeros(const std::string& s) {
  std::string o;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool run_start = i == 0 || !std::isdigit(static_cast<unsigned char>(s[i - 1]));
    if (run_start && s[i] == '0' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      while (i + 1 < s.size() && s[i] == '0' && std::isdigit(static_cast<unsigned char>(s[i + 1]))) ++i;
    }
    o.push_back(s[i]);
  }
  return o;
}

bool is_image_file(const std::string& name) {
  if (name.empty() || name[0] == '.') return false;
  auto dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = name.substr(dot + 1);
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == "jpg" || ext == "jpeg" || ext == "png" || ext == "bmp";
}

std::vector<std::string> list_frame_files(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw std::runtime_error(dir + ": frame folder not found");
  std::vector<std::string> names, skipped;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    if (is_image_file(n) && !e.is_directory()) names.push_back(n);
    else skipped.push_back(n);
  }
  if (ec) throw std::runtime_error(dir + ": cannot list: " + ec.message());
  if (names.empty()) throw std::runtime_error(dir + ": no image files (.jpg .jpeg .png .bmp) in the frame folder");
  std::sort(names.begin(), names.end(), natural_less);
  std::sort(skipped.begin(), skipped.end());
  util::warn_skipped(dir + ": entries that are not frames (.jpg .jpeg .png .bmp), not read", skipped);
  // "1.jpg" and "01.jpg" sort as the same number: which one is frame 1 would be a guess.
  for (size_t i = 1; i < names.size(); ++i)
    if (without_leading_zeros(names[i - 1]) == without_leading_zeros(names[i]))
      throw std::runtime_error(dir + ": frames " + names[i - 1] + " and " + names[i] +
                               " have the same number; keep one of them");
  for (auto& n : names) n = (fs::path(dir) / n).string();
  return names;
}

Video::Video(const std::string& dir, VideoOptions opts) : dir_(dir), opts_(opts) {
  name_ = fs::path(dir).lexically_normal().filename().string();
  if (name_.empty()) name_ = fs::path(dir).lexically_normal().parent_path().filename().string();
  paths_ = list_frame_files(dir);
  if (opts_.cache_frames < 1) opts_.cache_frames = 1;
  // The video's size comes from the first frame whose header reads (only frame 0 unless it is corrupt
  // and the policy is kSkip).
  for (size_t i = 0; i < paths_.size(); ++i) {
    try {
      image_size(paths_[i], width_, height_);
      break;
    } catch (const std::runtime_error&) {
      if (opts_.corrupt == CorruptFramePolicy::kError || i + 1 == paths_.size()) throw;
    }
  }
  if (opts_.load_all) {
    // Frames decode in parallel; the first failure (by frame index) is rethrown (util/parallel.h).
    all_.resize(paths_.size());
    util::parallel_for(num_frames(), [&](int64_t i) { all_[i] = load(static_cast<int>(i)); }, 4);
  }
}

const std::string& Video::frame_path(int i) const {
  if (i < 0 || i >= num_frames())
    throw std::out_of_range("video " + dir_ + ": frame " + std::to_string(i) + " out of range (it has " +
                            std::to_string(num_frames()) + " frames)");
  return paths_[i];
}

std::shared_ptr<const Image> Video::decode_checked(int i) const {
  auto img = std::make_shared<Image>(load_image(paths_[i]));
  if (img->width != width_ || img->height != height_)
    throw std::runtime_error(paths_[i] + ": frame is " + std::to_string(img->width) + "x" +
                             std::to_string(img->height) + " but video " + name_ + " is " + std::to_string(width_) +
                             "x" + std::to_string(height_));
  return img;
}

std::shared_ptr<const Image> Video::load(int i) const {
  try {
    return decode_checked(i);
  } catch (const std::runtime_error& e) {
    if (opts_.corrupt == CorruptFramePolicy::kError) throw;
    std::fprintf(stderr, "warning: %s; frame %d of video %s keeps its slot with the nearest readable frame\n",
                 e.what(), i, name_.c_str());
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (std::find(skipped_.begin(), skipped_.end(), i) == skipped_.end()) skipped_.push_back(i);
    }
    for (int d = 1; d < num_frames(); ++d) {
      for (int j : {i - d, i + d}) {
        if (j < 0 || j >= num_frames()) continue;
        try {
          return decode_checked(j);
        } catch (const std::runtime_error&) {
        }
      }
    }
    throw std::runtime_error("video " + dir_ + ": no readable frame at all");
  }
}

std::shared_ptr<const Image> Video::frame(int i) const {
  frame_path(i);   // range check
  if (opts_.load_all) return all_[i];
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(i);
    if (it != cache_.end()) {
      lru_.remove(i);
      lru_.push_front(i);
      return it->second;
    }
  }
  auto img = load(i);   // decoded outside the lock so threads decode in parallel
  std::lock_guard<std::mutex> lock(mu_);
  if (cache_.emplace(i, img).second) {
    lru_.push_front(i);
    while (lru_.size() > opts_.cache_frames) {
      cache_.erase(lru_.back());
      lru_.pop_back();
    }
  }
  return img;
}

std::vector<int> Video::skipped_frames() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int> s = skipped_;
  std::sort(s.begin(), s.end());
  return s;
}

std::string video_dir(const std::string& root, const std::string& split, const std::string& video) {
  return (fs::path(root) / split / "frames" / video).string();
}

std::vector<std::string> list_videos(const std::string& root, const std::string& split) {
  fs::path dir = fs::path(root) / split / "frames";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw std::runtime_error(dir.string() + ": no such frames folder");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    if (e.is_directory() && !n.empty() && n[0] != '.' && n.find(".tmp") == std::string::npos) names.push_back(n);
  }
  if (names.empty()) throw std::runtime_error(dir.string() + ": no video folders");
  std::sort(names.begin(), names.end(), natural_less);
  return names;
}

}  // namespace ssmtl
