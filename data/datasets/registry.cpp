// The data sets `ssmtl prepare --dataset` knows (one line each) and the staging/rename around a conversion.
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "data/datasets/dataset.h"

namespace ssmtl::datasets {
namespace fs = std::filesystem;

// Defined in data/datasets/<dataset>.cpp.
void convert_ucsd_ped1(const DatasetOptions&, const std::string&, PreparedDataset&);
void convert_ucsd_ped2(const DatasetOptions&, const std::string&, PreparedDataset&);
void convert_shanghaitech(const DatasetOptions&, const std::string&, PreparedDataset&);
void convert_avenue(const DatasetOptions&, const std::string&, PreparedDataset&);
void convert_ubnormal(const DatasetOptions&, const std::string&, PreparedDataset&);

const std::vector<DatasetInfo>& dataset_list() {
  static const std::vector<DatasetInfo> list = {
      {"ped1", "UCSD Ped1 (UCSD Anomaly Detection Dataset, Mahadevan et al., CVPR 2010)",
       "UCSDped1/ (or its parent): Train/TrainNNN/NNN.tif, Test/TestNNN/NNN.tif, Test/TestNNN_gt/NNN.bmp, Test/UCSDped1.m",
       convert_ucsd_ped1},
      {"ped2", "UCSD Ped2 (UCSD Anomaly Detection Dataset, Mahadevan et al., CVPR 2010)",
       "UCSDped2/ (or its parent): Train/TrainNNN/NNN.tif, Test/TestNNN/NNN.tif, Test/TestNNN_gt/NNN.bmp, Test/UCSDped2.m",
       convert_ucsd_ped2},
      {"shanghaitech", "ShanghaiTech Campus (Liu et al., CVPR 2018)",
       "training/videos/SS_VVV.avi, testing/frames/SS_VVVV/NNN.jpg, testing/test_frame_mask/SS_VVVV.npy, "
       "testing/test_pixel_mask/SS_VVVV.npy",
       convert_shanghaitech},
      {"avenue", "CUHK Avenue (Lu et al., ICCV 2013)",
       "training_videos/NN.avi, testing_videos/NN.avi, ground_truth_demo/testing_label_mask/N_label.mat (volLabel); "
       "--frame-labels: AnoPred's avenue.mat",
       convert_avenue},
      {"ubnormal", "UBnormal (Acsintoae et al., CVPR 2022)",
       "SceneK/{normal,abnormal}_scene_K_scenario_S.mp4, SceneK/<video>_annotations/ (_tracks.txt, _FFFF_gt.png); "
       "split lists *_video_names.txt in --splits DIR (default ROOT/scripts or ROOT)",
       convert_ubnormal},
  };
  return list;
}

PreparedDataset prepare_dataset(const std::string& name, const DatasetOptions& o) {
  const DatasetInfo* info = nullptr;
  std::string known;
  for (const auto& d : dataset_list()) {
    if (name == d.name) info = &d;
    known += std::string(known.empty() ? "" : ", ") + d.name;
  }
  if (!info) throw std::invalid_argument("unknown data set '" + name + "' (known: " + known + ")");
  std::error_code ec;
  if (!fs::is_directory(o.root, ec)) throw std::runtime_error(o.root + ": data-set folder not found");
  if (o.out.empty()) throw std::invalid_argument("prepare: no output folder");
  const fs::path out = fs::absolute(fs::path(o.out)).lexically_normal();
  const fs::path final_out = out.filename().empty() ? out.parent_path() : out;
  if (fs::exists(final_out, ec) && !o.overwrite)
    throw std::runtime_error(final_out.string() + ": already exists (remove it, or pass --overwrite)");
  fs::create_directories(final_out.parent_path());
  const std::string pid = std::to_string(::getpid());
  const std::string prefix = "." + final_out.filename().string() + ".partial.";
  const fs::path staging = final_out.parent_path() / (prefix + pid);
  // Leftovers of an interrupted run (Ctrl-C, a crash) into the same output: hidden, ours, removed now.
  for (const auto& e : fs::directory_iterator(final_out.parent_path()))
    if (e.is_directory() && e.path().filename().string().rfind(prefix, 0) == 0) fs::remove_all(e.path(), ec);
  fs::create_directories(staging);
  PreparedDataset result;
  result.name = name;
  result.out = final_out.string();
  try {
    info->convert(o, staging.string(), result);
    if (fs::exists(final_out, ec)) {   // overwrite: the old data set goes only once the new one is complete
      const fs::path old = final_out.parent_path() / ("." + final_out.filename().string() + ".old." + pid);
      fs::rename(final_out, old);
      fs::rename(staging, final_out);
      fs::remove_all(old, ec);
    } else {
      fs::rename(staging, final_out);
    }
  } catch (...) {
    fs::remove_all(staging, ec);
    throw;
  }
  return result;
}

}  // namespace ssmtl::datasets
