// Name resolution for targets and services, with the answer's TTL so names
// are resolved again when it runs out (as Kong does). Uses c-ares, against
// the system resolver configuration or the servers set with --dns-resolver.
// Blocking: called only where configs are compiled, never on a worker loop.
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

namespace wg::upstream {

struct ResolvedAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

class Resolver {
 public:
  // servers: "ip:port,ip:port" (empty: /etc/resolv.conf). Applies to later resolve() calls.
  static void set_servers(const std::string& servers);
  // Resolves host (a name or an IP literal) for port. *ttl_s: seconds the
  // answer may be used (-1 for IP literals: forever). False with *error set
  // when the name does not resolve.
  static bool resolve(const std::string& host, int port, std::vector<ResolvedAddress>* out, int* ttl_s,
                      std::string* error);
};

}  // namespace wg::upstream
