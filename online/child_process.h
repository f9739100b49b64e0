// A child process (ffmpeg, ffprobe) joined to us by one pipe: its stdout to read (decoding) or its stdin to
// write (encoding). stderr is inherited, so the program's own messages reach the user. The child gets its own
// process group: a Ctrl-C in the terminal reaches only us, and we end the child ourselves (SIGTERM in the
// destructor when it is still running).
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

namespace ssmtl::online {

class Child {
 public:
  enum Direction { kReadStdout, kWriteStdin };
  // Throws SourceError (online/source.h) when the pipe or the process cannot be made; a program that is not
  // found is named with a hint about the ffmpeg package.
  Child(const std::vector<std::string>& argv, Direction d);
  ~Child();
  int fd() const { return fd_; }
  void close_pipe();   // e.g. the end of the input of an encoder
  // Waits for the child; its exit status, or 128 + signal when it was killed; -1 when already waited for.
  int wait();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
};

}  // namespace ssmtl::online
