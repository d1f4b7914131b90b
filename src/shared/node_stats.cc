#include "shared/node_stats.h"

namespace wg::shared {

NodeStats& NodeStats::instance() {
  static NodeStats* s = new NodeStats();
  return *s;
}

WorkerStats* NodeStats::add_worker() {
  std::lock_guard<std::mutex> lock(mu_);
  workers_.push_back(std::make_unique<WorkerStats>());
  return workers_.back().get();
}

NodeTotals NodeStats::totals() const {
  constexpr auto r = std::memory_order_relaxed;
  NodeTotals t;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& w : workers_) {
    t.accepted += w->accepted.load(r);
    t.closed += w->closed.load(r);
    t.requests += w->requests.load(r);
    t.reading += w->reading.load(r);
    t.writing += w->writing.load(r);
    t.waiting += w->waiting.load(r);
  }
  return t;
}

}  // namespace wg::shared
