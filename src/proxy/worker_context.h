// What the sessions of one worker share: its event loop, buffer pool,
// upstream connection pool, access-log buffer, the config snapshot new
// requests start with, its balancer state, and the list of live sessions.
//
// This is the proxy layer's half of a worker; the runtime's Worker
// (src/runtime/worker) derives from it and adds the thread, the listening
// socket, accept, config adoption and the extension hosts. Splitting it
// here keeps proxy/ below runtime/: a session never names the runtime.
// Everything is non-virtual, so a session's calls cost what they did when
// this was one class.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "http/message.h"
#include "pipeline/exchange.h"
#include "pipeline/runner.h"
#include "router/router.h"

#include "config/snapshot.h"
#include "core/buffer.h"
#include "core/event_loop.h"
#include "core/settings.h"
#include "proxy/access_log.h"
#include "tls/server.h"
#include "shared/node_stats.h"
#include "upstream/balancer.h"
#include "upstream/pool.h"

namespace wg::proxy {

class Session;

// What a session needs to know of the listener that accepted it.
struct ListenerInfo {
  uint16_t port = 0;
  const tls::ServerTls* tls = nullptr;  // null: plain HTTP
};

// What one exchange needs and an idle connection does not (about 12 KiB):
// the header slots of its request and response heads, the Exchange its
// handlers see, the runner of its chain, and the route match. A session
// borrows one from its worker per exchange.
struct ExchangeSpace {
  http::Header slots[2 * http::kMaxHeaders];
  pipeline::Exchange x;
  pipeline::Runner runner;
  router::Match match;
};

class WorkerContext {
 public:
  explicit WorkerContext(const core::Settings& settings);
  ~WorkerContext();
  WorkerContext(const WorkerContext&) = delete;
  WorkerContext& operator=(const WorkerContext&) = delete;

  // Used by sessions.
  core::EventLoop& loop() { return loop_; }
  core::BufferPool& buffers() { return buffers_; }
  upstream::Pool& upstreams() { return pool_; }
  const core::Settings& settings() const { return settings_; }
  AccessLog& access_log() { return access_log_; }
  const std::shared_ptr<const config::Snapshot>& snapshot() const { return snapshot_; }
  bool draining() const { return draining_; }
  // The certificates of the running configuration (null when it has none).
  const tls::CertStore* certificates() const { return snapshot_ ? snapshot_->certificates.get() : nullptr; }
  void session_closed(Session* s);
  // This worker's connection and request counts (kong_nginx_* metrics).
  shared::WorkerStats& stats() { return *stats_; }
  // The space of one exchange, lent to a session while a request is in
  // flight: an idle keep-alive connection holds none (a few free ones are
  // kept for reuse).
  std::unique_ptr<ExchangeSpace> take_exchange_space() {
    if (free_spaces_.empty()) return std::make_unique<ExchangeSpace>();
    std::unique_ptr<ExchangeSpace> s = std::move(free_spaces_.back());
    free_spaces_.pop_back();
    return s;
  }
  void give_exchange_space(std::unique_ptr<ExchangeSpace> s) {
    if (s && free_spaces_.size() < kFreeSpaces) free_spaces_.push_back(std::move(s));
  }
  // This worker's mutable balancer state for balancer idx of snapshot s.
  // Requests still on an older snapshot share a scratch state.
  upstream::BalancerState* balancer_state(const config::Snapshot& s, int idx);

 protected:
  // A new session for accepted socket fd (recycled when one is spare).
  void open_session(int fd, const sockaddr_storage& peer, const ListenerInfo& listener);
  // New requests start on s; per-snapshot balancer state starts afresh.
  void adopt(std::shared_ptr<const config::Snapshot> s);
  // Times out sessions past their deadline and idle upstream connections.
  void sweep(uint64_t now_ms);
  // End of an event-loop turn: flushes the access log, frees what closed.
  // Inline: it runs every loop turn, and a call here cost ~30 instructions
  // per proxied request (callgrind).
  void end_turn() {
    access_log_.flush();
    pool_.collect();
    for (auto* s : graveyard_) spare_.push_back(s);
    graveyard_.clear();
  }
  // Closes the sessions idle between requests (when draining).
  void close_idle_sessions();
  // Closes every session, giving buffers and upstream connections back
  // before the pools go (drain timeout, stop).
  void close_all_sessions();
  size_t live_sessions() const { return live_sessions_; }
  // Frees every session object (idempotent). The runtime's Worker calls it
  // before its own members (the extension hosts) go.
  void delete_sessions();

  const core::Settings& settings_;
  core::EventLoop loop_;
  core::BufferPool buffers_;
  upstream::Pool pool_;
  AccessLog access_log_;
  std::shared_ptr<const config::Snapshot> snapshot_;
  uint64_t snapshot_generation_ = 0;
  bool draining_ = false;

 private:
  shared::WorkerStats* stats_;  // owned by shared::NodeStats
  std::vector<upstream::BalancerState> balancer_states_;
  upstream::BalancerState scratch_state_;
  Session* sessions_ = nullptr;  // intrusive list of live sessions
  std::vector<Session*> graveyard_;
  std::vector<Session*> spare_;
  static constexpr size_t kFreeSpaces = 64;
  std::vector<std::unique_ptr<ExchangeSpace>> free_spaces_;
  size_t live_sessions_ = 0;
};

}  // namespace wg::proxy
