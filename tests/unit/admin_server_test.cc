#include "admin/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "shared/metrics.h"

using wg::admin::AdminServer;
using wg::admin::Request;
using wg::admin::Response;

namespace {

// A blocking client socket with a receive timeout, so a broken server fails
// the test instead of hanging it.
int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads until EOF (the server always closes). Empty on timeout/error before any byte.
std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string roundtrip(uint16_t port, const std::string& request) {
  int fd = connect_to(port);
  if (fd < 0) return "connect failed";
  send_all(fd, request);
  std::string out = read_all(fd);
  ::close(fd);
  return out;
}

struct Parsed {
  int status = 0;
  std::string head;
  std::string body;
};

Parsed parse(const std::string& raw) {
  Parsed p;
  size_t end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return p;
  p.status = std::stoi(raw.substr(9, 3));
  p.head = raw.substr(0, end + 2);
  p.body = raw.substr(end + 4);
  return p;
}

Parsed get(uint16_t port, const std::string& path) {
  return parse(roundtrip(port, "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n"));
}

bool has_header(const Parsed& p, const std::string& line) { return p.head.find("\r\n" + line + "\r\n") != std::string::npos; }

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(server_.start("127.0.0.1:0", &error)) << error;
    port_ = server_.port();
    ASSERT_NE(port_, 0);
  }
  AdminServer server_;
  uint16_t port_ = 0;
};

TEST_F(AdminServerTest, ServesMetrics) {
  auto& m = wg::shared::Metrics::instance();
  uint32_t id = m.define(wg::shared::MetricType::Counter, "admin_test", "hits");
  ASSERT_TRUE(m.record(id, 3));  // sets: repeat-safe with the process-wide registry
  Parsed p = get(port_, "/metrics");
  EXPECT_EQ(p.status, 200);
  EXPECT_TRUE(has_header(p, "Content-Type: text/plain; version=0.0.4; charset=utf-8")) << p.head;
  EXPECT_TRUE(has_header(p, "Connection: close")) << p.head;
  EXPECT_TRUE(has_header(p, "Content-Length: " + std::to_string(p.body.size()))) << p.head;
  EXPECT_NE(p.body.find("# TYPE wasm_filter_admin_test_hits counter\nwasm_filter_admin_test_hits 3\n"),
            std::string::npos)
      << p.body;
}

TEST_F(AdminServerTest, ServesStatusAndCustomRoutes) {
  Parsed p = get(port_, "/status");
  EXPECT_EQ(p.status, 200);
  EXPECT_EQ(p.body, "{\"status\":\"ok\"}");
  EXPECT_TRUE(has_header(p, "Content-Type: application/json; charset=utf-8")) << p.head;

  server_.add_route("/echo", [](const Request& r) {
    Response resp;
    const std::string* ua = r.header("user-agent");
    resp.body = r.path + "|" + r.query + "|" + (ua ? *ua : "-");
    resp.headers.emplace_back("X-Test", "1");
    resp.headers.emplace_back("X-Bad", "a\r\nInjected: yes");
    return resp;
  });
  p = parse(roundtrip(port_, "GET /echo?a=1&b=2 HTTP/1.0\r\nUser-Agent:  t/1 \r\n\r\n"));
  EXPECT_EQ(p.status, 200);
  EXPECT_EQ(p.body, "/echo|a=1&b=2|t/1");
  EXPECT_TRUE(has_header(p, "X-Test: 1"));
  EXPECT_EQ(p.head.find("Injected"), std::string::npos);

  // absolute-form target and bare-LF line ends
  p = parse(roundtrip(port_, "GET http://localhost:8001/echo?q HTTP/1.1\nHost: x\n\n"));
  EXPECT_EQ(p.status, 200);
  EXPECT_EQ(p.body, "/echo|q|-");

  // A route can be replaced.
  server_.add_route("/status", [](const Request&) { return Response{200, "application/json", "{\"x\":1}", {}}; });
  EXPECT_EQ(get(port_, "/status").body, "{\"x\":1}");
}

