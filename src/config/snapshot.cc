#include "config/snapshot.h"

#include <time.h>

#include <algorithm>

namespace wg::config {

namespace {

// A context per certificates entity and the sni names that pick them. The
// entities were checked when the file was validated, so a failure here is
// unexpected: that certificate is skipped with a warning.
std::shared_ptr<const tls::CertStore> build_certificates(const Declarative& decl, std::vector<std::string>* warnings) {
  if (decl.certificates.empty()) return nullptr;
  auto store = std::make_shared<tls::CertStore>();
  std::vector<int> index(decl.certificates.size(), -1);
  int added = 0;
  for (size_t i = 0; i < decl.certificates.size(); ++i) {
    const Certificate& c = decl.certificates[i];
    std::string err;
    if (!store->add(c.cert, c.key, c.cert_alt, c.key_alt, &err)) {
      warnings->push_back("certificate " + c.id + ": " + err);
      continue;
    }
    index[i] = added++;
  }
  for (const Sni& s : decl.snis) {
    if (s.certificate >= 0 && index[static_cast<size_t>(s.certificate)] >= 0) {
      store->snis().add(s.name, index[static_cast<size_t>(s.certificate)]);
    }
  }
  return store;
}

// An https service's client context, from its TLS fields.
std::shared_ptr<const tls::ClientTls> build_upstream_tls(const Declarative& decl, const Service& svc,
                                                         std::vector<std::string>* warnings) {
  tls::ClientOptions o;
  o.verify = svc.tls_verify;
  o.verify_depth = svc.tls_verify_depth;
  for (int ca : svc.ca_certificates) {
    if (ca >= 0) o.cas.push_back(decl.ca_certificates[static_cast<size_t>(ca)].cert);
  }
  if (svc.client_certificate >= 0) {
    const Certificate& c = decl.certificates[static_cast<size_t>(svc.client_certificate)];
    o.cert = c.cert;
    o.key = c.key;
  }
  std::string err;
  auto t = tls::ClientTls::create(o, &err);
  if (!t) warnings->push_back("service " + (svc.name.empty() ? svc.id : svc.name) + ": " + err);
  return t;
}

}  // namespace

std::shared_ptr<const Snapshot> compile(Declarative decl, uint64_t generation,
                                        std::shared_ptr<const pipeline::ChainSet> chains) {
  auto snap = std::make_shared<Snapshot>();
  snap->chains = std::move(chains);
  snap->generation = generation;
  snap->decl = std::move(decl);
  snap->certificates = build_certificates(snap->decl, &snap->warnings);
  for (const auto& u : snap->decl.upstreams) {
    snap->balancers.push_back(upstream::Balancer::build(u, &snap->warnings));
  }
  for (const auto& svc : snap->decl.services) {
    ServiceRuntime rt;
    rt.cfg = svc;
    if (svc.protocol == "https") rt.tls = build_upstream_tls(snap->decl, svc, &snap->warnings);
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
