// Object-centric sequences: bilinear crops against PyTorch and a hand-computed case, window clamping,
// border boxes (PITFALLS 14), the threaded extractor and its cache; throughput on real Ped2 frames.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "data/samples/sequence_cache.h"
#include "data/samples/sequences.h"
#include "data/video/frames.h"
#include "data/video/image.h"
#include "data/video/resize.h"
#include "tests/data_test_util.h"
#include "tests/reference.h"

using namespace ssmtl;

static float max_abs_diff(const float* a, const float* b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

TEST_CASE("data sequences: bilinear crop-resize equals PyTorch interpolate(align_corners=False)") {
  test::RefFile ref("data_resize");
  Tensor img = ref.get("image");   // (37, 29, 3)
  Image im;
  im.height = static_cast<int>(img.size(0));
  im.width = static_cast<int>(img.size(1));
  for (float v : img.to_vector()) im.rgb.push_back(static_cast<uint8_t>(v));
  for (const char* name : {"up", "down"}) {
    auto b = ref.get(std::string(name) + "_box").to_vector();
    Tensor want = ref.get(name);
    const int oh = static_cast<int>(want.size(1)), ow = static_cast<int>(want.size(2));
    std::vector<float> got(3 * oh * ow);
    crop_resize_bilinear(got.data(), im.rgb.data(), im.width, im.height, 3, int(b[0]), int(b[1]), int(b[2]),
                         int(b[3]), ow, oh, 1.f / 255.f, static_cast<size_t>(oh) * ow);
    INFO(name);
    CHECK(max_abs_diff(got.data(), want.data(), got.size()) < 2e-6f);
  }
}

TEST_CASE("data sequences: hand-computed crop, window clamped or shifted at the video ends, [0,1] range") {
  // Frame k: every pixel (20 k, 20 k, 20 k) except column 2, which is 255 in channel 0.
  // Box [1, 0, 2, 3]: a 2x4 region whose left column is 20 k and right column (255 | 20 k).
  std::vector<Image> frames;
  for (int k = 0; k < 5; ++k) {
    Image f = test::solid_image(4, 4, uint8_t(20 * k), uint8_t(20 * k), uint8_t(20 * k));
    for (int y = 0; y < 4; ++y) f.rgb[(y * 4 + 2) * 3] = 255;
    frames.push_back(f);
  }
  CHECK(sequence_frames(1, 5) == std::array<int, 7>{0, 0, 0, 1, 2, 3, 4});
  CHECK(sequence_frames(4, 5) == std::array<int, 7>{1, 2, 3, 4, 4, 4, 4});
  CHECK(sequence_frames(0, 1) == std::array<int, 7>{0, 0, 0, 0, 0, 0, 0});   // a 1-frame video still works
  // shifted windows: the 7 frames nearest t inside the video; clamped as well when the video is shorter
  const WindowEnds sh = WindowEnds::kShift;
  CHECK(sequence_frames(0, 10, sh) == std::array<int, 7>{0, 1, 2, 3, 4, 5, 6});
  CHECK(sequence_frames(2, 10, sh) == std::array<int, 7>{0, 1, 2, 3, 4, 5, 6});
  CHECK(sequence_frames(3, 10, sh) == std::array<int, 7>{0, 1, 2, 3, 4, 5, 6});
  CHECK(sequence_frames(5, 10, sh) == std::array<int, 7>{2, 3, 4, 5, 6, 7, 8});   // inside: as clamped
  CHECK(sequence_frames(5, 10, sh) == sequence_frames(5, 10));
  CHECK(sequence_frames(9, 10, sh) == std::array<int, 7>{3, 4, 5, 6, 7, 8, 9});
  CHECK(sequence_frames(6, 7, sh) == std::array<int, 7>{0, 1, 2, 3, 4, 5, 6});
  CHECK(sequence_frames(1, 5, sh) == std::array<int, 7>{0, 0, 0, 1, 2, 3, 4});
  CHECK_THROWS_AS(sequence_frames(10, 10, sh), std::out_of_range);
  CHECK(parse_window_ends("shift", "--w") == WindowEnds::kShift);
  CHECK(std::string(window_ends_name(parse_window_ends("clamp", "--w"))) == "clamp");
  CHECK_THROWS_WITH_AS(parse_window_ends("mirror", "--window-ends"), "--window-ends must be clamp or shift, got 'mirror'",
                       std::invalid_argument);
  CHECK_THROWS_AS(sequence_frames(5, 5), std::out_of_range);
  auto idx = sequence_frames(1, 5);
  const Image* seq[7];
  for (int i = 0; i < 7; ++i) seq[i] = &frames[idx[i]];
  std::vector<float> out(kSeqNumel);
  crop_frames(out.data(), seq, 7, Box{1, 0, 2, 3, 1, 0});
  // Along x the 2 source columns map to 64: s = (o + 0.5) * 2/64 - 0.5 = (o + 0.5)/32 - 0.5, clamped to [0, 1],
  // so value(o) = left + clamp(s, 0, 1) * (right - left). Along y it is constant.
  for (int i = 0; i < 7; ++i) {
    const float k = 20.f * idx[i];
    for (int o : {0, 15, 16, 17, 40, 47, 48, 63}) {
      const float s = std::clamp((o + 0.5f) / 32.f - 0.5f, 0.f, 1.f);
      for (int y : {0, 31, 63}) {
        const float r = out[(0 * 7 + i) * 4096 + y * 64 + o], g = out[(1 * 7 + i) * 4096 + y * 64 + o];
        CHECK(r == doctest::Approx((k + s * (255.f - k)) / 255.f).epsilon(1e-6));
        CHECK(g == doctest::Approx(k / 255.f).epsilon(1e-6));
      }
    }
  }
  CHECK(out[(0 * 7 + 0) * 4096 + 16] == doctest::Approx(0.015625f));   // frame 0, s = 1/64
  for (float v : out) CHECK((v >= 0.f && v <= 1.f));
}

TEST_CASE("data sequences: a box over the border is clipped, 11x11 crops, no empty crop (PITFALLS 14)") {
  Image f = test::solid_image(64, 64, 0, 0, 0);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x) f.rgb[(y * 64 + x) * 3] = static_cast<uint8_t>(x + 3 * y);
  const Image* seq[7] = {&f, &f, &f, &f, &f, &f, &f};
  std::vector<float> a(kSeqNumel), b(3 * 64 * 64);
  CHECK_NOTHROW(crop_frames(a.data(), seq, 7, Box{-5, -5, 10, 10, 1, 0}));
  crop_resize_bilinear(b.data(), f.rgb.data(), 64, 64, 3, 0, 0, 10, 10, 64, 64, 1.f / 255.f, 64 * 64);
  for (int i = 0; i < 64 * 64; ++i) CHECK(a[i] == b[i]);   // channel 0, frame 0 = the 11x11 block resized
  CHECK(a[0] == 0.f);                                      // top-left pixel of the block, not of a padded area
  CHECK(a[64 * 64 - 1] == doctest::Approx((10 + 30) / 255.f));
  CHECK_THROWS_AS(crop_frames(a.data(), seq, 7, Box{64, 0, 80, 10, 1, 0}), std::invalid_argument);
  auto kept = clip_objects({{0, Box{-5, -5, 10, 10, 1, 0}}, {0, Box{70, 0, 90, 5, 1, 0}}, {1, Box{5, 5, 5, 5, 1, 0}}}, 64, 64);
  REQUIRE(kept.size() == 2);
  CHECK(kept[0].box.x0 == 0.f);
  CHECK(kept[1].frame == 1);
}

