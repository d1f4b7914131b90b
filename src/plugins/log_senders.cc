#include "plugins/log_senders.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "core/log.h"

namespace wg::plugins {

thread_local LogSenders* LogSenders::current_ = nullptr;

void log_sender_error(const char* plugin, const std::string& what) {
  // Process-wide and rare (only failures get here): a lock is fine.
  static std::mutex mu;
  static std::map<std::string, int64_t> last;
  constexpr int64_t kIntervalMs = 5000;
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now().time_since_epoch()).count();
  std::string key = std::string(plugin) + '\0' + what;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto [it, fresh] = last.try_emplace(key, now);
    if (!fresh && now - it->second < kIntervalMs) return;
    it->second = now;
  }
  WG_LOG(Error, "[%s] %s", plugin, what.c_str());
}

namespace {

// The address of a LogAddress: an IP literal (or localhost) at once, a
// name through the worker's resolver. `later` gets the answer of a look-up
// that could not answer at once, unless the sink (its `alive` token) went.
class Destination {
 public:
  enum class State { Ready, Later, Failed };
  using Later = std::function<void(bool ok, const client::Endpoint& ep)>;

  Destination(client::NameResolver& names, LogAddress to) : names_(names), to_(std::move(to)) {
    literal_ = client::parse_ip_port(bracketed(), &literal_ep_);
  }
  const std::string& text() const { return to_.text; }

  State get(client::Endpoint* out, const std::shared_ptr<bool>& alive, Later later) {
    if (literal_) {
      *out = literal_ep_;
      return State::Ready;
    }
    std::string address;
    std::weak_ptr<bool> token = alive;
    int port = to_.port;
    auto r = names_.resolve(to_.host, &address,
                            [token, port, later = std::move(later)](const std::string&, const std::string& a) {
                              if (token.expired()) return;
                              client::Endpoint ep;
                              bool ok = endpoint(a, port, &ep);
                              later(ok, ep);
                            });
    if (r == client::NameResolver::Result::Later) return State::Later;
    return r == client::NameResolver::Result::Now && endpoint(address, to_.port, out) ? State::Ready : State::Failed;
  }

 private:
  std::string bracketed() const {
    bool v6 = to_.host.find(':') != std::string::npos && to_.host[0] != '[';
    return (v6 ? "[" + to_.host + "]" : to_.host) + ":" + std::to_string(to_.port);
  }
  // An endpoint from a resolver's address bytes (4 or 16; empty: none).
  static bool endpoint(const std::string& a, int port, client::Endpoint* out) {
    char text[INET6_ADDRSTRLEN] = {0};
    if (a.size() == 4) {
      inet_ntop(AF_INET, a.data(), text, sizeof text);
      return client::parse_ip_port(std::string(text) + ":" + std::to_string(port), out);
    }
    if (a.size() == 16) {
      inet_ntop(AF_INET6, a.data(), text, sizeof text);
      return client::parse_ip_port("[" + std::string(text) + "]:" + std::to_string(port), out);
    }
    return false;
  }

  client::NameResolver& names_;
  LogAddress to_;
  bool literal_ = false;
  client::Endpoint literal_ep_;
};

// ---------------------------------------------------------------- UDP

// A connected datagram socket: one entry, one datagram, as Kong's udp-log.
// A full socket buffer or an ICMP refusal loses the entry; while a name is
// looked up a few entries wait.
class UdpSink final : public LogSink {
 public:
  static constexpr size_t kMaxWaiting = 64;

  UdpSink(client::NameResolver& names, const LogAddress& to) : to_(names, to), alive_(std::make_shared<bool>(true)) {}
  ~UdpSink() override {
    if (fd_ >= 0) ::close(fd_);
  }
  void push(std::string entry, uint64_t) override {
    if (fd_ >= 0) {
      send(entry);
      return;
    }
    if (resolving_) {
      if (waiting_.size() < kMaxWaiting) waiting_.push_back(std::move(entry));
      return;
    }
    client::Endpoint ep;
    switch (to_.get(&ep, alive_, [this](bool ok, const client::Endpoint& found) { resolved(ok, found); })) {
      case Destination::State::Ready:
        if (open(ep)) send(entry);
        break;
      case Destination::State::Later:
        resolving_ = true;
        waiting_.push_back(std::move(entry));
        break;
      case Destination::State::Failed:
        log_sender_error("udp-log", "could not connect to " + to_.text() + ": name did not resolve");
        break;
    }
  }
  uint64_t run(uint64_t) override { return UINT64_MAX; }
  bool idle() const override { return !resolving_; }
  bool waiting() const override { return false; }

