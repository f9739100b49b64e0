// UBnormal (Acsintoae et al., CVPR 2022) as distributed: Scene1/ .. Scene29/ folders of normal_scene_K_scenario_S.mp4
// and abnormal_scene_K_scenario_S.mp4, each abnormal video with <video>_annotations/ holding <video>_tracks.txt
// (lines "object_id,first_frame,last_frame", 0-based inclusive; <video>_new_tracks.txt, the corrected version,
// is used when present) and <video>_FFFF_gt.png maps whose pixel value is the object id; plus the official split
// lists {normal,abnormal}_{training,validation,test}_video_names.txt (the data set's GitHub repository, scripts/).
// Each split becomes one of our splits (training, validation, testing; the abnormal training videos go to
// training_abnormal/, so that training/ is what a one-class method such as SSMTL++ trains on, as in the paper)
// with, for every video: frames/, gt_frame/
// (a frame is abnormal inside any track), gt_pixel/ (abnormal objects' pixels; abnormal videos only),
// gt_tracks/ (the shipped tracks: per object and frame, the box of its pixels; empty file for normal videos) and
// gt_tracks_derived/ (from the masks, as for the other data sets).
#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>

#include "data/datasets/staging.h"
#include "data/video/image.h"
#include "util/atomic_file.h"
#include "util/progress.h"

