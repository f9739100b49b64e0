#include "data/datasets/npy.h"

#include <cstring>
#include <fstream>
#include <stdexcept>

namespace ssmtl::datasets {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

// The value text after "'key':" in the header dict (up to the next top-level comma or closing brace).
std::string dict_value(const std::string& header, const std::string& key, const std::string& path) {
  size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) k = header.find("\"" + key + "\"");
  if (k == std::string::npos) fail(path, "npy header has no '" + key + "' (header: " + header + ")");
  size_t colon = header.find(':', k + key.size() + 2);
  if (colon == std::string::npos) fail(path, "malformed npy header: " + header);
  size_t p = colon + 1, depth = 0, end = p;
  for (; end < header.size(); ++end) {
    const char c = header[end];
    if (c == '(') ++depth;
    else if (c == ')') { if (depth == 0) break; --depth; }
    else if ((c == ',' || c == '}') && depth == 0) break;
  }
  std::string v = header.substr(p, end - p + (end < header.size() && header[end] == ')' ? 1 : 0));
  size_t a = v.find_first_not_of(" \t"), b = v.find_last_not_of(" \t");
  return a == std::string::npos ? "" : v.substr(a, b - a + 1);
}

std::vector<int64_t> parse_shape(const std::string& v, const std::string& path) {
  if (v.size() < 2 || v.front() != '(' || v.back() != ')') fail(path, "malformed npy shape '" + v + "'");
  std::vector<int64_t> shape;
  size_t i = 1;
  while (i < v.size() - 1) {
    while (i < v.size() - 1 && (v[i] == ' ' || v[i] == ',')) ++i;
    if (i >= v.size() - 1) break;
    size_t used = 0;
    long long d = 0;
    try { d = std::stoll(v.substr(i), &used); } catch (...) { used = 0; }
    if (used == 0 || d < 0) fail(path, "malformed npy shape '" + v + "'");
    shape.push_back(d);
    i += used;
    while (i < v.size() - 1 && v[i] == 'L') ++i;   // Python 2 longs
  }
  return shape;
}

double convert(const unsigned char* p, const NpyHeader& h) {
  unsigned char b[8];
  for (int i = 0; i < h.item_size; ++i) b[i] = h.big_endian ? p[h.item_size - 1 - i] : p[i];
  switch (h.kind) {
    case 'b': return b[0] != 0 ? 1.0 : 0.0;
    case 'u': {
      uint64_t v = 0;
      for (int i = 0; i < h.item_size; ++i) v |= static_cast<uint64_t>(b[i]) << (8 * i);
      return static_cast<double>(v);
    }
    case 'i': {
      uint64_t v = 0;
      for (int i = 0; i < h.item_size; ++i) v |= static_cast<uint64_t>(b[i]) << (8 * i);
      if (h.item_size < 8 && (v >> (8 * h.item_size - 1)) & 1) v |= ~uint64_t{0} << (8 * h.item_size);  // sign-extend
      return static_cast<double>(static_cast<int64_t>(v));
    }
    default: {
      if (h.item_size == 4) { float f; std::memcpy(&f, b, 4); return f; }
      double d; std::memcpy(&d, b, 8); return d;
    }
  }
}

}  // namespace

