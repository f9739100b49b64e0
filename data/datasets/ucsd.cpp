// UCSD Anomaly Detection Dataset (Ped1, Ped2) as distributed: UCSDpedN/Train/TrainNNN/NNN.tif,
// Test/TestNNN/NNN.tif, Test/TestNNN_gt/NNN.bmp (pixel masks, for the clips that have them) and the frame
// intervals in Test/UCSDpedN.m (data/datasets/ucsd_m.h). Clip TrainNNN / TestNNN becomes video "NN" (at least
// two digits, as in shared/data/ped2), frames 000.jpg ... (ffmpeg converts the .tif files).
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>
#include <stdexcept>

#include "data/datasets/staging.h"
#include "data/datasets/ucsd_m.h"
#include "data/video/image.h"
#include "util/progress.h"

namespace ssmtl::datasets {
namespace fs = std::filesystem;
namespace {

// "Test012" with prefix "Test" -> 12; -1 when the name is not prefix + digits.
long clip_number(const std::string& name, const std::string& prefix) {
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return -1;
  for (size_t i = prefix.size(); i < name.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return -1;
  return std::stol(name.substr(prefix.size()));
}

std::string video_name(long number) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02ld", number);
  return buf;
}

// The trailing number of a file stem ("frame007" -> 7), -1 if none: matches masks to frames by number.
long trailing_number(const std::string& path) {
  const std::string s = fs::path(path).stem().string();
  size_t i = s.size();
  while (i > 0 && std::isdigit(static_cast<unsigned char>(s[i - 1]))) --i;
  return i == s.size() || s.size() - i > 9 ? -1 : std::stol(s.substr(i));
}

// The clip folders "<prefix>NNN" of `dir` (natural order); other folders are reported on stderr, except
// "<prefix>NNN_gt" when allow_gt.
std::vector<std::string> clip_dirs(const std::string& dir, const std::string& prefix, bool allow_gt) {
  std::vector<std::string> clips;
  for (const auto& d : list_dirs(dir)) {
    if (clip_number(d, prefix) >= 0) clips.push_back(d);
    else if (!(allow_gt && d.size() > 3 && d.compare(d.size() - 3, 3, "_gt") == 0 &&
               clip_number(d.substr(0, d.size() - 3), prefix) >= 0))
      std::fprintf(stderr, "prepare: ignored %s (not a %sNNN clip folder)\n", (fs::path(dir) / d).c_str(), prefix.c_str());
  }
  return clips;
}

std::vector<std::string> tif_frames(const std::string& dir) {
  auto tifs = list_files(dir, {".tif", ".tiff"});
  if (tifs.empty()) throw std::runtime_error(dir + ": no .tif frames");
  return tifs;
}

// Masks of a test clip from its _gt folder, matched to the frames by file number.
void convert_masks(const std::string& gt_dir, const std::vector<std::string>& tifs, const std::string& frame0,
                   const std::string& staging, const std::string& video, int digits, PreparedVideo& v) {
  std::map<long, std::string> masks;
  for (const auto& b : list_files(gt_dir, {".bmp", ".png"})) {
    const long k = trailing_number(b);
    if (k < 0 || !masks.emplace(k, b).second) throw std::runtime_error(b + ": mask file name without a unique frame number");
  }
  std::map<long, std::string> frames;
  for (const auto& t : tifs) frames.emplace(trailing_number(t), t);
  for (const auto& [k, b] : masks)
    if (!frames.count(k)) throw std::runtime_error(b + ": mask for a frame the clip does not have (" +
                                                   std::to_string(tifs.size()) + " frames)");
  int fw = 0, fh = 0;
  image_size(frame0, fw, fh);
  MaskWriter writer(staging, video, digits);
  std::vector<uint8_t> m;
  for (const auto& t : tifs) {
    auto it = masks.find(trailing_number(t));
    if (it == masks.end())
      throw std::runtime_error(gt_dir + ": mask frame missing for " + fs::path(t).filename().string() + " (" +
                               std::to_string(masks.size()) + " masks for " + std::to_string(tifs.size()) + " frames)");
    const Image img = load_image(it->second);
    if (img.width != fw || img.height != fh)
      throw std::runtime_error(it->second + ": mask is " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                               ", the frames are " + std::to_string(fw) + "x" + std::to_string(fh));
    m.assign(static_cast<size_t>(fw) * fh, 0);
    for (size_t i = 0; i < m.size(); ++i) m[i] = img.rgb[3 * i] != 0;
    writer.add(m.data(), fw, fh);
  }
  v.tracks = writer.finish();
  v.masks = writer.frames();
}

void convert_ucsd(int n, const DatasetOptions& o, const std::string& staging, PreparedDataset& result) {
  const std::string folder = "UCSDped" + std::to_string(n), what = "UCSD Ped" + std::to_string(n);
  const std::string layout = folder + "/Train/TrainNNN/NNN.tif, Test/TestNNN/NNN.tif, Test/" + folder + ".m";
  std::string root = o.root;
  std::error_code ec;
  if (!fs::is_directory(fs::path(root) / "Train", ec) && fs::is_directory(fs::path(root) / folder, ec))
    root = (fs::path(root) / folder).string();
  require_path(root, "Train", what, layout);
  require_path(root, "Test", what, layout);
  const std::string label_file = (fs::path(root) / "Test" / (folder + ".m")).string();
  require_path(root, "Test/" + folder + ".m", what, layout);
  PrepareOptions vo = o.video;
  vo.digits = 3;   // 000.jpg as in shared/data/ped2 (clips have 120..200 frames)
  const std::string train = (fs::path(root) / "Train").string(), test = (fs::path(root) / "Test").string();
  const auto train_clips = clip_dirs(train, "Train", false), test_clips = clip_dirs(test, "Test", true);
  if (train_clips.empty()) throw std::runtime_error(train + ": no TrainNNN clip folders (expected: " + layout + ")");
  if (test_clips.empty()) throw std::runtime_error(test + ": no TestNNN clip folders (expected: " + layout + ")");
  const auto intervals = read_ucsd_m(label_file);
  if (intervals.size() != test_clips.size())
    throw std::runtime_error(label_file + ": labels for " + std::to_string(intervals.size()) + " test clips, but " + test +
                             " has " + std::to_string(test_clips.size()) + " (" + test_clips.front() + ".." +
                             test_clips.back() + ")");
  util::Progress progress("prepare " + folder, static_cast<int64_t>(train_clips.size() + test_clips.size()), "clips", 2.0);
  for (const auto& c : train_clips) {
    const std::string dir = (fs::path(train) / c).string();
    PreparedVideo v{"training", video_name(clip_number(c, "Train")), dir};
    v.frames = prepare_image_sequence(tif_frames(dir), split_dir(staging, "training", "frames"), v.name, vo).frames;
    result.videos.push_back(v);
    progress.add();
  }
  for (size_t k = 0; k < test_clips.size(); ++k) {
    const std::string dir = (fs::path(test) / test_clips[k]).string();
    PreparedVideo v{"testing", video_name(clip_number(test_clips[k], "Test")), dir};
    const auto tifs = tif_frames(dir);
    const std::string frames_dir = split_dir(staging, "testing", "frames");
    v.frames = prepare_image_sequence(tifs, frames_dir, v.name, vo).frames;
    const auto labels = labels_from_intervals(intervals[k], v.frames, label_file + ": " + test_clips[k]);
    write_frame_labels(staging, v.name, labels);
    v.abnormal_frames = 0;
    for (int l : labels) v.abnormal_frames += l;
    const fs::path gt = fs::path(test) / (test_clips[k] + "_gt");
    if (fs::is_directory(gt, ec))
      convert_masks(gt.string(), tifs, (fs::path(frames_dir) / v.name / frame_name(0, vo.digits, "." + vo.format)).string(),
                    staging, v.name, vo.digits, v);
    result.videos.push_back(v);
    progress.add();
  }
  progress.finish();
}

}  // namespace

void convert_ucsd_ped1(const DatasetOptions& o, const std::string& s, PreparedDataset& r) { convert_ucsd(1, o, s, r); }
void convert_ucsd_ped2(const DatasetOptions& o, const std::string& s, PreparedDataset& r) { convert_ucsd(2, o, s, r); }

}  // namespace ssmtl::datasets
