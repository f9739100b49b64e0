#include "online/source.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <vector>

#include "data/video/frames.h"
#include "online/child_process.h"
#include "util/parse.h"


namespace ssmtl::online {
namespace {

// Reads all of a child's stdout (ffprobe's answer).
std::string run_capture(const std::vector<std::string>& argv, int& status) {
  Child c(argv, Child::kReadStdout);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(c.fd(), buf, sizeof buf);
    if (n > 0) out.append(buf, static_cast<size_t>(n));
    else if (n == 0 || errno != EINTR) break;
  }
  status = c.wait();
  return out;
}

bool is_device(const std::string& s) { return s.rfind("/dev/video", 0) == 0; }

std::vector<std::string> input_args(const std::string& input) {
  if (is_device(input)) return {"-f", "v4l2", "-i", input};
  return {"-i", input};
}

class FfmpegSource : public FrameSource {
 public:
  explicit FfmpegSource(const SourceOptions& o) : o_(o) {
    if (o.width > 0 && o.height > 0) {
      w_ = o.width;
      h_ = o.height;
      try {   // the frame rate is only informative; a substitute program need not answer
        int pw = 0, ph = 0;
        probe_video(o, pw, ph, fps_);
      } catch (const SourceError&) {
        fps_ = 0;
      }
    } else {
      probe_video(o, w_, h_, fps_);
    }
    std::vector<std::string> argv{o.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error"};
    for (auto& a : input_args(o.input)) argv.push_back(a);
    for (const char* a : {"-an", "-sn", "-f", "rawvideo", "-pix_fmt", "rgb24"}) argv.push_back(a);
    argv.push_back("-vf");
    argv.push_back("scale=" + std::to_string(w_) + ":" + std::to_string(h_));
    argv.push_back("pipe:1");
    child_ = std::make_unique<Child>(argv, Child::kReadStdout);
  }

  bool next(Image& out) override {
    if (done_) return false;
    const size_t bytes = static_cast<size_t>(w_) * h_ * 3;
    out.width = w_;
    out.height = h_;
    out.rgb.resize(bytes);
    size_t got = 0;
    auto last = std::chrono::steady_clock::now();
    while (got < bytes) {
      if (o_.stop && o_.stop->load()) return finish(false, got);
      pollfd p{child_->fd(), POLLIN, 0};
      int pr = poll(&p, 1, 100);
      if (pr < 0 && errno == EINTR) continue;
      if (pr == 0) {
        double idle = std::chrono::duration<double>(std::chrono::steady_clock::now() - last).count();
        if (idle > o_.stall_timeout)
          throw SourceError(o_.input + ": stalled: no data for " + std::to_string(idle).substr(0, 4) +
                            " s while reading frame " + std::to_string(frames_) + " (" + std::to_string(got) + " of " +
                            std::to_string(bytes) + " bytes)");
        continue;
      }
      ssize_t n = read(child_->fd(), out.rgb.data() + got, bytes - got);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        throw SourceError(o_.input + ": read error at frame " + std::to_string(frames_) + ": " + std::strerror(errno));
      }
      if (n == 0) return finish(true, got);
      got += static_cast<size_t>(n);
      last = std::chrono::steady_clock::now();
    }
    ++frames_;
    return true;
  }

  int width() const override { return w_; }
  int height() const override { return h_; }
  double nominal_fps() const override { return fps_; }
  std::string describe() const override {
    return "ffmpeg " + o_.input + " (" + std::to_string(w_) + "x" + std::to_string(h_) + " rgb24)";
  }

 private:
  // End of the pipe (eof) or a stop request: a partial frame is an error unless we were asked to stop.
  bool finish(bool eof, size_t got) {
    done_ = true;
    const size_t bytes = static_cast<size_t>(w_) * h_ * 3;
    if (!eof) return false;   // stop: the child is killed by ~Child
    const int status = child_->wait();
    if (got > 0)
      throw SourceError(o_.input + ": the stream ended mid-frame: frame " + std::to_string(frames_) + " has " +
                        std::to_string(got) + " of " + std::to_string(bytes) + " bytes (" + o_.ffmpeg +
                        " exit status " + std::to_string(status) + ")");
    if (status != 0)
      throw SourceError(o_.input + ": " + o_.ffmpeg + " exited with status " + std::to_string(status) + " after " +
                        std::to_string(frames_) + " frames (its message is above)");
    if (frames_ == 0) throw SourceError(o_.input + ": " + o_.ffmpeg + " decoded no frame");
    return false;
  }

