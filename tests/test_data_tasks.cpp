// Proxy-task samples: determinism with a seed, the sampling rules of DESIGN.md section 4, jigsaw
// permutations and pseudo-anomaly images.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <set>
#include <stdexcept>
#include <string>

#include "data/samples/jigsaw.h"
#include "data/samples/ood.h"
#include "data/tasks.h"

using namespace ssmtl;

// (3, 7, 64, 64) with value = 1000 c + 100 t + (y * 64 + x) / 4096: every element identifies its place.
static Tensor coded_sequence() {
  Tensor s = Tensor::empty({3, 7, 64, 64});
  float* p = s.data();
  for (int c = 0; c < 3; ++c)
    for (int t = 0; t < 7; ++t)
      for (int i = 0; i < 4096; ++i) *p++ = 1000.f * c + 100.f * t + i / 4096.f;
  return s;
}

TEST_CASE("data tasks: arrow of time reverses the frames and labels are reproducible from the seed") {
  Tensor s = coded_sequence();
  Tensor r = reverse_time(s);
  CHECK(r.data()[(1 * 7 + 0) * 4096 + 5] == s.data()[(1 * 7 + 6) * 4096 + 5]);
  CHECK(r.data()[(2 * 7 + 3) * 4096 + 9] == s.data()[(2 * 7 + 3) * 4096 + 9]);
  CHECK(reverse_time(r).to_vector() == s.to_vector());
  Rng a(123), b(123), c(124);
  std::vector<int> la, lb, lc;
  int backward = 0;
  for (int i = 0; i < 200; ++i) {
    auto sa = arrow_of_time_sample(s, a);
    la.push_back(sa.label);
    lb.push_back(arrow_of_time_sample(s, b).label);
    lc.push_back(arrow_of_time_sample(s, c).label);
    backward += sa.label;
    if (i < 4) CHECK(sa.input.to_vector() == (sa.label ? r : s).to_vector());
  }
  CHECK(la == lb);
  CHECK(la != lc);
  CHECK(backward > 70);
  CHECK(backward < 130);
}

TEST_CASE("data tasks: motion irregularity skips forward by 1..5 with at least one gap > 1, clamped") {
  Rng rng(7);
  std::set<int> seen_gaps;
  for (int i = 0; i < 2000; ++i) {
    auto f = irregular_frames(100, 1000, rng);
    CHECK(f[3] == 100);
    bool skip = false;
    for (int k = 0; k < 6; ++k) {
      const int g = f[k + 1] - f[k];
      CHECK(g >= 1);
      CHECK(g <= 5);
      seen_gaps.insert(g);
      skip = skip || g > 1;
    }
    CHECK(skip);
  }
  CHECK(seen_gaps == std::set<int>{1, 2, 3, 4, 5});
  // Near the ends the indices are clamped into the video.
  for (int i = 0; i < 200; ++i) {
    auto f = irregular_frames(1, 8, rng);
    for (int x : f) CHECK((x >= 0 && x <= 7));
    CHECK(f[3] == 1);
  }
  auto one = irregular_frames(0, 1, rng);
  for (int x : one) CHECK(x == 0);
  // Samples: label 1 = irregular, label 0 = the consecutive window; reproducible from the seed.
  Rng a(5), b(5);
  int irregular = 0;
  for (int i = 0; i < 300; ++i) {
    auto sa = motion_irregularity_sample(50, 200, a), sb = motion_irregularity_sample(50, 200, b);
    CHECK(sa.frames == sb.frames);
    CHECK(sa.label == sb.label);
    if (sa.label == 0) CHECK(sa.frames == sequence_frames(50, 200));
    else CHECK(sa.frames != sequence_frames(50, 200));
    irregular += sa.label;
  }
  CHECK(irregular > 110);
  CHECK(irregular < 190);
  CHECK_THROWS_AS(irregular_frames(0, 5, rng, 1), std::invalid_argument);
}

