#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "proxy/access_log.h"

using wg::proxy::AccessLog;
using wg::proxy::LogRecord;

namespace {

// An anonymous temporary file; read back what the log wrote.
class TempFd {
 public:
  TempFd() {
    char path[] = "/tmp/wg_access_log_XXXXXX";
    fd_ = mkstemp(path);
    EXPECT_GE(fd_, 0);
    unlink(path);
  }
  ~TempFd() {
    if (fd_ >= 0) close(fd_);
  }
  int fd() const { return fd_; }
  std::string contents() const {
    std::string out;
    char buf[4096];
    off_t off = 0;
    for (;;) {
      ssize_t n = pread(fd_, buf, sizeof buf, off);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
      off += n;
    }
    return out;
  }

 private:
  int fd_ = -1;
};

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    EXPECT_NE(nl, std::string::npos) << "last line not terminated";
    if (nl == std::string::npos) break;
    out.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

LogRecord sample() {
  LogRecord r;
  r.client_ip = "192.0.2.7";
  r.method = "GET";
  r.uri = "/demo/hello?x=1";
  r.minor_version = 1;
  r.status = 200;
  r.bytes_sent = 1234;
  r.request_size = 87;
  r.referer = "http://ref.test/";
  r.user_agent = "curl/8.5.0";
  r.route = "demo-route";
  r.service = "demo";
  r.upstream_uri = "/hello?x=1";
  r.total_ms = 12;
  r.upstream_ms = 7;
  r.gateway_ms = 3;
  r.tries = 1;
  return r;
}

}  // namespace

TEST(AccessLog, DisabledByDefault) {
  AccessLog log;
  EXPECT_FALSE(log.enabled());
  log.write(sample());  // no fd: a no-op
  log.flush();
}

TEST(AccessLog, TextLineFields) {
  TempFd f;
  AccessLog log;
  log.init(f.fd(), false);
  EXPECT_TRUE(log.enabled());
  log.write(sample());
  EXPECT_EQ(f.contents(), "");  // buffered until flush
  log.flush();
  auto ls = lines(f.contents());
  ASSERT_EQ(ls.size(), 1u);
  const std::string& l = ls[0];
  EXPECT_EQ(l.rfind("192.0.2.7 - - [", 0), 0u) << l;
  EXPECT_NE(l.find(" +0000] \"GET /demo/hello?x=1 HTTP/1.1\" 200 1234 "), std::string::npos) << l;
  EXPECT_NE(l.find("\"http://ref.test/\" \"curl/8.5.0\""), std::string::npos) << l;
  EXPECT_NE(l.find(" route=demo-route service=demo status=200 latency=12 upstream_latency=7 gateway_latency=3 "
                   "tries=1"),
            std::string::npos)
      << l;
  // [dd/Mon/yyyy:hh:mm:ss +0000]
  size_t open = l.find('[');
  size_t close = l.find(']');
  ASSERT_NE(close, std::string::npos);
  EXPECT_EQ(close - open - 1, std::string("26/Nov/2025:19:43:00 +0000").size()) << l;
}

TEST(AccessLog, TextNullsAndEscaping) {
  TempFd f;
  AccessLog log;
  log.init(f.fd(), false);
  LogRecord r = sample();
  r.minor_version = 0;
  r.route = {};
  r.service = {};
  r.referer = {};
  r.user_agent = "evil\"agent\\\n\x01\xff";
  r.upstream_ms = -1;
  r.uri = "/a b";
  log.write(r);
  log.flush();
  auto ls = lines(f.contents());
  ASSERT_EQ(ls.size(), 1u) << "a newline in a field must not split the line";
  const std::string& l = ls[0];
  EXPECT_NE(l.find("\"GET /a b HTTP/1.0\""), std::string::npos) << l;
  EXPECT_NE(l.find("\"-\" \"evil\\x22agent\\x5C\\x0A\\x01\\xFF\""), std::string::npos) << l;
  EXPECT_NE(l.find(" route=- service=- "), std::string::npos) << l;
  EXPECT_NE(l.find(" upstream_latency=- "), std::string::npos) << l;
}

