// `ssmtl prepare --dataset`: the miniature distributions of tests/data/datasets (tests/make_dataset_fixtures.py)
// converted into our layout and read back the way the pipeline reads it (Video, eval::load_labels/load_tracks).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/datasets/dataset.h"
#include "data/frames.h"
#include "data/image.h"
#include "eval/io.h"
#include "tests/eval_test_util.h"

namespace fs = std::filesystem;
using namespace ssmtl;
using ssmtl::test::error_of;
using ssmtl::test::TempDir;

namespace {

const std::string kFixtures = std::string(SSMTL_TEST_DATA_DIR) + "/datasets";

// Grey level of fixture frame i of clip `clip` at (x, y) (make_dataset_fixtures.py, frame()).
int fixture_pixel(int x, int y, int i, int clip) { return (8 * x + 4 * y + 20 * i + 10 * clip) % 256; }

std::string track_lines(const std::string& path) {
  std::string s;
  for (const auto& t : eval::load_tracks(path))
    s += std::to_string(t.track_id) + "," + std::to_string(t.frame) + "," + std::to_string(int(t.box.x_min)) + "," +
         std::to_string(int(t.box.y_min)) + "," + std::to_string(int(t.box.x_max)) + "," +
         std::to_string(int(t.box.y_max)) + "\n";
  return s;
}

// Hidden staging folders ("." + name + ".partial.*") left in `parent`.
int leftovers(const std::string& parent) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(parent)) n += e.path().filename().string().find(".partial.") != std::string::npos;
  return n;
}

datasets::DatasetOptions options(const std::string& root, const std::string& out) {
  datasets::DatasetOptions o;
  o.root = root;
  o.out = out;
  o.video.format = "png";   // lossless, so frame content can be compared exactly
  return o;
}

// A copy of a fixture distribution to break.
std::string copy_fixture(const TempDir& tmp, const std::string& name) {
  const std::string dst = tmp / ("src_" + name);
  fs::copy(kFixtures + "/" + name, dst, fs::copy_options::recursive);
  return dst;
}

// The error of converting `root`, checking that nothing is left under the output name or as a staging folder.
std::string failed_prepare(const std::string& dataset, const std::string& root, const TempDir& tmp) {
  const std::string out = tmp / "out";
  const std::string err = error_of([&] { datasets::prepare_dataset(dataset, options(root, out)); });
  CHECK_FALSE(fs::exists(out));
  CHECK(leftovers(tmp.path()) == 0);
  return err;
}

}  // namespace

TEST_CASE("prepare ped2: the UCSD distribution becomes frames + labels from UCSDped2.m + masks + derived tracks") {
  TempDir tmp("prep_ucsd");
  const std::string out = tmp / "ped2";
  // --root may be UCSDped2 itself or the folder above it (the unpacked UCSD_Anomaly_Dataset.v1p2).
  const auto r = datasets::prepare_dataset("ped2", options(kFixtures + "/ucsd", out));
  REQUIRE(r.videos.size() == 4);
  CHECK(r.videos[0].split == "training");
  CHECK(r.videos[0].name == "01");
  CHECK(r.videos[0].frames == 3);
  CHECK(r.videos[1].frames == 2);
  CHECK(r.videos[2].name == "01");
  CHECK(r.videos[2].frames == 4);
  CHECK(r.videos[2].abnormal_frames == 2);
  CHECK(r.videos[2].masks == 4);
  CHECK(r.videos[2].tracks == 2);
  CHECK(r.videos[3].frames == 3);
  CHECK(r.videos[3].tracks == -1);   // Test002 has no _gt folder
  CHECK(leftovers(tmp.path()) == 0);

  CHECK(list_videos(out, "training") == std::vector<std::string>{"01", "02"});
  CHECK(list_videos(out, "testing") == std::vector<std::string>{"01", "02"});
  Video train1(video_dir(out, "training", "01"));
  REQUIRE(train1.num_frames() == 3);   // the stray ._001.tif and .DS_Store are not frames
  CHECK(fs::path(train1.frame_path(0)).filename() == "000.png");
  auto f = train1.frame(1);
  CHECK(f->width == 32);
  CHECK(f->height == 24);
  CHECK(int(f->at(5, 3, 0)) == fixture_pixel(5, 3, 1, 1));
  CHECK(int(f->at(31, 23, 2)) == fixture_pixel(31, 23, 1, 1));
  Video test1(video_dir(out, "testing", "01"));
  CHECK(int(test1.frame(3)->at(7, 2, 1)) == fixture_pixel(7, 2, 3, 11));

  // [2:3] and [1, 3:3], 1-based inclusive.
  CHECK(eval::load_labels(out + "/testing/gt_frame/01.txt") == std::vector<int>{0, 1, 1, 0});
  CHECK(eval::load_labels(out + "/testing/gt_frame/02.txt") == std::vector<int>{1, 0, 1});
  // Blob A in frames 1-2 (moving right by one pixel), blob B in frames 2-3.
  CHECK(track_lines(out + "/testing/gt_tracks_derived/01.txt") ==
        "0,1,3,2,6,5\n0,2,4,2,7,5\n1,2,20,10,25,15\n1,3,20,11,25,16\n");
  CHECK_FALSE(fs::exists(out + "/testing/gt_tracks_derived/02.txt"));
  REQUIRE(list_frame_files(out + "/testing/gt_pixel/01").size() == 4);
  const Image m2 = load_image(out + "/testing/gt_pixel/01/002.png");
  CHECK(int(m2.at(4, 2, 0)) == 255);
  CHECK(int(m2.at(3, 2, 0)) == 0);
  CHECK(int(m2.at(25, 15, 0)) == 255);
  CHECK(int(load_image(out + "/testing/gt_pixel/01/000.png").at(4, 2, 0)) == 0);

  // An existing output is never overwritten by accident.
  CHECK(error_of([&] { datasets::prepare_dataset("ped2", options(kFixtures + "/ucsd/UCSDped2", out)); }) ==
        fs::absolute(out).lexically_normal().string() + ": already exists (remove it, or pass --overwrite)");
  auto o = options(kFixtures + "/ucsd/UCSDped2", out);
  o.overwrite = true;
  CHECK(datasets::prepare_dataset("ped2", o).videos.size() == 4);
  CHECK(leftovers(tmp.path()) == 0);
}

