// The immutable, compiled form of one configuration. Built off the event
// loops, published with an atomic swap; each request keeps the snapshot it
// started with until it ends.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/entities.h"
#include "router/router.h"

namespace wg::config {

struct ServiceRuntime {
  Service cfg;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  bool resolved = false;
  std::string endpoint;     // "ip:port", the upstream pool key
  std::string host_header;  // Host sent upstream when preserve_host is off
};

struct Snapshot {
  uint64_t generation = 0;
  Declarative decl;
  std::vector<ServiceRuntime> services;
  router::Router router;
};

// Compiles validated entities (resolving service hosts once).
std::shared_ptr<const Snapshot> compile(Declarative decl, uint64_t generation);

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
