// `ssmtl experiment FILE`: the grid file and its expansion into runs (one per grid point and seed).
//
// The file, one statement per line ('#' starts a comment):
//   name = table2-small                       the experiment's name (folder runs/experiments/<name>)
//   data = ../shared/data/ped2                data set root (training/ and testing/ as `ssmtl detect` reads)
//   config = configs/ssmtl++v1-cpu.txt        the base configuration of `ssmtl train`
//   seeds = 0, 1, 2                           train.seed of each run of a grid point
//   KEY = VALUE                               a setting for every run (see below)
//   grid KEY = V1 | V2 | ...                  an axis: one grid point per value ('|' separates, so values may hold commas)
//   variant LABEL: K1 = V1; K2 = V2           a point of the axis "variant": several settings under one label
// Settings: detect.method / detect.conf / detect.flow_scale (-> ssmtl detect --method/--conf/--flow-scale),
// score.normalize / score.frame_mode / score.cell / score.min_height_rel / score.filter / score.window_ends
// (-> ssmtl score), score.checkpoint (best = best.ckpt, the default; swa = swa.ckpt of train.swa_epochs), eval.sigma
// (-> evaluate), videos.training / videos.testing (comma lists, the videos used; empty = all), and any
// configuration key (model.*, train.*) given to `ssmtl train --set`. Later lines override earlier ones; axis values override
// the fixed settings. The grid is the cartesian product of the axes in file order, variants included.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ssmtl::app {

struct AxisValue {
  std::string label;                                        // "3d" or the variant's label
  std::vector<std::pair<std::string, std::string>> settings;
};

struct Axis {
  std::string name;                                         // the key, or "variant"
  std::vector<AxisValue> values;
};

struct ExperimentSpec {
  std::string name, data, config;
  std::vector<int> seeds{0};
  std::vector<std::pair<std::string, std::string>> fixed;   // in file order
  std::vector<Axis> axes;
  // Parses the file; throws std::runtime_error "FILE:LINE: ..." for a line that is not a statement, an
  // empty axis, a repeated axis, a bad seed, or a missing name / data / config.
  static ExperimentSpec parse(const std::string& text, const std::string& file);
};

// One run: a grid point's label ("model.backbone.transformer=3d, variant=T1+T2") and its settings (fixed, then
// the point's axis values), and the seed.
struct GridPoint {
  std::string label;
  std::map<std::string, std::string> settings;
};
std::vector<GridPoint> expand_grid(const ExperimentSpec& spec);

// 64-bit FNV-1a of `text` as 16 hex digits (the cache keys).
std::string hash_key(const std::string& text);

}  // namespace ssmtl::app
