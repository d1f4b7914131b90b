// The immutable, compiled form of one configuration. Built off the event
// loops, published with an atomic swap; each request keeps the snapshot it
// started with until it ends.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/entities.h"
#include "router/router.h"
#include "upstream/balancer.h"
#include "pipeline/chain.h"
#include "tls/client.h"
#include "tls/server.h"

namespace wg::config {

struct ServiceRuntime {
  Service cfg;
  int balancer = -1;          // index into Snapshot::balancers
  bool via_upstream = false;  // host names an upstream entity (else one plain target)
  // Protocol https: the client context of its TLS settings (else null).
  std::shared_ptr<const tls::ClientTls> tls;
};

struct Snapshot {
  uint64_t generation = 0;
  Declarative decl;
  // One per upstream entity, then one per service that names a plain host.
  std::vector<std::unique_ptr<upstream::Balancer>> balancers;
  std::vector<ServiceRuntime> services;
  router::Router router;
  // The certificates entities, by sni name, for TLS termination (null
  // when there are none: every handshake gets the default certificate).
  std::shared_ptr<const tls::CertStore> certificates;
  // Per route: the handlers its requests run (plugins, Wasm filters).
  // Shared between the snapshots of one loaded file (a DNS refresh).
  std::shared_ptr<const pipeline::ChainSet> chains;
  // The chain route r's requests run; nullptr when it has none.
  const pipeline::Chain* chain(int r) const {
    if (!chains || static_cast<size_t>(r) >= chains->by_route.size()) return nullptr;
    const pipeline::Chain& c = chains->by_route[static_cast<size_t>(r)];
    return c.empty() ? nullptr : &c;
  }
  std::vector<std::string> warnings;  // e.g. names that did not resolve
  uint64_t dns_expires_ms = 0;        // monotonic time to resolve names again; 0: never
};

// Compiles validated entities (resolving hosts once).
std::shared_ptr<const Snapshot> compile(Declarative decl, uint64_t generation,
                                        std::shared_ptr<const pipeline::ChainSet> chains = nullptr);

// Where workers find the current snapshot. Workers poll generation() once per
// event-loop turn (one relaxed load) and take the lock only when it moved.
class SnapshotHolder {
 public:
  void publish(std::shared_ptr<const Snapshot> s) {
    std::lock_guard<std::mutex> lock(mu_);
    current_ = std::move(s);
    generation_.store(current_->generation, std::memory_order_release);
  }
  std::shared_ptr<const Snapshot> get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return current_;
  }
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> current_;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace wg::config
