// Server names: reading the one a client sent in its ClientHello, and
// finding the certificate for it among the snis entities as Kong does
// (kong/runloop/certificate.lua): the exact name, then "*.rest" (the first
// label replaced, for names of three labels or more), then "head.*" (the
// last label replaced), then the catch-all sni "*"; else the default.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace wg::tls {

// The host_name entry of a server_name extension's body (RFC 6066 3), or
// false when it is malformed or names no host. The view points into ext.
bool parse_server_name(const uint8_t* ext, size_t len, std::string_view* host);

// Longest name looked up (a DNS name is at most 253 bytes).
constexpr size_t kMaxServerName = 255;

// sni name (lower-case, as configured) -> index of its certificate.
class SniTable {
 public:
  void add(const std::string& name, int certificate) { names_.emplace(name, certificate); }
  bool empty() const { return names_.empty(); }
  // The certificate for a server name as the client sent it (any case);
  // -1: none matches, serve the default. No allocation.
  int find(std::string_view server_name) const;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  int lookup(std::string_view name) const {
    auto it = names_.find(name);
    return it == names_.end() ? -1 : it->second;
  }
  std::unordered_map<std::string, int, Hash, std::equal_to<>> names_;
};

}  // namespace wg::tls