int64_t NpyHeader::count() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t NpyHeader::slice_count() const {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

NpyHeader read_npy_header(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, "cannot open");
  NpyHeader h;
  h.path = path;
  unsigned char pre[10] = {};
  f.read(reinterpret_cast<char*>(pre), 10);
  if (f.gcount() < 10 || std::memcmp(pre, "\x93NUMPY", 6) != 0) fail(path, "not a NumPy .npy file (bad magic)");
  const int major = pre[6];
  uint32_t len = 0;
  if (major == 1) {
    len = pre[8] | (pre[9] << 8);
    h.data_offset = 10;
  } else if (major == 2 || major == 3) {
    unsigned char more[2] = {};
    f.read(reinterpret_cast<char*>(more), 2);
    len = pre[8] | (pre[9] << 8) | (more[0] << 16) | (static_cast<uint32_t>(more[1]) << 24);
    h.data_offset = 12;
  } else {
    fail(path, "unknown .npy format version " + std::to_string(major));
  }
  f.clear();   // a file cut inside the version-2 length word: its size answers below
  f.seekg(0, std::ios::end);
  const int64_t size = static_cast<int64_t>(f.tellg());
  // Checked before the header is allocated: a corrupt length word would ask for up to 4 GiB.
  if (h.data_offset + static_cast<int64_t>(len) > size)
    fail(path, "truncated .npy header (announces " + std::to_string(len) + " bytes, the file has " +
                   std::to_string(size) + ")");
  f.seekg(h.data_offset);
  std::string header(len, '\0');
  f.read(header.data(), len);
  if (static_cast<uint32_t>(f.gcount()) != len) fail(path, "truncated .npy header");
  h.data_offset += len;
  std::string descr = dict_value(header, "descr", path);
  if (descr.size() < 4 || (descr.front() != '\'' && descr.front() != '"'))
    fail(path, "unsupported npy element type " + descr + " (structured arrays are not read)");
  h.descr = descr.substr(1, descr.size() - 2);
  if (h.descr.size() < 3) fail(path, "unsupported npy element type '" + h.descr + "'");
  const char order = h.descr[0];
  h.big_endian = order == '>';
  h.kind = h.descr[1];
  try { h.item_size = std::stoi(h.descr.substr(2)); } catch (...) { h.item_size = 0; }
  const bool ok = (order == '<' || order == '>' || order == '|' || order == '=') &&
                  ((h.kind == 'b' && h.item_size == 1) ||
                   ((h.kind == 'i' || h.kind == 'u') &&
                    (h.item_size == 1 || h.item_size == 2 || h.item_size == 4 || h.item_size == 8)) ||
                   (h.kind == 'f' && (h.item_size == 4 || h.item_size == 8)));
  if (!ok) fail(path, "unsupported npy element type '" + h.descr + "' (bool, integers and float32/64 are read)");
  const std::string fo = dict_value(header, "fortran_order", path);
  if (fo != "True" && fo != "False") fail(path, "malformed npy fortran_order '" + fo + "'");
  h.fortran_order = fo == "True";
  h.shape = parse_shape(dict_value(header, "shape", path), path);
  if (h.fortran_order && h.shape.size() > 1)
    fail(path, "Fortran-order arrays of more than one dimension are not read (save with np.ascontiguousarray)");
  // count() and the byte size are products of untrusted numbers: refuse a shape whose byte size overflows.
  int64_t bytes = h.item_size, want = 0;
  for (int64_t d : h.shape)
    if (__builtin_mul_overflow(bytes, d, &bytes))
      fail(path, "npy shape " + dict_value(header, "shape", path) + " is too large (its byte size overflows)");
  if (__builtin_add_overflow(bytes, h.data_offset, &want))
    fail(path, "npy shape " + dict_value(header, "shape", path) + " is too large (its byte size overflows)");
  if (size != want)
    fail(path, "file has " + std::to_string(size) + " bytes but its header announces " + std::to_string(want) +
                   " (truncated or not written by numpy.save)");
  return h;
}

std::vector<double> read_npy_values(const NpyHeader& h, int64_t first, int64_t n) {
  if (first < 0 || n < 0 || first + n > h.count())
    throw std::out_of_range(h.path + ": elements [" + std::to_string(first) + ", " + std::to_string(first + n) +
                            ") outside the array of " + std::to_string(h.count()));
  std::ifstream f(h.path, std::ios::binary);
  std::vector<unsigned char> raw(static_cast<size_t>(n * h.item_size));
  f.seekg(h.data_offset + first * h.item_size);
  f.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(raw.size()));
  if (!f) fail(h.path, "read error");
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[i] = convert(raw.data() + i * h.item_size, h);
  return out;
}

std::vector<uint8_t> read_npy_nonzero_slice(const NpyHeader& h, int64_t i) {
  if (h.shape.empty() || i < 0 || i >= h.shape[0])
    throw std::out_of_range(h.path + ": slice " + std::to_string(i) + " outside the first axis");
  const int64_t n = h.slice_count();
  auto v = read_npy_values(h, i * n, n);
  std::vector<uint8_t> out(v.size());
  for (size_t k = 0; k < v.size(); ++k) out[k] = v[k] != 0.0 ? 1 : 0;
  return out;
}

std::vector<double> read_npy(const std::string& path, NpyHeader* header) {
  NpyHeader h = read_npy_header(path);
  auto v = read_npy_values(h, 0, h.count());
  if (header) *header = h;
  return v;
}

}  // namespace ssmtl::datasets
