// CUHK Avenue as distributed: training_videos/NN.avi, testing_videos/NN.avi (decoded with ffmpeg) and
// ground_truth_demo/testing_label_mask/N_label.mat, whose variable volLabel is a 1 x frames cell of
// height x width masks (MAT level 5, data/datasets/mat5.h). gt_frame/ follows the masks (a frame is abnormal
// when its mask has an abnormal pixel); AnoPred's labelling (Liu et al., CVPR 2018: avenue.mat, variable gt, a
// 1 x videos cell of 2 x K [first; last] 1-based intervals), the other one in common use, goes to
// gt_frame_anopred/ when given with --frame-labels.
#include <cmath>
#include <filesystem>
#include <stdexcept>

#include "data/datasets/mat5.h"
#include "data/datasets/staging.h"
#include "data/datasets/ucsd_m.h"
#include "data/video/image.h"
#include "util/progress.h"

namespace ssmtl::datasets {
namespace fs = std::filesystem;
namespace {

const char* kLayout =
    "training_videos/NN.avi, testing_videos/NN.avi, ground_truth_demo/testing_label_mask/N_label.mat (volLabel)";

// "07" -> "7_label.mat".
std::string mask_file_name(const std::string& video) {
  size_t i = 0;
  while (i + 1 < video.size() && video[i] == '0') ++i;
  return video.substr(i) + "_label.mat";
}

// The masks of one test video into gt_pixel/ and gt_tracks_derived/; returns the frame labels.
std::vector<int> convert_masks(const std::string& mat, const std::string& video, int frames, const std::string& frame0,
                               const std::string& staging, int digits, PreparedVideo& v) {
  const MatArray vol = read_mat_variable(mat, "volLabel");
  if (vol.cls != MatClass::kCell)
    throw std::runtime_error(mat + ": volLabel is not a cell array (one mask per frame)");
  if (vol.numel() != frames)
    throw std::runtime_error(mat + ": volLabel has " + std::to_string(vol.numel()) + " masks for a video of " +
                             std::to_string(frames) + " frames (" + video + ")");
  int w = 0, h = 0;
  image_size(frame0, w, h);
  MaskWriter writer(staging, v.name, digits);
  std::vector<int> labels;
  std::vector<uint8_t> m(static_cast<size_t>(w) * h);
  for (int i = 0; i < frames; ++i) {
    const MatArray& c = vol.cells[static_cast<size_t>(i)];
    if (c.dims.size() != 2 || c.dims[0] != h || c.dims[1] != w || c.cls == MatClass::kCell || c.cls == MatClass::kStruct)
      throw std::runtime_error(mat + ": volLabel{" + std::to_string(i + 1) + "} is not a " + std::to_string(h) + "x" +
                               std::to_string(w) + " matrix (the frames' height x width)");
    bool any = false;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {   // MATLAB is column-major
        m[static_cast<size_t>(y) * w + x] = c.value(static_cast<int64_t>(x) * h + y) != 0.0;
        any = any || m[static_cast<size_t>(y) * w + x];
      }
    labels.push_back(any);
    writer.add(m.data(), w, h);
  }
  v.tracks = writer.finish();
  v.masks = writer.frames();
  return labels;
}

// AnoPred's frame labels: gt{k} = 2 x K [first; last] for the k-th test video.
std::vector<Intervals> read_anopred_labels(const std::string& path, size_t videos) {
  const MatArray gt = read_mat_variable(path, "gt");
  if (gt.cls != MatClass::kCell || gt.numel() != static_cast<int64_t>(videos))
    throw std::runtime_error(path + ": gt must be a cell with one entry per test video (" + std::to_string(videos) +
                             "), it has " + std::to_string(gt.numel()));
  std::vector<Intervals> out;
  for (size_t k = 0; k < videos; ++k) {
    const MatArray& c = gt.cells[k];
    if (c.numel() == 0) { out.emplace_back(); continue; }
    if (c.dims.size() != 2 || c.dims[0] != 2)
      throw std::runtime_error(path + ": gt{" + std::to_string(k + 1) + "} is not a 2 x K matrix of [first; last] frames");
    Intervals iv;
    for (int64_t j = 0; j < c.dims[1]; ++j) {
      const double a = c.at(0, j), b = c.at(1, j);
      if (a != std::floor(a) || b != std::floor(b) || a < 1 || b < a)
        throw std::runtime_error(path + ": gt{" + std::to_string(k + 1) + "} column " + std::to_string(j + 1) +
                                 " is not a 1-based range first <= last");
      iv.emplace_back(static_cast<int64_t>(a), static_cast<int64_t>(b));
    }
    out.push_back(iv);
  }
  return out;
}

}  // namespace

void convert_avenue(const DatasetOptions& o, const std::string& staging, PreparedDataset& result) {
  std::string root = o.root;
  std::error_code ec;
  if (!fs::is_directory(fs::path(root) / "training_videos", ec) && fs::is_directory(fs::path(root) / "Avenue Dataset", ec))
    root = (fs::path(root) / "Avenue Dataset").string();
  const std::string what = "CUHK Avenue", masks_rel = "ground_truth_demo/testing_label_mask";
  for (const char* rel : {"training_videos", "testing_videos", "ground_truth_demo/testing_label_mask"})
    require_path(root, rel, what, kLayout);
  const std::string masks_dir = (fs::path(root) / masks_rel).string();
  PrepareOptions vo = o.video;
  vo.digits = 4;   // the longest Avenue video has 1439 frames
  const auto train = list_video_files((fs::path(root) / "training_videos").string());
  const auto test = list_video_files((fs::path(root) / "testing_videos").string());
  std::vector<std::string> expected;
  for (const auto& t : test) expected.push_back(mask_file_name(fs::path(t).stem().string()));
  for (const auto& m : list_files(masks_dir, {".mat"})) {
    bool found = false;
    for (const auto& e : expected) found = found || fs::path(m).filename() == e;
    if (!found) throw std::runtime_error(m + ": no test video in testing_videos/ for these masks");
  }
  const std::vector<Intervals> anopred =
      o.frame_labels.empty() ? std::vector<Intervals>{} : read_anopred_labels(o.frame_labels, test.size());
  util::Progress progress("prepare avenue", static_cast<int64_t>(train.size() + test.size()), "videos", 2.0);
  for (const auto& path : train) {
    PreparedVideo v{"training", fs::path(path).stem().string(), path};
    v.frames = prepare_video(path, split_dir(staging, "training", "frames"), vo).frames;
    result.videos.push_back(v);
    progress.add();
  }
  for (size_t k = 0; k < test.size(); ++k) {
    PreparedVideo v{"testing", fs::path(test[k]).stem().string(), test[k]};
    const std::string frames_dir = split_dir(staging, "testing", "frames");
    v.frames = prepare_video(test[k], frames_dir, vo).frames;
    const std::string mat = (fs::path(masks_dir) / expected[k]).string();
    if (!fs::exists(mat, ec)) throw std::runtime_error(mat + ": masks of test video " + test[k] + " missing");
    const auto labels = convert_masks(mat, test[k], v.frames,
                                      (fs::path(frames_dir) / v.name / frame_name(0, vo.digits, "." + vo.format)).string(),
                                      staging, vo.digits, v);
    write_frame_labels(staging, v.name, labels);
    v.abnormal_frames = 0;
    for (int l : labels) v.abnormal_frames += l;
    if (!anopred.empty())
      write_frame_labels(staging, v.name,
                         labels_from_intervals(anopred[k], v.frames, o.frame_labels + ": gt{" + std::to_string(k + 1) + "}"),
                         "gt_frame_anopred");
    result.videos.push_back(v);
    progress.add();
  }
  progress.finish();
}

}  // namespace ssmtl::datasets