 private:
  void resolved(bool ok, const client::Endpoint& ep) {
    resolving_ = false;
    if (!ok) {
      log_sender_error("udp-log", "could not connect to " + to_.text() + ": name did not resolve");
    } else if (open(ep)) {
      for (const auto& e : waiting_) send(e);
    }
    waiting_.clear();
  }
  bool open(const client::Endpoint& ep) {
    fd_ = ::socket(ep.addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len) == 0) return true;
    log_sender_error("udp-log", "could not connect to " + to_.text() + ": " + strerror(errno));
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    return false;
  }
  void send(const std::string& entry) {
    if (::send(fd_, entry.data(), entry.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
      log_sender_error("udp-log", "could not send data to " + to_.text() + ": " + strerror(errno));
    }
  }

  Destination to_;
  std::shared_ptr<bool> alive_;
  int fd_ = -1;
  bool resolving_ = false;
  std::vector<std::string> waiting_;
};

// ---------------------------------------------------------------- TCP

// One connection kept open while entries come (closed after `keepalive`
// ms idle), each entry a line. Entries wait in a bounded buffer while the
// connection opens or the receiver is slow; a failure or a timeout drops
// what waits and the next entry connects again.
class TcpSink final : public LogSink, public core::IoHandler {
 public:
  static constexpr size_t kMaxPending = 4u << 20;

  TcpSink(core::EventLoop& loop, client::NameResolver& names, const LogAddress& to, uint32_t timeout_ms,
          uint32_t keepalive_ms)
      : loop_(loop),
        to_(names, to),
        timeout_ms_(timeout_ms),
        keepalive_ms_(keepalive_ms),
        alive_(std::make_shared<bool>(true)) {}
  ~TcpSink() override { close_fd(); }

  void push(std::string entry, uint64_t now_ms) override {
    if (out_.size() - out_off_ + entry.size() > kMaxPending) {
      log_sender_error("tcp-log", "failed to send data to " + to_.text() + ": too many entries waiting");
      return;
    }
    out_.append(entry);
    deadline_ms_ = now_ms + timeout_ms_;
    if (resolving_) return;
    if (fd_ < 0) {
      client::Endpoint ep;
      switch (to_.get(&ep, alive_, [this](bool ok, const client::Endpoint& found) { resolved(ok, found); })) {
        case Destination::State::Ready:
          if (!connect(ep)) return;
          break;
        case Destination::State::Later:
          resolving_ = true;
          return;
        case Destination::State::Failed:
          fail("failed to connect to ", "name did not resolve");
          return;
      }
    }
    if (connected_) flush();
  }

  uint64_t run(uint64_t now_ms) override {
    if (fd_ < 0 && !resolving_) return UINT64_MAX;
    if (pending() && now_ms >= deadline_ms_) {
      fail(connected_ ? "failed to send data to " : "failed to connect to ", "timeout");
      return UINT64_MAX;
    }
    if (!pending() && now_ms >= idle_since_ms_ + keepalive_ms_) {
      close_fd();
      return UINT64_MAX;
    }
    return pending() ? deadline_ms_ : idle_since_ms_ + keepalive_ms_;
  }

  bool idle() const override { return fd_ < 0 && !resolving_; }
  bool waiting() const override { return pending(); }

  void on_io(uint32_t events) override {
    if (fd_ < 0) return;
    if (events & EPOLLERR) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      fail(connected_ ? "failed to send data to " : "failed to connect to ", strerror(err ? err : ECONNRESET));
      return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) drain_input();
    if (fd_ < 0) return;
    if ((events & EPOLLOUT) && !connected_) connected_ = true;
    if (connected_) flush();
  }

