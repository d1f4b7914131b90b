#include "runtime/worker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "core/net.h"
#include "proxy/session.h"

namespace wg::core {
namespace {
constexpr uint64_t kSweepIntervalMs = 50;
}

Worker::Worker(Shared& shared, int index)
    : shared_(shared),
      index_(index),
      buffers_(std::max<size_t>(16384, shared.settings.max_header_size + 1024)),
      pool_(loop_, buffers_),
      filters_(shared.wasm_limits, shared.wasm_isolation),
      http_calls_(*this) {
  filters_.set_hooks(&http_calls_);
  access_log_.init(shared.access_log_fd, shared.settings.access_log_format == "json");
}

Worker::~Worker() {
  for (proxy::Session* s = sessions_; s != nullptr;) {
    proxy::Session* next = s->next;
    delete s;
    s = next;
  }
  for (auto* s : graveyard_) delete s;
  for (auto* s : spare_) delete s;
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

bool Worker::listen() {
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (!parse_listen_address(shared_.settings.proxy_listen, &addr, &len)) {
    WG_LOG(Error, "invalid --proxy-listen address '%s'", shared_.settings.proxy_listen.c_str());
    return false;
  }
  listen_fd_ = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // Each worker has its own socket on the same port; the kernel spreads
  // connections across them, so workers never contend on accept.
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(listen_fd_, 4096) != 0) {
    WG_LOG(Error, "cannot listen on %s: %s", shared_.settings.proxy_listen.c_str(), strerror(errno));
    return false;
  }
  listen_port_ = ntohs(addr.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&addr)->sin_port
                                                 : reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return true;
}

void Worker::on_io(uint32_t) { accept_all(); }

void Worker::accept_all() {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) WG_LOG(Error, "accept: %s", strerror(errno));
      return;
    }
    proxy::Session* s;
    if (spare_.empty()) {
      s = new proxy::Session();
    } else {
      s = spare_.back();
      spare_.pop_back();
    }
    s->prev = nullptr;
    s->next = sessions_;
    if (sessions_ != nullptr) sessions_->prev = s;
    sessions_ = s;
    ++live_sessions_;
    s->open(this, fd, peer);
  }
}

void Worker::session_closed(proxy::Session* s) {
  if (s->prev != nullptr) {
    s->prev->next = s->next;
  } else {
    sessions_ = s->next;
  }
  if (s->next != nullptr) s->next->prev = s->prev;
  s->prev = s->next = nullptr;
  --live_sessions_;
  // Freed after this event-loop turn: events for it may still be queued.
  graveyard_.push_back(s);
}

upstream::BalancerState* Worker::balancer_state(const config::Snapshot& s, int idx) {
  if (s.generation != snapshot_generation_) return &scratch_state_;
  if (balancer_states_.size() != s.balancers.size()) balancer_states_.resize(s.balancers.size());
  return &balancer_states_[static_cast<size_t>(idx)];
}

void Worker::sweep_timeouts() {
  const uint64_t now = loop_.now_ms();
  for (proxy::Session* s = sessions_; s != nullptr;) {
    proxy::Session* next = s->next;  // s may close itself
    s->check_timeout(now);
    s = next;
  }
  pool_.sweep(now);
}

void Worker::begin_drain() {
  draining_ = true;
  loop_.remove(listen_fd_);
  ::close(listen_fd_);
  listen_fd_ = -1;
  pool_.close_all_idle();
  // Idle client connections are closed by the run loop, every turn while draining.
}

// What the current config's extensions set up in each worker (Wasm starts
// its filters so their ticks and queues run before the first request).
void Worker::setup_config() {
  if (!snapshot_->chains) return;
  for (const auto& setup : snapshot_->chains->worker_setups) setup->setup_worker();
}

void Worker::run() {
  filters_.make_current();
  snapshot_ = shared_.snapshots.get();
  snapshot_generation_ = snapshot_->generation;
  setup_config();
  loop_.add(listen_fd_, this, EPOLLIN | EPOLLET);
  accept_all();
  uint64_t drain_deadline = 0;
  uint64_t wait_ms = kSweepIntervalMs;
  for (;;) {
    loop_.run_once(static_cast<int>(wait_ms));
    // A new config applies to requests that start from now on.
    if (shared_.snapshots.generation() != snapshot_generation_) {
      snapshot_ = shared_.snapshots.get();
      snapshot_generation_ = snapshot_->generation;
      balancer_states_.clear();
      setup_config();
    }
    const uint64_t now = loop_.now_ms();
    // Wasm: answers to http_calls, then ticks and queues.
    http_calls_.run(now);
    wait_ms = filters_.run_timers(now, kSweepIntervalMs);
    if (now >= next_sweep_ms_) {
      sweep_timeouts();
      next_sweep_ms_ = now + kSweepIntervalMs;
    }
    if (shared_.draining.load(std::memory_order_relaxed) && !draining_) {
      begin_drain();
      drain_deadline = now + static_cast<uint64_t>(shared_.settings.drain_timeout_ms);
    }
    access_log_.flush();
    pool_.collect();
    for (auto* s : graveyard_) spare_.push_back(s);
    graveyard_.clear();
    if (draining_) {
      // Idle keep-alive connections that finished a request since.
      for (proxy::Session* s = sessions_; s != nullptr;) {
        proxy::Session* next = s->next;
        s->close_if_idle();
        s = next;
      }
      if (live_sessions_ == 0 || now >= drain_deadline) break;
    }
  }
  if (live_sessions_ > 0) WG_LOG(Warn, "worker %d: drain timeout, closing %zu connections", index_, live_sessions_);
  for (proxy::Session* s = sessions_; s != nullptr;) {
    proxy::Session* next = s->next;
    s->close();  // gives buffers and upstream connections back before the pools go
    s = next;
  }
  pool_.close_all_idle();
  pool_.collect();
  access_log_.flush();
}

}  // namespace wg::core