namespace ssmtl::datasets {
namespace fs = std::filesystem;
namespace {

const char* kLayout =
    "SceneK/{normal,abnormal}_scene_K_scenario_S.mp4, SceneK/<video>_annotations/<video>_tracks.txt + "
    "<video>_FFFF_gt.png, and the split lists {normal,abnormal}_{training,validation,test}_video_names.txt";

struct Track {
  int id = 0, first = 0, last = 0;
};

std::vector<Track> read_tracks(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error(path + ": cannot open the track file");
  std::vector<Track> tracks;
  std::string line;
  for (int no = 1; std::getline(f, line); ++no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    double v[3];
    int used = 0;
    if (std::sscanf(line.c_str(), " %lf , %lf , %lf %n", &v[0], &v[1], &v[2], &used) != 3 ||
        line.find_first_not_of(" \t\r", static_cast<size_t>(used)) != std::string::npos)
      throw std::runtime_error(path + ":" + std::to_string(no) + ": not 'object_id,first_frame,last_frame': " + line);
    for (double x : v)
      if (x != static_cast<int>(x) || x < 0)
        throw std::runtime_error(path + ":" + std::to_string(no) + ": not a non-negative integer in: " + line);
    if (v[0] == 0) throw std::runtime_error(path + ":" + std::to_string(no) + ": object id 0 is the maps' background: " + line);
    if (v[2] < v[1]) throw std::runtime_error(path + ":" + std::to_string(no) + ": last frame before first: " + line);
    tracks.push_back({static_cast<int>(v[0]), static_cast<int>(v[1]), static_cast<int>(v[2])});
  }
  if (tracks.empty()) throw std::runtime_error(path + ": no track in an abnormal video's track file");
  return tracks;
}

std::vector<std::string> read_list(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error(path + ": cannot open the split list");
  std::vector<std::string> names;
  std::string w;
  while (f >> w) names.push_back(w);
  return names;
}

// The abnormal video's annotations: labels, masks, shipped and derived tracks.
void convert_annotations(const std::string& ann, const std::string& video, const std::string& split, int frames,
                         int width, int height, const std::string& staging, PreparedVideo& v) {
  std::error_code ec;
  std::string track_file = (fs::path(ann) / (video + "_new_tracks.txt")).string();
  if (!fs::exists(track_file, ec)) track_file = (fs::path(ann) / (video + "_tracks.txt")).string();
  if (!fs::exists(track_file, ec)) throw std::runtime_error(track_file + ": track file of abnormal video " + video + " missing");
  auto tracks = read_tracks(track_file);
  std::stable_sort(tracks.begin(), tracks.end(), [](const Track& a, const Track& b) { return a.id < b.id; });
  std::vector<int> labels(static_cast<size_t>(frames), 0);
  for (const auto& t : tracks) {
    if (t.last >= frames)
      throw std::runtime_error(track_file + ": object " + std::to_string(t.id) + " ends at frame " +
                               std::to_string(t.last) + " but the video has " + std::to_string(frames) + " frames");
    for (int i = t.first; i <= t.last; ++i) labels[static_cast<size_t>(i)] = 1;
  }
  write_frame_labels(staging, video, labels, "gt_frame", split);
  v.abnormal_frames = 0;
  for (int l : labels) v.abnormal_frames += l;
  MaskWriter writer(staging, video, 4, split);
  std::string shipped;
  std::vector<std::vector<std::array<int, 5>>> boxes(tracks.size());   // per track: frame, x0, y0, x1, y1
  std::vector<uint8_t> m(static_cast<size_t>(width) * height);
  for (int i = 0; i < frames; ++i) {
    std::fill(m.begin(), m.end(), 0);
    if (labels[static_cast<size_t>(i)]) {
      char name[32];
      std::snprintf(name, sizeof name, "_%04d_gt.png", i);
      const std::string map_path = (fs::path(ann) / (video + name)).string();
      if (!fs::exists(map_path, ec))
        throw std::runtime_error(map_path + ": mask frame missing (frame " + std::to_string(i) + " is inside a track of " +
                                 track_file + ")");
      const Image map = load_image(map_path);
      if (map.width != width || map.height != height)
        throw std::runtime_error(map_path + ": mask is " + std::to_string(map.width) + "x" + std::to_string(map.height) +
                                 ", the frames are " + std::to_string(width) + "x" + std::to_string(height));
      for (size_t k = 0; k < tracks.size(); ++k) {
        const auto& t = tracks[k];
        if (i < t.first || i > t.last) continue;
        int x0 = width, y0 = height, x1 = -1, y1 = -1;
        for (int y = 0; y < height; ++y)
          for (int x = 0; x < width; ++x)
            if (map.at(x, y, 0) == t.id) {
              m[static_cast<size_t>(y) * width + x] = 1;
              x0 = std::min(x0, x); y0 = std::min(y0, y); x1 = std::max(x1, x); y1 = std::max(y1, y);
            }
        if (x1 >= 0) boxes[k].push_back({i, x0, y0, x1, y1});   // an object hidden in this frame has no box
      }
    }
    writer.add(m.data(), width, height);
  }
  for (size_t k = 0; k < boxes.size(); ++k)
    for (const auto& b : boxes[k])
      shipped += std::to_string(k) + "," + std::to_string(b[0]) + "," + std::to_string(b[1]) + "," + std::to_string(b[2]) +
                 "," + std::to_string(b[3]) + "," + std::to_string(b[4]) + "\n";
  util::write_text_atomic((fs::path(split_dir(staging, split, "gt_tracks")) / (video + ".txt")).string(), shipped);
  v.tracks = writer.finish();
  v.masks = writer.frames();
}

}  // namespace

void convert_ubnormal(const DatasetOptions& o, const std::string& staging, PreparedDataset& result) {
  std::error_code ec;
  const std::string root = o.root;
  // Videos of all Scene folders: name -> path.
  std::map<std::string, std::string> videos;
  for (const auto& d : list_dirs(root)) {
    if (d.rfind("Scene", 0) != 0) continue;
    for (const auto& p : list_files((fs::path(root) / d).string(), {".mp4", ".avi"}))
      videos.emplace(fs::path(p).stem().string(), p);
  }
  if (videos.empty()) throw std::runtime_error(root + ": not a UBnormal distribution: no SceneK/*.mp4 (expected: " + kLayout + ")");
  std::string lists = o.splits;
  if (lists.empty()) lists = fs::exists(fs::path(root) / "scripts", ec) ? (fs::path(root) / "scripts").string() : root;
  const std::vector<std::pair<std::string, std::string>> splits = {
      {"training", "training"}, {"validation", "validation"}, {"testing", "test"}};
  std::vector<std::pair<std::string, std::string>> todo;   // (split, video)
  std::set<std::string> listed;
  for (const auto& [split, tag] : splits)
    for (const char* kind : {"normal", "abnormal"}) {
      const std::string list = (fs::path(lists) / (std::string(kind) + "_" + tag + "_video_names.txt")).string();
      if (!fs::exists(list, ec))
        throw std::runtime_error(list + ": UBnormal split list missing (the data set's repository ships the six lists in "
                                        "scripts/; pass their folder with --splits)");
      for (const auto& name : read_list(list)) {
        if (!videos.count(name)) throw std::runtime_error(list + ": video " + name + " not found in " + root + "/Scene*/");
        if (!listed.insert(name).second) throw std::runtime_error(list + ": video " + name + " is in two split lists");
        // The paper trains on the normal training videos only (SSMTL++ section 4.1, UBnormal): training/ holds
        // those, and the abnormal training videos, with their annotations, go to training_abnormal/.
        todo.emplace_back(split == "training" && std::string(kind) == "abnormal" ? "training_abnormal" : split, name);
      }
    }
  if (listed.size() != videos.size())
    std::fprintf(stderr, "prepare: %zu videos of %s are in no split list and are left out\n", videos.size() - listed.size(),
                 root.c_str());
  PrepareOptions vo = o.video;
  vo.digits = 4;
  util::Progress progress("prepare ubnormal", static_cast<int64_t>(todo.size()), "videos", 2.0);
  for (const auto& [split, name] : todo) {
    const std::string path = videos.at(name);
    PreparedVideo v{split, name, path};
    const std::string frames_dir = split_dir(staging, split, "frames");
    v.frames = prepare_video(path, frames_dir, vo).frames;
    const fs::path ann = fs::path(path).parent_path() / (name + "_annotations");
    if (name.rfind("abnormal_", 0) == 0) {
      if (!fs::is_directory(ann, ec)) throw std::runtime_error(ann.string() + ": annotations of abnormal video missing");
      int w = 0, h = 0;
      image_size((fs::path(frames_dir) / name / frame_name(0, vo.digits, "." + vo.format)).string(), w, h);
      convert_annotations(ann.string(), name, split, v.frames, w, h, staging, v);
    } else {
      write_frame_labels(staging, name, std::vector<int>(static_cast<size_t>(v.frames), 0), "gt_frame", split);
      util::write_text_atomic((fs::path(split_dir(staging, split, "gt_tracks")) / (name + ".txt")).string(), "");
      util::write_text_atomic((fs::path(split_dir(staging, split, "gt_tracks_derived")) / (name + ".txt")).string(), "");
      v.abnormal_frames = 0;
      v.tracks = 0;
    }
    result.videos.push_back(v);
    progress.add();
  }
  progress.finish();
}

}  // namespace ssmtl::datasets