 private:
  bool pending() const { return out_off_ < out_.size(); }

  void resolved(bool ok, const client::Endpoint& ep) {
    if (!resolving_) return;  // timed out meanwhile
    resolving_ = false;
    if (!ok) {
      fail("failed to connect to ", "name did not resolve");
    } else if (connect(ep) && connected_) {
      flush();
    }
  }

  bool connect(const client::Endpoint& ep) {
    fd_ = ::socket(ep.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      fail("failed to connect to ", strerror(errno));
      return false;
    }
    connected_ = false;
    int rc = ::connect(fd_, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len);
    if (rc != 0 && errno != EINPROGRESS) {
      fail("failed to connect to ", strerror(errno));
      return false;
    }
    connected_ = rc == 0;
    loop_.add(fd_, this, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
    return true;
  }

  void flush() {
    while (pending()) {
      ssize_t n = ::send(fd_, out_.data() + out_off_, out_.size() - out_off_, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // EPOLLOUT resumes
        if (errno == EINTR) continue;
        fail("failed to send data to ", strerror(errno));
        return;
      }
      out_off_ += static_cast<size_t>(n);
    }
    out_.clear();
    out_off_ = 0;
    idle_since_ms_ = loop_.now_ms();
  }

  // The receiver says nothing we need; its close ends the connection.
  void drain_input() {
    char buf[1024];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) continue;
      if (n == 0) {
        if (pending()) {
          fail("failed to send data to ", "connection closed");
        } else {
          close_fd();
        }
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        fail(connected_ ? "failed to send data to " : "failed to connect to ", strerror(errno));
      }
      return;
    }
  }

  void fail(const char* what, const char* why) {
    log_sender_error("tcp-log", std::string(what) + to_.text() + ": " + why);
    close_fd();
  }

  void close_fd() {
    if (fd_ >= 0) {
      loop_.remove(fd_);
      ::close(fd_);
    }
    fd_ = -1;
    connected_ = false;
    resolving_ = false;
    out_.clear();
    out_off_ = 0;
  }

  core::EventLoop& loop_;
  Destination to_;
  uint32_t timeout_ms_, keepalive_ms_;
  std::shared_ptr<bool> alive_;
  int fd_ = -1;
  bool connected_ = false;
  bool resolving_ = false;
  std::string out_;
  size_t out_off_ = 0;
  uint64_t deadline_ms_ = 0;
  uint64_t idle_since_ms_ = 0;
};

// ---------------------------------------------------------------- HTTP

// Kong's queue (kong/tools/queue.lua) in front of one http-log endpoint:
// entries wait until a batch is full or the first waited
// max_coalescing_delay; a batch that fails is sent again after a doubling
// delay until max_retry_time, then dropped. At most one batch is out at a
// time unless concurrency_limit is -1.
class HttpSink final : public LogSink {
 public:
  HttpSink(client::HttpClient& http, client::NameResolver& names, std::shared_ptr<const HttpTarget> target,
           const QueueParams& q)
      : http_(http),
        target_(std::move(target)),
        to_(names, target_->address),
        q_(q),
        alive_(std::make_shared<bool>(true)) {}

  void push(std::string entry, uint64_t now_ms) override {
    if (entries_.size() >= q_.max_entries) {
      drop_oldest(entries_.size() + 1 - q_.max_entries);
      log_sender_error("http-log", "queue full, dropping old entries");
    }
    if (q_.max_bytes > 0 && bytes_ + entry.size() > q_.max_bytes) {
      size_t dropped = 0;
      while (!entries_.empty() && bytes_ + entry.size() > q_.max_bytes) {
        drop_oldest(1);
        ++dropped;
      }
      log_sender_error("http-log", "byte capacity exceeded, " + std::to_string(dropped) + " queue entries were dropped");
    }
    if (entries_.empty()) first_waiting_ms_ = now_ms;
    bytes_ += entry.size();
    entries_.push_back(std::move(entry));
  }

