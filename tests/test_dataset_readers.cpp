// Readers of the official label formats (data/datasets): the UCSD .m interval file, NumPy .npy, MAT level 5,
// and the derivation of region tracks from pixel masks.
#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "data/datasets/mask_tracks.h"
#include "data/datasets/mat5.h"
#include "data/datasets/npy.h"
#include "data/datasets/ucsd_m.h"
#include "data/video/frames.h"
#include "data/video/image.h"
#include "eval/io.h"
#include "regions/region_file.h"
#include "tests/eval_test_util.h"
#include "util/atomic_file.h"

namespace fs = std::filesystem;
using namespace ssmtl;
using namespace ssmtl::datasets;
using ssmtl::test::error_of;
using ssmtl::test::TempDir;

TEST_CASE("read_ucsd_m: ranges and several ranges and explicit indices and comments - errors name file and line") {
  TempDir tmp("ucsd_m");
  const std::string p = tmp.write("UCSDped1.m",
                                  "TestVideoFile = {};\r\n"
                                  "% Test001\n"
                                  "TestVideoFile{end+1}.gt_frame = [60:152];\n"
                                  "TestVideoFile{end+1}.gt_frame = [5:90, 140:200];   % two\n"
                                  "TestVideoFile{3}.gt_frame = [1 7 9:10];\n"
                                  "TestVideoFile{end+1}.gt_frame = [];\n");
  const auto c = read_ucsd_m(p);
  REQUIRE(c.size() == 4);
  CHECK(c[0] == Intervals{{60, 152}});
  CHECK(c[1] == Intervals{{5, 90}, {140, 200}});
  CHECK(c[2] == Intervals{{1, 1}, {7, 7}, {9, 10}});
  CHECK(c[3].empty());
  CHECK(labels_from_intervals(c[2], 10, "x") == std::vector<int>{1, 0, 0, 0, 0, 0, 1, 0, 1, 1});
  CHECK(error_of([&] { labels_from_intervals(c[2], 9, "UCSDped1.m: Test003"); }) ==
        "UCSDped1.m: Test003: abnormal range 9:10 reaches past the clip's 9 frames");

  auto err = [&](const std::string& text) { return error_of([&] { read_ucsd_m(tmp.write("bad.m", text)); }); };
  const std::string bad = tmp / "bad.m";
  CHECK(err("TestVideoFile{end+1}.gt_frame = [1:2:9];\n") == bad + ":1: range '1:2:9' has a step; only a:b ranges are read");
  CHECK(err("\nTestVideoFile{end+1}.gt_frame = [0:3];\n") == bad + ":2: bad range '0:3' (1-based, first <= last)");
  CHECK(err("TestVideoFile{end+1}.gt_frame = [a:3];\n") == bad + ":1: 'a' is not a frame number");
  CHECK(err("TestVideoFile{end+1}.gt_frame = [1:3]\n") ==
        bad + ":1: not a line 'TestVideoFile{end+1}.gt_frame = [a:b, ...];': TestVideoFile{end+1}.gt_frame = [1:3]");
  CHECK(err("TestVideoFile{2}.gt_frame = [1:3];\n") == bad + ":1: clip index 2 skips clips (next is 1)");
  CHECK(err("TestVideoFile{end+1}.gt_frame = [1];\nTestVideoFile{1}.gt_frame = [1];\n") == bad + ":2: clip 1 given twice");
  CHECK(err("% nothing\n") == bad + ": no 'TestVideoFile{end+1}.gt_frame = [...]' line");
  CHECK(error_of([&] { read_ucsd_m(tmp / "missing.m"); }) == tmp / "missing.m" + ": cannot open the UCSD label file");
}

