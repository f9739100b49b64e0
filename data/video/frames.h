// Videos stored as folders of frame images (<root>/<split>/frames/<video>/000.jpg ...; shared/README.md):
// listing in natural order, loading (lazily with a small cache, or all at once), and data-set enumeration.
// Frame i of a video is the i-th image file of its folder in natural order (PITFALLS 15).
#pragma once
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/video/image.h"

namespace ssmtl {

// Natural order: runs of digits compare by numeric value ("2" < "10" < "100"; "frame2" < "frame10"),
// everything else byte by byte; ties (e.g. "01" vs "1") are broken by the plain string order.
bool natural_less(const std::string& a, const std::string& b);

// True for names ending in .jpg .jpeg .png .bmp (any case). Hidden files ("._x.jpg", ".DS_Store") and
// anything else (Thumbs.db, .txt) are not frames.
bool is_image_file(const std::string& name);

// Full paths of the image files directly inside `dir`, in natural order. Throws std::runtime_error
// naming the folder when it does not exist or holds no image file.
std::vector<std::string> list_frame_files(const std::string& dir);

// What to do with a frame file that cannot be decoded (empty, truncated, corrupt; PITFALLS 17).
enum class CorruptFramePolicy {
  kError,   // std::runtime_error naming the file (default)
  kSkip,    // warn on stderr naming the file and keep the slot: it shows the nearest readable frame
            // (earlier first, then later), so the video keeps its length and frame numbering
};

struct VideoOptions {
  bool load_all = false;          // decode every frame when the Video is opened (uses memory: W*H*3 per frame)
  size_t cache_frames = 16;       // lazy mode: most recently used frames kept decoded (>= 7 for sequences)
  CorruptFramePolicy corrupt = CorruptFramePolicy::kError;
};

// One video = one frame folder. All frames of a video must have the same size (checked on load; a
// different size is a std::runtime_error naming the file); different videos may differ.
// frame() is thread-safe.
class Video {
 public:
  explicit Video(const std::string& dir, VideoOptions opts = {});
  const std::string& name() const { return name_; }   // the folder's name, e.g. "01"
  const std::string& dir() const { return dir_; }
  int num_frames() const { return static_cast<int>(paths_.size()); }
  int width() const { return width_; }     // of the first frame, read from its header
  int height() const { return height_; }
  const std::string& frame_path(int i) const;
  // Decoded frame i (0-based). Throws std::out_of_range naming the video for a bad index, and
  // std::runtime_error naming the file for an unreadable frame under kError.
  std::shared_ptr<const Image> frame(int i) const;
  // Frames replaced under kSkip so far (indices), for reports.
  std::vector<int> skipped_frames() const;

 private:
  std::shared_ptr<const Image> load(int i) const;            // decode + size check, honours the policy
  std::shared_ptr<const Image> decode_checked(int i) const;  // throws on failure
  std::string dir_, name_;
  std::vector<std::string> paths_;
  VideoOptions opts_;
  int width_ = 0, height_ = 0;
  mutable std::mutex mu_;
  mutable std::vector<std::shared_ptr<const Image>> all_;     // load_all mode
  mutable std::list<int> lru_;                                // lazy mode, most recent first
  mutable std::unordered_map<int, std::shared_ptr<const Image>> cache_;
  mutable std::vector<int> skipped_;
};

// Video names of a split: the sub-folders of <root>/<split>/frames, in natural order. Throws
// std::runtime_error naming the folder when it is missing or empty.
std::vector<std::string> list_videos(const std::string& root, const std::string& split);
// "<root>/<split>/frames/<video>"
std::string video_dir(const std::string& root, const std::string& split, const std::string& video);

}  // namespace ssmtl
