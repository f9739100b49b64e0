// NumPy .npy files (format versions 1.0, 2.0 and 3.0, as numpy.save writes them), our own reader: the
// format is a magic, a Python-dict header and the raw array, small enough that a library would add more
// than it saves (the ShanghaiTech frame and pixel masks are .npy). Reference: numpy/lib/format.py docs,
// "NPY format" (NEP 1).
// Element types read: bool (|b1), signed/unsigned integers of 1, 2, 4, 8 bytes and floats of 4 and 8 bytes,
// little or big endian. Values are read one slice of the first axis at a time, so a pixel-mask array of
// several hundred MB never sits in memory whole.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ssmtl::datasets {

struct NpyHeader {
  std::string path;
  std::string descr;            // e.g. "<i8", "|u1", "|b1", "<f8"
  char kind = 0;                // 'b' bool, 'i' signed, 'u' unsigned, 'f' float
  int item_size = 0;            // bytes per element
  bool big_endian = false;
  bool fortran_order = false;
  std::vector<int64_t> shape;   // () for a scalar
  int64_t data_offset = 0;      // bytes from the file start to the first element
  int64_t count() const;        // product of shape (1 for a scalar)
  // Elements per slice of the first axis: product of shape[1..] (1 for 1-D).
  int64_t slice_count() const;
};

// Parses the header and checks that the file holds exactly count() elements after it. Throws
// std::runtime_error naming the file: not a .npy file (bad magic), unknown version, malformed header,
// an element type outside the list above (e.g. object arrays, strings, complex), a Fortran-order array of more
// than one dimension, a shape whose byte size overflows int64, or a file shorter or longer than the header says.
NpyHeader read_npy_header(const std::string& path);

// Elements [first, first + n) in file order converted to double (bool -> 0/1). Throws std::runtime_error
// naming the file on a read error and std::out_of_range when the range leaves the array.
std::vector<double> read_npy_values(const NpyHeader& h, int64_t first, int64_t n);

// Slice i of the first axis (slice_count() elements, row-major) as 0/1 bytes: 1 where the element is nonzero.
// This is what a mask needs and costs 1 byte per element.
std::vector<uint8_t> read_npy_nonzero_slice(const NpyHeader& h, int64_t i);

// The whole array as doubles (convenient for 1-D label arrays).
std::vector<double> read_npy(const std::string& path, NpyHeader* header = nullptr);

}  // namespace ssmtl::datasets
