// ssmtl tour <step>: small, printed walk through the engine and the model for people learning how
// SSMTL++ works (docs/WALKTHROUGH.md explains each step). Steps: tensor, conv3d, backbone, tasks, auc, rbdc.
#include <cstdio>
#include <string>

#include "apps/command.h"
#include "autograd/activation.h"
#include "autograd/conv.h"
#include "autograd/elementwise.h"
#include "autograd/engine.h"
#include "eval/auc.h"
#include "eval/rbdc.h"
#include "model/tasks_loss.h"

namespace {
using namespace ssmtl;

void print(const char* name, const Tensor& t, int max = 8) {
  std::vector<float> v = t.to_vector();
  std::printf("%-10s shape %-18s [", name, shape_str(t.shape()).c_str());
  for (size_t i = 0; i < v.size() && static_cast<int>(i) < max; ++i) std::printf("%s%.4f", i ? ", " : "", v[i]);
  std::printf("%s]\n", static_cast<int>(v.size()) > max ? ", ..." : "");
}

void tour_tensor() {
  std::printf("y = sum(relu(w * x)); dy/dw = x where w * x > 0, else 0\n");
  Tensor x = Tensor::from_vector({4}, {1.f, -2.f, 3.f, 0.5f});
  Tensor w = Tensor::from_vector({4}, {0.5f, 0.5f, -1.f, 2.f}).set_requires_grad();
  Tensor y = sum(relu(mul(w, x)));
  print("x", x);
  print("w", w);
  print("y", y);
  autograd::backward(y);
  print("dy/dw", w.grad());
}

void tour_conv3d() {
  std::printf("conv3d of a (1, 1, 3, 4, 4) clip (NCDHW) with one 3x3x3 averaging kernel, padding 1:\n");
  std::vector<float> v(48);
  for (int i = 0; i < 48; ++i) v[i] = static_cast<float>(i);
  Tensor x = Tensor::from_vector({1, 1, 3, 4, 4}, v).set_requires_grad();
  Tensor w = Tensor::full({1, 1, 3, 3, 3}, 1.f / 27.f);
  Conv3dOptions o;
  o.padding[0] = o.padding[1] = o.padding[2] = 1;
  Tensor y = conv3d(x, w, Tensor(), o);
  print("y", y, 16);
  autograd::backward(sum(y));
  std::printf("dsum(y)/dx counts how many output windows see each input voxel (/27):\n");
  print("dx", scale(x.grad(), 27.f), 16);
}

void tour_backbone() {
  ModelConfig c = ModelConfig::preset("ssmtl++v1");
  c.backbone.cvt_blocks = 1;
  SSMTLModel m(c, 0);
  Rng r(0);
  autograd::NoGradGuard ng;
  Tensor x = rand_uniform({2, 3, 7, 64, 64}, r);
  std::printf("%s backbone: %lld parameters (with 1 of its 3 CvT blocks here)\n", c.name.c_str(),
              static_cast<long long>(m.backbone.parameter_count()));
  std::printf("input    %s  (objects, RGB, frames t-3..t+3, 64x64 crop)\n", shape_str(x.shape()).c_str());
  Tensor f = m.features(x, false);
  std::printf("features %s  (3D CNN 64->8 px, 3D CvT on 7x8x8 tokens, temporal max pooling)\n",
              shape_str(f.shape()).c_str());
  std::printf("T1 arrow of time logits      %s\n", shape_str(m.head("arrow").forward(f, false).shape()).c_str());
  std::printf("T2 motion irregularity logits %s\n", shape_str(m.head("irregularity").forward(f, false).shape()).c_str());
  std::printf("T3 middle box prediction      %s\n", shape_str(m.head("middle").forward(f, false).shape()).c_str());
}

void tour_tasks() {
  ModelConfig c = ModelConfig::preset("ssmtl++v2-cpu");
  SSMTLModel m(c, 0);
  Rng r(0);
  Tensor seq = rand_uniform({2, 3, 7, c.crop, c.crop}, r);
  auto s = score_objects(m, seq, Tensor(), 0, {0, 1});
  std::printf("untrained %s, 2 random objects: per-task anomaly scores and their mean (the object score)\n",
              c.name.c_str());
  for (auto& [task, v] : s) std::printf("  %-13s %.4f  %.4f\n", task.c_str(), v[0], v[1]);
}

void tour_auc() {
  eval::VideoScores a{"A", {0.1, 0.2, 0.3, 0.4}, {0, 0, 1, 1}}, b{"B", {0.5, 0.6, 0.7, 0.8}, {0, 0, 1, 1}};
  std::printf("video A scores 0.1..0.4, video B 0.5..0.8, labels 0,0,1,1 in each (PITFALLS item 1)\n");
  std::printf("micro AUC (all frames pooled) = %.4f\n", eval::micro_auc({a, b}));
  std::printf("macro AUC (mean of per-video) = %.4f\n", eval::macro_auc({a, b}, eval::MacroMode::Skip).auc);
}

void tour_rbdc() {
  eval::VideoRegions v;
  v.name = "toy";
  v.num_frames = 1;
  v.tracks = {{0, 0, {0, 0, 9, 9}}, {1, 0, {5, 0, 14, 9}}};
  v.regions = {{0, {0, 0, 14, 9}, 0.9}};
  auto m = eval::region_track_metrics({v});
  std::printf("one region [0,0,14,9] over two ground-truth regions (IoU %.3f each; PITFALLS item 10)\n",
              iou(RegionBox{0, 0, 14, 9}, RegionBox{0, 0, 9, 9}));
  std::printf("RBDC = %.4f, TBDC = %.4f\n", m.rbdc, m.tbdc);
}

int run_tour(int argc, char** argv) {
  std::string step = argc > 1 ? argv[1] : "";
  if (step == "tensor") tour_tensor();
  else if (step == "conv3d") tour_conv3d();
  else if (step == "backbone") tour_backbone();
  else if (step == "tasks") tour_tasks();
  else if (step == "auc") tour_auc();
  else if (step == "rbdc") tour_rbdc();
  else {
    std::printf("usage: ssmtl tour tensor|conv3d|backbone|tasks|auc|rbdc   (see docs/WALKTHROUGH.md)\n");
    return step.empty() || step == "--help" ? 0 : 2;
  }
  return 0;
}

ssmtl::app::Command reg{"tour", "a printed walk through tensors, conv3d, the backbone, tasks and metrics", run_tour};

}  // namespace
