#include "data/datasets/staging.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "data/video/frames.h"
#include "data/video/image.h"
#include "util/atomic_file.h"
#include "util/png.h"

namespace ssmtl::datasets {
namespace fs = std::filesystem;

namespace {
std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

bool is_stray_file(const std::string& name) {
  const std::string l = lower(name);
  return name.empty() || name[0] == '.' || l == "thumbs.db" || l == "desktop.ini";
}

std::vector<std::string> list_files(const std::string& dir, const std::vector<std::string>& exts) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw std::runtime_error(dir + ": folder not found");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (is_stray_file(n) || !e.is_regular_file()) continue;
    const std::string ext = lower(e.path().extension().string());
    if (std::find(exts.begin(), exts.end(), ext) != exts.end()) names.push_back(n);
  }
  std::sort(names.begin(), names.end(), natural_less);
  for (auto& n : names) n = (fs::path(dir) / n).string();
  return names;
}

std::vector<std::string> list_dirs(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw std::runtime_error(dir + ": folder not found");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && !is_stray_file(e.path().filename().string())) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end(), natural_less);
  return names;
}

void require_path(const std::string& root, const std::string& rel, const std::string& what,
                  const std::string& layout) {
  std::error_code ec;
  if (!fs::exists(fs::path(root) / rel, ec))
    throw std::runtime_error(root + ": not a " + what + " distribution: " + rel + " missing (expected: " + layout + ")");
}

std::string split_dir(const std::string& staging, const std::string& split, const std::string& folder) {
  const std::string d = (fs::path(staging) / split / folder).string();
  util::make_dirs(d);
  return d;
}

std::string frame_name(int i, int digits, const std::string& ext) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*d", digits, i);
  return buf + ext;
}

void write_frame_labels(const std::string& staging, const std::string& video, const std::vector<int>& labels,
                        const std::string& folder, const std::string& split) {
  std::string text;
  for (int l : labels) text += l ? "1\n" : "0\n";
  util::write_text_atomic((fs::path(split_dir(staging, split, folder)) / (video + ".txt")).string(), text);
}

int copy_frames(const std::vector<std::string>& images, const std::string& staging, const std::string& split,
                const std::string& video, int digits) {
  const fs::path dir = fs::path(split_dir(staging, split, "frames")) / video;
  fs::create_directories(dir);
  int w0 = 0, h0 = 0;
  for (size_t i = 0; i < images.size(); ++i) {
    int w = 0, h = 0;
    image_size(images[i], w, h);   // throws naming an unreadable file
    if (i == 0) { w0 = w; h0 = h; }
    else if (w != w0 || h != h0)
      throw std::runtime_error(images[i] + ": frame is " + std::to_string(w) + "x" + std::to_string(h) + ", frame 0 (" +
                               images[0] + ") is " + std::to_string(w0) + "x" + std::to_string(h0));
    const fs::path dst = dir / frame_name(static_cast<int>(i), digits, lower(fs::path(images[i]).extension().string()));
    std::error_code ec;
    fs::create_hard_link(images[i], dst, ec);   // the same bytes; a copy where links cannot be made
    if (ec) fs::copy_file(images[i], dst);
  }
  return static_cast<int>(images.size());
}

MaskWriter::MaskWriter(const std::string& staging, const std::string& video, int digits, const std::string& split)
    : staging_(staging), video_(video), split_(split), digits_(digits) {
  dir_ = (fs::path(split_dir(staging, split, "gt_pixel")) / video).string();
  fs::create_directories(dir_);
}

void MaskWriter::add(const uint8_t* mask, int width, int height) {
  const int i = tracker_.frames();
  tracker_.add(mask, width, height);
  png_.assign(mask, mask + static_cast<size_t>(width) * height);
  bool any = false;
  for (auto& v : png_) {
    v = v ? 255 : 0;
    any = any || v;
  }
  abnormal_ += any;
  util::write_png_gray((fs::path(dir_) / frame_name(i, digits_, ".png")).string(), width, height, png_.data());
}

int MaskWriter::finish() {
  util::write_text_atomic((fs::path(split_dir(staging_, split_, "gt_tracks_derived")) / (video_ + ".txt")).string(),
                          format_tracks(tracker_.boxes()));
  return tracker_.tracks();
}

}  // namespace ssmtl::datasets