TEST_CASE("data sequences: extractor over a video equals per-object crops and cache round trip and staleness") {
  test::TempDir d("seqvideo");
  std::vector<Image> frames;
  for (int k = 0; k < 9; ++k) {
    Image f = test::solid_image(40, 30, 0, 0, 0);
    for (size_t i = 0; i < f.rgb.size(); ++i) f.rgb[i] = static_cast<uint8_t>((i * 7 + k * 31) % 251);
    frames.push_back(f);
  }
  test::write_frames(d / "v", frames);
  Video v(d / "v", VideoOptions{false, 4, CorruptFramePolicy::kError});
  std::vector<ObjectRef> objs{{8, Box{3, 2, 20, 25, 0.9f, 0}}, {0, Box{0, 0, 39, 29, 1, -1}}, {4, Box{10.5f, 4, 30, 12, 1, 2}}};
  Tensor seqs = extract_sequences(v, objs);
  REQUIRE(seqs.shape() == Shape{3, 3, 7, 64, 64});
  for (size_t j = 0; j < objs.size(); ++j) {
    auto idx = sequence_frames(objs[j].frame, 9);
    std::vector<int> fi(idx.begin(), idx.end());
    Tensor one = extract_frames(v, fi, objs[j].box);
    CHECK(max_abs_diff(seqs.data() + j * kSeqNumel, one.data(), kSeqNumel) == 0.f);
  }
  // Against the in-memory frames directly (BMP is lossless).
  const Image* seq[7];
  auto idx = sequence_frames(8, 9);
  for (int i = 0; i < 7; ++i) seq[i] = &frames[idx[i]];
  std::vector<float> ref(kSeqNumel);
  crop_frames(ref.data(), seq, 7, objs[0].box);
  CHECK(max_abs_diff(seqs.data(), ref.data(), kSeqNumel) == 0.f);
  CHECK_THROWS_AS(extract_sequences(v, {{9, Box{0, 0, 5, 5, 1, 0}}}), std::invalid_argument);
  CHECK_THROWS_AS(extract_sequences(v, {{1, Box{50, 0, 55, 5, 1, 0}}}), std::invalid_argument);
  CHECK(extract_sequences(v, {}).size(0) == 0);

  const std::string path = d / "cache/v.seq";
  CHECK_FALSE(load_sequence_cache(path, v, objs));   // missing
  Tensor c1 = cached_sequences(path, v, objs);         // builds and saves
  REQUIRE(std::filesystem::exists(path));
  auto c2 = load_sequence_cache(path, v, objs);
  REQUIRE(c2);
  CHECK(c2->to_vector() == seqs.to_vector());
  CHECK(c1.to_vector() == seqs.to_vector());
  auto other = objs;
  other[2].box.x1 = 31;
  CHECK_FALSE(load_sequence_cache(path, v, other));    // other objects: stale, not silently reused
  std::ofstream(d / "cache/bad.seq") << "not a cache";
  CHECK_THROWS_AS(load_sequence_cache(d / "cache/bad.seq", v, objs), std::runtime_error);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 100);
  CHECK_THROWS_WITH_AS(load_sequence_cache(path, v, objs), doctest::Contains("truncated"), std::runtime_error);
}

