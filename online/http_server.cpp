#include "online/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <algorithm>
#include <stdexcept>

#include "online/json_lines.h"
#include "util/plot.h"
#include "util/png.h"

namespace ssmtl::online {
namespace {

const char* kPage =
    "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>ssmtl watch</title>\n"
    "<style>body{background:#111;color:#eee;font-family:sans-serif;margin:12px}img{display:block;margin:8px 0}"
    "#st{font-family:monospace}</style></head>\n<body><h2>ssmtl watch: live anomaly scores</h2>\n"
    "<div id=\"st\">waiting for the first frame</div>\n<img id=\"f\" src=\"/frame.png\" alt=\"frame\">\n"
    "<img id=\"c\" src=\"/curve.png\" alt=\"score curve\">\n<script>\n"
    "const f = document.getElementById('f'), c = document.getElementById('c'), st = document.getElementById('st');\n"
    "setInterval(() => { f.src = '/frame.png?t=' + Date.now(); }, 200);\n"
    "setInterval(() => {\n  c.src = '/curve.png?t=' + Date.now();\n"
    "  fetch('/status.json').then(r => r.json()).then(j => { if (j.frame !== null) st.textContent = 'frame ' + j.frame +\n"
    "    ', score ' + j.score.toFixed(4) + (j.alert ? ' ALERT' : '') + ' | ' + j.stats; }).catch(() => {});\n"
    "}, 1000);\n</script></body></html>\n";

void send_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;   // the browser went away
    done += static_cast<size_t>(n);
  }
}

void respond(int fd, int code, const char* reason, const char* type, const std::string& body) {
  std::string h = "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\nContent-Type: " + type +
                  "\r\nContent-Length: " + std::to_string(body.size()) +
                  "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n";
  send_all(fd, h + body);
}

}  // namespace

LiveServer::LiveServer(const std::string& host, int port, double threshold) : threshold_(threshold) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  const std::string where = host + ":" + std::to_string(port);
  if (port < 0 || port > 65535 || inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1)
    throw std::runtime_error("--serve " + where + ": not an IPv4 address and port");
  sock_ = socket(AF_INET, SOCK_STREAM, 0);
  if (sock_ < 0) throw std::runtime_error("--serve " + where + ": socket: " + std::strerror(errno));
  int one = 1;
  setsockopt(sock_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(sock_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(sock_, 16) != 0) {
    const std::string e = std::strerror(errno);
    ::close(sock_);
    throw std::runtime_error("--serve " + where + ": cannot listen: " + e);
  }
  socklen_t len = sizeof a;
  getsockname(sock_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { loop(); });
}

LiveServer::~LiveServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (sock_ >= 0) ::close(sock_);
}

void LiveServer::update(const Image& img, const FrameResult& r, const std::string& stats_line) {
  std::string png = util::encode_png_rgb(img.width, img.height, img.rgb.data());
  char b[96];
  std::snprintf(b, sizeof b, "{\"frame\": %lld, \"score\": %.9g, \"alert\": %s, \"stats\": ",
                static_cast<long long>(r.frame), std::isfinite(r.score) ? r.score : 0.0, r.alert ? "true" : "false");
  std::lock_guard<std::mutex> lk(mu_);
  frame_png_ = std::move(png);
  scores_.emplace_back(r.frame, r.score);
  while (scores_.size() > 600) scores_.pop_front();
  status_json_ = std::string(b) + json_quote(stats_line) + "}";
}

void LiveServer::loop() {
  while (!stop_) {
    pollfd p{sock_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const int fd = accept(sock_, nullptr, nullptr);
    if (fd < 0) continue;
    timeval tv{2, 0};   // a client that sends nothing does not hold the server
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    try {
      handle(fd);
    } catch (const std::exception& e) {
      respond(fd, 500, "Internal Server Error", "text/plain", e.what());
    }
    ::close(fd);
  }
}

void LiveServer::handle(int fd) {
  std::string req;
  char buf[2048];
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < 16384) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    req.append(buf, static_cast<size_t>(n));
  }
  ++requests_;
  const size_t sp1 = req.find(' '), sp2 = req.find(' ', sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos) return respond(fd, 400, "Bad Request", "text/plain", "bad request\n");
  const std::string method = req.substr(0, sp1);
  std::string path = req.substr(sp1 + 1, sp2 - sp1 - 1);
  path = path.substr(0, path.find('?'));
  if (method != "GET") return respond(fd, 405, "Method Not Allowed", "text/plain", "only GET\n");
  if (path == "/" || path == "/index.html") return respond(fd, 200, "OK", "text/html; charset=utf-8", kPage);
  if (path == "/status.json") {
    std::lock_guard<std::mutex> lk(mu_);
    return respond(fd, 200, "OK", "application/json", status_json_);
  }
  if (path == "/frame.png") {
    std::string png;
    {
      std::lock_guard<std::mutex> lk(mu_);
      png = frame_png_;
    }
    if (png.empty()) {   // before the first frame: a small grey picture
      std::vector<uint8_t> grey(64 * 48 * 3, 60);
      png = util::encode_png_rgb(64, 48, grey.data());
    }
    return respond(fd, 200, "OK", "image/png", png);
  }
  if (path == "/curve.png") {
    plot::Chart ch;
    ch.title = "frame score (causal half-Gaussian smoothing)";
    ch.x_label = "frame";
    ch.y_label = "score";
    ch.width = 720;
    ch.height = 240;
    plot::Series s{"score", {}, {}, plot::colors::blue, 2};
    {
      std::lock_guard<std::mutex> lk(mu_);
      for (auto& [f, v] : scores_) {
        s.x.push_back(static_cast<double>(f));
        s.y.push_back(v);
      }
    }
    if (s.x.empty()) {
      s.x = {0, 1};
      s.y = {0, 0};
    }
    ch.y_min = 0;
    double top = 0;
    for (double v : s.y) top = std::max(top, v);
    if (std::isfinite(threshold_)) top = std::max(top, threshold_);
    ch.y_max = top > 0 ? top * 1.1 : 1;
    ch.series.push_back(s);
    if (std::isfinite(threshold_))
      ch.series.push_back({"threshold", {s.x.front(), s.x.back()}, {threshold_, threshold_}, plot::colors::red, 1});
    if (s.x.front() == s.x.back()) ch.x_max = s.x.front() + 1;
    plot::Canvas c = plot::render_chart(ch);
    return respond(fd, 200, "OK", "image/png", util::encode_png_rgb(c.width(), c.height(), c.pixels().data()));
  }
  respond(fd, 404, "Not Found", "text/plain", "not found: " + path + "\n");
}

}  // namespace ssmtl::online
