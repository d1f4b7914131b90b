#include "shared/health.h"

#include <algorithm>

#include "core/log.h"

namespace wg::shared {
namespace {
bool contains(const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }
}  // namespace

void TargetHealth::report_passive(const config::PassiveHealthcheck& p, Outcome o, int status, const std::string& name) {
  if (o == Outcome::Success || o == Outcome::HttpFailure) {
    // Statuses in neither list say nothing about health.
    if (contains(p.healthy_statuses, status)) {
      o = Outcome::Success;
    } else if (contains(p.unhealthy_statuses, status)) {
      o = Outcome::HttpFailure;
    } else {
      return;
    }
  }
  apply(o == Outcome::Success, p.healthy_successes, o, p.unhealthy_tcp_failures, p.unhealthy_timeouts,
        p.unhealthy_http_failures, name, "passive");
}

void TargetHealth::report_active(const config::ActiveHealthcheck& a, Outcome o, int status, const std::string& name) {
  if (o == Outcome::Success || o == Outcome::HttpFailure) {
    if (contains(a.healthy_statuses, status)) {
      o = Outcome::Success;
    } else if (contains(a.unhealthy_statuses, status)) {
      o = Outcome::HttpFailure;
    } else {
      return;
    }
  }
  apply(o == Outcome::Success, a.healthy_successes, o, a.unhealthy_tcp_failures, a.unhealthy_timeouts,
        a.unhealthy_http_failures, name, "active");
}

// lua-resty-healthcheck's counting: a success clears the failure counters
// and counts towards healthy; a failure of one kind clears the successes and
// counts towards unhealthy. A threshold of 0 disables that transition.
void TargetHealth::apply(bool success, int successes_needed, Outcome o, int tcp_needed, int timeouts_needed,
                         int http_needed, const std::string& name, const char* source) {
  std::lock_guard<std::mutex> lock(mu_);
  if (success) {
    tcp_failures_ = timeouts_ = http_failures_ = 0;
    ++successes_;
    if (!healthy() && successes_needed > 0 && successes_ >= successes_needed) {
      healthy_.store(true);
      WG_LOG(Notice, "target %s is healthy again (%s checks)", name.c_str(), source);
    }
    return;
  }
  successes_ = 0;
  int count = 0, needed = 0;
  switch (o) {
    case Outcome::TcpFailure: count = ++tcp_failures_; needed = tcp_needed; break;
    case Outcome::Timeout: count = ++timeouts_; needed = timeouts_needed; break;
    default: count = ++http_failures_; needed = http_needed; break;
  }
  if (healthy() && needed > 0 && count >= needed) {
    healthy_.store(false);
    WG_LOG(Warn, "target %s is unhealthy (%s checks)", name.c_str(), source);
  }
}

void TargetHealth::set(bool healthy, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  successes_ = tcp_failures_ = timeouts_ = http_failures_ = 0;
  healthy_.store(healthy);
  WG_LOG(Notice, "target %s set %s through the Admin API", name.c_str(), healthy ? "healthy" : "unhealthy");
}

HealthRegistry& HealthRegistry::instance() {
  static HealthRegistry r;
  return r;
}

std::shared_ptr<TargetHealth> HealthRegistry::get(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = entries_[key];
  if (auto existing = slot.lock()) return existing;
  auto fresh = std::make_shared<TargetHealth>();
  slot = fresh;
  return fresh;
}

}  // namespace wg::shared
