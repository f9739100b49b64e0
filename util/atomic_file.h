// Files we write (checkpoints, caches, results) are written atomically: to "<path>.tmp.<pid>" first,
// flushed, then renamed over <path>, so a crash or Ctrl-C never leaves a half-written file. A path that exists
// and is not a regular file or a folder (/dev/null, a FIFO, /dev/stdout) is written in place instead: a rename
// would replace the device with a regular file (as root, /dev/null itself).
// Binary files we own start with an 8-byte magic and a u32 format version (see BinaryWriter).
#pragma once
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace ssmtl::util {

// Calls write(stream) on a temporary file and renames it to `path`; creates parent folders. The first
// write into a folder in a process also removes that folder's stale temporaries (remove_stale_temporaries).
// Throws std::runtime_error naming the path on any I/O failure (the temporary file is removed).
void write_atomic(const std::string& path, const std::function<void(std::ostream&)>& write, bool binary = false);
// Removes "<name>.tmp.<pid>" files of `dir` whose writer process no longer runs (a SIGKILL mid-write),
// prints one note naming them, and returns their names. Files of live processes are kept.
std::vector<std::string> remove_stale_temporaries(const std::string& dir);
void write_text_atomic(const std::string& path, const std::string& text);

// True when `path` exists and is not a regular file or a folder (a device, a FIFO, a socket): such an output is
// written in place, never replaced by a rename.
bool is_special_file(const std::string& path);

// Reads a whole file; throws std::runtime_error naming it when it cannot be read.
std::string read_file(const std::string& path);

// Header of our versioned binary formats: 8-byte magic (e.g. "SSMTLCKP") + u32 version.
void write_header(std::ostream& out, const char magic[8], uint32_t version);
// Throws std::runtime_error naming `path` when the magic differs or the version is not `version`.
void read_header(std::istream& in, const char magic[8], uint32_t version, const std::string& path);
// The same for a format that reads versions [min_version, max_version]; returns the file's version.
uint32_t read_header(std::istream& in, const char magic[8], uint32_t min_version, uint32_t max_version,
                     const std::string& path);

void make_dirs(const std::string& dir);   // mkdir -p; throws on failure

}  // namespace ssmtl::util
