#include "data/video/prepare.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "data/video/frames.h"
#include "util/atomic_file.h"
#include "util/progress.h"

namespace ssmtl {
namespace fs = std::filesystem;
namespace {

bool is_video_file(const fs::path& p) {
  std::string e = p.extension().string();
  for (auto& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e == ".avi" || e == ".mp4" || e == ".mov" || e == ".mkv" || e == ".mpg" || e == ".mpeg";
}

// Runs argv[0] with the arguments (no shell, so paths need no quoting); returns the exit status, or throws
// when the program cannot be started or is killed by a signal.
int run_program(const std::vector<std::string>& args, const std::string& what) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(what + ": cannot fork: " + std::strerror(errno));
  if (pid == 0) {
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "cannot run %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw std::runtime_error(what + ": waitpid failed: " + std::strerror(errno));
  if (WIFSIGNALED(status))
    throw std::runtime_error(what + ": " + args[0] + " killed by signal " + std::to_string(WTERMSIG(status)));
  return WEXITSTATUS(status);
}

int count_frames(const fs::path& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (is_image_file(e.path().filename().string())) ++n;
  return n;
}

}  // namespace

std::vector<std::string> list_video_files(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw std::runtime_error(dir + ": video folder not found");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && is_video_file(e.path()) && e.path().filename().string()[0] != '.')
      names.push_back(e.path().filename().string());
  if (names.empty()) throw std::runtime_error(dir + ": no video files (.avi .mp4 .mov .mkv .mpg)");
  std::sort(names.begin(), names.end(), natural_less);
  for (auto& n : names) n = (fs::path(dir) / n).string();
  return names;
}

namespace {
// Decodes ffmpeg input `input` (a file, or an image2 pattern with `input_args`) into "<out_dir>/<name>".
PrepareResult prepare_video_input(const std::string& video_path, const std::string& name, const std::string& out_dir,
                                  const PrepareOptions& o, const std::vector<std::string>& input_args) {
  if (o.format != "jpg" && o.format != "png")
    throw std::invalid_argument("prepare: format must be jpg or png, not " + o.format);
  if (o.digits < 1 || o.digits > 9) throw std::invalid_argument("prepare: digits must be 1..9");
  PrepareResult r;
  r.video = name;
  const fs::path final_dir = fs::path(out_dir) / r.video;
  util::make_dirs(out_dir);
  // Leftovers of an interrupted run for this video (ours: hidden ".<video>.tmp.*" folders).
  for (const auto& e : fs::directory_iterator(out_dir)) {
    const std::string n = e.path().filename().string();
    if (e.is_directory() && n.rfind("." + r.video + ".tmp.", 0) == 0) fs::remove_all(e.path());
  }
  if (fs::is_directory(final_dir)) {
    if (!o.overwrite) {
      r.skipped = true;
      r.frames = count_frames(final_dir);
      return r;
    }
    fs::remove_all(final_dir);
  }
  const fs::path tmp = fs::path(out_dir) / ("." + r.video + ".tmp." + std::to_string(::getpid()));
  fs::create_directories(tmp);
  const std::string pattern = (tmp / ("%0" + std::to_string(o.digits) + "d." + o.format)).string();
  std::vector<std::string> args{o.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error"};
  args.insert(args.end(), input_args.begin(), input_args.end());
  args.insert(args.end(), {"-i", video_path,
                                // every decoded frame becomes one file: no frame dropped or duplicated
                                "-fps_mode", "passthrough", "-start_number", "0"});
  if (o.format == "jpg") {
    args.insert(args.end(), {"-q:v", std::to_string(o.jpeg_quality)});
  }
  args.insert(args.end(), {"-f", "image2", pattern});
  try {
    int rc = run_program(args, video_path);
    if (rc != 0)
      throw std::runtime_error(video_path + ": " + o.ffmpeg + " failed with exit status " + std::to_string(rc) +
                               (rc == 127 ? " (is the ffmpeg package installed?)" : ""));
    r.frames = count_frames(tmp);
    if (r.frames == 0) throw std::runtime_error(video_path + ": ffmpeg decoded no frame");
    fs::rename(tmp, final_dir);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
  return r;
}
}  // namespace

PrepareResult prepare_video(const std::string& video_path, const std::string& out_dir, const PrepareOptions& o) {
  if (!fs::exists(video_path)) throw std::runtime_error(video_path + ": video not found");
  return prepare_video_input(video_path, fs::path(video_path).stem().string(), out_dir, o, {});
}

PrepareResult prepare_image_sequence(const std::vector<std::string>& images, const std::string& out_dir,
                                     const std::string& name, const PrepareOptions& o) {
  if (images.empty()) throw std::runtime_error(out_dir + "/" + name + ": no images to convert");
  const fs::path links = fs::path(out_dir) / ("." + name + ".seq." + std::to_string(::getpid()));
  const std::string ext = fs::path(images[0]).extension().string();
  util::make_dirs(out_dir);
  std::error_code ec;
  fs::remove_all(links, ec);
  fs::create_directories(links);
  try {
    char buf[32];
    for (size_t i = 0; i < images.size(); ++i) {
      if (fs::path(images[i]).extension().string() != ext)
        throw std::runtime_error(images[i] + ": not a " + ext + " file like " + images[0]);
      std::snprintf(buf, sizeof buf, "%06zu", i);
      fs::create_symlink(fs::absolute(images[i]), links / (buf + ext));
    }
    PrepareOptions seq = o;
    seq.overwrite = true;
    // "%06d<ext>" with -start_number 0 as the input of prepare_video's ffmpeg call; the output folder takes `name`.
    const fs::path pattern = links / ("%06d" + ext);
    PrepareResult r;
    try {
      r = prepare_video_input(pattern.string(), name, out_dir, seq, {"-f", "image2", "-start_number", "0"});
    } catch (const std::runtime_error& e) {   // name the images' folder, not the temporary link pattern
      throw std::runtime_error(fs::path(images[0]).parent_path().string() + ": converting its " + ext +
                               " frames failed: " + e.what());
    }
    fs::remove_all(links, ec);
    if (r.frames != static_cast<int>(images.size()))
      throw std::runtime_error(fs::path(images[0]).parent_path().string() + ": converting its " + ext +
                               " frames failed: ffmpeg wrote " + std::to_string(r.frames) + " frames for " +
                               std::to_string(images.size()) + " images (a corrupt image?)");
    return r;
  } catch (...) {
    fs::remove_all(links, ec);
    throw;
  }
}

std::vector<PrepareResult> prepare_videos(const std::string& videos_dir, const std::string& out_dir,
                                          const PrepareOptions& o) {
  const auto videos = list_video_files(videos_dir);
  std::vector<PrepareResult> results;
  util::Progress progress("decode " + videos_dir, static_cast<int64_t>(videos.size()), "videos", 2.0);
  int64_t frames = 0;
  for (const auto& v : videos) {
    results.push_back(prepare_video(v, out_dir, o));
    frames += results.back().frames;
    progress.set_suffix(results.back().video + (results.back().skipped ? " already decoded" : " decoded") + ", " +
                        std::to_string(frames) + " frames in all");
    progress.add();
  }
  progress.finish();
  return results;
}

}  // namespace ssmtl
