// Per-worker upstream connections: connect, keep-alive reuse by endpoint,
// idle expiry. Owned by exactly one worker; nothing here is locked.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/buffer.h"
#include "core/event_loop.h"
#include "transport/stream.h"

namespace wg::upstream {

// Whoever uses a connection gets its readiness changes.
class ConnOwner {
 public:
  virtual void on_upstream_io() = 0;

 protected:
  ~ConnOwner() = default;
};

class Pool;

struct Conn final : core::IoHandler {
  transport::Stream io;  // the socket, plain or TLS
  bool tcp_connected = false;  // TCP handshake done
  bool connected = false;      // ready for requests: TCP and, over TLS, the TLS handshake done
  bool readable = false;   // edge seen, not yet drained to EAGAIN
  bool writable = false;
  bool hup = false;
  bool closed = false;
  uint32_t requests = 0;   // requests sent on this connection so far
  ConnOwner* owner = nullptr;  // null while idle in the pool
  Pool* pool = nullptr;
  std::string endpoint;  // ip:port, for the log
  std::string key;       // what keep-alive reuse matches: the endpoint, plus the TLS parameters over it
  core::Buffer in;
  uint64_t idle_deadline = 0;

  void on_io(uint32_t events) override;
  // Fresh state for a recycled object (io is detached).
  void reset();
};

class Pool {
 public:
  Pool(core::EventLoop& loop, core::BufferPool& buffers) : loop_(loop), buffers_(buffers) {}
  ~Pool();

  // An idle keep-alive connection with this key, or nullptr.
  Conn* take_idle(const std::string& key);
  // Starts a non-blocking connect; nullptr with *err set when it failed at once.
  Conn* connect(const sockaddr* addr, socklen_t len, const std::string& endpoint, const std::string& key, int* err);
  // Returns a healthy connection with no pending bytes for reuse.
  void put_idle(Conn* c, uint64_t idle_timeout_ms);
  void close(Conn* c);
  // Closes idle connections past their deadline.
  void sweep(uint64_t now_ms);
  // Frees connections closed during the last event-loop turn.
  // Idle connections kept per destination (Kong's upstream_keepalive_pool_size).
  void set_max_idle(size_t n) { max_idle_per_endpoint_ = n; }
  void collect();
  void close_all_idle();
  size_t idle_count() const;

 private:
  void remove_idle(Conn* c);

  core::EventLoop& loop_;
  core::BufferPool& buffers_;
  std::unordered_map<std::string, std::vector<Conn*>> idle_;
  std::vector<Conn*> graveyard_;
  std::vector<Conn*> spare_;
  size_t max_idle_per_endpoint_ = 512;
};

}  // namespace wg::upstream