  SourceOptions o_;
  int w_ = 0, h_ = 0;
  double fps_ = 0;
  int64_t frames_ = 0;
  bool done_ = false;
  std::unique_ptr<Child> child_;
};

class FolderSource : public FrameSource {
 public:
  explicit FolderSource(const SourceOptions& o) : o_(o) {
    try {
      video_ = std::make_unique<Video>(o.input);
    } catch (const std::exception& e) {
      throw SourceError(e.what());
    }
  }
  bool next(Image& out) override {
    if (i_ >= video_->num_frames() || (o_.stop && o_.stop->load())) return false;
    std::shared_ptr<const Image> f = video_->frame(i_++);
    out = (o_.width > 0 && (f->width != o_.width || f->height != o_.height)) ? resize_rgb(*f, o_.width, o_.height) : *f;
    return true;
  }
  int width() const override { return o_.width > 0 ? o_.width : video_->width(); }
  int height() const override { return o_.height > 0 ? o_.height : video_->height(); }
  double nominal_fps() const override { return 0; }
  std::string describe() const override {
    return "frame folder " + o_.input + " (" + std::to_string(video_->num_frames()) + " frames, " +
           std::to_string(width()) + "x" + std::to_string(height()) + ")";
  }

 private:
  SourceOptions o_;
  std::unique_ptr<Video> video_;
  int i_ = 0;
};

}  // namespace

void parse_size(const std::string& text, int& width, int& height) {
  const size_t x = text.find('x');
  int64_t w = 0, h = 0;
  if (x == std::string::npos || !util::parse_int64(text.substr(0, x), w) || !util::parse_int64(text.substr(x + 1), h) ||
      w < 1 || h < 1 || w > 16384 || h > 16384)
    throw std::invalid_argument("size '" + text + "' is not WxH with 1 <= W, H <= 16384 (e.g. 640x360)");
  width = static_cast<int>(w);
  height = static_cast<int>(h);
}

void probe_video(const SourceOptions& o, int& width, int& height, double& fps) {
  std::vector<std::string> argv{o.ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries",
                                "stream=width,height,r_frame_rate", "-of", "csv=p=0"};
  if (is_device(o.input)) {
    argv.push_back("-f");
    argv.push_back("v4l2");
  }
  argv.push_back(o.input);
  int status = 0;
  std::string out = run_capture(argv, status);
  // "360,240,10/1"
  std::vector<std::string> f;
  std::string cur;
  for (char c : out) {
    if (c == ',' || c == '\n' || c == '\r') {
      if (!cur.empty()) f.push_back(cur);
      cur.clear();
      if (c != ',' && f.size() >= 3) break;
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) f.push_back(cur);
  int64_t w = 0, h = 0;
  if (status != 0 || f.size() < 2 || !util::parse_int64(f[0], w) || !util::parse_int64(f[1], h) || w < 1 || h < 1)
    throw SourceError(o.input + ": " + o.ffprobe + " found no video stream (exit status " + std::to_string(status) +
                      (out.empty() ? "" : ", answer '" + out.substr(0, 80) + "'") + ")");
  width = static_cast<int>(w);
  height = static_cast<int>(h);
  fps = 0;
  if (f.size() >= 3) {
    const size_t s = f[2].find('/');
    int64_t a = 0, b = 1;
    if (s != std::string::npos && util::parse_int64(f[2].substr(0, s), a) && util::parse_int64(f[2].substr(s + 1), b) && b > 0)
      fps = static_cast<double>(a) / static_cast<double>(b);
  }
}

std::unique_ptr<FrameSource> open_source(const SourceOptions& o) {
  if (o.input.empty()) throw SourceError("no input given");
  if (std::filesystem::is_directory(o.input)) return std::make_unique<FolderSource>(o);
  const bool url = o.input.find("://") != std::string::npos;
  if (!url && !is_device(o.input) && !std::filesystem::exists(o.input))
    throw SourceError(o.input + ": no such file, folder or device");
  return std::make_unique<FfmpegSource>(o);
}

}  // namespace ssmtl::online
