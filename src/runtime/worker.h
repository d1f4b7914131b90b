// A worker: one thread, one epoll loop, its own listening socket
// (SO_REUSEPORT), its own upstream pool, buffers and access-log buffer.
// Workers share nothing but the published config snapshot.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "config/snapshot.h"
#include "core/buffer.h"
#include "core/event_loop.h"
#include "core/settings.h"
#include "proxy/access_log.h"
#include "proxy/http_calls.h"
#include "upstream/pool.h"
#include "wasm/filters.h"

namespace wg::proxy {
class Session;
}

namespace wg::core {

// Process-wide state the workers read.
struct Shared {
  Settings settings;
  config::SnapshotHolder snapshots;
  std::atomic<bool> draining{false};
  int access_log_fd = -1;  // -1: off
  wasm::Limits wasm_limits;  // from the --wasm-* flags
  wasm::Isolation wasm_isolation = wasm::Isolation::None;
};

class Worker final : public IoHandler {
 public:
  Worker(Shared& shared, int index);
  ~Worker();
  // Binds the listening socket; false (with a logged reason) on failure.
  bool listen();
  void start() { thread_ = std::thread([this] { run(); }); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

  // Used by sessions.
  EventLoop& loop() { return loop_; }
  BufferPool& buffers() { return buffers_; }
  upstream::Pool& upstreams() { return pool_; }
  const Settings& settings() const { return shared_.settings; }
  proxy::AccessLog& access_log() { return access_log_; }
  wasm::WorkerFilters& filters() { return filters_; }
  const std::shared_ptr<const config::Snapshot>& snapshot() const { return snapshot_; }
  bool draining() const { return draining_; }
  int listen_port() const { return listen_port_; }
  void session_closed(proxy::Session* s);
  // This worker's mutable balancer state for balancer idx of snapshot s.
  // Requests still on an older snapshot share a scratch state.
  upstream::BalancerState* balancer_state(const config::Snapshot& s, int idx);

  void on_io(uint32_t events) override;  // the listening socket

 private:
  void run();
  void accept_all();
  void sweep_timeouts();
  void begin_drain();
  void setup_config();

  Shared& shared_;
  int index_;
  EventLoop loop_;
  BufferPool buffers_;
  upstream::Pool pool_;
  proxy::AccessLog access_log_;
  wasm::WorkerFilters filters_;
  proxy::HttpCalls http_calls_;
  std::shared_ptr<const config::Snapshot> snapshot_;
  uint64_t snapshot_generation_ = 0;
  std::vector<upstream::BalancerState> balancer_states_;
  upstream::BalancerState scratch_state_;
  int listen_fd_ = -1;
  int listen_port_ = 0;
  bool draining_ = false;
  uint64_t next_sweep_ms_ = 0;
  proxy::Session* sessions_ = nullptr;  // intrusive list of live sessions
  std::vector<proxy::Session*> graveyard_;
  std::vector<proxy::Session*> spare_;
  size_t live_sessions_ = 0;
  std::thread thread_;

  friend class proxy::Session;
};

}  // namespace wg::core
