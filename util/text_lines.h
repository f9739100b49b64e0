// Line-by-line readers of our comma-separated text files (scores, labels, regions, tracks). Every reader
// accepts a missing final newline, CRLF line ends, spaces around fields and blank lines at the end of the
// file; any other defect throws std::runtime_error "<file>:<line>: <what>".
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ssmtl::util {

std::string trim(const std::string& s);   // without leading and trailing spaces, tabs and '\r'

// Calls fn(line number (1-based), trimmed line) for every line of the file; blank lines are allowed only at
// the end. Throws std::runtime_error naming the file when it cannot be read or a blank line comes earlier.
void for_each_line(const std::string& path, const std::function<void(int64_t, const std::string&)>& fn);

[[noreturn]] void fail_line(const std::string& path, int64_t line, const std::string& what);

// The trimmed fields of `line`; exactly `expected` of them, else an error quoting `format` and the line.
std::vector<std::string> split_fields(const std::string& path, int64_t line_no, const std::string& line,
                                      size_t expected, const char* format);

// A finite number written as one whole decimal token (util/parse.h); `what` names the field in the error (empty, not a number, NaN, infinite).
double parse_number(const std::string& path, int64_t line_no, const std::string& field, const char* what);
// A whole number of magnitude <= 9e15, written as an integer or as a float with no fraction ("3", "3.0").
int64_t parse_integer(const std::string& path, int64_t line_no, const std::string& field, const char* what);

}  // namespace ssmtl::util
