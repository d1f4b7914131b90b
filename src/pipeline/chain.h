// The handlers one request runs, in Kong 3.x's order, compiled into the
// config snapshot per route (its service is fixed by the route; per
// consumer once consumers exist). Plugins run by descending PRIORITY;
// Wasm filters after every plugin of the same phase, in chain order
// (Kong attaches the filter chain at the end of the access phase and runs
// it after the Lua plugins in each later phase).
#pragma once

#include <climits>
#include <memory>
#include <vector>

#include "pipeline/handler.h"

namespace wg::pipeline {

// Where a Wasm filter ranks among plugins: below any PRIORITY.
inline constexpr int kFilterPriority = INT_MIN;

class Chain {
 public:
  // Adds a handler; equal priorities keep the order they were added in.
  void add(std::shared_ptr<const Handler> h);
  bool empty() const { return handlers_.empty(); }
  size_t size() const { return handlers_.size(); }
  const Handler& at(size_t i) const { return *handlers_[i]; }
  // Whether any handler runs in phase p / takes direction d's body.
  bool runs(Phase p) const { return (phases_ & phase_bit(p)) != 0; }
  bool takes_body(Direction d) const { return bodies_[static_cast<int>(d)]; }
  // Whether any handler reads or changes direction d's head (Handler::heads;
  // false: the handlers work from the exchange's facts, or the other head).
  bool sees_head(Direction d) const { return (heads_ & head_bit(d)) != 0; }
  // Whether the handlers that use direction d's head read it only in its
  // own phase (phase_reads_bit) or only add lines to it (adds_bit): the
  // session then fills no map from that head but defers it
  // (HeaderMap::defer); the map copies it in only when a handler changes
  // an entry (HeaderMap::materialize), else it holds the additions,
  // written after the head's own lines.
  bool lazy(Direction d) const { return !sees_head(d) && (heads_ & (adds_bit(d) | phase_reads_bit(d))) != 0; }
  // ... and of those, whether one reads it (for the request head: then
  // Exchange::upstream_uri is theirs too).
  bool defers(Direction d) const { return !sees_head(d) && (heads_ & phase_reads_bit(d)) != 0; }
  bool only_adds(Direction d) const { return lazy(d) && !defers(d); }

 private:
  std::vector<std::shared_ptr<const Handler>> handlers_;
  uint32_t phases_ = 0;
  bool bodies_[2] = {false, false};
  uint32_t heads_ = 0;
};

// Something a config brings that every worker sets up when the config is
// published, before its first request (Wasm instantiates its filters there,
// so their ticks and queues run at once, and retires the roots it dropped).
class WorkerSetup {
 public:
  virtual ~WorkerSetup() = default;
  virtual void setup_worker() const = 0;
};

// Every chain of one config, and its per-worker setups.
struct ChainSet {
  std::vector<Chain> by_route;  // index: Declarative::routes
  std::vector<std::shared_ptr<const WorkerSetup>> worker_setups;
};

}  // namespace wg::pipeline
