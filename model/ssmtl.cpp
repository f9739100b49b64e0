#include "model/ssmtl.h"

#include <stdexcept>

namespace ssmtl {

int TaskSet::count_scored() const {
  return arrow + irregularity + middle + distill + inpaint + segmentation + jigsaw + pose;
}

std::string TaskSet::names() const {
  std::string s;
  auto add = [&](bool on, const char* n) { if (on) s += (s.empty() ? "" : "+") + std::string(n); };
  add(arrow, "T1");
  add(irregularity, "T2");
  add(middle, "T3");
  add(distill, "T4");
  add(pseudo, "T5");
  add(inpaint, "T6");
  add(segmentation, "T7");
  add(jigsaw, "T8");
  add(pose, "T9");
  return s;
}

ModelConfig ModelConfig::preset(const std::string& full) {
  ModelConfig c;
  c.name = full;
  bool cpu = full.size() > 4 && full.compare(full.size() - 4, 4, "-cpu") == 0;
  std::string base = cpu ? full.substr(0, full.size() - 4) : full;
  if (base == "ssmtl") {
    c.backbone.transformer = "none";
    c.tasks.distill = true;
  } else if (base == "ssmtl++v1") {
    c.tasks.pseudo = true;
  } else if (base == "ssmtl++v2") {
    c.tasks.inpaint = true;
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
  TaskSet& t = c.tasks;
  t.arrow = k.get_bool("model.tasks.arrow_of_time", t.arrow);
  t.irregularity = k.get_bool("model.tasks.motion_irregularity", t.irregularity);
  t.middle = k.get_bool("model.tasks.middle_box", t.middle);
  t.distill = k.get_bool("model.tasks.distillation", t.distill);
  t.pseudo = k.get_bool("model.tasks.pseudo_anomalies", t.pseudo);
  t.inpaint = k.get_bool("model.tasks.inpainting", t.inpaint);
  t.segmentation = k.get_bool("model.tasks.segmentation", t.segmentation);
  t.jigsaw = k.get_bool("model.tasks.jigsaw", t.jigsaw);
  t.pose = k.get_bool("model.tasks.pose", t.pose);
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
  int C = backbone.out_channels(), S = c.crop / 8;
  // Heads are always built in the same order so that one seed gives the same weights.
  if (c.tasks.arrow) arrow = ClassHead(C, c.head_hidden, S, 2, rng);
  if (c.tasks.irregularity) irregularity = ClassHead(C, c.head_hidden, S, 2, rng);
  if (c.tasks.middle) middle = Decoder(C, c.decoder_hidden, rng);
  if (c.tasks.distill) distill = ClassHead(C, c.head_hidden, S, c.distill_classes, rng);
  if (c.tasks.pseudo) pseudo = Decoder(C, c.decoder_hidden, rng);
  if (c.tasks.inpaint) inpaint = Decoder(C, c.decoder_hidden, rng);
  if (c.tasks.jigsaw) jigsaw = ClassHead(C, c.head_hidden, S, c.jigsaw_classes, rng);
  if (c.tasks.segmentation) segmentation = Decoder(C, c.decoder_hidden, rng, 1);
  if (c.tasks.pose) pose = Decoder(C, c.decoder_hidden, rng, c.pose_joints);
}

void SSMTLModel::visit(const std::string& p, std::vector<NamedTensor>& o) {
  backbone.visit(p + "backbone.", o);
  if (cfg.tasks.arrow) arrow.visit(p + "arrow.", o);
  if (cfg.tasks.irregularity) irregularity.visit(p + "irregularity.", o);
  if (cfg.tasks.middle) middle.visit(p + "middle.", o);
  if (cfg.tasks.distill) distill.visit(p + "distill.", o);
  if (cfg.tasks.pseudo) pseudo.visit(p + "pseudo.", o);
  if (cfg.tasks.inpaint) inpaint.visit(p + "inpaint.", o);
  if (cfg.tasks.jigsaw) jigsaw.visit(p + "jigsaw.", o);
  if (cfg.tasks.segmentation) segmentation.visit(p + "segmentation.", o);
  if (cfg.tasks.pose) pose.visit(p + "pose.", o);
}

std::vector<Tensor> SSMTLModel::backbone_parameters() { return backbone.parameters(); }

std::vector<Tensor> SSMTLModel::pseudo_parameters() {
  return cfg.tasks.pseudo ? pseudo.parameters() : std::vector<Tensor>{};
}

std::vector<Tensor> SSMTLModel::head_parameters(bool include_pseudo) {
  std::vector<Tensor> ps;
  auto take = [&](bool on, Module& m) {
    if (!on) return;
    for (auto& t : m.parameters()) ps.push_back(t);
  };
  take(cfg.tasks.arrow, arrow);
  take(cfg.tasks.irregularity, irregularity);
  take(cfg.tasks.middle, middle);
  take(cfg.tasks.distill, distill);
  take(cfg.tasks.pseudo && include_pseudo, pseudo);
  take(cfg.tasks.inpaint, inpaint);
  take(cfg.tasks.jigsaw, jigsaw);
  take(cfg.tasks.segmentation, segmentation);
  take(cfg.tasks.pose, pose);
  return ps;
}

}  // namespace ssmtl
