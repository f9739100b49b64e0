#include "online/json_lines.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "util/atomic_file.h"

namespace ssmtl::online {

std::string json_quote(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += static_cast<char>(c);
    } else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else {
      o += static_cast<char>(c);
    }
  }
  return o + "\"";
}

namespace {
std::string num(double v, const char* fmt = "%.6g") {
  if (!std::isfinite(v)) return "null";
  char b[64];
  std::snprintf(b, sizeof b, fmt, v);
  return b;
}
}  // namespace

std::string frame_json(const FrameResult& r) {
  if (r.dropped) return "{\"frame\": " + std::to_string(r.frame) + ", \"dropped\": true}";
  std::string s = "{\"frame\": " + std::to_string(r.frame) + ", \"timestamp\": " + num(r.timestamp, "%.3f") +
                  ", \"score\": " + num(r.score, "%.9g") + ", \"raw_score\": " + num(r.raw_score, "%.9g") +
                  ", \"alert\": " + (r.alert ? "true" : "false") + ", \"latency_ms\": " + num(r.latency_ms, "%.1f") +
                  ", \"objects\": [";
  for (size_t i = 0; i < r.objects.size(); ++i) {
    const Region& o = r.objects[i];
    // %.9g: every float box coordinate exactly (a box's pixel block is floor / ceil of them)
    s += std::string(i ? ", " : "") + "{\"box\": [" + num(o.box.x0, "%.9g") + ", " + num(o.box.y0, "%.9g") + ", " +
         num(o.box.x1, "%.9g") + ", " + num(o.box.y1, "%.9g") + "], \"score\": " + num(o.score, "%.9g") + "}";
  }
  return s + "]}";
}

JsonLinesWriter::JsonLinesWriter(const std::string& path, const std::string& header_fields) : path_(path) {
  if (path.empty() || path == "-") {
    f_ = stdout;
  } else if (util::is_special_file(path)) {   // /dev/null, a FIFO, /dev/stdout: written in place, never renamed over
    direct_ = true;
    f_ = std::fopen(path.c_str(), "w");
    if (!f_) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
  } else {
    tmp_ = path + ".tmp." + std::to_string(getpid());
    f_ = std::fopen(tmp_.c_str(), "w");
    if (!f_) throw std::runtime_error(path + ": cannot create " + tmp_ + ": " + std::strerror(errno));
  }
  line("{\"format\": \"ssmtl-watch\", \"version\": " + std::to_string(kWatchFormatVersion) +
       (header_fields.empty() ? "" : ", " + header_fields) + "}");
}

JsonLinesWriter::~JsonLinesWriter() {
  if (f_ && f_ != stdout) {
    std::fclose(f_);
    if (!closed_ && !direct_) std::remove(tmp_.c_str());
  }
}

void JsonLinesWriter::line(const std::string& s) {
  if (std::fputs(s.c_str(), f_) < 0 || std::fputc('\n', f_) < 0 || std::fflush(f_) != 0)
    throw std::runtime_error((f_ == stdout ? std::string("stdout") : path_) + ": write failed: " + std::strerror(errno));
}

void JsonLinesWriter::write(const FrameResult& r) { line(frame_json(r)); }

void JsonLinesWriter::close(const StatsSnapshot& stats, const std::string& error) {
  if (closed_) return;
  line("{\"summary\": " + stats.json() + ", \"error\": " + (error.empty() ? "null" : json_quote(error)) + "}");
  if (f_ != stdout) {
    if (std::fclose(f_) != 0) {
      f_ = nullptr;
      throw std::runtime_error(path_ + ": close failed: " + std::strerror(errno));
    }
    f_ = nullptr;
    if (!direct_ && std::rename(tmp_.c_str(), path_.c_str()) != 0)
      throw std::runtime_error(path_ + ": cannot rename " + tmp_ + ": " + std::strerror(errno));
  }
  closed_ = true;
}

}  // namespace ssmtl::online
