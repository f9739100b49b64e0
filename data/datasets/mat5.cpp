#include "data/datasets/mat5.h"

#include <zlib.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

namespace ssmtl::datasets {
namespace {

enum : uint32_t { miINT8 = 1, miUINT8 = 2, miINT32 = 5, miUINT32 = 6, miMATRIX = 14, miCOMPRESSED = 15 };

int type_size(uint32_t t) {
  switch (t) {
    case 1: case 2: case 16: return 1;
    case 3: case 4: case 17: return 2;
    case 5: case 6: case 7: case 18: return 4;
    case 9: case 12: case 13: return 8;
    default: return 0;
  }
}

struct Tag {
  uint32_t type = 0, bytes = 0;
  const uint8_t* data = nullptr;
  size_t next = 0;   // offset of the element after this one
};

class Parser {
 public:
  Parser(std::string path, bool swap) : path_(std::move(path)), swap_(swap) {}

  uint32_t u32(const uint8_t* p) const {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return swap_ ? __builtin_bswap32(v) : v;
  }

  [[noreturn]] void fail(const std::string& what) const { throw std::runtime_error(path_ + ": " + what); }

  Tag tag(const uint8_t* buf, size_t size, size_t pos) const {
    if (pos + 8 > size) fail("truncated MAT element at byte " + std::to_string(pos));
    Tag t;
    const uint32_t w0 = u32(buf + pos);
    if (w0 >> 16) {  // small data element: type and size in one word, up to 4 bytes of data after it
      t.type = w0 & 0xffff;
      t.bytes = w0 >> 16;
      if (t.bytes > 4) fail("corrupt small MAT element at byte " + std::to_string(pos));
      t.data = buf + pos + 4;
      t.next = pos + 8;
      return t;
    }
    t.type = w0;
    t.bytes = u32(buf + pos + 4);
    t.data = buf + pos + 8;
    if (t.bytes > size - pos - 8) fail("truncated MAT element at byte " + std::to_string(pos) + " (type " +
                                       std::to_string(t.type) + ", " + std::to_string(t.bytes) + " bytes)");
    // Compressed elements are not padded; all others are padded to 8 bytes.
    t.next = pos + 8 + (t.type == miCOMPRESSED ? t.bytes : (t.bytes + 7) / 8 * 8);
    if (t.next > size) t.next = size;
    return t;
  }

  std::vector<uint8_t> inflate_all(const uint8_t* p, size_t n) const {
    z_stream z{};
    if (inflateInit(&z) != Z_OK) fail("zlib inflateInit failed");
    std::vector<uint8_t> out(n * 4 + 1024);
    z.next_in = const_cast<Bytef*>(p);
    z.avail_in = static_cast<uInt>(n);
    int rc = Z_OK;
    while (true) {
      if (z.total_out == out.size()) out.resize(out.size() * 2);
      z.next_out = out.data() + z.total_out;
      z.avail_out = static_cast<uInt>(out.size() - z.total_out);
      rc = inflate(&z, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) break;
      if (rc == Z_BUF_ERROR && z.avail_in == 0) break;   // input ended without an end marker
      if (rc != Z_OK && rc != Z_BUF_ERROR) {
        std::string msg = z.msg ? z.msg : "error " + std::to_string(rc);
        inflateEnd(&z);
        fail("corrupt compressed MAT element (zlib: " + msg + ")");
      }
    }
    out.resize(z.total_out);
    inflateEnd(&z);
    if (rc != Z_STREAM_END) fail("truncated compressed MAT element");
    return out;
  }

  // Appends the arrays held by the elements of buf[pos, size) (top level or an inflated element).
  void elements(const uint8_t* buf, size_t size, size_t pos, std::vector<MatArray>& out) const {
    while (pos + 8 <= size) {
      Tag t = tag(buf, size, pos);
      if (t.type == miCOMPRESSED) {
        auto inner = inflate_all(t.data, t.bytes);
        elements(inner.data(), inner.size(), 0, out);
      } else if (t.type == miMATRIX) {
        out.push_back(matrix(t.data, t.bytes, ""));
      }
      pos = t.next;
    }
  }

