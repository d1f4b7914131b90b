// Access log: one line per request, text (nginx-like with Kong's latencies)
// or JSON (Kong's log serializer names). Lines are appended to a per-worker
// buffer and flushed once per event-loop turn.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace wg::proxy {

struct LogRecord {
  std::string_view client_ip;
  std::string_view method;
  std::string_view uri;
  int minor_version = 1;
  int status = 0;
  uint64_t bytes_sent = 0;
  uint64_t request_size = 0;
  std::string_view referer;
  std::string_view user_agent;
  std::string_view route;    // empty: none
  std::string_view service;  // empty: none
  std::string_view upstream_uri;
  int64_t total_ms = 0;
  int64_t upstream_ms = -1;  // -1: never reached an upstream
  int64_t gateway_ms = 0;
  int tries = 0;
};

class AccessLog {
 public:
  void init(int fd, bool json) {
    fd_ = fd;
    json_ = json;
    buf_.reserve(64 * 1024);
  }
  bool enabled() const { return fd_ >= 0; }
  void write(const LogRecord& r);
  void flush();

 private:
  void write_text(const LogRecord& r);
  void write_json(const LogRecord& r);
  void refresh_time();

  int fd_ = -1;
  bool json_ = false;
  std::string buf_;
  int64_t cached_sec_ = -1;
  char time_text_[40] = {0};
  uint64_t now_epoch_ms_ = 0;
};

}  // namespace wg::proxy
