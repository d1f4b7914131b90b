#include "proxy/access_log.h"

#include <unistd.h>

#include <cstdio>
#include <ctime>

namespace wg::proxy {
namespace {

void append_int(std::string& out, int64_t v) {
  char tmp[24];
  int n = snprintf(tmp, sizeof tmp, "%lld", static_cast<long long>(v));
  out.append(tmp, static_cast<size_t>(n));
}

// Quoted-string field for the text format: escapes quotes, backslashes and
// control bytes the way nginx does (\xHH).
void append_text_field(std::string& out, std::string_view v) {
  if (v.empty()) {
    out.push_back('-');
    return;
  }
  for (unsigned char c : v) {
    if (c < 0x20 || c == '"' || c == '\\' || c >= 0x7f) {
      char tmp[5];
      snprintf(tmp, sizeof tmp, "\\x%02X", c);
      out.append(tmp, 4);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
}

void append_json_string(std::string& out, std::string_view v) {
  out.push_back('"');
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c >= 0x7f) {
      // Bytes, not code points: request data may not be UTF-8.
      char tmp[7];
      snprintf(tmp, sizeof tmp, "\\u%04x", c);
      out.append(tmp, 6);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
}

// {"name":"..."} for an entity, null when there is none.
void append_named_or_null(std::string& out, std::string_view name) {
  if (name.empty()) {
    out.append("null");
    return;
  }
  out.append("{\"name\":");
  append_json_string(out, name);
  out.push_back('}');
}

}  // namespace

void AccessLog::refresh_time() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  now_epoch_ms_ = static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
  if (ts.tv_sec == cached_sec_) return;
  cached_sec_ = ts.tv_sec;
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  strftime(time_text_, sizeof time_text_, "%d/%b/%Y:%H:%M:%S +0000", &tm);
}

void AccessLog::write(const LogRecord& r) {
  if (fd_ < 0) return;
  refresh_time();
  if (json_) {
    write_json(r);
  } else {
    write_text(r);
  }
  if (buf_.size() > 48 * 1024) flush();
}

void AccessLog::write_text(const LogRecord& r) {
  std::string& o = buf_;
  o.append(r.client_ip);
  o.append(" - - [");
  o.append(time_text_);
  o.append("] \"");
  append_text_field(o, r.method);
  o.push_back(' ');
  append_text_field(o, r.uri);
  o.append(r.minor_version == 0 ? " HTTP/1.0\" " : " HTTP/1.1\" ");
  append_int(o, r.status);
  o.push_back(' ');
  append_int(o, static_cast<int64_t>(r.bytes_sent));
  o.append(" \"");
  append_text_field(o, r.referer);
  o.append("\" \"");
  append_text_field(o, r.user_agent);
  o.append("\" route=");
  append_text_field(o, r.route);
  o.append(" service=");
  append_text_field(o, r.service);
  o.append(" status=");
  append_int(o, r.status);
  o.append(" latency=");
  append_int(o, r.total_ms);
  o.append(" upstream_latency=");
  if (r.upstream_ms < 0) {
    o.push_back('-');
  } else {
    append_int(o, r.upstream_ms);
  }
  o.append(" gateway_latency=");
  append_int(o, r.gateway_ms);
  o.append(" tries=");
  append_int(o, r.tries);
  o.push_back('\n');
}

void AccessLog::write_json(const LogRecord& r) {
  std::string& o = buf_;
  o.append("{\"started_at\":");
  append_int(o, static_cast<int64_t>(now_epoch_ms_) - r.total_ms);
  o.append(",\"client_ip\":");
  append_json_string(o, r.client_ip);
  o.append(",\"request\":{\"method\":");
  append_json_string(o, r.method);
  o.append(",\"uri\":");
  append_json_string(o, r.uri);
  o.append(",\"size\":");
  append_int(o, static_cast<int64_t>(r.request_size));
  o.append("},\"response\":{\"status\":");
  append_int(o, r.status);
  o.append(",\"size\":");
  append_int(o, static_cast<int64_t>(r.bytes_sent));
  o.append("},\"route\":");
  append_named_or_null(o, r.route);
  o.append(",\"service\":");
  append_named_or_null(o, r.service);
  o.append(",\"latencies\":{\"request\":");
  append_int(o, r.total_ms);
  o.append(",\"proxy\":");
  append_int(o, r.upstream_ms);
  o.append(",\"kong\":");
  append_int(o, r.gateway_ms);
  o.append("},\"tries\":");
  append_int(o, r.tries);
  o.append(",\"upstream_uri\":");
  append_json_string(o, r.upstream_uri);
  o.append("}\n");
}

void AccessLog::flush() {
  // Write whole lines in pieces of at most PIPE_BUF bytes, so lines from
  // different workers sharing a pipe never interleave.
  size_t off = 0;
  while (off < buf_.size()) {
    size_t len = buf_.size() - off;
    if (len > 4096) {
      size_t cut = buf_.rfind('\n', off + 4095);
      len = (cut == std::string::npos || cut < off) ? 4096 : cut + 1 - off;
    }
    ssize_t n = ::write(fd_, buf_.data() + off, len);
    if (n <= 0) break;  // a full or broken log must not stall proxying
    off += static_cast<size_t>(n);
  }
  buf_.clear();
}

}  // namespace wg::proxy