  uint64_t run(uint64_t now_ms) override {
    uint64_t next = UINT64_MAX;
    // Batches due again (send may drop one: walk by index).
    for (size_t i = 0; i < batches_.size();) {
      Batch* b = batches_[i].get();
      if (!b->in_flight && now_ms >= b->retry_at_ms) send(*b, now_ms);
      if (i < batches_.size() && batches_[i].get() == b) {
        if (!b->in_flight) next = std::min(next, b->retry_at_ms);
        ++i;
      }
    }
    while (!entries_.empty() && (q_.unlimited_concurrency || batches_.empty())) {
      // Without a concurrency limit Kong sends each entry on its own, at once.
      bool full = q_.unlimited_concurrency || entries_.size() >= q_.max_batch_size;
      uint64_t due = first_waiting_ms_ + q_.max_coalescing_delay_ms;
      if (!full && now_ms < due) {
        next = std::min(next, due);
        break;
      }
      batches_.push_back(take_batch(now_ms));
      send(*batches_.back(), now_ms);
    }
    return next;
  }

  bool idle() const override { return entries_.empty() && batches_.empty(); }
  bool waiting() const override { return !idle(); }
  void hurry() override { q_.max_coalescing_delay_ms = 0; }

 private:
  struct Batch {
    std::string payload;
    size_t count = 0;
    uint64_t first_try_ms = 0;
    uint64_t retry_at_ms = 0;
    int retries = 0;
    bool in_flight = false;
  };

  void drop_oldest(size_t n) {
    for (; n > 0 && !entries_.empty(); --n) {
      bytes_ -= entries_.front().size();
      entries_.pop_front();
    }
  }

  // A batch of 1 is the entry itself, more are a JSON array (as Kong's
  // http-log, which decides by max_batch_size alone).
  std::unique_ptr<Batch> take_batch(uint64_t now_ms) {
    auto b = std::make_unique<Batch>();
    size_t n = q_.unlimited_concurrency ? 1 : std::min(entries_.size(), q_.max_batch_size);
    for (size_t i = 0; i < n; ++i) bytes_ -= entries_[i].size();
    if (q_.max_batch_size == 1) {
      b->payload = std::move(entries_.front());
    } else {
      b->payload.push_back('[');
      for (size_t i = 0; i < n; ++i) {
        if (i > 0) b->payload.push_back(',');
        b->payload += entries_[i];
      }
      b->payload.push_back(']');
    }
    b->count = n;
    entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(n));
    first_waiting_ms_ = now_ms;  // what is left waited since at least now
    b->first_try_ms = now_ms;
    return b;
  }

  // Sends b once its endpoint's address is known.
  void send(Batch& b, uint64_t now_ms) {
    b.in_flight = true;
    client::Endpoint ep;
    Batch* bp = &b;
    auto state = to_.get(&ep, alive_, [this, bp](bool ok, const client::Endpoint& found) {
      if (ok) {
        send_to(*bp, found, loop_now());
      } else {
        bp->in_flight = false;
        failed(*bp, loop_now(), "failed request to " + to_.text() + ": name did not resolve");
      }
    });
    if (state == Destination::State::Ready) {
      send_to(b, ep, now_ms);
    } else if (state == Destination::State::Failed) {
      b.in_flight = false;
      failed(b, now_ms, "failed request to " + to_.text() + ": name did not resolve");
    }
  }

  void send_to(Batch& b, const client::Endpoint& ep, uint64_t now_ms) {
    client::Request req;
    req.target = ep.host;
    req.method = target_->method;
    req.path = target_->path;
    req.authority = target_->authority;
    req.headers = target_->headers;
    req.body = b.payload;
    req.timeout_ms = target_->timeout_ms;
    req.purpose = "http-log";
    std::weak_ptr<bool> alive = alive_;
    Batch* bp = &b;
    bool started = http_.send(std::move(req), [this, alive, bp](client::Response& r) {
      if (alive.expired()) return;
      done(*bp, r);
    });
    if (!started) {
      b.in_flight = false;
      failed(b, now_ms, "failed request to " + to_.text() + ": no address");
    }
  }

  void done(Batch& b, client::Response& r) {
    b.in_flight = false;
    uint64_t now_ms = loop_now();
    if (r.ok && r.status < 300) {
      erase(b);
      wake(now_ms);  // entries that waited for this batch may go now
      return;
    }
    if (!r.ok) {
      failed(b, now_ms, "failed request to " + to_.text());
    } else {
      failed(b, now_ms, "request to " + to_.text() + " returned status code " + std::to_string(r.status) +
                            " and body " + r.body);
    }
  }

  // Schedules the batch again with a doubling delay, or drops it once
  // max_retry_time is spent.
  void failed(Batch& b, uint64_t now_ms, const std::string& why) {
    log_sender_error("http-log", "handler could not process entries: " + why);
    if (q_.max_retry_time_ms < 0 || now_ms - b.first_try_ms > static_cast<uint64_t>(q_.max_retry_time_ms)) {
      log_sender_error("http-log", "could not send entries due to max_retry_time exceeded. " +
                                       std::to_string(b.count) + " queue entries were lost");
      erase(b);
      return;
    }
    uint64_t delay = q_.initial_retry_delay_ms << std::min(b.retries, 40);
    b.retry_at_ms = now_ms + std::min(q_.max_retry_delay_ms, delay);
    ++b.retries;
    wake(b.retry_at_ms);
  }

  void erase(Batch& b) {
    batches_.erase(std::remove_if(batches_.begin(), batches_.end(),
                                  [&b](const std::unique_ptr<Batch>& p) { return p.get() == &b; }),
                   batches_.end());
  }

  static uint64_t loop_now() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
  }

  client::HttpClient& http_;
  std::shared_ptr<const HttpTarget> target_;
  Destination to_;
  QueueParams q_;
  std::deque<std::string> entries_;
  size_t bytes_ = 0;
  uint64_t first_waiting_ms_ = 0;
  std::vector<std::unique_ptr<Batch>> batches_;
  std::shared_ptr<bool> alive_;
};

}  // namespace

