// Frames on disk: natural order, image-file filter, channels, corrupt files, videos and data sets
// (PITFALLS 15, 16, 17) and the real Ped2 frames.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

// The one stb_image_write implementation of the test program; static, so it cannot clash with the
// library's (util/png.cpp) at link time.
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_image_write.h>
#pragma GCC diagnostic pop

#include "data/video/frames.h"
#include "tests/data_test_util.h"

using namespace ssmtl;
using ssmtl::test::TempDir;
namespace fs = std::filesystem;

static void touch_copy(const std::string& src, const std::string& dst) { fs::copy_file(src, dst); }

static std::string ped2_frame0() { return std::string(SSMTL_SHARED_DIR) + "/data/ped2/testing/frames/01/000.jpg"; }

TEST_CASE("data frames: natural order, only image files count (PITFALLS 15)") {
  TempDir d("natural");
  for (const char* n : {"1.jpg", "10.jpg", "2.jpg", "100.jpg", "11.jpg", "3.jpg"}) touch_copy(ped2_frame0(), d / n);
  std::ofstream(d / ".DS_Store") << "x";
  std::ofstream(d / "Thumbs.db") << "x";
  std::ofstream(d / "notes.txt") << "x";
  auto files = list_frame_files(d.str());
  std::vector<std::string> names;
  for (auto& f : files) names.push_back(fs::path(f).filename().string());
  CHECK(names == std::vector<std::string>{"1.jpg", "2.jpg", "3.jpg", "10.jpg", "11.jpg", "100.jpg"});
  Video v(d.str());
  CHECK(v.num_frames() == 6);
  CHECK(v.width() == 360);
  CHECK(v.height() == 240);

  CHECK(natural_less("frame2.png", "frame10.png"));
  CHECK_FALSE(natural_less("frame10.png", "frame2.png"));
  CHECK(natural_less("009.jpg", "010.jpg"));
  CHECK(natural_less("a", "ab"));
  CHECK_FALSE(natural_less("3.jpg", "3.jpg"));
  CHECK(is_image_file("X.JPEG"));
  CHECK(is_image_file("f.bmp"));
  CHECK_FALSE(is_image_file("._1.jpg"));   // macOS resource fork
  CHECK_FALSE(is_image_file("Thumbs.db"));
  CHECK_THROWS_AS(list_frame_files(d / "missing"), std::runtime_error);
  TempDir empty("empty");
  std::ofstream(empty / "Thumbs.db") << "x";
  CHECK_THROWS_WITH_AS(list_frame_files(empty.str()), doctest::Contains("no image files"), std::runtime_error);
}

TEST_CASE("data frames: a grey PNG loads as 3 equal channels, a red PNG has channel 0 = 255 (PITFALLS 16)") {
  TempDir d("channels");
  std::vector<uint8_t> gray(6 * 4);
  for (size_t i = 0; i < gray.size(); ++i) gray[i] = static_cast<uint8_t>(10 * i);
  REQUIRE(stbi_write_png((d / "gray.png").c_str(), 6, 4, 1, gray.data(), 6));
  Image g = load_image(d / "gray.png");
  REQUIRE(g.width == 6);
  REQUIRE(g.height == 4);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 6; ++x)
      for (int c = 0; c < 3; ++c) CHECK(g.at(x, y, c) == 10 * (y * 6 + x));

  std::vector<uint8_t> red(5 * 3 * 4);
  for (size_t i = 0; i < red.size(); i += 4) {
    red[i] = 255;
    red[i + 1] = red[i + 2] = 0;
    red[i + 3] = 128;   // alpha is dropped, not blended
  }
  REQUIRE(stbi_write_png((d / "red.png").c_str(), 5, 3, 4, red.data(), 5 * 4));
  Image r = load_image(d / "red.png");
  CHECK(r.at(0, 0, 0) == 255);
  CHECK(r.at(4, 2, 0) == 255);
  CHECK(r.at(2, 1, 1) == 0);
  CHECK(r.at(2, 1, 2) == 0);
  ImageRGBA ra = load_image_rgba(d / "red.png");
  CHECK(ra.rgba[3] == 128);
  // Grey conversion uses BT.601 weights: pure red = 0.299 * 255.
  GrayImage gr = to_gray(r);
  CHECK(gr(1, 1) == doctest::Approx(76.245));

  // A 1-channel JPEG (tests/reference/gen_data_gray_jpeg.py): value 8x + 4y, 3 equal channels after loading.
  Image gj = load_image(std::string(SSMTL_TEST_DATA_DIR) + "/gray_16x8.jpg");
  REQUIRE(gj.width == 16);
  REQUIRE(gj.height == 8);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 16; ++x) {
      CHECK(gj.at(x, y, 0) == gj.at(x, y, 1));
      CHECK(gj.at(x, y, 0) == gj.at(x, y, 2));
      CHECK(std::abs(gj.at(x, y, 0) - (8 * x + 4 * y)) <= 2);   // JPEG decoders may differ by rounding
    }
}

