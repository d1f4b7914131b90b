// Target health, seen by every worker (the one piece of upstream state that
// is shared). Workers read `healthy` with one relaxed atomic load per pick;
// reports (passive results from proxied traffic, active probe results) take
// a per-target mutex, which is only contended when both workers report on
// the same target at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "config/entities.h"

namespace wg::shared {

enum class Outcome { Success, HttpFailure, TcpFailure, Timeout };

class TargetHealth {
 public:
  bool healthy() const { return healthy_.load(std::memory_order_relaxed); }
  // Passive result of a proxied request (status 0 for TCP failures/timeouts).
  void report_passive(const config::PassiveHealthcheck& p, Outcome o, int status, const std::string& name);
  // Result of an active probe.
  void report_active(const config::ActiveHealthcheck& a, Outcome o, int status, const std::string& name);
  // Kong's manual override (Admin API .../healthy, .../unhealthy): the
  // state is set and the counters start over.
  void set(bool healthy, const std::string& name);
  // Next time (monotonic ms) an active probe is due; owned by the checker thread.
  uint64_t next_probe_ms = 0;

 private:
  void apply(bool success, int successes_needed, Outcome o, int tcp_needed, int timeouts_needed, int http_needed,
             const std::string& name, const char* source);

  std::atomic<bool> healthy_{true};
  std::mutex mu_;
  int successes_ = 0;
  int tcp_failures_ = 0;
  int timeouts_ = 0;
  int http_failures_ = 0;
};

// Health state keyed by "upstream/address:port", kept across config reloads
// so a reload does not forget that a target is down.
class HealthRegistry {
 public:
  static HealthRegistry& instance();
  std::shared_ptr<TargetHealth> get(const std::string& key);

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::weak_ptr<TargetHealth>> entries_;
};

}  // namespace wg::shared
