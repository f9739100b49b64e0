// `ssmtl watch --serve`: the HTTP server answers the page, the pictures and the status (plain sockets), and the
// page shows the annotated frame and the score curve in a real headless browser (Debian's chromium) taking a
// screenshot. scripts/setup.sh installs chromium (CI runs it as root: hence --no-sandbox, and --headless);
// where it is missing the browser test says so and skips.
#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "data/video/image.h"
#include "online/annotate.h"
#include "online/http_server.h"
#include "tests/online_test_util.h"

using namespace ssmtl;

namespace {

std::string http_get(int port, const std::string& path) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(s >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  REQUIRE(connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  REQUIRE(send(s, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size()));
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = recv(s, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(s);
  return out;
}

}  // namespace

TEST_CASE("watch --serve: the page, the annotated frame, the curve and the status over HTTP on loopback") {
  online::LiveServer server("127.0.0.1", 0, 0.5);
  REQUIRE(server.port() > 0);
  std::string page = http_get(server.port(), "/");
  CHECK(page.find("HTTP/1.1 200 OK") == 0);
  CHECK(page.find("<img id=\"f\" src=\"/frame.png\"") != std::string::npos);
  CHECK(http_get(server.port(), "/status.json").find("{\"frame\": null}") != std::string::npos);

  online::FrameResult r;
  r.frame = 7;
  r.score = 0.75;
  r.alert = true;
  r.image = std::make_shared<Image>(test::moving_squares(7));
  r.objects.push_back({7, {26, 10, 39, 23}, 0.9});
  online::AnnotateOptions ao;
  ao.threshold = 0.5;
  online::Annotator ann(ao);
  Image pic = ann.draw(r);
  CHECK(pic.width == 96);
  CHECK(pic.height == 64 + 48);
  CHECK(pic.at(26, 15, 0) == 214);   // the box of a frame in alert is red (plot::colors::red)
  CHECK(pic.at(26, 15, 1) == 39);
  server.update(pic, r, "watch: test");
  const std::string png = http_get(server.port(), "/frame.png");
  const size_t body = png.find("\r\n\r\n") + 4;
  CHECK(png.find("Content-Type: image/png") != std::string::npos);
  CHECK(png.compare(body, 8, "\x89PNG\r\n\x1a\n") == 0);
  CHECK(png.find("Content-Length: " + std::to_string(png.size() - body)) != std::string::npos);
  CHECK(http_get(server.port(), "/curve.png").find("image/png") != std::string::npos);
  const std::string st = http_get(server.port(), "/status.json");
  CHECK(st.find("{\"frame\": 7, \"score\": 0.75, \"alert\": true, \"stats\": \"watch: test\"}") != std::string::npos);
  CHECK(http_get(server.port(), "/secret").find("HTTP/1.1 404 Not Found") == 0);
  CHECK_THROWS_WITH_AS(online::LiveServer("127.0.0.1", server.port()), doctest::Contains("cannot listen"),
                       std::runtime_error);   // the port is taken
  CHECK_THROWS_AS(online::LiveServer("localhost", 0), std::runtime_error);   // an IPv4 address, not a name
}

TEST_CASE("watch --serve in a headless browser: the screenshot shows the annotated frame and the score curve") {
  if (std::system("chromium --version >/dev/null 2>&1") != 0) {
    MESSAGE("skipped: no chromium on PATH (scripts/setup.sh installs it: apt-get install --no-install-recommends chromium)");
    return;
  }
  test::TempDir tmp("watch_browser");
  test::save_tiny_watch_checkpoint(tmp.path + "/m.ckpt");
  test::write_squares_folder(tmp.path + "/sq", 30);
  const int port = 20000 + static_cast<int>(getpid() % 20000);
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "ssmtl";
  const std::string ckpt = tmp.path + "/m.ckpt", input = tmp.path + "/sq", port_s = std::to_string(port);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    freopen("/dev/null", "w", stdout);
    freopen("/dev/null", "w", stderr);
    execl(exe.c_str(), "ssmtl", "watch", "--checkpoint", ckpt.c_str(), "--input", input.c_str(), "--method", "flow",
          "--fps", "10", "--serve", port_s.c_str(), "--serve-linger", "60", static_cast<char*>(nullptr));
    _exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));   // frames 0..~30 scored: the page has content
  const std::string shot = std::getenv("SSMTL_KEEP_SCREENSHOT") ? std::string(std::getenv("SSMTL_KEEP_SCREENSHOT")) : tmp.path + "/page.png";
  const int rc = std::system(("timeout 60 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars "
                              "--window-size=800,560 --virtual-time-budget=3000 --screenshot=" + shot +
                              " http://127.0.0.1:" + port_s + "/ >/dev/null 2>&1").c_str());
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(rc == 0);
  Image im = load_image(shot);
  CHECK(im.width == 800);
  // The page background is #111; the frame shows the yellow square (230,200,40) and the blue-ish scene grey (60);
  // the curve is a white chart with a blue line (31,119,180).
  int64_t dark = 0, yellow = 0, white = 0, blue = 0;
  for (int y = 0; y < im.height; ++y)
    for (int x = 0; x < im.width; ++x) {
      const int r = im.at(x, y, 0), g = im.at(x, y, 1), b = im.at(x, y, 2);
      dark += r == 17 && g == 17 && b == 17;
      yellow += r > 200 && g > 170 && b < 80;
      white += r == 255 && g == 255 && b == 255;
      blue += std::abs(r - 31) < 8 && std::abs(g - 119) < 8 && std::abs(b - 180) < 8;
    }
  MESSAGE("screenshot " << im.width << "x" << im.height << ": dark " << dark << ", yellow " << yellow << ", white "
                        << white << ", blue " << blue);
  CHECK(dark > 100000);   // the page
  CHECK(yellow > 50);     // the annotated frame (a 14x14 square at least partly)
  CHECK(white > 50000);   // the chart's background
  CHECK(blue > 100);      // the score curve
}