  // One miMATRIX element's contents (array flags, dimensions, name, then class-specific parts).
  MatArray matrix(const uint8_t* p, size_t n, const std::string& context) const {
    MatArray a;
    if (n == 0) return a;   // an empty cell element: [] (0x0 double)
    Tag flags = tag(p, n, 0);
    if (flags.type != miUINT32 || flags.bytes != 8) fail("corrupt MAT array flags" + context);
    const uint32_t f0 = u32(flags.data);
    const int cls = static_cast<int>(f0 & 0xff);
    a.logical = (f0 >> 8) & 0x02;
    Tag dims = tag(p, n, flags.next);
    if (dims.type != miINT32 || dims.bytes % 4) fail("corrupt MAT dimensions" + context);
    for (uint32_t i = 0; i < dims.bytes / 4; ++i) a.dims.push_back(static_cast<int32_t>(u32(dims.data + 4 * i)));
    Tag name = tag(p, n, dims.next);
    if (name.type != miINT8) fail("corrupt MAT array name" + context);
    a.name.assign(reinterpret_cast<const char*>(name.data), name.bytes);
    const std::string where = " in variable '" + (a.name.empty() ? context : a.name) + "'";
    // numel() multiplies the dimensions: refuse negative ones and products that overflow.
    int64_t count = 1;
    for (int64_t d : a.dims)
      if (d < 0 || __builtin_mul_overflow(count, d, &count))
        fail("corrupt MAT dimensions (negative or too large)" + where);
    size_t pos = name.next;
    if (cls == 1) {
      a.cls = MatClass::kCell;
      for (int64_t i = 0; i < a.numel(); ++i) {
        Tag e = tag(p, n, pos);
        if (e.type != miMATRIX) fail("corrupt MAT cell element" + where);
        a.cells.push_back(matrix(e.data, e.bytes, context.empty() ? a.name : context));
        pos = e.next;
      }
    } else if (cls == 2) {
      a.cls = MatClass::kStruct;
      Tag len = tag(p, n, pos);
      if (len.type != miINT32 || len.bytes != 4) fail("corrupt MAT struct field name length" + where);
      const uint32_t L = u32(len.data);
      Tag names = tag(p, n, len.next);
      if (L == 0 || names.bytes % L) fail("corrupt MAT struct field names" + where);
      std::vector<std::string> field_names;
      for (uint32_t i = 0; i < names.bytes / L; ++i)
        field_names.emplace_back(reinterpret_cast<const char*>(names.data) + i * L,
                                 strnlen(reinterpret_cast<const char*>(names.data) + i * L, L));
      pos = names.next;
      // A struct array without fields has no elements to read (and may be huge: do not count through it).
      for (int64_t i = 0; !field_names.empty() && i < a.numel(); ++i)
        for (const auto& fname : field_names) {
          Tag e = tag(p, n, pos);
          if (e.type != miMATRIX) fail("corrupt MAT struct field" + where);
          a.fields.push_back(matrix(e.data, e.bytes, context.empty() ? a.name : context));
          a.fields.back().name = fname;
          pos = e.next;
        }
    } else if (cls == 4 || (cls >= 6 && cls <= 15)) {
      a.cls = static_cast<MatClass>(cls);
      Tag re = tag(p, n, pos);
      const int sz = type_size(re.type);
      if (sz == 0) fail("unknown MAT data type " + std::to_string(re.type) + where);
      if (static_cast<int64_t>(re.bytes) != a.numel() * sz)
        fail("MAT array data holds " + std::to_string(re.bytes / sz) + " elements but its dimensions say " +
             std::to_string(a.numel()) + where);
      a.stored_type = static_cast<int>(re.type);
      a.data.assign(re.data, re.data + re.bytes);
      if (swap_ && sz > 1)
        for (size_t i = 0; i < a.data.size(); i += sz)
          for (int k = 0; k < sz / 2; ++k) std::swap(a.data[i + k], a.data[i + sz - 1 - k]);
      // text() turns each element into a code unit: a char array must hold 0..65535 (UTF-16 code units).
      if (a.cls == MatClass::kChar)
        for (int64_t i = 0; i < a.numel(); ++i) {
          const double v = a.value(i);
          if (!(v >= 0 && v <= 65535))
            fail("MAT char array holds " + (std::ostringstream() << v).str() + " at element " +
                 std::to_string(i) + ", not a character code" + where);
        }
      // A complex array's imaginary part follows; only the real part is kept (documented in mat5.h).
    } else if (cls == 5) {
      fail("sparse arrays are not read" + where + " (convert with full() before saving)");
    } else {
      fail("MAT array class " + std::to_string(cls) + " (object, function or opaque) is not read" + where);
    }
    return a;
  }

