// MATLAB MAT-files, level 5 (what `save` writes with -v6 and -v7, the default before R2006b and Octave's
// -v7), our own reader: the format is a 128-byte header and tagged data elements (MathWorks, "MAT-File
// Format", R2023a, chapter 1), about 250 lines to read; compressed elements (-v7) are inflated with zlib
// (Debian zlib1g-dev, the library every zip reader uses). CUHK Avenue ships its pixel masks this way.
// Read: numeric and logical arrays (real part; any stored integer or float type), char arrays, cell arrays
// and structs, nested to any depth, either byte order. Not read: sparse and object arrays (an error names
// the variable). MAT v7.3 files are HDF5 and are refused with an error that says how to convert them.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ssmtl::datasets {

enum class MatClass { kCell = 1, kStruct = 2, kChar = 4, kDouble = 6, kSingle = 7, kInt8 = 8, kUInt8 = 9,
                      kInt16 = 10, kUInt16 = 11, kInt32 = 12, kUInt32 = 13, kInt64 = 14, kUInt64 = 15 };

struct MatArray {
  std::string name;                 // variable or field name ("" for cell elements)
  MatClass cls = MatClass::kDouble;
  bool logical = false;
  std::vector<int64_t> dims;        // MATLAB order: rows, columns, ...; data is column-major
  // Numeric, logical and char data: the real part as stored (element type `stored_type`, a MAT "mi" type,
  // host byte order). MATLAB stores a double array of small integers as uint8, so read through value().
  int stored_type = 0;
  std::vector<uint8_t> data;
  std::vector<MatArray> cells;      // cell: numel() elements, column-major
  std::vector<MatArray> fields;     // struct 1x1: one per field (name set); struct arrays: fields of element 0..

  int64_t numel() const;
  // Element i (column-major) of a numeric, logical or char array as double. Throws std::out_of_range.
  double value(int64_t i) const;
  // (row, col) of a 2-D numeric array.
  double at(int64_t row, int64_t col) const { return value(col * (dims.empty() ? 0 : dims[0]) + row); }
  std::string text() const;         // char array as a string (ASCII/Latin-1 code units)
  const MatArray& field(const std::string& name) const;   // throws std::out_of_range naming the field
};

// Every top-level variable of a level-5 MAT-file. Throws std::runtime_error naming the file for: a missing
// file, a v7.3 (HDF5) file (with the conversion command), a level-4 or other non-level-5 file, a truncated or
// corrupt element (also a zlib error; negative dimensions or ones whose product overflows; a char array element
// outside 0..65535), and a sparse or object array (naming the variable).
std::vector<MatArray> read_mat_file(const std::string& path);

// The variable `name`; throws std::runtime_error naming the file and listing the variables it has.
MatArray read_mat_variable(const std::string& path, const std::string& name);

}  // namespace ssmtl::datasets