TEST_CASE("data sequences: throughput on Ped2 test video 01 (objects/s)") {
  Video v(std::string(SSMTL_SHARED_DIR) + "/data/ped2/testing/frames/01", VideoOptions{true, 16, CorruptFramePolicy::kError});
  // 4 objects per frame of typical Ped2 pedestrian size (about 20x40 px) and one large box.
  std::vector<ObjectRef> objs;
  for (int t = 0; t < v.num_frames(); ++t)
    for (int k = 0; k < 4; ++k)
      objs.push_back({t, Box{float(20 + 80 * k), float(40 + t % 50), float(20 + 80 * k + (k == 3 ? 90 : 20)),
                             float(80 + t % 50 + (k == 3 ? 60 : 0)), 1, 0}});
  auto t0 = std::chrono::steady_clock::now();
  std::clock_t c0 = std::clock();
  Tensor s = extract_sequences(v, objs);
  double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
  std::printf("[data] sequence extraction: %zu objects in %.3f s wall (%.3f s CPU, all threads) = %.0f objects/s\n",
              objs.size(), sec, cpu, objs.size() / sec);
  CHECK(s.size(0) == static_cast<int64_t>(objs.size()));
  // Again into the same (already touched) buffer: the cost of the crops alone.
  t0 = std::chrono::steady_clock::now();
  c0 = std::clock();
  extract_sequences_into(s.data(), v, objs);
  sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
  std::printf("[data] into a reused buffer: %.3f s wall (%.3f s CPU) = %.0f objects/s\n", sec, cpu, objs.size() / sec);
  double sum = 0;
  for (int64_t i = 0; i < kSeqNumel; ++i) sum += s.data()[i];
  CHECK(sum / kSeqNumel > 0.1);   // real image content, not zeros
}
