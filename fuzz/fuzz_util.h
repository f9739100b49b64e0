// Shared by the libFuzzer targets (fuzz/README.md): the readers under test take paths, so each input is
// written to one scratch file per process first. An input may make a reader throw std::runtime_error or
// std::invalid_argument (a clear error is the right answer to bad input); anything else escaping, a crash,
// a sanitizer report, a huge allocation or a hang is a finding.
#pragma once
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>

namespace ssmtl::fuzz {

// Writes the input to /tmp/ssmtl_fuzz_<pid><ext> (reused) and returns the path.
inline std::string as_file(const uint8_t* data, size_t size, const char* ext) {
  static const std::string base = "/tmp/ssmtl_fuzz_" + std::to_string(::getpid());
  const std::string path = base + ext;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                 static_cast<std::streamsize>(size));
  return path;
}

// Runs f; the errors readers are meant to throw on bad input are swallowed, everything else escapes.
template <class F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const std::runtime_error&) {
  } catch (const std::invalid_argument&) {
  }
}

}  // namespace ssmtl::fuzz
