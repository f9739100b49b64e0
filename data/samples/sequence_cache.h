// Versioned binary cache of extracted object sequences, one file per video, so training epochs and repeated
// evaluations do not decode and crop the frames again.
//
// File format "SSMTLSEQ" version 1 (little endian, written atomically by util/atomic_file.h):
//   magic[8], u32 version,
//   u32 name_len, video name, i32 n_frames, i32 width, i32 height,   (the video the crops came from)
//   i32 seq_len, i32 crop_size,                                      (7, 64)
//   i64 count, count x { i32 frame, f32 x0, y0, x1, y1, score, i32 cls },
//   f32 data[count * 3 * seq_len * crop * crop]                      (exactly extract_sequences' output)
// A cache is used only when everything before the data equals what the caller asks for; otherwise it is
// stale and rebuilt. Size: 344 KB per object.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "data/samples/sequences.h"

namespace ssmtl {

constexpr uint32_t kSequenceCacheVersion = 1;

// Writes (N, 3, 7, 64, 64) `sequences` of `objects` (same N) of `video` to `path`.
void save_sequence_cache(const std::string& path, const Video& video, const std::vector<ObjectRef>& objects,
                         const Tensor& sequences);

// The cached tensor when `path` exists and was made from the same video (name, frame count, size) and the
// same objects; nullopt when the file is missing or stale. A file that is not a cache of this version, or is
// truncated, throws std::runtime_error naming it.
std::optional<Tensor> load_sequence_cache(const std::string& path, const Video& video,
                                          const std::vector<ObjectRef>& objects);

// load_sequence_cache, else extract_sequences + save_sequence_cache.
Tensor cached_sequences(const std::string& path, const Video& video, const std::vector<ObjectRef>& objects);

}  // namespace ssmtl