TEST_F(AdminServerTest, ApiRoutesTakeBodiesAndCaptureSegments) {
  server_.add_api_route("/things/{id}/parts/{part}", [](const Request& r) {
    Response resp;
    resp.body = r.method + "|" + r.params.at("id") + "|" + r.params.at("part") + "|" + r.body;
    return resp;
  });
  Parsed p = parse(roundtrip(port_, "POST /things/a%20b/parts/7 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"));
  EXPECT_EQ(p.status, 200);
  EXPECT_EQ(p.body, "POST|a b|7|hello");
  // A pattern matches whole segments only.
  EXPECT_EQ(parse(roundtrip(port_, "GET /things/x/parts HTTP/1.1\r\n\r\n")).status, 404);
  // HEAD reaches the handler as GET and answers without the body.
  p = parse(roundtrip(port_, "HEAD /things/x/parts/y HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(p.status, 200);
  EXPECT_EQ(p.body, "");
  // A body too large, or chunked, is refused before the handler.
  EXPECT_EQ(parse(roundtrip(port_, "POST /things/x/parts/y HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n")).status,
            413);
  EXPECT_EQ(parse(roundtrip(port_, "POST /things/x/parts/y HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
                .status,
            411);
}

TEST_F(AdminServerTest, TokenIsRequiredWhenSet) {
  server_.stop();
  server_.set_token("t0ken");
  std::string error;
  ASSERT_TRUE(server_.start("127.0.0.1:0", &error)) << error;
  port_ = server_.port();
  EXPECT_EQ(get(port_, "/status").status, 401);
  EXPECT_EQ(parse(roundtrip(port_, "GET /status HTTP/1.1\r\nKong-Admin-Token: nope\r\n\r\n")).status, 401);
  EXPECT_EQ(parse(roundtrip(port_, "GET /status HTTP/1.1\r\nKong-Admin-Token: t0ken\r\n\r\n")).status, 200);
}

TEST_F(AdminServerTest, HeadHasNoBody) {
  std::string raw = roundtrip(port_, "HEAD /status HTTP/1.1\r\n\r\n");
  Parsed p = parse(raw);
  EXPECT_EQ(p.status, 200);
  EXPECT_TRUE(has_header(p, "Content-Length: 15")) << raw;
  EXPECT_EQ(p.body, "");
}

TEST_F(AdminServerTest, NotFound) {
  Parsed p = get(port_, "/nope");
  EXPECT_EQ(p.status, 404);
  EXPECT_EQ(p.body, "{\"message\":\"Not found\"}");
  EXPECT_TRUE(has_header(p, "Content-Type: application/json; charset=utf-8"));
  EXPECT_EQ(get(port_, "/metrics/").status, 404);  // exact match
}

TEST_F(AdminServerTest, MethodNotAllowed) {
  Parsed p = parse(roundtrip(port_, "POST /status HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"));
  EXPECT_EQ(p.status, 405);
  EXPECT_EQ(p.body, "{\"message\":\"Method not allowed\"}");
  EXPECT_TRUE(has_header(p, "Allow: GET, HEAD")) << p.head;
  EXPECT_EQ(parse(roundtrip(port_, "DELETE /metrics HTTP/1.1\r\n\r\n")).status, 405);
}

TEST_F(AdminServerTest, MalformedRequests) {
  const char* bad[] = {
      "GARBAGE\r\n\r\n",
      "GET /status\r\n\r\n",
      "GET /status HTTP/2.0\r\n\r\n",
      "GET  /status HTTP/1.1\r\n\r\n",
      "GET status HTTP/1.1\r\n\r\n",
      "G(T /status HTTP/1.1\r\n\r\n",
      "GET /status HTTP/1.1\r\nNoColon\r\n\r\n",
      "GET /status HTTP/1.1\r\nBad Name: x\r\n\r\n",
      "GET /status HTTP/1.1\r\nHost : x\r\n\r\n",
      "GET /status HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
      "GET /sta\x01tus HTTP/1.1\r\n\r\n",
      "\r\n\r\n",
  };
  for (const char* req : bad) {
    Parsed p = parse(roundtrip(port_, req));
    EXPECT_EQ(p.status, 400) << req;
    EXPECT_EQ(p.body, "{\"message\":\"Bad request\"}") << req;
  }
  // The server still works afterwards.
  EXPECT_EQ(get(port_, "/status").status, 200);
}

TEST_F(AdminServerTest, OversizedHead) {
  std::string req = "GET /status HTTP/1.1\r\nX-Big: " + std::string(AdminServer::kMaxHeadSize, 'a') + "\r\n\r\n";
  Parsed p = parse(roundtrip(port_, req));
  EXPECT_EQ(p.status, 431);
  // Just under the limit is fine.
  std::string ok = "GET /status HTTP/1.1\r\nX-Big: ";
  ok += std::string(AdminServer::kMaxHeadSize - ok.size() - 4, 'a') + "\r\n\r\n";
  ASSERT_EQ(ok.size(), AdminServer::kMaxHeadSize);
  EXPECT_EQ(parse(roundtrip(port_, ok)).status, 200);
}

TEST_F(AdminServerTest, RequestSentByteByByte) {
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  for (char c : std::string("GET /status HTTP/1.1\r\nHost: x\r\n\r\n")) {
    ASSERT_TRUE(send_all(fd, std::string(1, c)));
    usleep(1000);
  }
  Parsed p = parse(read_all(fd));
  ::close(fd);
  EXPECT_EQ(p.status, 200);
}

TEST_F(AdminServerTest, HandlerExceptionIs500) {
  server_.add_route("/boom", [](const Request&) -> Response { throw std::runtime_error("boom"); });
  EXPECT_EQ(get(port_, "/boom").status, 500);
  EXPECT_EQ(get(port_, "/status").status, 200);
}

TEST(AdminServerLifecycle, StuckClientsAreDisconnected) {
  AdminServer server;
  server.set_timeout_ms(300);
  std::string error;
  ASSERT_TRUE(server.start("127.0.0.1:0", &error)) << error;
  // More idle connections than client slots; they are dropped after the timeout.
  std::vector<int> stuck;
  for (size_t i = 0; i < AdminServer::kMaxClients + 4; ++i) {
    int fd = connect_to(server.port());
    ASSERT_GE(fd, 0);
    send_all(fd, "GET /status HT");  // never finished
    stuck.push_back(fd);
  }
  auto t0 = std::chrono::steady_clock::now();
  // A new client is served once slots free up.
  Parsed p = get(server.port(), "/status");
  EXPECT_EQ(p.status, 200);
  for (int fd : stuck) {
    char c;
    EXPECT_EQ(::recv(fd, &c, 1, 0), 0);  // EOF, not the 5 s receive timeout
    ::close(fd);
  }
  auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(elapsed, std::chrono::seconds(3));
}

TEST(AdminServerLifecycle, SlowClientDoesNotBlockOthers) {
  AdminServer server;
  std::string error;
  ASSERT_TRUE(server.start("127.0.0.1:0", &error)) << error;
  int slow = connect_to(server.port());
  ASSERT_GE(slow, 0);
  send_all(slow, "GET /sta");
  EXPECT_EQ(get(server.port(), "/status").status, 200);
  send_all(slow, "tus HTTP/1.1\r\n\r\n");
  EXPECT_EQ(parse(read_all(slow)).status, 200);
  ::close(slow);
}

TEST(AdminServerLifecycle, StartErrors) {
  AdminServer server;
  std::string error;
  EXPECT_FALSE(server.start("nonsense", &error));
  EXPECT_NE(error.find("nonsense"), std::string::npos);
  EXPECT_FALSE(server.start("127.0.0.1:99999", &error));
  EXPECT_FALSE(server.start("300.0.0.1:80", &error));
  EXPECT_FALSE(server.running());

  ASSERT_TRUE(server.start("127.0.0.1:0", &error)) << error;
  EXPECT_FALSE(server.start("127.0.0.1:0", &error));  // already running
  AdminServer other;
  error.clear();
  EXPECT_FALSE(other.start("127.0.0.1:" + std::to_string(server.port()), &error));  // port in use
  EXPECT_NE(error.find("bind"), std::string::npos) << error;
}

TEST(AdminServerLifecycle, StopJoinsAndClosesAndCanRestart) {
  AdminServer server;
  std::string error;
  ASSERT_TRUE(server.start("127.0.0.1:0", &error)) << error;
  uint16_t port = server.port();
  // A connected client with an unfinished request must not delay stop().
  int fd = connect_to(port);
  ASSERT_GE(fd, 0);
  send_all(fd, "GET /st");
  usleep(20000);
  auto t0 = std::chrono::steady_clock::now();
  server.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  EXPECT_FALSE(server.running());
  EXPECT_EQ(server.port(), 0);
  char c;
  EXPECT_LE(::recv(fd, &c, 1, 0), 0);  // closed by the server
  ::close(fd);
  EXPECT_LT(connect_to(port), 0);  // the listener is gone
  server.stop();                   // idempotent

  ASSERT_TRUE(server.start("127.0.0.1:" + std::to_string(port), &error)) << error;  // SO_REUSEADDR
  EXPECT_EQ(get(server.port(), "/status").status, 200);
}

TEST(AdminServerLifecycle, DestructorStops) {
  uint16_t port;
  {
    AdminServer server;
    std::string error;
    ASSERT_TRUE(server.start("127.0.0.1:0", &error)) << error;
    port = server.port();
  }
  EXPECT_LT(connect_to(port), 0);
}

}  // namespace

