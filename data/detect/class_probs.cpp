#include "data/detect/class_probs.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "regions/region_file.h"
#include "util/atomic_file.h"
#include "util/parse.h"

namespace ssmtl {

namespace {

const char kHeader[] = "# ssmtl class_probs v1 classes=";

[[noreturn]] void fail(const std::string& path, size_t line, const std::string& what) {
  throw std::runtime_error(path + ":" + std::to_string(line) + ": " + what);
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

// A finite number filling the whole field, or an error naming the field.
double number(const std::string& field, const std::string& path, size_t line, size_t index) {
  std::string t = trim(field);
  double v = 0;
  if (!util::parse_finite(t, v))   // whole decimal token: no hex, NaN or trailing bytes
    fail(path, line, "field " + std::to_string(index + 1) + " '" + util::printable(t) + "' is not a finite number");
  return v;
}

}  // namespace

std::vector<float> motion_teacher_class_probs(int K) {
  if (K < 1) throw std::invalid_argument("teacher_class_probs: number of classes must be >= 1");
  std::vector<float> p(static_cast<size_t>(K) + 1, 0.f);
  p[K] = 1.f;
  return p;
}

std::vector<float> teacher_class_probs(const Detection& d, int K) {
  if (K < 1) throw std::invalid_argument("teacher_class_probs: number of classes must be >= 1");
  if (d.box.cls < 0) return motion_teacher_class_probs(K);
  std::vector<float> p(static_cast<size_t>(K) + 1, 0.f);
  if (static_cast<int>(d.class_probs.size()) != K)
    throw std::invalid_argument("teacher_class_probs: detector object " + box_str(d.box) + " has " +
                                std::to_string(d.class_probs.size()) + " class probabilities, expected " +
                                std::to_string(K) + " (Detector needs DetectorOptions::class_probs)");
  double sum = 0;
  for (float v : d.class_probs) sum += std::max(0.f, v);
  if (sum <= 0) {
    if (d.box.cls >= K) throw std::invalid_argument("teacher_class_probs: class " + std::to_string(d.box.cls) +
                                                    " outside 0.." + std::to_string(K - 1));
    p[d.box.cls] = 1.f;
    return p;
  }
  for (int k = 0; k < K; ++k) p[k] = static_cast<float>(std::max(0.f, d.class_probs[k]) / sum);
  return p;
}

std::string class_probs_text(const std::vector<std::vector<Detection>>& per_frame, int K) {
  std::ostringstream f;
  f << kHeader << K << '\n';
  char buf[32];
  for (size_t t = 0; t < per_frame.size(); ++t)
    for (const Detection& d : per_frame[t]) {
      // Frame and box exactly as the region file prints them, so the two files agree field by field.
      write_region_box(f, static_cast<int64_t>(t), region_box(d.box));
      for (float v : teacher_class_probs(d, K)) {
        std::snprintf(buf, sizeof buf, ",%.7g", v);
        f << buf;
      }
      f << '\n';
    }
  return f.str();
}

void write_class_probs(const std::string& path, const std::vector<std::vector<Detection>>& per_frame, int K) {
  util::write_text_atomic(path, class_probs_text(per_frame, K));
}

ClassProbsFile load_class_probs(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open the class probabilities file (written by ssmtl detect "
                                    "with method detector, hybrid or hybrid-background)");
  ClassProbsFile out;
  std::string line;
  size_t no = 0;
  if (!std::getline(in, line)) fail(path, 1, "empty file (expected the header '" + std::string(kHeader) + "K')");
  ++no;
  line = trim(line);
  const std::string head = trim(kHeader);
  if (line.compare(0, head.size(), head) != 0)
    fail(path, 1, "bad header '" + line + "' (expected '" + std::string(kHeader) + "K')");
  {
    std::string k = line.substr(head.size());
    char* end = nullptr;
    long v = k.empty() ? 0 : std::strtol(k.c_str(), &end, 10);
    if (k.empty() || end != k.c_str() + k.size() || v < 1 || v > 1000000)
      fail(path, 1, "bad number of classes '" + k + "' in the header");
    out.classes = static_cast<int>(v);
  }
  const size_t fields = 5 + static_cast<size_t>(out.classes) + 1;
  size_t blank_at = 0;   // first blank line: only more blank lines may follow
  while (std::getline(in, line)) {
    ++no;
    std::string t = trim(line);
    if (t.empty()) {
      if (!blank_at) blank_at = no;
      continue;
    }
    if (blank_at) fail(path, blank_at, "empty line in the middle of the file");
    std::vector<std::string> f;
    std::stringstream ss(t);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    if (!t.empty() && t.back() == ',') f.push_back("");
    if (f.size() != fields)
      fail(path, no, std::to_string(f.size()) + " fields, expected " + std::to_string(fields) +
                         " (frame, 4 box corners, " + std::to_string(out.classes) + " classes, motion)");
    ClassProbsObject o;
    double fr = number(f[0], path, no, 0);
    if (fr < 0 || fr != std::floor(fr) || fr > 9.0e15) fail(path, no, "frame '" + trim(f[0]) + "' is not a non-negative integer");
    o.frame = static_cast<int64_t>(fr);
    o.x_min = number(f[1], path, no, 1);
    o.y_min = number(f[2], path, no, 2);
    o.x_max = number(f[3], path, no, 3);
    o.y_max = number(f[4], path, no, 4);
    if (o.x_max < o.x_min || o.y_max < o.y_min) fail(path, no, "box with x_max < x_min or y_max < y_min");
    o.probs.resize(fields - 5);
    double sum = 0;
    for (size_t k = 5; k < fields; ++k) {
      double p = number(f[k], path, no, k);
      if (p < 0 || p > 1) fail(path, no, "probability " + trim(f[k]) + " (field " + std::to_string(k + 1) + ") outside [0, 1]");
      o.probs[k - 5] = static_cast<float>(p);
      sum += p;
    }
    if (std::fabs(sum - 1.0) > 1e-3) fail(path, no, "probabilities sum to " + std::to_string(sum) + ", not 1");
    out.objects.push_back(std::move(o));
  }
  return out;
}

}  // namespace ssmtl
