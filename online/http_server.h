// `ssmtl watch --serve PORT`: a small HTTP/1.1 server (no framework; one thread, one request per connection)
// showing the live run in a browser:
//   /             an HTML page that reloads the two pictures below (the frame every 200 ms, the curve every s)
//   /frame.png    the latest annotated frame (online/annotate.h: boxes, scores, score strip)
//   /curve.png    the smoothed frame scores of the last 600 frames with the threshold (util/plot.h chart)
//   /status.json  {"frame", "score", "alert", "stats"} of the latest frame
// Bound to 127.0.0.1 by default: exposing a camera's view to the network is the user's explicit choice (host).
#pragma once
#include <atomic>
#include <deque>
#include <limits>
#include <mutex>
#include <string>
#include <thread>

#include "data/video/image.h"
#include "online/pipeline.h"

namespace ssmtl::online {

class LiveServer {
 public:
  // Listens on host:port (port 0 = any free port, see port()). Throws std::runtime_error naming host:port when
  // it cannot bind (in use, not an IPv4 address).
  LiveServer(const std::string& host, int port, double threshold = std::numeric_limits<double>::infinity());
  ~LiveServer();   // stops the thread, closes the socket
  int port() const { return port_; }
  // The latest annotated frame and its result (scores for the curve).
  void update(const Image& annotated, const FrameResult& r, const std::string& stats_line);
  int64_t requests() const { return requests_; }
  LiveServer(const LiveServer&) = delete;
  LiveServer& operator=(const LiveServer&) = delete;

 private:
  void loop();
  void handle(int fd);
  int sock_ = -1, port_ = 0;
  double threshold_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> requests_{0};
  std::mutex mu_;
  std::string frame_png_;
  std::deque<std::pair<int64_t, double>> scores_;
  std::string status_json_ = "{\"frame\": null}";
  std::thread thread_;
};

}  // namespace ssmtl::online
