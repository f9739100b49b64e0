// `ssmtl prepare --dataset`: the miniature distributions of tests/data/datasets (tests/make_dataset_fixtures.py)
// converted into our layout and read back the way the pipeline reads it (Video, eval::load_labels/load_tracks).
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/datasets/dataset.h"
#include "data/video/frames.h"
#include "data/video/image.h"
#include "eval/io.h"
#include "regions/region_file.h"
#include "tests/eval_test_util.h"
#include "tests/run_program.h"
#include "util/atomic_file.h"

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
  for (const auto& t : load_tracks(path))
    s += std::to_string(t.track_id) + "," + std::to_string(t.frame) + "," + std::to_string(int(t.box.x0)) + "," +
         std::to_string(int(t.box.y0)) + "," + std::to_string(int(t.box.x1)) + "," +
         std::to_string(int(t.box.y1)) + "\n";
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
  CHECK(error_of([&] { datasets::prepare_dataset("ped3", options(kFixtures, tmp / "o")); })
            .rfind("unknown data set 'ped3' (known: ped1, ped2, shanghaitech", 0) == 0);
}

namespace {
// A 1-D int64 .npy file (numpy.save, format 1.0) holding `labels`.
std::string npy_labels(const std::vector<int64_t>& labels) {
  std::string h = "{'descr': '<i8', 'fortran_order': False, 'shape': (" + std::to_string(labels.size()) + ",), }";
  while ((10 + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::string s = std::string("\x93NUMPY\x01\x00", 8);
  s += static_cast<char>(h.size());
  s += '\0';
  return s + h + std::string(reinterpret_cast<const char*>(labels.data()), labels.size() * 8);
}
}  // namespace

TEST_CASE("prepare shanghaitech: .avi training videos + test frames + .npy frame and pixel masks") {
  TempDir tmp("prep_st");
  const std::string out = tmp / "shanghaitech";
  const auto r = datasets::prepare_dataset("shanghaitech", options(kFixtures + "/shanghaitech", out));
  REQUIRE(r.videos.size() == 4);
  CHECK(r.videos[0].name == "01_001");
  CHECK(r.videos[0].frames == 5);
  CHECK(r.videos[1].name == "01_002");
  CHECK(r.videos[1].frames == 3);
  CHECK(r.videos[2].name == "01_0014");
  CHECK(r.videos[2].frames == 4);
  CHECK(r.videos[2].abnormal_frames == 3);
  CHECK(r.videos[2].tracks == 2);
  CHECK(r.videos[3].frames == 3);
  CHECK(r.videos[3].masks == 3);
  CHECK(r.videos[3].tracks == 2);
  CHECK(list_videos(out, "training") == std::vector<std::string>{"01_001", "01_002"});
  Video train(video_dir(out, "training", "01_001"));
  REQUIRE(train.num_frames() == 5);
  // Decoded from MJPEG (lossy): the frame order shows in the grey level, 20 per frame.
  for (int i = 0; i < 5; ++i) CHECK(std::abs(int(train.frame(i)->at(3, 3, 0)) - fixture_pixel(3, 3, i, 1)) <= 3);
  Video test(video_dir(out, "testing", "01_0014"));
  REQUIRE(test.num_frames() == 4);   // .DS_Store and ._001.tif skipped
  CHECK(fs::path(test.frame_path(3)).filename() == "0003.jpg");
  CHECK(std::abs(int(test.frame(2)->at(10, 5, 0)) - fixture_pixel(10, 5, 2, 11)) <= 3);
  CHECK(eval::load_labels(out + "/testing/gt_frame/01_0014.txt") == std::vector<int>{0, 1, 1, 1});
  CHECK(eval::load_labels(out + "/testing/gt_frame/01_0015.txt") == std::vector<int>{0, 0, 1});
  CHECK(track_lines(out + "/testing/gt_tracks_derived/01_0014.txt") ==
        "0,1,3,2,6,5\n0,2,4,2,7,5\n1,2,20,10,25,15\n1,3,20,11,25,16\n");
  CHECK(track_lines(out + "/testing/gt_tracks_derived/01_0015.txt") == "0,2,0,0,3,2\n1,2,28,21,31,23\n");
  CHECK(int(load_image(out + "/testing/gt_pixel/01_0015/0002.png").at(31, 23, 0)) == 255);
}

TEST_CASE("prepare shanghaitech: bad distributions give an error naming the file and leave no output") {
  TempDir tmp("prep_st_bad");
  const std::string root = copy_fixture(tmp, "shanghaitech");
  const std::string fm = root + "/testing/test_frame_mask/01_0015.npy";
  SUBCASE("a frame mask longer than the video") {
    tmp.write("src_shanghaitech/testing/test_frame_mask/01_0015.npy", npy_labels({0, 0, 1, 1}));
    CHECK(failed_prepare("shanghaitech", root, tmp) == fm + ": 4 frame labels for a video of 3 frames");
  }
  SUBCASE("a frame mask shorter than the video") {
    tmp.write("src_shanghaitech/testing/test_frame_mask/01_0015.npy", npy_labels({0, 1}));
    CHECK(failed_prepare("shanghaitech", root, tmp) == fm + ": 2 frame labels for a video of 3 frames");
  }
  SUBCASE("a label other than 0/1") {
    tmp.write("src_shanghaitech/testing/test_frame_mask/01_0015.npy", npy_labels({0, 2, 1}));
    CHECK(failed_prepare("shanghaitech", root, tmp) == fm + ": frame 1 has label 2.000000, not 0 or 1");
  }
  SUBCASE("a missing frame mask") {
    fs::remove(fm);
    CHECK(failed_prepare("shanghaitech", root, tmp) == fm + ": frame mask of test video 01_0015 missing");
  }
  SUBCASE("a pixel mask with one frame less") {
    const std::string pm = root + "/testing/test_pixel_mask/01_0014.npy";
    fs::copy_file(root + "/testing/test_pixel_mask/01_0015.npy", pm, fs::copy_options::overwrite_existing);
    CHECK(failed_prepare("shanghaitech", root, tmp) ==
          pm + ": pixel mask shape (3, 24, 32) is not (frames, height, width) = (4, 24, 32)");
  }
  SUBCASE("a mask without its video") {
    fs::copy_file(fm, root + "/testing/test_frame_mask/01_0016.npy");
    CHECK(failed_prepare("shanghaitech", root, tmp) ==
          root + "/testing/test_frame_mask/01_0016.npy: no test video folder testing/frames/01_0016 for this mask");
  }
  SUBCASE("a corrupt .avi") {
    tmp.write("src_shanghaitech/training/videos/01_002.avi", "RIFF\x10\0\0\0AVI LIST garbage");
    const std::string err = failed_prepare("shanghaitech", root, tmp);
    CHECK(err.rfind(root + "/training/videos/01_002.avi: ffmpeg failed with exit status", 0) == 0);
  }
  SUBCASE("a corrupt test frame") {
    tmp.write("src_shanghaitech/testing/frames/01_0015/001.jpg", "\xff\xd8\xff garbage");
    const std::string err = failed_prepare("shanghaitech", root, tmp);
    CHECK(err.rfind(root + "/testing/frames/01_0015/001.jpg", 0) == 0);
  }
  SUBCASE("an unknown layout") {
    CHECK(failed_prepare("shanghaitech", kFixtures + "/ucsd", tmp) ==
          kFixtures + "/ucsd: not a ShanghaiTech Campus distribution: training/videos missing (expected: " +
              "training/videos/SS_VVV.avi, testing/frames/SS_VVVV/NNN.jpg, testing/test_frame_mask/SS_VVVV.npy, "
              "testing/test_pixel_mask/SS_VVVV.npy)");
  }
}

TEST_CASE("prepare avenue: .avi videos + volLabel masks in N_label.mat + AnoPred labels as an option") {
  TempDir tmp("prep_av");
  const std::string out = tmp / "avenue";
  auto o = options(kFixtures + "/avenue", out);
  o.frame_labels = kFixtures + "/avenue/avenue.mat";
  const auto r = datasets::prepare_dataset("avenue", o);
  REQUIRE(r.videos.size() == 3);
  CHECK(r.videos[0].split == "training");
  CHECK(r.videos[0].frames == 4);
  CHECK(r.videos[1].name == "01");
  CHECK(r.videos[1].frames == 4);
  CHECK(r.videos[1].abnormal_frames == 3);
  CHECK(r.videos[1].tracks == 2);
  CHECK(r.videos[2].frames == 3);
  CHECK(r.videos[2].tracks == 1);
  Video test(video_dir(out, "testing", "02"));
  REQUIRE(test.num_frames() == 3);
  CHECK(std::abs(int(test.frame(2)->at(20, 20, 1)) - fixture_pixel(20, 20, 2, 12)) <= 3);
  // gt_frame follows the masks; gt_frame_anopred the intervals [2:4] and [1:1, 3:3].
  CHECK(eval::load_labels(out + "/testing/gt_frame/01.txt") == std::vector<int>{0, 1, 1, 1});
  CHECK(eval::load_labels(out + "/testing/gt_frame/02.txt") == std::vector<int>{0, 1, 0});
  CHECK(eval::load_labels(out + "/testing/gt_frame_anopred/01.txt") == std::vector<int>{0, 1, 1, 1});
  CHECK(eval::load_labels(out + "/testing/gt_frame_anopred/02.txt") == std::vector<int>{1, 0, 1});
  CHECK(track_lines(out + "/testing/gt_tracks_derived/01.txt") ==
        "0,1,3,2,6,5\n0,2,4,2,7,5\n1,2,20,10,25,15\n1,3,20,11,25,16\n");
  CHECK(track_lines(out + "/testing/gt_tracks_derived/02.txt") == "0,1,10,5,12,8\n");
  const Image m = load_image(out + "/testing/gt_pixel/02/0001.png");
  CHECK(int(m.at(10, 5, 0)) == 255);
  CHECK(int(m.at(13, 5, 0)) == 0);
}

TEST_CASE("prepare avenue: bad distributions give an error naming the file and leave no output") {
  TempDir tmp("prep_av_bad");
  const std::string root = copy_fixture(tmp, "avenue");
  const std::string masks = root + "/ground_truth_demo/testing_label_mask";
  SUBCASE("fewer masks than frames") {
    fs::copy_file(masks + "/2_label.mat", masks + "/1_label.mat", fs::copy_options::overwrite_existing);
    CHECK(failed_prepare("avenue", root, tmp) == masks + "/1_label.mat: volLabel has 3 masks for a video of 4 frames (" +
                                                     root + "/testing_videos/01.avi)");
  }
  SUBCASE("a v7.3 (HDF5) mask file") {
    fs::copy_file(root + "/v73_label.mat", masks + "/2_label.mat", fs::copy_options::overwrite_existing);
    CHECK(failed_prepare("avenue", root, tmp).rfind(masks + "/2_label.mat: MATLAB v7.3 MAT-file (HDF5)", 0) == 0);
  }
  SUBCASE("a missing mask file") {
    fs::remove(masks + "/2_label.mat");
    CHECK(failed_prepare("avenue", root, tmp) ==
          masks + "/2_label.mat: masks of test video " + root + "/testing_videos/02.avi missing");
  }
  SUBCASE("masks without a video") {
    fs::copy_file(masks + "/2_label.mat", masks + "/3_label.mat");
    CHECK(failed_prepare("avenue", root, tmp) == masks + "/3_label.mat: no test video in testing_videos/ for these masks");
  }
  SUBCASE("a corrupt .avi") {
    tmp.write("src_avenue/testing_videos/02.avi", std::string(300, 'x'));
    CHECK(failed_prepare("avenue", root, tmp).rfind(root + "/testing_videos/02.avi: ffmpeg failed", 0) == 0);
  }
  SUBCASE("an unknown layout") {
    CHECK(failed_prepare("avenue", kFixtures + "/shanghaitech", tmp) ==
          kFixtures + "/shanghaitech: not a CUHK Avenue distribution: training_videos missing (expected: training_videos/NN.avi, "
                      "testing_videos/NN.avi, ground_truth_demo/testing_label_mask/N_label.mat (volLabel))");
  }
  SUBCASE("an AnoPred label file without gt") {
    const std::string out = tmp / "out";
    auto o = options(root, out);
    o.frame_labels = masks + "/1_label.mat";   // no variable gt
    CHECK(error_of([&] { datasets::prepare_dataset("avenue", o); }) ==
          masks + "/1_label.mat: no variable 'gt' (it has: volLabel)");
    CHECK_FALSE(fs::exists(out));
    CHECK(leftovers(tmp.path()) == 0);
  }
}

TEST_CASE("prepare ubnormal: Scene folders of .mp4 + object-id maps + tracks + the official split lists") {
  TempDir tmp("prep_ub");
  const std::string out = tmp / "ubnormal";
  const auto r = datasets::prepare_dataset("ubnormal", options(kFixtures + "/ubnormal", out));
  REQUIRE(r.videos.size() == 4);
  CHECK(r.videos[0].split == "training");
  CHECK(r.videos[0].name == "normal_scene_1_scenario_1");
  CHECK(r.videos[0].frames == 3);
  CHECK(r.videos[1].name == "abnormal_scene_1_scenario_1");
  CHECK(r.videos[1].frames == 5);
  CHECK(r.videos[1].abnormal_frames == 3);
  CHECK(r.videos[1].masks == 5);
  CHECK(r.videos[1].tracks == 2);
  CHECK(r.videos[2].split == "validation");
  CHECK(r.videos[3].split == "testing");
  CHECK(r.videos[3].frames == 4);
  CHECK(r.videos[1].split == "training_abnormal");
  // training/ holds the normal training videos only (what the paper trains on).
  CHECK(list_videos(out, "training") == std::vector<std::string>{"normal_scene_1_scenario_1"});
  CHECK(list_videos(out, "training_abnormal") == std::vector<std::string>{"abnormal_scene_1_scenario_1"});
  CHECK(list_videos(out, "validation") == std::vector<std::string>{"normal_scene_2_scenario_2"});
  CHECK(list_videos(out, "testing") == std::vector<std::string>{"abnormal_scene_2_scenario_1"});
  Video v(video_dir(out, "training_abnormal", "abnormal_scene_1_scenario_1"));
  REQUIRE(v.num_frames() == 5);
  for (int i = 0; i < 5; ++i) CHECK(std::abs(int(v.frame(i)->at(6, 6, 0)) - fixture_pixel(6, 6, i, 20)) <= 4);
  const std::string tr = out + "/training_abnormal/";
  // Objects 5 (frames 1-2) and 7 (frames 2-3); object 3 is not abnormal.
  CHECK(eval::load_labels(tr + "gt_frame/abnormal_scene_1_scenario_1.txt") == std::vector<int>{0, 1, 1, 1, 0});
  CHECK(eval::load_labels(out + "/training/gt_frame/normal_scene_1_scenario_1.txt") == std::vector<int>{0, 0, 0});
  const std::string both = "0,1,3,2,6,5\n0,2,4,2,7,5\n1,2,20,10,25,15\n1,3,20,11,25,16\n";
  CHECK(track_lines(tr + "gt_tracks/abnormal_scene_1_scenario_1.txt") == both);
  CHECK(track_lines(tr + "gt_tracks_derived/abnormal_scene_1_scenario_1.txt") == both);
  CHECK(track_lines(out + "/training/gt_tracks/normal_scene_1_scenario_1.txt").empty());
  CHECK(int(load_image(tr + "gt_pixel/abnormal_scene_1_scenario_1/0000.png").at(2, 18, 0)) == 0);   // object 3
  CHECK(int(load_image(tr + "gt_pixel/abnormal_scene_1_scenario_1/0002.png").at(4, 2, 0)) == 255);
  // _new_tracks.txt (object 1, frames 0-1) wins over _tracks.txt (frames 0-3).
  CHECK(eval::load_labels(out + "/testing/gt_frame/abnormal_scene_2_scenario_1.txt") == std::vector<int>{1, 1, 0, 0});
  CHECK(track_lines(out + "/testing/gt_tracks/abnormal_scene_2_scenario_1.txt") == "0,0,10,10,14,11\n0,1,11,10,15,11\n");
}

TEST_CASE("prepare ubnormal: bad distributions give an error naming the file and leave no output") {
  TempDir tmp("prep_ub_bad");
  const std::string root = copy_fixture(tmp, "ubnormal");
  const std::string ann = root + "/Scene1/abnormal_scene_1_scenario_1_annotations/";
  SUBCASE("a track longer than the video") {
    tmp.write("src_ubnormal/Scene1/abnormal_scene_1_scenario_1_annotations/abnormal_scene_1_scenario_1_tracks.txt",
              "5,1,2\n7,2,5\n");
    CHECK(failed_prepare("ubnormal", root, tmp) ==
          ann + "abnormal_scene_1_scenario_1_tracks.txt: object 7 ends at frame 5 but the video has 5 frames");
  }
  SUBCASE("a malformed track line") {
    tmp.write("src_ubnormal/Scene1/abnormal_scene_1_scenario_1_annotations/abnormal_scene_1_scenario_1_tracks.txt",
              "5,1,2\n7;2;3\n");
    CHECK(failed_prepare("ubnormal", root, tmp) ==
          ann + "abnormal_scene_1_scenario_1_tracks.txt:2: not 'object_id,first_frame,last_frame': 7;2;3");
  }
  SUBCASE("object id 0, the background of the maps") {
    tmp.write("src_ubnormal/Scene1/abnormal_scene_1_scenario_1_annotations/abnormal_scene_1_scenario_1_tracks.txt",
              "0,1,2\n");
    CHECK(failed_prepare("ubnormal", root, tmp) ==
          ann + "abnormal_scene_1_scenario_1_tracks.txt:1: object id 0 is the maps' background: 0,1,2");
  }
  SUBCASE("a missing mask frame") {
    fs::remove(ann + "abnormal_scene_1_scenario_1_0002_gt.png");
    CHECK(failed_prepare("ubnormal", root, tmp) ==
          ann + "abnormal_scene_1_scenario_1_0002_gt.png: mask frame missing (frame 2 is inside a track of " + ann +
              "abnormal_scene_1_scenario_1_tracks.txt)");
  }
  SUBCASE("a listed video that is not there") {
    fs::remove(root + "/Scene2/normal_scene_2_scenario_2.mp4");
    CHECK(failed_prepare("ubnormal", root, tmp) == root + "/scripts/normal_validation_video_names.txt: video "
                                                          "normal_scene_2_scenario_2 not found in " + root + "/Scene*/");
  }
  SUBCASE("a missing split list") {
    fs::remove(root + "/scripts/abnormal_test_video_names.txt");
    CHECK(failed_prepare("ubnormal", root, tmp).rfind(root + "/scripts/abnormal_test_video_names.txt: UBnormal split "
                                                             "list missing", 0) == 0);
  }
  SUBCASE("a corrupt .mp4") {
    tmp.write("src_ubnormal/Scene2/abnormal_scene_2_scenario_1.mp4", std::string(64, '\0') + "moov");
    CHECK(failed_prepare("ubnormal", root, tmp).rfind(root + "/Scene2/abnormal_scene_2_scenario_1.mp4: ffmpeg failed", 0) == 0);
  }
  SUBCASE("an unknown layout") {
    CHECK(failed_prepare("ubnormal", kFixtures + "/avenue", tmp).rfind(
              kFixtures + "/avenue: not a UBnormal distribution: no SceneK/*.mp4", 0) == 0);
  }
}

namespace {
// The ssmtl program run with `args`: (exit status, stdout; stderr discarded).
std::pair<int, std::string> run_program(const std::string& args) {
  test::RunResult r = test::run_ssmtl(args, "2>/dev/null");
  return {r.code, r.output};
}
}  // namespace

TEST_CASE("ssmtl prepare --dataset ped2, then ssmtl evaluate reads the prepared labels and tracks") {
  TempDir tmp("prep_cli");
  const std::string root = kFixtures + "/ucsd", out = tmp / "ped2";
  auto [code, text] = run_program("prepare --dataset ped2 --root " + root + " --out " + out);
  CHECK(code == 0);
  CHECK(text == "training/01\t3 frames\t<- " + root + "/UCSDped2/Train/Train001\n"
                "training/02\t2 frames\t<- " + root + "/UCSDped2/Train/Train002\n"
                "testing/01\t4 frames\t2 abnormal\t4 masks\t2 tracks\t<- " + root + "/UCSDped2/Test/Test001\n"
                "testing/02\t3 frames\t2 abnormal\t<- " + root + "/UCSDped2/Test/Test002\n"
                "ped2: 2 training videos (5 frames), 2 testing videos (7 frames), 4 abnormal frames, 4 masks, "
                "2 derived tracks, in " + out + "\n");
  // Scores equal to the labels and regions equal to the derived tracks: every metric is 100%.
  tmp.write("scores/01.txt", "0.1\n0.9\n0.9\n0.1\n");
  tmp.write("scores/02.txt", "0.9\n0.1\n0.9\n");
  std::string regions;
  for (const auto& t : load_tracks(out + "/testing/gt_tracks_derived/01.txt"))
    regions += std::to_string(t.frame) + "," + std::to_string(int(t.box.x0)) + "," + std::to_string(int(t.box.y0)) +
               "," + std::to_string(int(t.box.x1)) + "," + std::to_string(int(t.box.y1)) + ",0.9\n";
  tmp.write("regions/01.txt", regions);
  tmp.write("labels01/01.txt", util::read_file(out + "/testing/gt_frame/01.txt"));   // Test002 has no masks
  auto [c1, t1] = run_program("evaluate --smooth-sigma 0 --scores " + tmp / "scores" + " --labels " + out + "/testing/gt_frame");
  CHECK(c1 == 0);
  CHECK(t1.find("2 videos, 7 frames") != std::string::npos);
  CHECK(t1.find("micro AUC   100.00%") != std::string::npos);
  auto [c2, t2] = run_program("evaluate --smooth-sigma 0 --scores " + tmp / "scores" + " --labels " + tmp / "labels01" +
                              " --regions " + tmp / "regions" + " --tracks " + out + "/testing/gt_tracks_derived");
  CHECK(c2 == 0);
  CHECK(t2.find("RBDC        100.00%") != std::string::npos);
  CHECK(t2.find("TBDC        100.00%") != std::string::npos);
  // A usage error exits with 2, a bad distribution with 1.
  CHECK(run_program("prepare --dataset ped9 --root " + root + " --out " + tmp / "x").first == 2);
  CHECK(run_program("prepare --dataset avenue --root " + root + " --out " + tmp / "x").first == 1);
  CHECK_FALSE(fs::exists(tmp / "x"));
}

TEST_CASE("prepare: the staging folder of a killed run is removed by the next run into the same output") {
  TempDir tmp("prep_stale");
  fs::create_directories(tmp / ".ped2.partial.99999/training/frames/01");
  fs::create_directories(tmp / ".other.partial.99999");
  datasets::prepare_dataset("ped2", options(kFixtures + "/ucsd", tmp / "ped2"));
  CHECK_FALSE(fs::exists(tmp / ".ped2.partial.99999"));
  CHECK(fs::exists(tmp / ".other.partial.99999"));   // not ours
  CHECK(list_videos(tmp / "ped2", "testing") == std::vector<std::string>{"01", "02"});
}
