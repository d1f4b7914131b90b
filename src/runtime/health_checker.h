// Active health checks: one thread probes the targets of every upstream
// whose healthchecks.active intervals are set, with HTTP GETs to http_path,
// and records the results in the shared target health that workers read.
#pragma once

#include <atomic>
#include <thread>

#include "config/snapshot.h"

namespace wg::runtime {

class HealthChecker {
 public:
  explicit HealthChecker(const config::SnapshotHolder& snapshots) : snapshots_(snapshots) {}
  ~HealthChecker() { stop(); }
  void start();
  void stop();

 private:
  void run();
  void probe(const config::Upstream& u, const upstream::Peer& peer);

  const config::SnapshotHolder& snapshots_;
  std::atomic<bool> stop_{false};
  uint64_t dns_asked_for_ = 0;  // generation whose names we asked to refresh
  std::thread thread_;
};

}  // namespace wg::runtime
