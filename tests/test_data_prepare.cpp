// ssmtl prepare's library part: ffmpeg decoding to 0-based frame folders, atomic per video, skipping
// videos already decoded, clear errors for broken videos. Test videos are made with ffmpeg's test source.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "data/video/frames.h"
#include "data/video/prepare.h"
#include "tests/data_test_util.h"

using namespace ssmtl;
namespace fs = std::filesystem;

// 12 frames of 64x48 at 10 fps, MJPEG in AVI (as Avenue's .avi files).
static void make_video(const std::string& path, int frames) {
  const std::string cmd = "ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc=size=64x48:rate=10 -frames:v " +
                          std::to_string(frames) + " -c:v mjpeg -q:v 3 '" + path + "'";
  REQUIRE(std::system(cmd.c_str()) == 0);
}

TEST_CASE("data prepare: videos become 0-based frame folders, atomically, once") {
  test::TempDir d("prepare");
  fs::create_directories(d / "videos");
  make_video(d / "videos/2.avi", 12);
  make_video(d / "videos/10.avi", 3);
  std::ofstream(d / "videos/readme.txt") << "not a video";
  auto files = list_video_files(d / "videos");
  REQUIRE(files.size() == 2);
  CHECK(fs::path(files[0]).filename() == "2.avi");   // natural order
  const std::string out = d / "root/testing/frames";
  auto r = prepare_videos(d / "videos", out);
  REQUIRE(r.size() == 2);
  CHECK(r[0].video == "2");
  CHECK(r[0].frames == 12);
  CHECK_FALSE(r[0].skipped);
  CHECK(r[1].frames == 3);
  CHECK(fs::exists(out + "/2/0000.jpg"));
  CHECK(fs::exists(out + "/2/0011.jpg"));
  CHECK_FALSE(fs::exists(out + "/2/0012.jpg"));
  Video v(out + "/2");
  CHECK(v.num_frames() == 12);
  CHECK(v.width() == 64);
  CHECK(v.height() == 48);
  CHECK(list_videos(d / "root", "testing") == std::vector<std::string>{"2", "10"});
  // No temporary folder is left behind.
  for (const auto& e : fs::directory_iterator(out)) CHECK(e.path().filename().string()[0] != '.');

  // Second run: both skipped, files untouched.
  auto before = fs::last_write_time(out + "/2/0000.jpg");
  auto again = prepare_videos(d / "videos", out);
  CHECK(again[0].skipped);
  CHECK(again[1].skipped);
  CHECK(again[0].frames == 12);
  CHECK(fs::last_write_time(out + "/2/0000.jpg") == before);

  // Options: PNG, 3 digits (Ped2 style), overwrite.
  PrepareOptions o;
  o.format = "png";
  o.digits = 3;
  o.overwrite = true;
  auto p = prepare_video(d / "videos/10.avi", out, o);
  CHECK(p.frames == 3);
  CHECK(fs::exists(out + "/10/002.png"));
  CHECK_FALSE(fs::exists(out + "/10/0002.jpg"));
}

TEST_CASE("data prepare: a broken video is an error naming it and leaves no folder") {
  test::TempDir d("prepare_bad");
  fs::create_directories(d / "videos");
  std::ofstream(d / "videos/bad.avi") << "this is not an AVI file";
  const std::string out = d / "frames";
  CHECK_THROWS_WITH_AS(prepare_video(d / "videos/bad.avi", out), doctest::Contains("bad.avi"), std::runtime_error);
  CHECK_FALSE(fs::exists(out + "/bad"));
  for (const auto& e : fs::directory_iterator(out)) CHECK(e.path().filename().string().find("tmp") == std::string::npos);
  PrepareOptions o;
  o.ffmpeg = "/nonexistent/ffmpeg";
  make_video(d / "videos/ok.avi", 2);
  CHECK_THROWS_AS(prepare_video(d / "videos/ok.avi", out, o), std::runtime_error);
  CHECK_THROWS_AS(list_video_files(d / "nothing"), std::runtime_error);
}
