#include "router/normalize.h"

namespace wg::router {
namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Cheap test for the common case: nothing to decode, no "//", no dot segment.
bool already_normal(std::string_view p) {
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '%') return false;
    if (c == '/' && i + 1 < p.size()) {
      char n = p[i + 1];
      if (n == '/') return false;
      if (n == '.') {
        // "/." followed by end, '/', or ".": a dot segment.
        if (i + 2 == p.size() || p[i + 2] == '/') return false;
        if (p[i + 2] == '.' && (i + 3 == p.size() || p[i + 3] == '/')) return false;
      }
    }
  }
  return true;
}

}  // namespace

bool normalize_path(std::string_view in, std::string& out, std::string_view* out_view) {
  if (already_normal(in)) {
    *out_view = in;
    return true;
  }
  // Pass 1: decode escapes of unreserved characters, upper-case the others.
  std::string decoded;
  decoded.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      decoded.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    char c = static_cast<char>(hi * 16 + lo);
    if (unreserved(c)) {
      decoded.push_back(c);
    } else {
      static const char digits[] = "0123456789ABCDEF";
      decoded.push_back('%');
      decoded.push_back(digits[hi]);
      decoded.push_back(digits[lo]);
    }
    i += 2;
  }
  // Pass 2: merge slashes and remove dot segments, segment by segment.
  out.clear();
  size_t i = 0;
  const size_t n = decoded.size();
  while (i < n) {
    if (decoded[i] == '/') {
      while (i + 1 < n && decoded[i + 1] == '/') ++i;  // merge "//"
      size_t seg_start = i + 1;
      size_t seg_end = decoded.find('/', seg_start);
      if (seg_end == std::string::npos) seg_end = n;
      std::string_view seg(decoded.data() + seg_start, seg_end - seg_start);
      if (seg == ".") {
        if (seg_end == n) out.push_back('/');
      } else if (seg == "..") {
        size_t cut = out.rfind('/');
        out.resize(cut == std::string::npos ? 0 : cut);
        if (seg_end == n) out.push_back('/');
      } else {
        out.push_back('/');
        out.append(seg);
      }
      i = seg_end;
    } else {
      out.push_back(decoded[i++]);
    }
  }
  if (out.empty()) out.push_back('/');
  *out_view = out;
  return true;
}

}  // namespace wg::router