TEST_CASE("data tasks: middle box sample = 6 frames without the middle, target = middle crop") {
  Tensor s = coded_sequence();
  auto m = middle_box_sample(s);
  REQUIRE(m.input.shape() == Shape{3, 6, 64, 64});
  REQUIRE(m.target.shape() == Shape{3, 64, 64});
  const int frames[6] = {0, 1, 2, 4, 5, 6};
  for (int c = 0; c < 3; ++c) {
    for (int k = 0; k < 6; ++k) CHECK(m.input.data()[(c * 6 + k) * 4096 + 77] == 1000.f * c + 100.f * frames[k] + 77 / 4096.f);
    CHECK(m.target.data()[c * 4096 + 4095] == 1000.f * c + 300.f + 4095 / 4096.f);
  }
  CHECK(middle_frame(s).to_vector() == m.target.to_vector());
  CHECK_THROWS_AS(middle_box_sample(Tensor::zeros({3, 5, 64, 64})), std::invalid_argument);
}

TEST_CASE("data tasks: inpainting patches (size 4..32, centre ~ N(centre, 20) clipped), mask, test-time patches") {
  Rng rng(11);
  double sx = 0, sxx = 0;
  int n = 4000, unclipped_sizes_ok = 0, unclipped = 0;
  std::set<int> sizes;
  for (int i = 0; i < n; ++i) {
    Patch p = sample_inpaint_patch(rng);
    CHECK((p.x0 >= 0 && p.y0 >= 0 && p.x1 <= 63 && p.y1 <= 63 && p.x1 >= p.x0 && p.y1 >= p.y0));
    const double cx = (p.x0 + p.x1) / 2.0;
    if (p.x0 > 0 && p.x1 < 63 && p.y0 > 0 && p.y1 < 63) {
      ++unclipped;
      const int w = p.x1 - p.x0 + 1;
      sizes.insert(w);
      unclipped_sizes_ok += (w == p.y1 - p.y0 + 1 && w >= 4 && w <= 32);
      sx += cx;
      sxx += cx * cx;
    }
  }
  CHECK(unclipped_sizes_ok == unclipped);   // square, 4..32
  CHECK(sizes.count(4) == 1);
  CHECK(sizes.count(32) == 1);
  const double mean = sx / unclipped;
  CHECK(std::fabs(mean - 31.5) < 1.5);      // centred on the middle of the 64x64 image
  CHECK(std::sqrt(sxx / unclipped - mean * mean) > 12);   // spread (std 20, cut by the border)

  Tensor img = Tensor::full({3, 64, 64}, 0.5f);
  Patch p{10, 20, 13, 25};
  apply_patch(img, p);
  int zeros = 0;
  for (float v : img.to_vector()) zeros += v == 0.f;
  CHECK(zeros == 3 * 4 * 6);
  CHECK(img.data()[2 * 4096 + 25 * 64 + 13] == 0.f);
  CHECK(img.data()[2 * 4096 + 26 * 64 + 13] == 0.5f);
  Rng r1(3), r2(3);
  auto s1 = inpaint_sample(Tensor::full({3, 64, 64}, 0.25f), r1), s2 = inpaint_sample(Tensor::full({3, 64, 64}, 0.25f), r2);
  CHECK(s1.input.to_vector() == s2.input.to_vector());
  CHECK(s1.target.to_vector() == std::vector<float>(3 * 4096, 0.25f));
  // Test-time: 3 patches per object, fixed by (seed, object key) whatever the call order.
  auto t1 = inpaint_test_patches(42, 7), t2 = inpaint_test_patches(42, 8), t3 = inpaint_test_patches(42, 7);
  for (int i = 0; i < 3; ++i) CHECK((t1[i].x0 == t3[i].x0 && t1[i].y1 == t3[i].y1));
  CHECK((t1[0].x0 != t2[0].x0 || t1[0].y0 != t2[0].y0 || t1[0].x1 != t2[0].x1));
  CHECK_THROWS_AS(apply_patch(img, Patch{60, 60, 64, 62}), std::invalid_argument);
}

