// `ssmtl prepare --dataset NAME`: an official data-set distribution, as its users download it, turned into the
// layout every other part reads (shared/README.md, "Conventions of data/"):
//   <out>/training/frames/<video>/000.jpg ...
//   <out>/testing/frames/<video>/...   gt_frame/<video>.txt   gt_pixel/<video>/<i>.png (where masks exist)
//   <out>/testing/gt_tracks_derived/<video>.txt (region tracks made from the masks, data/datasets/mask_tracks.h)
// Everything is written under a hidden "<out>.partial.<pid>" folder next to <out> and renamed to <out> only when
// the whole data set converted, so <out> never holds a partial data set (a failure removes the partial folder;
// one left by a killed run is removed by the next run into the same <out>).
// Stray files of the distribution (names starting with '.', like .DS_Store and macOS "._x" files, Thumbs.db,
// desktop.ini) are ignored; anything else unexpected is an error naming the file.
#pragma once
#include <string>
#include <vector>

#include "data/video/prepare.h"

namespace ssmtl::datasets {

struct DatasetOptions {
  std::string root;              // the distribution's folder (see each data set's `layout`)
  std::string out;               // the prepared data set's folder (must not exist unless overwrite)
  bool overwrite = false;        // replace an existing <out> (only once the new one is complete)
  PrepareOptions video;          // ffmpeg decoding of .avi/.mp4/.tif (format, quality, ffmpeg program)
  std::string frame_labels;      // Avenue only: AnoPred's frame labels (avenue.mat, variable gt) -> gt_frame_anopred/
  std::string splits;            // UBnormal only: folder of the split lists (default <root>/scripts, else <root>)
};

// One converted video, as the converter reports it.
struct PreparedVideo {
  std::string split, name;       // "training"/"testing", our video name
  std::string source;            // the distribution's file or folder it came from
  int frames = 0;
  int abnormal_frames = -1;      // -1: no frame labels (training videos)
  int masks = 0;                 // pixel-mask frames written
  int tracks = -1;               // derived tracks; -1: no masks
};

struct PreparedDataset {
  std::string name, out;
  std::vector<PreparedVideo> videos;
};

struct DatasetInfo {
  const char* name;              // the --dataset value
  const char* title;             // e.g. "UCSD Ped2 (Mahadevan et al., CVPR 2010)"
  const char* layout;            // what --root must hold
  void (*convert)(const DatasetOptions& o, const std::string& staging, PreparedDataset& result);
};

// The data sets `prepare` knows, in a fixed order (one entry per data set; data/datasets/registry.cpp).
const std::vector<DatasetInfo>& dataset_list();

// Converts `name` (see dataset_list) from o.root to o.out. Throws std::invalid_argument for an unknown name
// (listing the known ones) and std::runtime_error naming the file, folder or line for anything wrong in the
// distribution: an unknown layout, a label file longer or shorter than its video, a missing mask frame, a
// video ffmpeg cannot decode, an existing <out> without overwrite. Nothing is left under <out> on failure.
PreparedDataset prepare_dataset(const std::string& name, const DatasetOptions& o);

}  // namespace ssmtl::datasets