TEST_CASE("MaskTracker: overlap links regions across frames - splits start tracks and gaps end them") {
  const int W = 10, H = 6;
  auto frame = [&](std::vector<std::array<int, 4>> rects) {
    std::vector<uint8_t> m(W * H, 0);
    for (auto [x0, y0, x1, y1] : rects)
      for (int y = y0; y <= y1; ++y)
        for (int x = x0; x <= x1; ++x) m[y * W + x] = 1;
    return m;
  };
  MaskTracker t(1);   // keep every region, however small
  t.add(frame({{0, 0, 3, 1}}).data(), W, H);                   // f0: track 0
  t.add(frame({{0, 0, 1, 1}, {3, 0, 4, 1}}).data(), W, H);     // f1: split: the left part shares 4 px, the right 2
  t.add(frame({}).data(), W, H);                               // f2: nothing: both end
  t.add(frame({{3, 0, 4, 1}}).data(), W, H);                   // f3: same place as track 1, but a gap: new track
  CHECK(t.tracks() == 3);
  CHECK(format_tracks(t.boxes()) == "0,0,0,0,3,1\n0,1,0,0,1,1\n1,1,3,0,4,1\n2,3,3,0,4,1\n");
  CHECK(error_of([&] { t.add(frame({}).data(), W, H - 1); }) == "mask of frame 4 is 10x5, the first was 10x6");
  // With the default min_area 10 the 8- and 4-pixel regions are no regions; a 12-pixel one is.
  MaskTracker d;
  d.add(frame({{0, 0, 3, 1}, {5, 0, 9, 2}}).data(), W, H);
  d.add(frame({{0, 0, 1, 1}}).data(), W, H);
  CHECK(format_tracks(d.boxes()) == "0,0,5,0,9,2\n");
}

TEST_CASE("MaskTracker on shared Ped2's pixel masks gives the shared derived tracks") {
  const std::string gt = std::string(SSMTL_SHARED_DIR) + "/data/ped2/testing";
  if (!fs::is_directory(gt + "/gt_pixel")) return;
  // The default min_area 10; measured: 2..20 give 12 of 12 too, 50 gives 10, 1 (keep single pixels) 11.
  int same = 0, videos = 0;
  for (const auto& video : list_videos(std::string(SSMTL_SHARED_DIR) + "/data/ped2", "testing")) {
    MaskTracker t;
    for (const auto& p : list_frame_files(gt + "/gt_pixel/" + video)) {
      const Image m = load_image(p);
      std::vector<uint8_t> mask(static_cast<size_t>(m.width) * m.height);
      for (size_t i = 0; i < mask.size(); ++i) mask[i] = m.rgb[3 * i] != 0;
      t.add(mask.data(), m.width, m.height);
    }
    std::string expected;
    for (const auto& b : load_tracks(gt + "/gt_tracks_derived/" + video + ".txt"))
      expected += std::to_string(b.track_id) + "," + std::to_string(b.frame) + "," + std::to_string(int(b.box.x0)) +
                  "," + std::to_string(int(b.box.y0)) + "," + std::to_string(int(b.box.x1)) + "," +
                  std::to_string(int(b.box.y1)) + "\n";
    ++videos;
    same += format_tracks(t.boxes()) == expected;
    CHECK_MESSAGE(format_tracks(t.boxes()) == expected, "video " << video);
  }
  CHECK(videos == 12);
  CHECK(same == 12);
}