TEST_CASE("data tasks: jigsaw has 100 fixed, well separated permutations and shuffling moves 16x16 pieces") {
  const auto& perms = jigsaw_permutations();
  REQUIRE(perms.size() == 100);
  std::set<Permutation> unique(perms.begin(), perms.end());
  CHECK(unique.size() == 100);
  int min_d = 99;
  double mean_d = 0;
  for (size_t i = 0; i < perms.size(); ++i) {
    std::set<int> values(perms[i].begin(), perms[i].end());
    CHECK(values.size() == 16);
    for (size_t j = i + 1; j < perms.size(); ++j) {
      int d = hamming(perms[i], perms[j]);
      min_d = std::min(min_d, d);
      mean_d += d;
    }
  }
  mean_d /= 100 * 99 / 2;
  std::printf("[data] jigsaw permutations: min Hamming distance %d, mean %.2f (of 16)\n", min_d, mean_d);
  CHECK(min_d >= 13);
  // The set is part of the trained model: it must never change silently (else bump kJigsawVersion).
  std::string first;
  for (int v : perms[0]) first += std::to_string(v) + ",";
  std::string last;
  for (int v : perms[99]) last += std::to_string(v) + ",";
  CHECK(first == "12,3,14,6,15,11,2,9,10,5,0,7,4,13,8,1,");
  CHECK(last == "11,2,15,12,3,5,10,13,4,8,9,1,6,7,0,14,");


  Tensor s = middle_frame(coded_sequence());
  Tensor j = jigsaw_shuffle(s, 17);
  const auto& p = perms[17];
  for (int pos = 0; pos < 16; ++pos) {
    const int src = p[pos];
    for (int c = 0; c < 3; ++c)
      for (int r : {0, 7, 15}) {
        const int dy = pos / 4 * 16 + r, dx = pos % 4 * 16 + 3;
        const int sy = src / 4 * 16 + r, sx = src % 4 * 16 + 3;
        CHECK(j.data()[c * 4096 + dy * 64 + dx] == s.data()[c * 4096 + sy * 64 + sx]);
      }
  }
  Rng a(9), b(9);
  auto ja = jigsaw_sample(s, a), jb = jigsaw_sample(s, b);
  CHECK(ja.label == jb.label);
  CHECK((ja.label >= 0 && ja.label < 100));
  CHECK(ja.input.to_vector() == jigsaw_shuffle(s, ja.label).to_vector());
  CHECK_THROWS_AS(jigsaw_shuffle(s, 100), std::invalid_argument);
  CHECK_THROWS_AS(jigsaw_shuffle(Tensor::zeros({3, 63, 64}), 0), std::invalid_argument);
}

TEST_CASE("data tasks: pseudo-anomaly images from shared/data/ood (textures and RGBA cut-outs)") {
  OodImages ood(std::string(SSMTL_SHARED_DIR) + "/data/ood");
  CHECK(ood.num_textures() == 1200);
  CHECK(ood.num_cutouts() == 549);
  Tensor t = ood.texture(0);
  REQUIRE(t.shape() == Shape{3, 64, 64});
  // 128x128 -> 64x64 with half-pixel centres is the exact 2x2 mean: check one pixel against the file.
  Image full = load_image(ood.texture_path(0));
  REQUIRE(full.width == 128);
  const float want = (full.at(10, 20, 1) + full.at(11, 20, 1) + full.at(10, 21, 1) + full.at(11, 21, 1)) / 4.f / 255.f;
  CHECK(t.data()[1 * 4096 + 10 * 64 + 5] == doctest::Approx(want).epsilon(1e-5));
  Tensor bg = Tensor::full({3, 64, 64}, 0.5f);
  Rng a(1), b(1);
  Tensor ca = ood.composite(3, bg, a), cb = ood.composite(3, bg, b);
  CHECK(ca.to_vector() == cb.to_vector());
  int changed = 0;
  for (float v : ca.to_vector()) {
    CHECK((v >= 0.f && v <= 1.f));
    changed += v != 0.5f;
  }
  CHECK(changed > 100);                 // the cut-out is visible
  CHECK(changed < 3 * 4096);            // and the background shows around it (transparent pixels)
  Rng r(2);
  int textures = 0;
  for (int i = 0; i < 40; ++i) {
    Tensor s = ood.sample(r, bg);
    REQUIRE(s.shape() == Shape{3, 64, 64});
    textures += s.data()[0] != 0.5f && s.data()[4095] != 0.5f && s.data()[2000] != 0.5f;
  }
  CHECK(textures > 5);
  Tensor seq = repeat_as_sequence(t);
  REQUIRE(seq.shape() == Shape{3, 7, 64, 64});
  CHECK(seq.data()[(2 * 7 + 6) * 4096 + 100] == t.data()[2 * 4096 + 100]);
  CHECK_THROWS_AS(OodImages(std::string(SSMTL_SHARED_DIR) + "/data/ped2"), std::runtime_error);
}
