#include "runtime/worker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "core/net.h"
#include "runtime/reloader.h"

namespace wg::runtime {
namespace {
constexpr uint64_t kSweepIntervalMs = 50;
}

Worker::Worker(Shared& shared, int index)
    : WorkerContext(shared.settings),
      shared_(shared),
      index_(index),
      filters_(shared.wasm_limits, shared.wasm_isolation),
      targets_(snapshot_, [this](const config::Snapshot& s, int idx) { return balancer_state(s, idx); }),
      http_(loop_, targets_),
      grpc_(loop_, targets_),
      names_(loop_),
      hooks_(http_, grpc_, names_),
      log_senders_(loop_, http_, names_),
      redis_(loop_, names_),
      lua_(lua_limits(shared.settings), shared.settings.lua_plugins_dir, &loop_, &names_) {
  filters_.set_hooks(&hooks_);
  access_log_.init(shared.access_log_fd, shared.settings.access_log_format == "json");
}

Worker::~Worker() {
  // Sessions go before the Wasm instances and calls they may still name.
  delete_sessions();
  for (auto& l : listeners_) {
    if (l->fd >= 0) ::close(l->fd);
  }
}

bool Worker::listen() {
  for (const core::ListenSpec& spec : shared_.listens) {
    auto l = std::make_unique<Listener>();
    l->worker = this;
    l->fd = ::socket(spec.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // Each worker has its own socket on the same port; the kernel spreads
    // connections across them, so workers never contend on accept.
    setsockopt(l->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (::bind(l->fd, reinterpret_cast<const sockaddr*>(&spec.addr), spec.addr_len) != 0 ||
        ::listen(l->fd, spec.backlog) != 0) {
      WG_LOG(Error, "cannot listen on %s: %s", spec.address.c_str(), strerror(errno));
      ::close(l->fd);
      return false;
    }
    l->info.port = ntohs(spec.addr.ss_family == AF_INET
                             ? reinterpret_cast<const sockaddr_in*>(&spec.addr)->sin_port
                             : reinterpret_cast<const sockaddr_in6*>(&spec.addr)->sin6_port);
    l->info.tls = spec.ssl ? shared_.server_tls.get() : nullptr;
    listeners_.push_back(std::move(l));
  }
  return true;
}

void Listener::on_io(uint32_t) { worker->accept_all(*this); }

void Worker::accept_all(const Listener& l) {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd = ::accept4(l.fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) WG_LOG(Error, "accept: %s", strerror(errno));
      return;
    }
    open_session(fd, peer, l.info);
  }
}

void Worker::begin_drain() {
  draining_ = true;
  log_senders_.begin_drain();
  lua_.expire_timers();  // their premature run, as nginx's at a worker's exit
  for (auto& l : listeners_) {
    loop_.remove(l->fd);
    ::close(l->fd);
    l->fd = -1;
  }
  pool_.close_all_idle();
  // Idle client connections are closed by the run loop, every turn while draining.
}

// What the current config's extensions set up in each worker (Wasm starts
// its filters so their ticks and queues run before the first request).
void Worker::setup_config() {
  lua_.collect();
  if (!snapshot_->chains) return;
  for (const auto& setup : snapshot_->chains->worker_setups) setup->setup_worker();
}

void Worker::run() {
  filters_.make_current();
  log_senders_.make_current();
  redis_.make_current();
  lua_.make_current();
  adopt(shared_.snapshots.get());
  setup_config();
  if (shared_.workers_set_up) shared_.workers_set_up->arrive_and_wait();
  for (auto& l : listeners_) {
    loop_.add(l->fd, l.get(), EPOLLIN | EPOLLET);
    accept_all(*l);
  }
  uint64_t drain_deadline = 0;
  uint64_t wait_ms = kSweepIntervalMs;
  for (;;) {
    loop_.run_once(static_cast<int>(wait_ms));
    // A new config applies to requests that start from now on.
    if (shared_.snapshots.generation() != snapshot_generation_) {
      adopt(shared_.snapshots.get());
      setup_config();
    }
    const uint64_t now = loop_.now_ms();
    // Answers to outbound calls (Wasm's http_calls and gRPC calls,
    // http-log), then Wasm ticks and queues, then the log plugins' due sends.
    http_.run(now);
    grpc_.run(now);
    wait_ms = filters_.run_timers(now, kSweepIntervalMs);
    wait_ms = log_senders_.run(now, wait_ms);
    wait_ms = redis_.run(now, wait_ms);
    wait_ms = lua_.run(wait_ms);  // Lua coroutines whose wait is over, Lua timers
    if (now >= next_sweep_ms_) {
      sweep(now);
      next_sweep_ms_ = now + kSweepIntervalMs;
    }
    if (shared_.draining.load(std::memory_order_relaxed) && !draining_) {
      begin_drain();
      drain_deadline = now + static_cast<uint64_t>(shared_.settings.drain_timeout_ms);
    }
    end_turn();
    if (draining_) {
      // Idle keep-alive connections that finished a request since.
      close_idle_sessions();
      // Log entries still on their way keep the worker up to the deadline.
      if ((live_sessions() == 0 && !log_senders_.busy()) || now >= drain_deadline) break;
    }
  }
  if (live_sessions() > 0) WG_LOG(Warn, "worker %d: drain timeout, closing %zu connections", index_, live_sessions());
  close_all_sessions();
  pool_.close_all_idle();
  pool_.collect();
  access_log_.flush();
}

}  // namespace wg::runtime
