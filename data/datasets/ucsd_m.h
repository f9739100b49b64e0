// The frame-level ground truth of the UCSD Anomaly Dataset: the MATLAB script Test/UCSDped1.m or
// Test/UCSDped2.m shipped with the data, our own small reader (it is a handful of assignments, not worth a
// MATLAB interpreter). Lines of the form
//     TestVideoFile{end+1}.gt_frame = [61:180];          (the next test clip, Test001 first)
//     TestVideoFile{end+1}.gt_frame = [5:90, 140:200];   (several abnormal ranges)
//     TestVideoFile{3}.gt_frame = [1:146];               (clip 3 explicitly)
// give the abnormal frames, 1-based and inclusive; a range "a:b" or a single frame "a", separated by commas or
// spaces; "[]" = no abnormal frame. '%' starts a comment; "TestVideoFile = {};" and blank lines are allowed.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ssmtl::datasets {

using Intervals = std::vector<std::pair<int64_t, int64_t>>;   // 1-based inclusive [first, last]

// One entry per test clip, in clip order. Throws std::runtime_error "<file>:<line>: <what>" on any other line,
// a malformed range (b < a, a < 1, a step "a:s:b"), an explicit index that skips a clip, or a clip given twice.
std::vector<Intervals> read_ucsd_m(const std::string& path);

// Frame labels (0/1 per frame) from 1-based inclusive intervals. Throws std::runtime_error naming `what`
// (e.g. "UCSDped2.m: Test003") when an interval reaches past num_frames.
std::vector<int> labels_from_intervals(const Intervals& iv, int64_t num_frames, const std::string& what);

}  // namespace ssmtl::datasets
