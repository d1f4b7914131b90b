// Client connection and request counts of every worker, what nginx's
// stub_status gives Kong's exporter (kong_nginx_connections_total,
// kong_nginx_requests_total). Each worker writes only its own
// WorkerStats (a relaxed load and store: no locked instruction on the
// request path); the admin thread adds them up at scrape time.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace wg::shared {

struct WorkerStats {
  // Written by the owner worker only.
  std::atomic<uint64_t> accepted{0};  // connections accepted
  std::atomic<uint64_t> closed{0};    // ... and closed since
  std::atomic<uint64_t> requests{0};  // requests whose head was read
  // Connection states, counted by the worker's sweep every few tens of
  // milliseconds: a partial request head, a request in flight, idle.
  std::atomic<uint64_t> reading{0}, writing{0}, waiting{0};

  static void add(std::atomic<uint64_t>& v, uint64_t by = 1) {
    v.store(v.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
};

struct NodeTotals {
  uint64_t accepted = 0, closed = 0, requests = 0, reading = 0, writing = 0, waiting = 0;
};

class NodeStats {
 public:
  static NodeStats& instance();  // never destroyed
  // A worker's own counters (stable for the life of the process).
  WorkerStats* add_worker();
  NodeTotals totals() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<WorkerStats>> workers_;
};

}  // namespace wg::shared