 private:
  std::string path_;
  bool swap_;
};

}  // namespace

int64_t MatArray::numel() const {
  if (dims.empty()) return 0;
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

double MatArray::value(int64_t i) const {
  const int sz = type_size(static_cast<uint32_t>(stored_type));
  if (sz == 0 || i < 0 || (i + 1) * sz > static_cast<int64_t>(data.size()))
    throw std::out_of_range("MAT variable '" + name + "': element " + std::to_string(i) + " outside " +
                            std::to_string(sz ? data.size() / sz : 0) + " elements");
  const uint8_t* p = data.data() + i * sz;
  switch (stored_type) {
    case 1: return static_cast<int8_t>(*p);
    case 2: case 16: return *p;
    case 3: { int16_t v; std::memcpy(&v, p, 2); return v; }
    case 4: case 17: { uint16_t v; std::memcpy(&v, p, 2); return v; }
    case 5: { int32_t v; std::memcpy(&v, p, 4); return v; }
    case 6: case 18: { uint32_t v; std::memcpy(&v, p, 4); return v; }
    case 7: { float v; std::memcpy(&v, p, 4); return v; }
    case 9: { double v; std::memcpy(&v, p, 8); return v; }
    case 12: { int64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
    default: { uint64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
  }
}

std::string MatArray::text() const {
  std::string s;
  for (int64_t i = 0; i < numel(); ++i) s.push_back(static_cast<char>(static_cast<int>(value(i))));
  return s;
}

const MatArray& MatArray::field(const std::string& fname) const {
  for (const auto& f : fields)
    if (f.name == fname) return f;
  throw std::out_of_range("MAT struct '" + name + "' has no field '" + fname + "'");
}

std::vector<MatArray> read_mat_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(path + ": cannot open MAT-file");
  std::vector<uint8_t> buf((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const std::string text(buf.begin(), buf.begin() + std::min<size_t>(buf.size(), 116));
  const bool hdf5 = (buf.size() >= 520 && std::memcmp(buf.data() + 512, "\x89HDF\r\n\x1a\n", 8) == 0) ||
                    (buf.size() >= 8 && std::memcmp(buf.data(), "\x89HDF\r\n\x1a\n", 8) == 0) ||
                    text.rfind("MATLAB 7.3", 0) == 0;
  if (hdf5)
    throw std::runtime_error(
        path + ": MATLAB v7.3 MAT-file (HDF5), which this reader does not read. Convert it once to a level-5 "
               "(v7) MAT-file, e.g. in MATLAB or Octave: s = load('" + path + "'); save('converted.mat', '-struct', "
               "'s', '-v7')  (or in Python: h5py to read, scipy.io.savemat to write)");
  if (buf.size() < 128 || text.rfind("MATLAB", 0) != 0)
    throw std::runtime_error(path + ": not a level-5 MAT-file (no 'MATLAB 5.0 MAT-file' header; level-4 files "
                                    "are not read: save again with -v7)");
  const bool little = buf[126] == 'I' && buf[127] == 'M';
  const bool big = buf[126] == 'M' && buf[127] == 'I';
  if (!little && !big) throw std::runtime_error(path + ": corrupt MAT-file header (no endian indicator)");
  const bool host_little = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
  Parser parser(path, little != host_little);
  std::vector<MatArray> out;
  parser.elements(buf.data(), buf.size(), 128, out);
  return out;
}

MatArray read_mat_variable(const std::string& path, const std::string& name) {
  auto vars = read_mat_file(path);
  std::string names;
  for (auto& v : vars) {
    if (v.name == name) return std::move(v);
    names += (names.empty() ? "" : ", ") + v.name;
  }
  throw std::runtime_error(path + ": no variable '" + name + "' (it has: " + (names.empty() ? "none" : names) + ")");
}

}  // namespace ssmtl::datasets
