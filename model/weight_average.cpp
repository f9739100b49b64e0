#include "model/weight_average.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "model/train_state.h"
#include "util/atomic_file.h"

namespace ssmtl {

std::map<std::string, std::string> averaging_signature(const std::string& config_text) {
  return run_settings(config_text);   // (as a resume: paths may be spelled anew)
}

std::vector<std::string> epoch_checkpoints(const std::string& run, int first, int last) {
  if (first < 1 || last < first)
    throw std::invalid_argument("epochs " + std::to_string(first) + "-" + std::to_string(last) +
                                ": need 1 <= first <= last");
  std::error_code ec;
  if (!std::filesystem::is_directory(run, ec)) throw std::runtime_error(run + ": no such run folder");
  std::vector<std::string> paths;
  for (int e = first; e <= last; ++e) {
    char name[32];
    std::snprintf(name, sizeof name, "epoch_%03d.ckpt", e);
    const std::string p = (std::filesystem::path(run) / name).string();
    if (!std::filesystem::is_regular_file(p, ec))
      throw std::runtime_error(p + ": no such checkpoint (epoch " + std::to_string(e) +
                               "; a run keeps every epoch's only with train.keep_epoch_checkpoints = true)");
    paths.push_back(p);
  }
  return paths;
}

namespace {

// The first setting both signatures hold with different values ("" when none), for the error message. A key
// only one of them holds is not a difference: a later build writes keys an earlier one did not know.
std::string first_difference(const std::map<std::string, std::string>& mine,
                             const std::map<std::string, std::string>& first) {
  for (const auto& [k, v] : mine) {
    const auto it = first.find(k);
    if (it != first.end() && it->second != v) return "its '" + k + " = " + v + "', the first's '" + k + " = " + it->second + "'";
  }
  return "";
}

std::string join(const std::vector<std::string>& v) { return v.empty() ? "(all, none recorded)" : join_videos(v); }

}  // namespace

CheckpointMeta average_checkpoints(const std::vector<std::string>& paths, Module& model) {
  if (paths.empty()) throw std::invalid_argument("average_checkpoints: no checkpoints");
  for (size_t i = 0; i < paths.size(); ++i)
    for (size_t j = 0; j < i; ++j) {
      std::error_code ec;
      if (paths[i] == paths[j] || std::filesystem::equivalent(paths[i], paths[j], ec))
        throw std::invalid_argument(paths[i] + ": given twice (the mean weighs each checkpoint once)");
    }
  const CheckpointMeta first = read_checkpoint_meta(paths[0]);
  const std::map<std::string, std::string> signature = averaging_signature(first.config_text);
  const std::vector<std::string> videos = recorded_videos(first.config_text);
  for (size_t i = 1; i < paths.size(); ++i) {   // before any weights are read: this error, not a shape error
    const std::string text = read_checkpoint_meta(paths[i]).config_text;
    std::string diff = first_difference(averaging_signature(text), signature);
    if (diff.empty() && recorded_videos(text) != videos)   // (a resume keeps the list: check_resume_config)
      diff = "its training videos '" + join(recorded_videos(text)) + "', the first's '" + join(videos) + "'";
    if (!diff.empty())
      throw std::runtime_error(paths[i] + ": not the same run as " + paths[0] + " (" + diff +
                               "): weights average only along one training run");
  }
  std::vector<std::vector<double>> sums;   // one per always-present tensor, in named_tensors() order
  for (size_t i = 0; i < paths.size(); ++i) {
    load_checkpoint(paths[i], model);
    size_t k = 0;
    for (const NamedTensor& nt : model.named_tensors()) {
      if (nt.optional_like) continue;
      const std::vector<float> v = nt.tensor->to_vector();
      if (i == 0) sums.emplace_back(v.size(), 0.0);
      std::vector<double>& s = sums[k++];
      for (size_t j = 0; j < v.size(); ++j) s[j] += v[j];
    }
  }
  const double n = static_cast<double>(paths.size());
  size_t k = 0;
  for (const NamedTensor& nt : model.named_tensors("", true)) {
    if (nt.optional_like) {
      *nt.tensor = Tensor();   // per-window statistics of the last checkpoint's weights: not the mean's
      continue;
    }
    const std::vector<double>& s = sums[k++];
    std::vector<float> mean(s.size());
    for (size_t j = 0; j < s.size(); ++j) mean[j] = static_cast<float>(s[j] / n);
    nt.tensor->copy_from(Tensor::from_vector(nt.tensor->shape(), mean));
  }
  CheckpointMeta out = first;
  out.trainer_state.clear();
  return out;
}

SwaResult write_swa_checkpoint(const ModelConfig& cfg, Device device, const TrainOptions& opt, const ObjectPool& pool,
                               const SampleBuilder& builder, const std::vector<size_t>& val_ids,
                               const std::string& config_text) {
  SwaResult r;
  r.last_epoch = opt.epochs;
  r.first_epoch = std::max(1, opt.epochs - opt.swa_epochs + 1);
  SSMTLModel model(cfg, 0);
  average_checkpoints(epoch_checkpoints(opt.out_dir, r.first_epoch, r.last_epoch), model);
  model.to(device);
  const int n = opt.precise_bn > 0 ? opt.precise_bn : kSwaBnObjects;
  const std::vector<size_t> ids = precise_bn_ids(pool, opt, static_cast<size_t>(n));
  util::Progress progress("swa: epochs " + std::to_string(r.first_epoch) + "-" + std::to_string(r.last_epoch) +
                              " averaged, BatchNorm statistics per window",
                          static_cast<int64_t>(ids.size()), "samples");
  estimate_window_bn(model, builder, ids, opt.batch_size, precise_bn_seed(opt), &progress);
  progress.finish();
  r.bn_objects = ids.size();
  if (!val_ids.empty()) r.val = validation_losses(model, builder, val_ids, opt.batch_size, validation_seed(opt));
  for (auto& [k, v] : r.val) r.val_total += v;
  save_checkpoint(opt.out_dir + "/swa.ckpt", model, {config_text, ""});
  std::ostringstream j;
  j.precision(9);
  j << "{\"format_version\": 1, \"first_epoch\": " << r.first_epoch << ", \"last_epoch\": " << r.last_epoch
    << ", \"bn_objects\": " << r.bn_objects << ", \"val\": {";
  size_t i = 0;
  for (auto& [k, v] : r.val) j << (i++ ? ", " : "") << "\"" << k << "\": " << v;
  j << "}, \"val_total\": ";
  if (r.val.empty()) j << "null}\n";
  else j << r.val_total << "}\n";
  util::write_text_atomic(opt.out_dir + "/swa.json", j.str());
  return r;
}

}  // namespace ssmtl
