// A tiny synthetic data set for the teacher tests (T4 class probabilities, T7 / T9 teacher maps): noise
// frames, region files as `ssmtl detect` writes them, class_probs files, and teacher maps per object.
#pragma once
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "data/detect/class_probs.h"
#include "data/teacher_maps.h"
#include "regions/region_file.h"
#include "tensor/rng.h"
#include "tests/data_test_util.h"

namespace ssmtl::test {

struct TinyDataset {
  std::string root, detections, teachers;   // <root>/training/frames/<video>, region files, teacher maps
  std::vector<std::string> videos;
  int classes = 0;                           // K
  std::map<std::string, std::vector<std::vector<float>>> probs;   // per video, per region line: K + 1
  std::map<std::string, TeacherMaps> seg, pose;                    // per video, after write_tiny_teacher_maps
};

// `videos` videos of 8 noise frames of 32x24 pixels in <dir>/data/training/frames. Objects of frame t, in
// region-file order: a detector object of class t % K (fractional corners), on odd frames a motion object,
// on frame 2 a detector object of score 0.2 (dropped by a 0.5 score filter) and on frame 5 a detector
// object outside the frame (dropped by clipping). Region files in <dir>/det/<video>.txt and the T4
// teacher in <dir>/det/class_probs/<video>.txt (data/detect/class_probs.h writer).
inline TinyDataset make_tiny_dataset(const TempDir& dir, int K, uint64_t seed, int videos = 3) {
  TinyDataset d;
  d.root = dir / "data";
  d.detections = dir / "det";
  d.teachers = dir / "teachers";
  d.classes = K;
  Rng rng(seed);
  for (int v = 0; v < videos; ++v) {
    const std::string name = "v" + std::to_string(v);
    d.videos.push_back(name);
    std::vector<Image> frames;
    std::vector<std::vector<Detection>> dets(8);
    for (int t = 0; t < 8; ++t) {
      Image img = solid_image(32, 24, 0, 0, 0);
      for (auto& px : img.rgb) px = static_cast<uint8_t>(rng.next_u64() % 256);
      frames.push_back(img);
      auto detection = [&](float x0, float y0, float x1, float y1, float score, int cls) {
        Detection det;
        det.box = Box{x0, y0, x1, y1, score, cls};
        if (cls >= 0)
          for (int k = 0; k < K; ++k) det.class_probs.push_back(rng.uniform(0.05f, 0.95f));
        dets[t].push_back(det);
      };
      detection(2.5f + t, 3.f, 17.25f + t, 18.f, 0.9f, t % K);
      if (t % 2 == 1) detection(10.5f, 4.25f, 29.75f, 20.f, 1.f, kClassMotionFlow);
      if (t == 2) detection(0.f, 0.f, 12.f, 10.f, 0.2f, 1 % K);
      if (t == 5) detection(40.f, 30.f, 50.f, 35.f, 0.8f, 0);
    }
    write_frames(d.root + "/training/frames/" + name, frames);
    std::ostringstream regions;   // as apps/detect.cpp prints them
    for (int t = 0; t < 8; ++t)
      for (const Detection& det : dets[t]) {
        const Box& b = det.box;
        regions << t << ',' << b.x0 << ',' << b.y0 << ',' << b.x1 << ',' << b.y1 << ',' << b.score << '\n';
        d.probs[name].push_back(teacher_class_probs(det, K));
      }
    dir.write("det/" + name + ".txt", regions.str());
    write_class_probs(d.detections + "/class_probs/" + name + ".txt", dets, K);
  }
  return d;
}

// Random teacher maps in [0, 1] for every region line: <teachers>/<video>.seg (1 channel) and
// <teachers>/<video>.pose (`joints` channels), S x S.
inline void write_tiny_teacher_maps(TinyDataset& d, int S, int joints, uint64_t seed) {
  Rng rng(seed);
  for (const std::string& name : d.videos) {
    std::vector<Region> regions = load_regions(d.detections + "/" + name + ".txt");
    for (TeacherKind kind : {TeacherKind::kSegmentation, TeacherKind::kPose}) {
      TeacherMaps m;
      m.kind = kind;
      m.channels = kind == TeacherKind::kSegmentation ? 1 : joints;
      m.size = S;
      for (const Region& r : regions)
        m.objects.push_back({r.frame, r.box.x0, r.box.y0, r.box.x1, r.box.y1});
      m.values.resize(m.objects.size() * static_cast<size_t>(m.map_numel()));
      for (float& x : m.values) x = rng.uniform(0.f, 1.f);
      save_teacher_maps(d.teachers + "/" + name + teacher_file_extension(kind), m);
      (kind == TeacherKind::kSegmentation ? d.seg : d.pose)[name] = m;
    }
  }
}

}  // namespace ssmtl::test
