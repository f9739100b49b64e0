// `ssmtl watch`'s output: JSON lines, one per frame, on stdout or in a file.
// Format (version 1):
//   line 1  {"format": "ssmtl-watch", "version": 1, ...run description given by the caller...}
//   frames  {"frame": 12, "timestamp": 1764712345.123, "score": 0.41, "raw_score": 0.52, "alert": false,
//            "latency_ms": 180.2, "objects": [{"box": [x_min, y_min, x_max, y_max], "score": 0.61}, ...]}
//           a frame skipped by the drop policy: {"frame": 13, "dropped": true}
//   last    {"summary": {...stats...}, "error": null or "message"}
// Boxes are inclusive pixels of the frame as decoded; scores are anomaly scores (higher = more abnormal);
// "score" is after the causal smoother, "raw_score" before it; timestamp = the frame's arrival (Unix seconds).
// A file is written as "<file>.tmp.<pid>" (each line flushed) and renamed to <file> by close(), so a complete
// file (with its summary line) is the only thing that ever appears under the name.
#pragma once
#include <cstdio>
#include <string>

#include "online/pipeline.h"

namespace ssmtl::online {

constexpr int kWatchFormatVersion = 1;

std::string frame_json(const FrameResult& r);   // one line, no newline

class JsonLinesWriter {
 public:
  // path "-" or empty = stdout. A path that exists and is neither a regular file nor a folder (/dev/null, a FIFO,
  // /dev/stdout) is written in place: renaming a temporary file over it would replace the device. `header_fields`: extra JSON members for line 1 (",\"input\": ..." form without
  // the leading comma, e.g. "\"input\": \"x.mp4\""). Throws std::runtime_error naming the file if it cannot be created.
  JsonLinesWriter(const std::string& path, const std::string& header_fields);
  ~JsonLinesWriter();   // an unclosed file is removed (an exception left nothing half-written under the name)
  void write(const FrameResult& r);
  // Writes the summary line, flushes and (for a file) renames into place. `error` empty = none.
  void close(const StatsSnapshot& stats, const std::string& error = "");
  JsonLinesWriter(const JsonLinesWriter&) = delete;
  JsonLinesWriter& operator=(const JsonLinesWriter&) = delete;

 private:
  void line(const std::string& s);
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
  bool closed_ = false;
  bool direct_ = false;   // written in place (util::is_special_file)
};

// A JSON string literal with quotes and escapes.
std::string json_quote(const std::string& s);

}  // namespace ssmtl::online
