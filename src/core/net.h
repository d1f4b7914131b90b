// Address parsing shared by the listeners.
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

namespace wg::core {

// Parses "ADDR:PORT" ("127.0.0.1:8000", "[::1]:8000", "0.0.0.0:80").
bool parse_listen_address(const std::string& text, sockaddr_storage* out, socklen_t* len);

// One entry of a Kong listen list ("127.0.0.1:8443 ssl http2 reuseport").
struct ListenSpec {
  std::string address;  // "ADDR:PORT" as written
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  bool ssl = false;
  int backlog = 4096;
  // Flags Kong knows that are accepted and not acted on (yet): logged once.
  std::vector<std::string> ignored;
};

// Parses Kong's comma-separated listen syntax (proxy_listen): each entry an
// address and flags. Takes ssl and backlog=N; accepts http2, reuseport
// (every worker has its own socket anyway), deferred, bind, ipv6only=,
// so_keepalive= and ignores them; refuses proxy_protocol and unknown flags.
// False with *err naming the problem.
bool parse_listen_list(const std::string& text, std::vector<ListenSpec>* out, std::string* err);

}  // namespace wg::core
