// Where the log plugins' entries go after the request: each worker keeps
// its own senders (a UDP socket, a TCP connection, an HTTP queue), made on
// the first entry for a destination and kept across requests and config
// reloads. Plugins are immutable and shared by every worker, so they name a
// sender by a key built at config time and find this worker's copy through
// LogSenders::current(). Nothing here blocks the worker: sockets are
// non-blocking on its event loop, the HTTP queue sends on the worker's
// outbound client, and an entry that cannot go is dropped (and logged now
// and then), never failing the request that made it.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

#include "client/http_client.h"
#include "client/name_resolver.h"
#include "client/target.h"
#include "core/event_loop.h"

namespace wg::plugins {

// Kong's queue parameters (kong/tools/queue_schema.lua), in milliseconds.
struct QueueParams {
  size_t max_batch_size = 1;
  uint64_t max_coalescing_delay_ms = 1000;
  size_t max_entries = 10000;
  size_t max_bytes = 0;  // 0: no limit
  int64_t max_retry_time_ms = 60000;  // < 0: no retries
  uint64_t initial_retry_delay_ms = 10;
  uint64_t max_retry_delay_ms = 60000;
  bool unlimited_concurrency = false;  // concurrency_limit -1
};

// Where entries go as configured: an IP, localhost or a name the worker's
// resolver looks up (its answers are cached for their TTL).
struct LogAddress {
  std::string host;
  int port = 0;
  std::string text;  // "host:port", for log lines
  LogAddress() = default;
  LogAddress(std::string h, int p) : host(std::move(h)), port(p), text(host + ":" + std::to_string(p)) {}
};

// What http-log sends, fixed at config time.
struct HttpTarget {
  LogAddress address;
  std::string authority;  // the Host header
  std::string path;       // with the query
  std::string method;
  std::vector<std::pair<std::string, std::string>> headers;  // Content-Type, Authorization, the configured ones
  uint32_t timeout_ms = 10000;
};

// One destination of one worker.
class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void push(std::string entry, uint64_t now_ms) = 0;
  // Does what is due; returns the time of its next due work (UINT64_MAX: none).
  virtual uint64_t run(uint64_t now_ms) = 0;
  // Entries wait to be sent (or for their receiver's answer).
  virtual bool waiting() const = 0;
  // The worker is stopping: send what waits without coalescing further.
  virtual void hurry() {}

  // Nothing waits and no connection is open: the sink may go.
  virtual bool idle() const = 0;

  // Where a sink notes work that became due outside run() (an answer came).
  uint64_t* due_ms = nullptr;
  uint64_t last_used_ms = 0;
  void wake(uint64_t at_ms) {
    if (due_ms != nullptr && at_ms < *due_ms) *due_ms = at_ms;
  }
};

class LogSenders {
 public:
  LogSenders(core::EventLoop& loop, client::HttpClient& http, client::NameResolver& names)
      : loop_(loop), http_(http), names_(names) {}
  ~LogSenders();
  LogSenders(const LogSenders&) = delete;
  LogSenders& operator=(const LogSenders&) = delete;

  // The calling worker's senders (null outside a worker: `wasmgate check`).
  static LogSenders* current() { return current_; }
  void make_current() { current_ = this; }

  // Entries for UDP datagrams, TCP lines, or an HTTP queue; `key` names the
  // destination with every parameter that shapes it (built once per config).
  void udp(const std::string& key, const LogAddress& to, std::string entry);
  void tcp(const std::string& key, const LogAddress& to, uint32_t timeout_ms, uint32_t keepalive_ms,
           std::string entry);
  void http(const std::string& key, const std::shared_ptr<const HttpTarget>& target, const QueueParams& queue,
            std::string entry);

  // Due sends, retries and idle closes; returns ms until the next due work
  // (at most max_wait_ms). The worker calls it once per loop turn.
  uint64_t run(uint64_t now_ms, uint64_t max_wait_ms);
  // A draining worker sends what waits at once (as Kong's queues do when a
  // worker exits) and stays up while entries are still on their way.
  void begin_drain();
  bool busy() const;

 private:
  // A sink unused this long and idle is dropped: a reload that changes a
  // destination leaves its old sink behind.
  static constexpr uint64_t kUnusedMs = 60000;

  // Finds or makes the sink of `key`, marked used now.
  template <typename Make>
  LogSink* sink(const std::string& key, Make make) {
    auto it = sinks_.find(key);
    if (it == sinks_.end()) {
      it = sinks_.emplace(key, make()).first;
      it->second->due_ms = &next_due_ms_;
      if (draining_) it->second->hurry();
      note_due(loop_.now_ms() + kUnusedMs);  // when it may be dropped
    }
    it->second->last_used_ms = loop_.now_ms();
    return it->second.get();
  }
  void note_due(uint64_t t) {
    if (t < next_due_ms_) next_due_ms_ = t;
  }

  static thread_local LogSenders* current_;
  core::EventLoop& loop_;
  client::HttpClient& http_;
  client::NameResolver& names_;
  std::unordered_map<std::string, std::unique_ptr<LogSink>> sinks_;
  uint64_t next_due_ms_ = UINT64_MAX;
  bool draining_ = false;
};

// Logs "<plugin>: <what>" at most once every few seconds per plugin name
// and reason, so a down receiver does not flood the error log.
void log_sender_error(const char* plugin, const std::string& what);

}  // namespace wg::plugins
