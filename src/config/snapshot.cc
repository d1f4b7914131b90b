#include "config/snapshot.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <cstring>

namespace wg::config {
namespace {

void resolve(ServiceRuntime& s) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(s.cfg.port);
  std::string host = s.cfg.host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) return;
  std::memcpy(&s.addr, res->ai_addr, res->ai_addrlen);
  s.addr_len = res->ai_addrlen;
  s.resolved = true;
  char ip[INET6_ADDRSTRLEN] = {0};
  if (res->ai_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, ip, sizeof ip);
    s.endpoint = std::string(ip) + ":" + port;
  } else {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr, ip, sizeof ip);
    s.endpoint = "[" + std::string(ip) + "]:" + port;
  }
  freeaddrinfo(res);
}

}  // namespace

std::shared_ptr<const Snapshot> compile(Declarative decl, uint64_t generation) {
  auto snap = std::make_shared<Snapshot>();
  snap->generation = generation;
  snap->decl = std::move(decl);
  for (const auto& svc : snap->decl.services) {
    ServiceRuntime rt;
    rt.cfg = svc;
    bool default_port = (svc.protocol == "http" && svc.port == 80) || (svc.protocol == "https" && svc.port == 443);
    rt.host_header = default_port ? svc.host : svc.host + ":" + std::to_string(svc.port);
    resolve(rt);
    snap->services.push_back(std::move(rt));
  }
  // Routes to disabled services do not take part in matching.
  std::vector<bool> active;
  for (const auto& r : snap->decl.routes) {
    active.push_back(r.service < 0 || snap->decl.services[r.service].enabled);
  }
  snap->router.build(snap->decl.routes, active);
  return snap;
}

}  // namespace wg::config
