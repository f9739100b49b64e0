#include "online/child_process.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "online/source.h"

extern char** environ;

namespace ssmtl::online {

Child::Child(const std::vector<std::string>& argv, Direction d) {
  int fds[2];
  if (pipe(fds) != 0) throw SourceError(std::string("pipe: ") + std::strerror(errno));
  const int ours = d == kReadStdout ? fds[0] : fds[1], theirs = d == kReadStdout ? fds[1] : fds[0];
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, theirs, d == kReadStdout ? 1 : 0);
  posix_spawn_file_actions_addclose(&fa, ours);
  posix_spawnattr_t at;
  posix_spawnattr_init(&at);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&at, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int rc = posix_spawnp(&pid_, args[0], &fa, &at, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(theirs);
  if (rc != 0) {
    close(ours);
    pid_ = -1;
    throw SourceError("cannot run " + argv[0] + ": " + std::strerror(rc) +
                      (rc == ENOENT ? " (is the ffmpeg package installed?)" : ""));
  }
  fd_ = ours;
}

Child::~Child() {
  close_pipe();
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int st = 0;
    waitpid(pid_, &st, 0);
  }
}

void Child::close_pipe() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

int Child::wait() {
  int st = 0;
  const pid_t p = pid_;
  pid_ = -1;
  if (p > 0 && waitpid(p, &st, 0) == p) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return -1;
}

}  // namespace ssmtl::online