LogSenders::~LogSenders() {
  if (current_ == this) current_ = nullptr;
}

void LogSenders::udp(const std::string& key, const LogAddress& to, std::string entry) {
  LogSink* s = sink(key, [&] { return std::make_unique<UdpSink>(names_, to); });
  s->push(std::move(entry), loop_.now_ms());
}

void LogSenders::tcp(const std::string& key, const LogAddress& to, uint32_t timeout_ms, uint32_t keepalive_ms,
                     std::string entry) {
  LogSink* s = sink(key, [&] { return std::make_unique<TcpSink>(loop_, names_, to, timeout_ms, keepalive_ms); });
  s->push(std::move(entry), loop_.now_ms());
  note_due(loop_.now_ms());
}

void LogSenders::http(const std::string& key, const std::shared_ptr<const HttpTarget>& target,
                      const QueueParams& queue, std::string entry) {
  LogSink* s = sink(key, [&] { return std::make_unique<HttpSink>(http_, names_, target, queue); });
  s->push(std::move(entry), loop_.now_ms());
  note_due(loop_.now_ms());
}

uint64_t LogSenders::run(uint64_t now_ms, uint64_t max_wait_ms) {
  if (now_ms < next_due_ms_) return std::min(max_wait_ms, next_due_ms_ - now_ms);
  uint64_t next = UINT64_MAX;
  for (auto it = sinks_.begin(); it != sinks_.end();) {
    LogSink& s = *it->second;
    next = std::min(next, s.run(now_ms));
    if (s.idle()) {
      if (now_ms >= s.last_used_ms + kUnusedMs) {
        it = sinks_.erase(it);
        continue;
      }
      next = std::min(next, s.last_used_ms + kUnusedMs);
    }
    ++it;
  }
  next_due_ms_ = next;
  return next == UINT64_MAX ? max_wait_ms : std::min(max_wait_ms, next > now_ms ? next - now_ms : 0);
}

void LogSenders::begin_drain() {
  draining_ = true;
  for (auto& [key, sink] : sinks_) sink->hurry();
  next_due_ms_ = 0;
}

bool LogSenders::busy() const {
  for (const auto& [key, sink] : sinks_) {
    if (sink->waiting()) return true;
  }
  return false;
}

}  // namespace wg::plugins