namespace {
// A .npy file (format 1.0) with `descr`, `shape` text like "(2, 3)" and the raw element bytes as given.
std::string npy_bytes(const std::string& descr, const std::string& shape, const std::string& data, bool fortran = false) {
  std::string h = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + shape + ", }";
  while ((10 + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::string s = "\x93NUMPY";
  s += '\x01';
  s += '\x00';
  s += static_cast<char>(h.size() & 0xff);
  s += static_cast<char>(h.size() >> 8);
  return s + h + data;
}
}  // namespace

TEST_CASE("read_npy: the ShanghaiTech fixture masks and every element type") {
  const std::string st = std::string(SSMTL_TEST_DATA_DIR) + "/datasets/shanghaitech/testing";
  NpyHeader h;
  CHECK(read_npy(st + "/test_frame_mask/01_0014.npy", &h) == std::vector<double>{0, 1, 1, 1});
  CHECK(h.descr == "<i8");
  CHECK(h.shape == std::vector<int64_t>{4});
  const NpyHeader p = read_npy_header(st + "/test_pixel_mask/01_0015.npy");
  CHECK(p.descr == "|b1");
  CHECK(p.shape == std::vector<int64_t>{3, 24, 32});
  CHECK(p.slice_count() == 24 * 32);
  const auto m = read_npy_nonzero_slice(p, 2);   // blobs (0,0)-(3,2) and (28,21)-(31,23)
  int ones = 0;
  for (auto v : m) ones += v;
  CHECK(ones == 24);
  CHECK(int(m[0]) == 1);
  CHECK(int(m[23 * 32 + 31]) == 1);
  CHECK(int(m[4]) == 0);

  TempDir tmp("npy");
  CHECK(read_npy(tmp.write("be.npy", npy_bytes(">i2", "(2,)", std::string("\xff\xfe\x01\x00", 4)))) ==
        std::vector<double>{-2, 256});
  const float f[2] = {0.5f, -3.25f};
  CHECK(read_npy(tmp.write("f4.npy", npy_bytes("<f4", "(1, 2)", std::string(reinterpret_cast<const char*>(f), 8)))) ==
        std::vector<double>{0.5, -3.25});
  CHECK(read_npy(tmp.write("u1.npy", npy_bytes("|u1", "()", "\x07"))) == std::vector<double>{7});
  auto err = [&](const std::string& bytes) { return error_of([&] { read_npy(tmp.write("bad.npy", bytes)); }); };
  const std::string bad = tmp / "bad.npy";
  CHECK(err("PK\x03\x04 not npy") == bad + ": not a NumPy .npy file (bad magic)");
  CHECK(err(npy_bytes("<i8", "(3,)", std::string(16, '\0'))) ==
        bad + ": file has 144 bytes but its header announces 152 (truncated or not written by numpy.save)");
  CHECK(err(npy_bytes("<c16", "(1,)", std::string(16, '\0'))) ==
        bad + ": unsupported npy element type '<c16' (bool, integers and float32/64 are read)");
  CHECK(err(npy_bytes("|u1", "(2, 2)", std::string(4, '\0'), true)) ==
        bad + ": Fortran-order arrays of more than one dimension are not read (save with np.ascontiguousarray)");
}

TEST_CASE("read_mat_file: compressed and uncompressed level-5 files of the Avenue fixture") {
  const std::string av = std::string(SSMTL_TEST_DATA_DIR) + "/datasets/avenue";
  // -v7 (compressed), doubles: volLabel = 1x4 cell of 24x32 masks; frame 1 has the rectangle x 3..6, y 2..5.
  const MatArray v1 = read_mat_variable(av + "/ground_truth_demo/testing_label_mask/1_label.mat", "volLabel");
  CHECK(v1.cls == MatClass::kCell);
  CHECK(v1.dims == std::vector<int64_t>{1, 4});
  REQUIRE(v1.cells.size() == 4);
  const MatArray& m1 = v1.cells[1];
  CHECK(m1.cls == MatClass::kDouble);
  CHECK(m1.dims == std::vector<int64_t>{24, 32});
  double sum = 0;
  for (int64_t i = 0; i < m1.numel(); ++i) sum += m1.value(i);
  CHECK(sum == 16);
  CHECK(m1.at(2, 3) == 1);   // (row y=2, column x=3)
  CHECK(m1.at(5, 6) == 1);
  CHECK(m1.at(1, 3) == 0);
  CHECK(m1.at(2, 7) == 0);
  // -v6 (uncompressed), uint8 masks.
  const MatArray v2 = read_mat_variable(av + "/ground_truth_demo/testing_label_mask/2_label.mat", "volLabel");
  REQUIRE(v2.cells.size() == 3);
  CHECK(v2.cells[1].cls == MatClass::kUInt8);
  CHECK(v2.cells[1].at(5, 10) == 1);
  CHECK(v2.cells[1].at(8, 12) == 1);
  CHECK(v2.cells[1].at(9, 12) == 0);
  // AnoPred's labels: gt = {[2; 4], [1 3; 1 3]}.
  const MatArray gt = read_mat_variable(av + "/avenue.mat", "gt");
  REQUIRE(gt.cells.size() == 2);
  CHECK(gt.cells[0].dims == std::vector<int64_t>{2, 1});
  CHECK(gt.cells[0].at(0, 0) == 2);
  CHECK(gt.cells[0].at(1, 0) == 4);
  CHECK(gt.cells[1].at(0, 1) == 3);
  CHECK(error_of([&] { read_mat_variable(av + "/avenue.mat", "volLabel"); }) ==
        av + "/avenue.mat: no variable 'volLabel' (it has: gt)");

  const std::string v73 = av + "/v73_label.mat";
  CHECK(error_of([&] { read_mat_file(v73); }) ==
        v73 + ": MATLAB v7.3 MAT-file (HDF5), which this reader does not read. Convert it once to a level-5 (v7) "
              "MAT-file, e.g. in MATLAB or Octave: s = load('" + v73 + "'); save('converted.mat', '-struct', 's', "
              "'-v7')  (or in Python: h5py to read, scipy.io.savemat to write)");
  TempDir tmp("mat");
  CHECK(error_of([&] { read_mat_file(tmp.write("x.mat", "not a mat file at all")); }) ==
        tmp / "x.mat" + ": not a level-5 MAT-file (no 'MATLAB 5.0 MAT-file' header; level-4 files are not read: "
                        "save again with -v7)");
  // The compressed file cut in the middle of its zlib stream.
  std::string bytes = util::read_file(av + "/ground_truth_demo/testing_label_mask/1_label.mat");
  CHECK(error_of([&] { read_mat_file(tmp.write("cut.mat", bytes.substr(0, bytes.size() - 40))); })
            .rfind(tmp / "cut.mat" + ": truncated", 0) == 0);
  bytes[200] = static_cast<char>(bytes[200] ^ 0x55);   // inside the deflate data
  CHECK(error_of([&] { read_mat_file(tmp.write("bad.mat", bytes)); }).rfind(tmp / "bad.mat" + ": ", 0) == 0);
}

namespace {
// Level-5 MAT pieces (little endian): one tagged element padded to 8 bytes, and a file with one miMATRIX
// variable of class `cls`, dimensions `dims`, name `name` and the class-specific elements `rest`.
std::string mat_tag(uint32_t type, const std::string& data) {
  std::string s(8, '\0');
  const uint32_t w[2] = {type, static_cast<uint32_t>(data.size())};
  std::memcpy(&s[0], w, 8);
  return s + data + std::string((8 - data.size() % 8) % 8, '\0');
}
std::string mat_file(uint32_t cls, const std::vector<int32_t>& dims, const std::string& name, const std::string& rest) {
  std::string head = "MATLAB 5.0 MAT-file, regression";
  head.resize(116, ' ');
  head += std::string(8, '\0') + std::string("\x00\x01IM", 4);
  const uint32_t flags[2] = {cls, 0};
  const std::string body = mat_tag(6, std::string(reinterpret_cast<const char*>(flags), 8)) +
                           mat_tag(5, std::string(reinterpret_cast<const char*>(dims.data()), 4 * dims.size())) +
                           mat_tag(1, name) + rest;
  return head + mat_tag(14, body);
}
}  // namespace

TEST_CASE("data-set readers refuse the inputs the fuzzers target: overflowing sizes, a huge header length") {
  TempDir tmp("fuzz_regress");
  const std::string bad_npy = tmp / "bad.npy", bad_mat = tmp / "bad.mat";
  // npy: a shape whose element count overflows int64, and a version-2 header length of 3.75 GiB in a 14-byte file.
  CHECK(error_of([&] { read_npy(tmp.write("bad.npy", npy_bytes("<i8", "(4611686018427387904, 4)", ""))); }) ==
        bad_npy + ": npy shape (4611686018427387904, 4) is too large (its byte size overflows)");
  CHECK(error_of([&] { read_npy(tmp.write("bad.npy", std::string("\x93NUMPY\x02\x00\x00\x00\x00\xf0{}", 14))); }) ==
        bad_npy + ": truncated .npy header (announces 4026531840 bytes, the file has 14)");
  // MAT: 3 dimensions of 2^31-1 (numel overflows), and a char array holding the double 1e300.
  const double huge = 1e300;
  CHECK(error_of([&] {
          read_mat_file(tmp.write("bad.mat", mat_file(6, {2147483647, 2147483647, 2147483647}, "d", mat_tag(9, ""))));
        }) == bad_mat + ": corrupt MAT dimensions (negative or too large) in variable 'd'");
  CHECK(error_of([&] {
          read_mat_file(tmp.write("bad.mat",
                                  mat_file(4, {1, 1}, "c", mat_tag(9, std::string(reinterpret_cast<const char*>(&huge), 8)))));
        }) == bad_mat + ": MAT char array holds 1e+300 at element 0, not a character code in variable 'c'");
  // A struct array of (2^31-1)^2 elements without fields is read at once (it was counted element by element).
  const int32_t name_len = 4;
  const auto s = read_mat_file(tmp.write(
      "s.mat", mat_file(2, {2147483647, 2147483647}, "s",
                        mat_tag(5, std::string(reinterpret_cast<const char*>(&name_len), 4)) + mat_tag(1, ""))));
  REQUIRE(s.size() == 1);
  CHECK(s[0].cls == MatClass::kStruct);
  CHECK(s[0].dims == std::vector<int64_t>{2147483647, 2147483647});
  CHECK(s[0].fields.empty());
}
