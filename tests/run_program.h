// Runs the ssmtl program built next to the test binary, for the tests of its command-line behaviour.
#pragma once
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace ssmtl::test {

struct RunResult {
  int code;             // exit status, -1 when the program did not exit normally
  std::string output;   // what it printed: stdout, plus stderr unless the caller redirects it (e.g. "2>/dev/null")
};

// `args` go to the shell after the program's path; stderr is merged into `output` unless `redirect_stderr` is
// empty (then it goes where the test's stderr goes) or another redirection ("2>/dev/null").
// The ssmtl program next to the test binary.
inline std::filesystem::path ssmtl_program() {
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "ssmtl";
  REQUIRE_MESSAGE(std::filesystem::exists(exe), "build the ssmtl program first: " << exe.string());
  return exe;
}

// Runs a shell command line; its stdout (and whatever it redirects there) and its exit status.
inline RunResult run_shell(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

inline RunResult run_ssmtl(const std::string& args, const std::string& redirect_stderr = "2>&1") {
  return run_shell(ssmtl_program().string() + " " + args + (redirect_stderr.empty() ? "" : " " + redirect_stderr));
}

}  // namespace ssmtl::test
