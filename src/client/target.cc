#include "client/target.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace wg::client {

bool parse_ip_port(std::string_view text, Endpoint* out) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 >= text.size()) return false;
  std::string host(text.substr(0, colon));
  int port = 0;
  for (size_t i = colon + 1; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9' || port > 65535) return false;
    port = port * 10 + (text[i] - '0');
  }
  if (port == 0 || port > 65535) return false;
  if (host == "localhost") host = "127.0.0.1";
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  sockaddr_storage* addr = &out->addr;
  std::memset(addr, 0, sizeof *addr);
  auto* v4 = reinterpret_cast<sockaddr_in*>(addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    out->len = sizeof(sockaddr_in);
    out->host.assign(text);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(addr);
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    out->len = sizeof(sockaddr_in6);
    out->host.assign(text);
    return true;
  }
  return false;
}

bool ConfigTargets::resolve(const std::string& target, Endpoint* out) {
  if (parse_ip_port(target, out)) return true;
  const auto& snap = current_;
  if (!snap) return false;
  int balancer = -1;
  out->tls = nullptr;
  for (size_t i = 0; i < snap->services.size() && balancer < 0; ++i) {
    if (snap->services[i].cfg.name == target) {
      balancer = snap->services[i].balancer;
      out->tls = snap->services[i].tls;
    }
  }
  for (size_t i = 0; i < snap->decl.upstreams.size() && balancer < 0; ++i) {
    if (snap->decl.upstreams[i].name == target) balancer = static_cast<int>(i);  // upstreams come first
  }
  if (balancer < 0 || balancer >= static_cast<int>(snap->balancers.size())) return false;
  const upstream::Balancer& b = *snap->balancers[static_cast<size_t>(balancer)];
  int peer = b.pick(*state_(*snap, balancer), 0, false, 0);
  if (peer < 0) return false;
  const upstream::Peer& p = b.peers()[static_cast<size_t>(peer)];
  std::memcpy(&out->addr, &p.addr, sizeof p.addr);
  out->len = p.addr_len;
  out->host = p.host_header;
  return true;
}

}  // namespace wg::client
