#include "online/annotate.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "online/child_process.h"
#include "util/atomic_file.h"
#include "util/plot.h"

namespace ssmtl::online {

Image Annotator::draw(const FrameResult& r) {
  if (!r.image) throw std::invalid_argument("Annotator: frame " + std::to_string(r.frame) + " has no image");
  const Image& f = *r.image;
  const int W = f.width + (f.width % 2), H = f.height + o_.strip_height;
  const int Hh = H + (H % 2);
  plot::Canvas c(W, Hh, plot::Rgb{20, 20, 20});
  for (int y = 0; y < f.height; ++y)
    for (int x = 0; x < f.width; ++x) c.set(x, y, plot::Rgb{f.at(x, y, 0), f.at(x, y, 1), f.at(x, y, 2)});
  for (const Region& o : r.objects) max_seen_ = std::max(max_seen_, o.score);
  scores_.push_back(r.score);
  const size_t hist = o_.history ? o_.history : static_cast<size_t>(W);
  while (scores_.size() > hist) scores_.pop_front();
  const double ref = std::isfinite(o_.threshold) && o_.threshold > 0 ? o_.threshold : std::max(max_seen_, 1e-9);
  for (const Region& o : r.objects) {
    const plot::Rgb col = r.alert ? plot::colors::red : plot::heat_color(o.score / ref);
    c.rect(static_cast<int>(o.box.x0), static_cast<int>(o.box.y0), static_cast<int>(o.box.x1), static_cast<int>(o.box.y1), col, 2);
    char s[32];
    std::snprintf(s, sizeof s, "%.3f", o.score);
    c.text(static_cast<int>(o.box.x0), std::max(0, static_cast<int>(o.box.y0) - 9), s, col);
  }
  // The strip: scores of the last `hist` frames, scaled to the highest of them (and the threshold).
  const int y0 = f.height + 2, y1 = H - 2;
  double top = std::isfinite(o_.threshold) ? o_.threshold : 0;
  for (double s : scores_) top = std::max(top, s);
  top = top > 0 ? top * 1.1 : 1;
  auto ypos = [&](double s) { return y1 - (y1 - y0) * std::clamp(s / top, 0.0, 1.0); };
  if (std::isfinite(o_.threshold)) c.line(0, ypos(o_.threshold), W - 1, ypos(o_.threshold), plot::colors::red, 1);
  const double dx = scores_.size() > 1 ? static_cast<double>(W - 1) / static_cast<double>(hist - 1) : 0;
  for (size_t i = 1; i < scores_.size(); ++i)
    c.line(dx * static_cast<double>(i - 1), ypos(scores_[i - 1]), dx * static_cast<double>(i), ypos(scores_[i]),
           plot::Rgb{90, 200, 255}, 1);
  char label[96];
  std::snprintf(label, sizeof label, "frame %lld  score %.4f%s", static_cast<long long>(r.frame), r.score,
                r.alert ? "  ALERT" : "");
  c.text(3, y0, label, r.alert ? plot::colors::red : plot::colors::white);
  Image out;
  out.width = W;
  out.height = Hh;
  out.rgb = c.pixels();
  return out;
}

Mp4Writer::Mp4Writer(const std::string& path, int width, int height, double fps, const std::string& ffmpeg)
    : path_(path), w_(width), h_(height) {
  if (util::is_special_file(path))   // the .mp4 is written beside it and renamed: that would replace a device or FIFO
    throw std::runtime_error(path + ": not a regular file (a device or FIFO); --annotate needs a file path");
  tmp_ = path + ".tmp." + std::to_string(getpid()) + ".mp4";
  char rate[32];
  std::snprintf(rate, sizeof rate, "%g", fps > 0 ? fps : 25.0);
  child_ = std::make_unique<Child>(
      std::vector<std::string>{ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
                               "-pix_fmt", "rgb24", "-s", std::to_string(width) + "x" + std::to_string(height), "-r",
                               rate, "-i", "pipe:0", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                               tmp_},
      Child::kWriteStdin);
}

Mp4Writer::~Mp4Writer() {
  if (!closed_) {
    child_.reset();
    std::remove(tmp_.c_str());
  }
}

void Mp4Writer::write(const Image& f) {
  if (f.width != w_ || f.height != h_)
    throw std::invalid_argument(path_ + ": frame of " + std::to_string(f.width) + "x" + std::to_string(f.height) +
                                " for a video of " + std::to_string(w_) + "x" + std::to_string(h_));
  size_t done = 0;
  while (done < f.rgb.size()) {
    const ssize_t n = ::write(child_->fd(), f.rgb.data() + done, f.rgb.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error(path_ + ": the ffmpeg encoder stopped reading (" + std::strerror(errno) + ")");
    done += static_cast<size_t>(n);
  }
  ++frames_;
}

void Mp4Writer::close() {
  if (closed_) return;
  child_->close_pipe();
  const int status = child_->wait();
  if (status != 0) throw std::runtime_error(path_ + ": the ffmpeg encoder exited with status " + std::to_string(status));
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    throw std::runtime_error(path_ + ": cannot rename " + tmp_ + ": " + std::strerror(errno));
  closed_ = true;
}

}  // namespace ssmtl::online
