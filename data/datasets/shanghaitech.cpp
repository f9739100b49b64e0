// ShanghaiTech Campus as distributed: training/videos/SS_VVV.avi (decoded with ffmpeg),
// testing/frames/SS_VVVV/NNN.jpg (copied, or hard-linked), testing/test_frame_mask/SS_VVVV.npy (one 0/1 label per
// frame) and testing/test_pixel_mask/SS_VVVV.npy (frames x height x width masks), read with data/datasets/npy.h.
// Video names are kept ("01_001", "01_0014"); frames become 0000.<ext>.
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "data/datasets/npy.h"
#include "data/datasets/staging.h"
#include "data/video/frames.h"
#include "data/video/image.h"
#include "util/progress.h"

namespace ssmtl::datasets {
namespace fs = std::filesystem;
namespace {

const char* kLayout =
    "training/videos/SS_VVV.avi, testing/frames/SS_VVVV/NNN.jpg, testing/test_frame_mask/SS_VVVV.npy, "
    "testing/test_pixel_mask/SS_VVVV.npy";

// Every .npy of `dir` must belong to a test video (nothing silently dropped).
void check_no_orphans(const std::string& dir, const std::vector<std::string>& videos) {
  for (const auto& p : list_files(dir, {".npy"})) {
    const std::string stem = fs::path(p).stem().string();
    bool found = false;
    for (const auto& v : videos) found = found || v == stem;
    if (!found) throw std::runtime_error(p + ": no test video folder testing/frames/" + stem + " for this mask");
  }
}

std::vector<int> frame_labels(const std::string& path, int frames) {
  NpyHeader h;
  const auto v = read_npy(path, &h);
  if (h.shape.size() != 1)
    throw std::runtime_error(path + ": frame mask must be 1-D (one label per frame), it has " +
                             std::to_string(h.shape.size()) + " dimensions");
  if (static_cast<int64_t>(v.size()) != frames)
    throw std::runtime_error(path + ": " + std::to_string(v.size()) + " frame labels for a video of " +
                             std::to_string(frames) + " frames");
  std::vector<int> labels(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != 0 && v[i] != 1)
      throw std::runtime_error(path + ": frame " + std::to_string(i) + " has label " + std::to_string(v[i]) + ", not 0 or 1");
    labels[i] = static_cast<int>(v[i]);
  }
  return labels;
}

void pixel_masks(const std::string& path, int frames, int width, int height, const std::string& staging,
                 const std::string& video, int digits, PreparedVideo& v) {
  const NpyHeader h = read_npy_header(path);
  if (h.shape.size() != 3 || h.shape[0] != frames || h.shape[1] != height || h.shape[2] != width)
    throw std::runtime_error(path + ": pixel mask shape (" + [&] {
      std::string s;
      for (size_t i = 0; i < h.shape.size(); ++i) s += (i ? ", " : "") + std::to_string(h.shape[i]);
      return s;
    }() + ") is not (frames, height, width) = (" + std::to_string(frames) + ", " + std::to_string(height) + ", " +
                             std::to_string(width) + ")");
  MaskWriter writer(staging, video, digits);
  for (int i = 0; i < frames; ++i) {
    const auto m = read_npy_nonzero_slice(h, i);
    writer.add(m.data(), width, height);
  }
  v.tracks = writer.finish();
  v.masks = writer.frames();
}

}  // namespace

void convert_shanghaitech(const DatasetOptions& o, const std::string& staging, PreparedDataset& result) {
  const std::string root = o.root, what = "ShanghaiTech Campus";
  for (const char* rel : {"training/videos", "testing/frames", "testing/test_frame_mask"})
    require_path(root, rel, what, kLayout);
  const fs::path testing = fs::path(root) / "testing";
  const std::string frame_masks = (testing / "test_frame_mask").string(), pixel_dir = (testing / "test_pixel_mask").string();
  std::error_code ec;
  const bool have_pixel = fs::is_directory(pixel_dir, ec);
  PrepareOptions vo = o.video;
  vo.digits = 4;
  const auto train_videos = list_video_files((fs::path(root) / "training" / "videos").string());
  const auto test_videos = list_dirs((testing / "frames").string());
  if (test_videos.empty()) throw std::runtime_error((testing / "frames").string() + ": no test video folders");
  check_no_orphans(frame_masks, test_videos);
  if (have_pixel) check_no_orphans(pixel_dir, test_videos);
  util::Progress progress("prepare shanghaitech", static_cast<int64_t>(train_videos.size() + test_videos.size()),
                          "videos", 2.0);
  for (const auto& path : train_videos) {
    PreparedVideo v{"training", fs::path(path).stem().string(), path};
    v.frames = prepare_video(path, split_dir(staging, "training", "frames"), vo).frames;
    result.videos.push_back(v);
    progress.add();
  }
  for (const auto& name : test_videos) {
    const std::string dir = (testing / "frames" / name).string();
    PreparedVideo v{"testing", name, dir};
    const auto images = list_files(dir, {".jpg", ".jpeg", ".png"});
    if (images.empty()) throw std::runtime_error(dir + ": no .jpg frames");
    v.frames = copy_frames(images, staging, "testing", name, vo.digits);
    const std::string label_file = frame_masks + "/" + name + ".npy";
    if (!fs::exists(label_file, ec)) throw std::runtime_error(label_file + ": frame mask of test video " + name + " missing");
    const auto labels = frame_labels(label_file, v.frames);
    write_frame_labels(staging, name, labels);
    v.abnormal_frames = 0;
    for (int l : labels) v.abnormal_frames += l;
    const std::string pixel_file = pixel_dir + "/" + name + ".npy";
    if (have_pixel) {
      if (!fs::exists(pixel_file, ec)) throw std::runtime_error(pixel_file + ": pixel mask of test video " + name + " missing");
      int w = 0, h = 0;
      image_size(images[0], w, h);
      pixel_masks(pixel_file, v.frames, w, h, staging, name, vo.digits, v);
    }
    result.videos.push_back(v);
    progress.add();
  }
  progress.finish();
}

}  // namespace ssmtl::datasets