TEST_CASE("prepare ped2: bad distributions give an error naming the file and leave no output") {
  TempDir tmp("prep_ucsd_bad");
  SUBCASE("a label range longer than the clip") {
    const std::string root = copy_fixture(tmp, "ucsd");
    const std::string m = root + "/UCSDped2/Test/UCSDped2.m";
    tmp.write("src_ucsd/UCSDped2/Test/UCSDped2.m", "TestVideoFile{end+1}.gt_frame = [2:5];\nTestVideoFile{end+1}.gt_frame = [1];\n");
    CHECK(failed_prepare("ped2", root, tmp) ==
          m + ": Test001: abnormal range 2:5 reaches past the clip's 4 frames");
  }
  SUBCASE("a label file for more clips than Test/ has") {
    const std::string root = copy_fixture(tmp, "ucsd");
    tmp.write("src_ucsd/UCSDped2/Test/UCSDped2.m",
              "TestVideoFile{end+1}.gt_frame = [2:3];\nTestVideoFile{end+1}.gt_frame = [1];\nTestVideoFile{end+1}.gt_frame = [1];\n");
    CHECK(failed_prepare("ped2", root, tmp) == root + "/UCSDped2/Test/UCSDped2.m: labels for 3 test clips, but " + root +
                                                   "/UCSDped2/Test has 2 (Test001..Test002)");
  }
  SUBCASE("a malformed label line") {
    const std::string root = copy_fixture(tmp, "ucsd");
    tmp.write("src_ucsd/UCSDped2/Test/UCSDped2.m", "TestVideoFile{end+1}.gt_frame = [2:3];\nTestVideoFile{end+1}.gt_frame = [3:1];\n");
    CHECK(failed_prepare("ped2", root, tmp) ==
          root + "/UCSDped2/Test/UCSDped2.m:2: bad range '3:1' (1-based, first <= last)");
  }
  SUBCASE("a missing mask frame") {
    const std::string root = copy_fixture(tmp, "ucsd");
    fs::remove(root + "/UCSDped2/Test/Test001_gt/003.bmp");
    CHECK(failed_prepare("ped2", root, tmp) ==
          root + "/UCSDped2/Test/Test001_gt: mask frame missing for 003.tif (3 masks for 4 frames)");
  }
  SUBCASE("a corrupt frame") {
    const std::string root = copy_fixture(tmp, "ucsd");
    tmp.write("src_ucsd/UCSDped2/Train/Train002/002.tif", "II*\0garbage");
    const std::string err = failed_prepare("ped2", root, tmp);
    CHECK(err.rfind(root + "/UCSDped2/Train/Train002: converting its .tif frames failed:", 0) == 0);
  }
  SUBCASE("an unknown layout") {
    const std::string root = copy_fixture(tmp, "shanghaitech");
    CHECK(failed_prepare("ped2", root, tmp) ==
          root + ": not a UCSD Ped2 distribution: Train missing (expected: UCSDped2/Train/TrainNNN/NNN.tif, "
                 "Test/TestNNN/NNN.tif, Test/UCSDped2.m)");
  }
  CHECK(error_of([&] { datasets::prepare_dataset("ped3", options(kFixtures, tmp / "o")); }) ==
        "unknown data set 'ped3' (known: ped1, ped2)");
}
