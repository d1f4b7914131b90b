#include "config/snapshot.h"

#include <time.h>

#include <algorithm>

namespace wg::config {

std::shared_ptr<const Snapshot> compile(Declarative decl, uint64_t generation,
                                        std::shared_ptr<const pipeline::ChainSet> chains) {
  auto snap = std::make_shared<Snapshot>();
  snap->chains = std::move(chains);
  snap->generation = generation;
  snap->decl = std::move(decl);
  for (const auto& u : snap->decl.upstreams) {
    snap->balancers.push_back(upstream::Balancer::build(u, &snap->warnings));
  }
  for (const auto& svc : snap->decl.services) {
    ServiceRuntime rt;
    rt.cfg = svc;
    for (size_t i = 0; i < snap->decl.upstreams.size(); ++i) {
      if (snap->decl.upstreams[i].name == svc.host) {
        rt.balancer = static_cast<int>(i);
        rt.via_upstream = true;
      }
    }
    if (!rt.via_upstream) {
      // A plain host is an upstream of one target, so one code path serves both.
      Upstream single;
      single.name = "service:" + (svc.name.empty() ? svc.id : svc.name);
      Target t;
      t.host = svc.host;
      if (t.host.size() > 2 && t.host.front() == '[' && t.host.back() == ']') t.host = t.host.substr(1, t.host.size() - 2);
      t.port = svc.port;
      single.targets.push_back(t);
      rt.balancer = static_cast<int>(snap->balancers.size());
      snap->balancers.push_back(upstream::Balancer::build(single, &snap->warnings));
    }
    snap->services.push_back(std::move(rt));
  }
  for (const auto& r : snap->decl.routes) {
    if (r.path_handling_v1) {
      snap->warnings.push_back("route '" + (r.name.empty() ? r.id : r.name) +
                               "' field 'path_handling': 'v1' is deprecated and does not work under the "
                               "traditional_compatible router; v0 is used, as Kong does");
    }
  }
  int ttl = -1;
  for (const auto& b : snap->balancers) {
    if (b->ttl_s() >= 0) ttl = ttl < 0 ? b->ttl_s() : std::min(ttl, b->ttl_s());
  }
  if (ttl >= 0) {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
    snap->dns_expires_ms = now + static_cast<uint64_t>(std::max(ttl, 1)) * 1000;
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