TEST_CASE("data frames: a truncated or empty JPEG is an error naming the file and skip policy keeps the slot (PITFALLS 17)") {
  TempDir d("corrupt");
  const std::string src = ped2_frame0();
  std::string bytes;
  {
    std::ifstream in(src, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  REQUIRE(bytes.size() > 1000);
  for (int i = 0; i < 4; ++i) touch_copy(src, d / ("00" + std::to_string(i) + ".jpg"));
  std::ofstream(d / "002.jpg", std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size() / 2);
  std::ofstream(d / "004.jpg", std::ios::binary | std::ios::trunc);   // empty
  const std::string trunc = d / "002.jpg", empty = d / "004.jpg";

  CHECK_THROWS_WITH_AS(load_image(trunc), doctest::Contains(trunc.c_str()), std::runtime_error);
  CHECK_THROWS_WITH_AS(load_image(empty), doctest::Contains(empty.c_str()), std::runtime_error);
  CHECK_THROWS_WITH_AS(load_image(empty), doctest::Contains("empty"), std::runtime_error);
  // Truncated at many points (including just before the end-of-image marker): never a silent success.
  for (size_t cut : {size_t{10}, size_t{600}, bytes.size() / 3, bytes.size() - 2, bytes.size() - 1}) {
    std::ofstream(d / "cut.jpg", std::ios::binary | std::ios::trunc).write(bytes.data(), cut);
    CHECK_THROWS_AS(load_image(d / "cut.jpg"), std::runtime_error);
  }
  fs::remove(d / "cut.jpg");

  Video strict(d.str());
  REQUIRE(strict.num_frames() == 5);   // the corrupt files are still frames: the video never gets shorter
  CHECK(strict.frame(1)->width == 360);
  CHECK_THROWS_WITH_AS(strict.frame(2), doctest::Contains(trunc.c_str()), std::runtime_error);
  CHECK_THROWS_WITH_AS(strict.frame(4), doctest::Contains(empty.c_str()), std::runtime_error);
  CHECK_THROWS_AS(strict.frame(5), std::out_of_range);
  CHECK_THROWS_AS(Video(d.str(), VideoOptions{true, 16, CorruptFramePolicy::kError}), std::runtime_error);

  Video skip(d.str(), VideoOptions{true, 16, CorruptFramePolicy::kSkip});
  CHECK(skip.num_frames() == 5);
  CHECK(skip.frame(2)->rgb == skip.frame(1)->rgb);   // nearest readable frame, earlier first
  CHECK(skip.frame(4)->rgb == skip.frame(3)->rgb);
  CHECK(skip.skipped_frames() == std::vector<int>{2, 4});
}

TEST_CASE("data frames: frames of one video must share a size and videos may differ") {
  TempDir root("sizes");
  ssmtl::test::write_frames(root / "testing/frames/a", {ssmtl::test::solid_image(8, 6, 1, 2, 3),
                                                        ssmtl::test::solid_image(8, 6, 4, 5, 6)});
  ssmtl::test::write_frames(root / "testing/frames/b", {ssmtl::test::solid_image(5, 7, 9, 9, 9)});
  ssmtl::test::write_frames(root / "testing/frames/c", {ssmtl::test::solid_image(8, 6, 0, 0, 0),
                                                        ssmtl::test::solid_image(9, 6, 0, 0, 0)});
  fs::create_directories(root / "testing/frames/.c.tmp.1");   // a half-decoded video is not a video
  auto names = list_videos(root.str(), "testing");
  CHECK(names == std::vector<std::string>{"a", "b", "c"});
  Video a(video_dir(root.str(), "testing", "a")), b(video_dir(root.str(), "testing", "b"));
  CHECK(a.name() == "a");
  CHECK(a.width() == 8);
  CHECK(b.width() == 5);
  CHECK(b.height() == 7);
  CHECK(a.frame(1)->at(3, 2, 0) == 4);
  CHECK(a.frame(1)->at(3, 2, 2) == 6);
  Video c(video_dir(root.str(), "testing", "c"));
  CHECK_THROWS_WITH_AS(c.frame(1), doctest::Contains("001.bmp"), std::runtime_error);
  CHECK_THROWS_AS(list_videos(root.str(), "training"), std::runtime_error);
}

TEST_CASE("data frames: real Ped2 test video 01 (180 frames of 360x240, as many as its label lines)") {
  const std::string root = std::string(SSMTL_SHARED_DIR) + "/data/ped2";
  auto names = list_videos(root, "testing");
  REQUIRE(names.size() == 12);
  CHECK(names.front() == "01");
  CHECK(names.back() == "12");
  Video v(video_dir(root, "testing", "01"), VideoOptions{false, 8, CorruptFramePolicy::kError});
  std::ifstream gt(root + "/testing/gt_frame/01.txt");
  int lines = 0;
  for (std::string l; std::getline(gt, l);)
    if (!l.empty()) ++lines;
  CHECK(lines == 180);
  CHECK(v.num_frames() == lines);
  CHECK(v.width() == 360);
  CHECK(v.height() == 240);
  CHECK(fs::path(v.frame_path(179)).filename() == "179.jpg");
  auto f = v.frame(179);
  REQUIRE(f->rgb.size() == 360u * 240 * 3);
  // Ped2 is grey stored as RGB JPEG: channels are (almost) equal; check they decode to sensible values.
  long diff = 0, sum = 0;
  for (size_t p = 0; p < f->rgb.size(); p += 3) {
    diff += std::abs(f->rgb[p] - f->rgb[p + 1]);
    sum += f->rgb[p];
  }
  CHECK(diff < 360 * 240 * 2);
  CHECK(sum / (360 * 240) > 50);
  // Cache: asking again gives the same decoded frame object.
  CHECK(v.frame(179).get() == f.get());
}
