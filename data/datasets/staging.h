// Internal helpers of the data-set converters (data/datasets/*.cpp): writing the prepared layout into the
// staging folder and listing a distribution's files without its stray files.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/datasets/dataset.h"
#include "data/datasets/mask_tracks.h"

namespace ssmtl::datasets {

// A name to ignore in a distribution: starts with '.' (.DS_Store, macOS "._x" forks, hidden files),
// or is Thumbs.db / desktop.ini (any case).
bool is_stray_file(const std::string& name);

// Regular files directly in `dir` whose extension (any case) is one of `exts` (".tif"), natural order,
// full paths; stray files skipped. Throws std::runtime_error naming `dir` when it is not a folder.
std::vector<std::string> list_files(const std::string& dir, const std::vector<std::string>& exts);
// Sub-folder names of `dir`, natural order, stray names skipped. Throws like list_files.
std::vector<std::string> list_dirs(const std::string& dir);
// Throws std::runtime_error "<root>: not a <what> distribution: <path> missing (expected: <layout>)".
void require_path(const std::string& root, const std::string& rel, const std::string& what,
                  const std::string& layout);

// "<staging>/<split>/<folder>" (created).
std::string split_dir(const std::string& staging, const std::string& split, const std::string& folder);
// <split>/<folder>/<video>.txt, one 0/1 per line (folder "gt_frame" or another labelling).
void write_frame_labels(const std::string& staging, const std::string& video, const std::vector<int>& labels,
                        const std::string& folder = "gt_frame", const std::string& split = "testing");
// Copies (hard link when possible) image files as <staging>/<split>/frames/<video>/0000.<ext>...: frame i is
// images[i]. Every image's header is read (stb_image) and all must have one size; throws naming the file.
int copy_frames(const std::vector<std::string>& images, const std::string& staging, const std::string& split,
                const std::string& video, int digits);
// Frame i's file name with `digits` zero padding and extension ("007.png").
std::string frame_name(int i, int digits, const std::string& ext);

// Pixel masks of one video: each add() writes <split>/gt_pixel/<video>/<i>.png (255 = abnormal) and feeds the
// track derivation; finish() writes <split>/gt_tracks_derived/<video>.txt and returns the number of tracks.
class MaskWriter {
 public:
  MaskWriter(const std::string& staging, const std::string& video, int digits, const std::string& split = "testing");
  // mask: width x height bytes, row-major, nonzero = abnormal.
  void add(const uint8_t* mask, int width, int height);
  int finish();
  int frames() const { return tracker_.frames(); }
  int abnormal_frames() const { return abnormal_; }   // frames with at least one abnormal pixel
 private:
  std::string staging_, video_, split_, dir_;
  int digits_;
  MaskTracker tracker_;
  int abnormal_ = 0;
  std::vector<uint8_t> png_;
};

}  // namespace ssmtl::datasets
