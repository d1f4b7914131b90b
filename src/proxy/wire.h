// Small helpers for writing HTTP/1.1 heads, shared by the session's files.
#pragma once

#include <cerrno>
#include <cstdint>
#include <string>
#include <string_view>

#include <sys/types.h>

#include "core/version.h"
#include "http/message.h"

#define kServerToken "wasmgate/" WASMGATE_VERSION

namespace wg::proxy {

inline void append_uint(std::string& out, uint64_t v) {
  char tmp[24];
  char* p = tmp + sizeof tmp;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  out.append(p, static_cast<size_t>(tmp + sizeof tmp - p));
}

inline void append_hex(std::string& out, uint64_t v) {
  char tmp[24];
  char* p = tmp + sizeof tmp;
  do {
    *--p = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v != 0);
  out.append(p, static_cast<size_t>(tmp + sizeof tmp - p));
}

inline void append_header(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ", 2);
  out.append(value);
  out.append("\r\n", 2);
}

// A header of a head: its wire line in one piece when it has one.
inline void append_header(std::string& out, const http::Header& h) {
  if (h.wire_line) {
    out.append(h.name.data(), h.name.size() + h.value.size() + 4);
  } else {
    append_header(out, h.name, h.value);
  }
}

// RFC 9110 9.2.2: methods that can be retried after a failure mid-exchange.
inline bool idempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "PUT" || m == "DELETE" || m == "OPTIONS" || m == "TRACE";
}

inline bool would_block(ssize_t n) { return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK); }

}  // namespace wg::proxy
