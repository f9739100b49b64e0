#include "model/ssmtl.h"

#include <stdexcept>

namespace ssmtl {

ModelConfig ModelConfig::preset(const std::string& full) {
  ModelConfig c;
  c.name = full;
  bool cpu = full.size() > 4 && full.compare(full.size() - 4, 4, "-cpu") == 0;
  std::string base = cpu ? full.substr(0, full.size() - 4) : full;
  if (base == "ssmtl") {
    c.backbone.transformer = "none";
    c.tasks.set("distillation");
  } else if (base == "ssmtl++v1") {
    c.tasks.set("pseudo");
  } else if (base == "ssmtl++v2") {
    c.tasks.set("inpainting");
  } else {
    throw std::invalid_argument("unknown model configuration '" + full +
                                "' (known: ssmtl, ssmtl++v1, ssmtl++v2, each also with -cpu)");
  }
  if (cpu) {  // 2-core preset: narrower stages, one small transformer block, 32x32 crops (4x4 tokens)
    c.backbone.channels = {8, 16, 24};
    c.backbone.cvt_dim = 24;
    c.backbone.cvt_blocks = 1;
    c.backbone.cvt_heads = 2;
    c.crop = 32;
    c.head_hidden = 16;
    c.decoder_hidden = 16;
  }
  return c;
}

ModelConfig ModelConfig::from_config(util::Config& k) {
  ModelConfig c = preset(k.get_string("model.name", "ssmtl++v1-cpu"));
  BackboneConfig& b = c.backbone;
  b.channels = k.get_ints("model.backbone.channels", b.channels);
  b.convs_per_stage = k.get_int("model.backbone.convs_per_stage", b.convs_per_stage);
  b.transformer = k.get_string("model.backbone.transformer", b.transformer);
  b.cvt_dim = k.get_int("model.cvt.dim", b.cvt_dim);
  b.cvt_blocks = k.get_int("model.cvt.blocks", b.cvt_blocks);
  b.cvt_heads = k.get_int("model.cvt.heads", b.cvt_heads);
  b.cvt_mlp_ratio = k.get_int("model.cvt.mlp_ratio", b.cvt_mlp_ratio);
  if (b.transformer != "none" && b.cvt_dim % b.cvt_heads != 0)
    throw std::invalid_argument((k.source() == "<defaults>" ? "configuration" : k.source()) + ": model.cvt.dim = " + std::to_string(b.cvt_dim) +
                                " is not a multiple of model.cvt.heads = " + std::to_string(b.cvt_heads));
  for (const ProxyTask* t : registered_tasks()) {
    const TaskInfo& i = t->info();
    c.tasks.set(i.name, k.get_bool("model.tasks." + i.config_key, c.tasks.on(i.name)));
  }
  c.crop = k.get_int("model.crop", c.crop);
  c.head_hidden = k.get_int("model.head_hidden", c.head_hidden);
  c.decoder_hidden = k.get_int("model.decoder_hidden", c.decoder_hidden);
  c.distill_classes = k.get_int("model.distill_classes", c.distill_classes);
  c.pose_joints = k.get_int("model.pose_joints", c.pose_joints);
  if (c.distill_classes < 2) throw std::invalid_argument("model.distill_classes must be >= 2 (classes + motion)");
  if (c.pose_joints < 1) throw std::invalid_argument("model.pose_joints must be >= 1");
  if (c.crop % 8 != 0 || c.crop < 16) throw std::invalid_argument("model.crop must be a multiple of 8, >= 16");
  if (c.tasks.count_scored() == 0) throw std::invalid_argument("the model has no task that gives a score");
  return c;
}

SSMTLModel::SSMTLModel(const ModelConfig& c, uint64_t seed) : cfg(c) {
  Rng rng(seed);
  backbone = Backbone(c.backbone, rng);
  const int C = backbone.out_channels();
  for (const ProxyTask* t : c.tasks.enabled()) tasks.push_back({t, t->make_head(c, C, rng)});
}

void SSMTLModel::visit(const std::string& p, std::vector<NamedTensor>& o) {
  backbone.visit(p + "backbone.", o);
  for (TaskHead& th : tasks) th.head->visit(p + th.task->info().module + ".", o);
}

std::vector<Tensor> SSMTLModel::backbone_parameters() { return backbone.parameters(); }

std::vector<Tensor> SSMTLModel::head_parameters(bool include_ascent) {
  std::vector<Tensor> ps;
  for (TaskHead& th : tasks)
    if (include_ascent || th.task->info().role != Role::kAscent)
      for (auto& t : th.head->parameters()) ps.push_back(t);
  return ps;
}

std::vector<Tensor> SSMTLModel::ascent_parameters() {
  std::vector<Tensor> ps;
  for (TaskHead& th : tasks)
    if (th.task->info().role == Role::kAscent)
      for (auto& t : th.head->parameters()) ps.push_back(t);
  return ps;
}

bool SSMTLModel::has_ascent_task() const {
  for (const TaskHead& th : tasks)
    if (th.task->info().role == Role::kAscent) return true;
  return false;
}

Head& SSMTLModel::head(const std::string& name) {
  for (TaskHead& th : tasks)
    if (th.task->info().name == name) return *th.head;
  throw std::invalid_argument("the model has no task '" + name + "' (" + cfg.tasks.names() + ")");
}

}  // namespace ssmtl
