// Whole-token number parsing shared by every reader of text we are given (configuration files, --set,
// command-line options, darknet .cfg, evaluation files). A token is accepted only when all of its bytes
// form one decimal number: no hexadecimal ("0x10"), no "nan" / "inf", no blanks, no trailing bytes
// (a NUL included: "0.3\0garbage" is rejected, where strtod on c_str() would read 0.3).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ssmtl::util {

// [+-]?[0-9]+ within int64; false otherwise (out untouched).
bool parse_int64(const std::string& s, int64_t& out);
// [+-]?digits[.digits][(e|E)[+-]?digits] with at least one mantissa digit, finite after conversion
// (1e999 is rejected; an underflow to 0 or a denormal is accepted); false otherwise (out untouched).
bool parse_finite(const std::string& s, double& out);

// Text for messages: printable ASCII kept, other bytes as \xHH (a NUL shows as \x00).
std::string printable(const std::string& s);

// "warning: <what>: <count> (<first few>[, ...])" on stderr, once per call; nothing when `names` is empty.
// The one way a reader reports what it skips, so that nothing is dropped without a word.
void warn_skipped(const std::string& what, const std::vector<std::string>& names, size_t show = 5);
// "<count> (<first few>[, ...])" as used by warn_skipped, for error messages.
std::string count_and_first(const std::vector<std::string>& names, size_t show = 5);

}  // namespace ssmtl::util
