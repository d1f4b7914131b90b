#include "tls/sni.h"

#include <cstring>

namespace wg::tls {

bool parse_server_name(const uint8_t* ext, size_t len, std::string_view* host) {
  // ServerNameList: a 2-byte length, then entries of a 1-byte type and a
  // 2-byte length; type 0 is host_name (the only one defined).
  if (len < 2) return false;
  size_t list = static_cast<size_t>(ext[0]) << 8 | ext[1];
  if (list != len - 2) return false;
  size_t p = 2;
  while (p + 3 <= len) {
    const uint8_t type = ext[p];
    const size_t n = static_cast<size_t>(ext[p + 1]) << 8 | ext[p + 2];
    p += 3;
    if (n > len - p) return false;
    if (type == 0) {
      if (n == 0 || n > kMaxServerName) return false;
      *host = std::string_view(reinterpret_cast<const char*>(ext + p), n);
      return true;
    }
    p += n;
  }
  return false;
}

int SniTable::find(std::string_view server_name) const {
  if (names_.empty() || server_name.empty() || server_name.size() > kMaxServerName) return -1;
  char buf[kMaxServerName + 2];
  size_t n = server_name.size();
  bool has_star = false;
  for (size_t i = 0; i < n; ++i) {
    char c = server_name[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    has_star |= c == '*';
    buf[i] = c;
  }
  const std::string_view name(buf, n);
  int found = lookup(name);
  if (found >= 0 || has_star) return found >= 0 ? found : lookup("*");
  // "*.example.com" for "a.example.com": a first label, then at least two more.
  const size_t first_dot = name.find('.');
  if (first_dot != std::string_view::npos && first_dot > 0) {
    const size_t second_dot = name.find('.', first_dot + 1);
    if (second_dot != std::string_view::npos && second_dot > first_dot + 1 && second_dot + 1 < n) {
      char wild[kMaxServerName + 2];
      wild[0] = '*';
      std::memcpy(wild + 1, buf + first_dot, n - first_dot);
      found = lookup(std::string_view(wild, 1 + n - first_dot));
      if (found >= 0) return found;
    }
  }
  // "www.example.*" for "www.example.com": a label and a dot before a last label.
  const size_t last_dot = name.rfind('.');
  if (last_dot != std::string_view::npos && last_dot > 0 && last_dot + 1 < n && name[last_dot - 1] != '.') {
    buf[last_dot + 1] = '*';
    found = lookup(std::string_view(buf, last_dot + 2));
    if (found >= 0) return found;
  }
  return lookup("*");
}

}  // namespace wg::tls