TEST(AccessLog, JsonLineParses) {
  TempFd f;
  AccessLog log;
  log.init(f.fd(), true);
  log.write(sample());
  log.flush();
  auto ls = lines(f.contents());
  ASSERT_EQ(ls.size(), 1u);
  auto j = nlohmann::json::parse(ls[0]);
  EXPECT_EQ(j["client_ip"], "192.0.2.7");
  EXPECT_EQ(j["request"]["method"], "GET");
  EXPECT_EQ(j["request"]["uri"], "/demo/hello?x=1");
  EXPECT_EQ(j["request"]["size"], 87);
  EXPECT_EQ(j["response"]["status"], 200);
  EXPECT_EQ(j["response"]["size"], 1234);
  EXPECT_EQ(j["route"]["name"], "demo-route");
  EXPECT_EQ(j["service"]["name"], "demo");
  EXPECT_EQ(j["latencies"]["request"], 12);
  EXPECT_EQ(j["latencies"]["proxy"], 7);
  EXPECT_EQ(j["latencies"]["kong"], 3);
  EXPECT_EQ(j["tries"], 1);
  EXPECT_EQ(j["upstream_uri"], "/hello?x=1");
  ASSERT_TRUE(j["started_at"].is_number_integer());
  int64_t started = j["started_at"];
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t now_ms = static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
  EXPECT_LE(started, now_ms);
  EXPECT_GT(started, now_ms - 60000);
}

TEST(AccessLog, JsonEscapingAndNulls) {
  TempFd f;
  AccessLog log;
  log.init(f.fd(), true);
  LogRecord r = sample();
  r.route = {};
  r.service = {};
  r.upstream_ms = -1;
  r.uri = "/q\"uote\\back\nline\ttab\x01\x7f";
  r.client_ip = "2001:db8::1";
  log.write(r);
  log.flush();
  auto ls = lines(f.contents());
  ASSERT_EQ(ls.size(), 1u);
  EXPECT_NE(ls[0].find("\\u0001"), std::string::npos) << ls[0];
  auto j = nlohmann::json::parse(ls[0]);
  EXPECT_TRUE(j["route"].is_null());
  EXPECT_TRUE(j["service"].is_null());
  EXPECT_EQ(j["latencies"]["proxy"], -1);
  EXPECT_EQ(j["request"]["uri"], "/q\"uote\\back\nline\ttab\x01\x7f");
  EXPECT_EQ(j["client_ip"], "2001:db8::1");
}

TEST(AccessLog, JsonNonUtf8BytesStayParseable) {
  TempFd f;
  AccessLog log;
  log.init(f.fd(), true);
  LogRecord r = sample();
  r.user_agent = "\xc3\x28\xff";  // invalid UTF-8
  r.uri = "/caf\xc3\xa9";
  log.write(r);
  log.flush();
  auto ls = lines(f.contents());
  ASSERT_EQ(ls.size(), 1u);
  for (unsigned char c : ls[0]) EXPECT_LT(c, 0x80) << "JSON output should be pure ASCII";
  auto j = nlohmann::json::parse(ls[0]);  // must not throw
  // Bytes are written as \u00XX, one per byte.
  EXPECT_EQ(j["request"]["uri"], "/caf\xc3\x83\xc2\xa9");
}

TEST(AccessLog, ManyLinesFlushWholeLines) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  // Drain the pipe concurrently: the log writes more than its capacity.
  std::string all;
  std::thread reader([&] {
    char buf[8192];
    for (;;) {
      ssize_t got = read(fds[0], buf, sizeof buf);
      if (got <= 0) break;
      all.append(buf, static_cast<size_t>(got));
    }
  });
  AccessLog log;
  log.init(fds[1], true);
  // Well past the 48 KiB auto-flush threshold.
  const int n = 1000;
  for (int i = 0; i < n; ++i) {
    LogRecord r = sample();
    std::string uri = "/item/" + std::to_string(i);
    r.uri = uri;
    log.write(r);
  }
  log.flush();
  close(fds[1]);
  reader.join();
  close(fds[0]);
  auto ls = lines(all);
  ASSERT_EQ(ls.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto j = nlohmann::json::parse(ls[i]);
    EXPECT_EQ(j["request"]["uri"], "/item/" + std::to_string(i));
  }
}
