// Writes the seed corpora of the fuzzers (fuzz/corpus/<target>/) with this engine's own writers, so each
// seed is a real, valid file of its format: a checkpoint of the tiny model fuzz_checkpoint loads, teacher
// maps, a class-probabilities file, a small darknet .cfg and .weights pair, configuration files, frame
// labels, scores, regions and tracks. Usage: make_seeds <corpus folder>. fuzz/run.sh adds the real files
// of ../shared (Yolo-Fastest .cfg, Ped2 ground truth) when they are there.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "data/detect/class_probs.h"
#include "data/teacher_maps.h"
#include "model/checkpoint.h"
#include "model/ssmtl.h"
#include "util/atomic_file.h"
#include "util/config.h"

using namespace ssmtl;
namespace fs = std::filesystem;

static void put(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const fs::path dir = argv[1];
  // checkpoint: the model of fuzz_checkpoint.cpp
  const std::string cfg_text =
      "model.name = ssmtl-cpu\nmodel.backbone.channels = 2, 2, 2\nmodel.crop = 16\nmodel.head_hidden = 2\n"
      "model.decoder_hidden = 2\nmodel.distill_classes = 2\n";
  util::Config c = util::Config::from_string(cfg_text);
  SSMTLModel m(ModelConfig::from_config(c), 1);
  fs::create_directories(dir / "checkpoint");
  save_checkpoint((dir / "checkpoint/tiny.ckpt").string(), m, {c.resolved_text(), "ssmtl-trainer 1 0 0 1e300 -1 0"});
  // configuration
  put(dir / "config/tiny.txt", cfg_text + "train.epochs = 2\ntrain.lr = 0.001\ntrain.device = cpu\n");
  for (const char* name : {"ssmtl++v1-cpu.txt", "ssmtl++v2.txt"}) {
    std::ifstream in(fs::path(SSMTL_SOURCE_DIR) / "configs" / name, std::ios::binary);
    put(dir / "config" / name, std::string(std::istreambuf_iterator<char>(in), {}));
  }
  // teacher maps: 2 objects of 4x4, segmentation and pose (2 joints)
  for (auto [kind, ch] : {std::pair{TeacherKind::kSegmentation, 1}, std::pair{TeacherKind::kPose, 2}}) {
    TeacherMaps t;
    t.kind = kind;
    t.channels = ch;
    t.size = 4;
    t.objects = {{0, 1, 2, 5, 6}, {3, 0, 0, 7.5, 3}};
    t.values.assign(2 * ch * 16, 0.25f);
    t.values[5] = 1.f;
    fs::create_directories(dir / "teacher_maps");
    save_teacher_maps((dir / "teacher_maps" / (std::string("tiny") + teacher_file_extension(kind))).string(), t);
  }
  put(dir / "teacher_maps/tiny_class_probs.txt",
      "# ssmtl class_probs v1 classes=2\n0,1,2,5,6,0.5,0.25,0.25\n1,0,0,3,3,0,0,1\n");
  // darknet
  const std::string net =
      "[net]\nwidth=8\nheight=8\nchannels=3\n"
      "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
      "[convolutional]\nfilters=18\nsize=1\nstride=1\npad=1\nactivation=linear\n"
      "[yolo]\nmask=0,1,2\nanchors=1,1,2,2,3,3\nclasses=1\nnum=3\n";
  put(dir / "darknet_cfg/tiny.cfg", net);
  put(dir / "darknet_cfg/route.cfg",
      "[net]\nwidth=16\nheight=16\nchannels=3\n[convolutional]\nfilters=8\nsize=3\nstride=2\npad=1\nactivation=leaky\n"
      "[maxpool]\nsize=2\nstride=2\n[route]\nlayers=-1,-2\n[upsample]\nstride=2\n[shortcut]\nfrom=-4\nactivation=linear\n"
      "[dropout]\nprobability=.1\n[convolutional]\nfilters=18\nsize=1\nstride=1\npad=1\nactivation=linear\n"
      "[yolo]\nmask=0,1,2\nanchors=1,1,2,2,3,3\nclasses=1\nnum=3\n");
  std::string w(20, '\0');
  const int32_t head[3] = {0, 2, 0};
  std::memcpy(&w[0], head, 12);
  std::vector<float> v(4 * 4 + 4 * 3 * 9 + 18 + 18 * 4, 0.05f);
  for (size_t i = 8; i < 12; ++i) v[i] = 1.f;   // rolling variance
  w.append(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  put(dir / "darknet_weights/tiny.weights", w);
  // evaluation text files
  put(dir / "frame_labels/labels.txt", "0\n0\n1\n1\n0\n");
  put(dir / "frame_labels/scores.txt", "0.1\n0.25\n0.9\n1e-3\n-0.5\n");
  put(dir / "regions_tracks/regions.txt", "0,10,20,30,40,0.9\n3,0.5,1,2.5,8,0.25\n");
  put(dir / "regions_tracks/tracks.txt", "0,60,0,95,22\n0,61,0,97,23\n1,61,5,9,20,30\n");
  return 0;
}
