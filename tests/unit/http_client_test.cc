// The outbound HTTP client and name resolver against a real server on
// 127.0.0.1, driven by a real event loop, as a worker drives them.
#include "client/http_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/name_resolver.h"
#include "client/target.h"
#include "config/loader.h"
#include "config/snapshot.h"
#include "core/event_loop.h"

using wg::client::HttpClient;
using wg::client::NameResolver;
using wg::client::Request;
using wg::client::Response;

namespace {

// A one-shot server on 127.0.0.1: accepts one connection, reads the request
// (head, then Content-Length bytes of body), records it, then answers with
// `answer` and closes (or, with hang set, keeps the connection open unanswered
// until the test ends).
class OneShotServer {
 public:
  explicit OneShotServer(std::string answer, bool hang = false) : answer_(std::move(answer)), hang_(hang) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 8) != 0) return;
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~OneShotServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  // What the server read (complete once the client got its answer).
  std::string request() const {
    std::lock_guard<std::mutex> lock(mu_);
    return request_;
  }

 private:
  void serve() {
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    timeval tv{0, 100 * 1000};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string in;
    char buf[4096];
    size_t want = std::string::npos;
    while (!stop_) {
      if (want != std::string::npos && in.size() >= want) break;
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n == 0) break;
      if (n < 0) continue;  // the receive timeout: look at stop_ again
      in.append(buf, static_cast<size_t>(n));
      size_t end = in.find("\r\n\r\n");
      if (end != std::string::npos && want == std::string::npos) {
        size_t body = 0;
        size_t cl = in.find("Content-Length: ");
        if (cl != std::string::npos && cl < end) body = std::stoul(in.substr(cl + 16));
        want = end + 4 + body;
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      request_ = in;
    }
    if (!hang_) {
      ::send(c, answer_.data(), answer_.size(), MSG_NOSIGNAL);
    } else {
      while (!stop_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::close(c);
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::string answer_;
  bool hang_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::string request_;
  std::thread thread_;
};

// Turns the loop as a worker does (run_once, then the client's run) until
// done() or 5 s.
void drive(wg::core::EventLoop& loop, HttpClient* client, const std::function<bool()>& done) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done() && std::chrono::steady_clock::now() < until) {
    loop.run_once(10);
    if (client) client->run(loop.now_ms());
  }
}

struct Fixture {
  wg::core::EventLoop loop;
  wg::client::LiteralTargets targets;
  HttpClient client{loop, targets};
  std::optional<Response> got;

  bool send(Request req) {
    return client.send(std::move(req), [this](Response& r) { got = std::move(r); });
  }
  void wait() {
    drive(loop, &client, [this] { return got.has_value(); });
  }
};

const std::string* find(const Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

TEST(HttpClient, GetWithContentLength) {
  OneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Answer: Yes\r\n\r\nhello");
  Fixture f;
  Request req;
  req.target = server.target();
  req.path = "/a?b=c";
  req.headers = {{":method", "GET"}, {"X-Custom", "1"}, {"Connection", "keep-alive"}, {"host", "ignored"}};
  ASSERT_TRUE(f.send(std::move(req)));
  f.loop.update_time();
  f.client.run(f.loop.now_ms());
  EXPECT_FALSE(f.got.has_value());  // never before the response arrived
  f.wait();
  ASSERT_TRUE(f.got.has_value());
  EXPECT_TRUE(f.got->ok);
  EXPECT_EQ(f.got->status, 200);
  EXPECT_EQ(f.got->body, "hello");
  ASSERT_NE(find(*f.got, "x-answer"), nullptr);  // names lower-cased
  EXPECT_EQ(*find(*f.got, "x-answer"), "Yes");
  EXPECT_EQ(f.client.in_flight(), 0u);
  std::string seen = server.request();
  EXPECT_EQ(seen.rfind("GET /a?b=c HTTP/1.1\r\nHost: " + server.target() + "\r\n", 0), 0u) << seen;
  EXPECT_NE(seen.find("X-Custom: 1\r\n"), std::string::npos);
  EXPECT_NE(seen.find("Connection: close\r\n\r\n"), std::string::npos);
  EXPECT_EQ(seen.find("keep-alive"), std::string::npos);  // the client writes framing fields itself
  EXPECT_EQ(seen.find("ignored"), std::string::npos);
  EXPECT_EQ(seen.find(":method"), std::string::npos);
  EXPECT_EQ(seen.find("Content-Length"), std::string::npos);  // a GET without a body has none
}

TEST(HttpClient, PostBodyAndChunkedAnswerWithTrailers) {
  OneShotServer server(
      "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n");
  Fixture f;
  Request req;
  req.target = server.target();
  req.method = "POST";
  req.authority = "example.test";
  req.body = "payload";
  ASSERT_TRUE(f.send(std::move(req)));
  f.wait();
  ASSERT_TRUE(f.got.has_value());
  EXPECT_TRUE(f.got->ok);
  EXPECT_EQ(f.got->status, 201);
  EXPECT_EQ(f.got->body, "abcde");
  EXPECT_EQ(f.got->trailer_text, "X-Trailer: t\n");
  std::string seen = server.request();
  EXPECT_EQ(seen.rfind("POST / HTTP/1.1\r\nHost: example.test\r\n", 0), 0u) << seen;
  EXPECT_NE(seen.find("Content-Length: 7\r\n"), std::string::npos);
  EXPECT_EQ(seen.substr(seen.size() - 7), "payload");
}

TEST(HttpClient, BodyUntilClose) {
  OneShotServer server("HTTP/1.0 200 OK\r\n\r\nall of it");
  Fixture f;
  Request req;
  req.target = server.target();
  ASSERT_TRUE(f.send(std::move(req)));
  f.wait();
  ASSERT_TRUE(f.got.has_value());
  EXPECT_TRUE(f.got->ok);
  EXPECT_EQ(f.got->body, "all of it");
}

TEST(HttpClient, CutShortAnswerFails) {
  OneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
  Fixture f;
  Request req;
  req.target = server.target();
  ASSERT_TRUE(f.send(std::move(req)));
  f.wait();
  ASSERT_TRUE(f.got.has_value());
  EXPECT_FALSE(f.got->ok);
  EXPECT_EQ(f.got->status, 0);
  EXPECT_TRUE(f.got->body.empty());
  EXPECT_TRUE(f.got->headers.empty());
}

TEST(HttpClient, GarbageAnswerFails) {
  OneShotServer server("this is not HTTP\r\n\r\n");
  Fixture f;
  Request req;
  req.target = server.target();
  ASSERT_TRUE(f.send(std::move(req)));
  f.wait();
  ASSERT_TRUE(f.got.has_value());
  EXPECT_FALSE(f.got->ok);
}

TEST(HttpClient, TimeoutFails) {
  OneShotServer server("", /*hang=*/true);
  Fixture f;
  Request req;
  req.target = server.target();
  req.timeout_ms = 100;
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(f.send(std::move(req)));
  f.wait();
  ASSERT_TRUE(f.got.has_value());
  EXPECT_FALSE(f.got->ok);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(90));
  EXPECT_EQ(f.client.in_flight(), 0u);
}

TEST(HttpClient, RefusedConnectionFailsOnALaterTurn) {
  uint16_t port;
  {
    OneShotServer closed("");  // a port that was just free; nothing listens once it goes
    port = closed.port();
  }
  Fixture f;
  Request req;
  req.target = "127.0.0.1:" + std::to_string(port);
  ASSERT_TRUE(f.send(std::move(req)));
  EXPECT_FALSE(f.got.has_value());  // not from inside send()
  f.wait();
  ASSERT_TRUE(f.got.has_value());
  EXPECT_FALSE(f.got->ok);
}

TEST(HttpClient, UnknownTargetIsRefusedAtSend) {
  Fixture f;
  bool called = false;
  Request req;
  req.target = "no-such-service";
  EXPECT_FALSE(f.client.send(std::move(req), [&](Response&) { called = true; }));
  f.loop.run_once(0);
  f.client.run(f.loop.now_ms() + 100000);
  EXPECT_FALSE(called);
  EXPECT_EQ(f.client.in_flight(), 0u);
}

TEST(ClientTargets, LiteralForms) {
  wg::client::Endpoint ep;
  EXPECT_TRUE(wg::client::parse_ip_port("127.0.0.1:8080", &ep));
  EXPECT_EQ(ep.addr.ss_family, AF_INET);
  EXPECT_EQ(ep.host, "127.0.0.1:8080");
  EXPECT_TRUE(wg::client::parse_ip_port("[::1]:80", &ep));
  EXPECT_EQ(ep.addr.ss_family, AF_INET6);
  EXPECT_TRUE(wg::client::parse_ip_port("localhost:1", &ep));
  EXPECT_EQ(ep.addr.ss_family, AF_INET);
  EXPECT_FALSE(wg::client::parse_ip_port("127.0.0.1", &ep));
  EXPECT_FALSE(wg::client::parse_ip_port("127.0.0.1:0", &ep));
  EXPECT_FALSE(wg::client::parse_ip_port("127.0.0.1:65536", &ep));
  EXPECT_FALSE(wg::client::parse_ip_port("example.com:80", &ep));
}

TEST(ClientTargets, ServiceAndUpstreamNamesGoThroughTheirBalancer) {
  OneShotServer server("HTTP/1.1 204 No Content\r\n\r\n");
  std::string yaml =
      "_format_version: \"3.0\"\n"
      "services:\n"
      "- name: svc\n"
      "  url: http://" + server.target() + "\n"
      "upstreams:\n"
      "- name: up\n"
      "  targets:\n"
      "  - target: 127.0.0.1:9\n";
  wg::config::Declarative decl;
  std::vector<std::string> errors;
  ASSERT_TRUE(wg::config::load_text(yaml, decl, errors)) << (errors.empty() ? "" : errors[0]);
  std::shared_ptr<const wg::config::Snapshot> snap = wg::config::compile(decl, 1);
  std::vector<wg::upstream::BalancerState> states(snap->balancers.size());
  wg::client::ConfigTargets targets(
      snap, [&](const wg::config::Snapshot&, int idx) { return &states[static_cast<size_t>(idx)]; });
  wg::client::Endpoint ep;
  ASSERT_TRUE(targets.resolve("up", &ep));
  EXPECT_EQ(ntohs(reinterpret_cast<sockaddr_in*>(&ep.addr)->sin_port), 9);
  EXPECT_FALSE(targets.resolve("nothing", &ep));

  wg::core::EventLoop loop;
  HttpClient client(loop, targets);
  std::optional<Response> got;
  Request req;
  req.target = "svc";
  ASSERT_TRUE(client.send(std::move(req), [&](Response& r) { got = std::move(r); }));
  drive(loop, &client, [&] { return got.has_value(); });
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->ok);
  EXPECT_EQ(got->status, 204);
  EXPECT_EQ(server.request().rfind("GET / HTTP/1.1\r\nHost: " + server.target() + "\r\n", 0), 0u);
}

TEST(NameResolver, LiteralsAnswerAtOnce) {
  wg::core::EventLoop loop;
  NameResolver names(loop);
  std::string address;
  bool called = false;
  auto cb = [&](const std::string&, const std::string&) { called = true; };
  EXPECT_EQ(names.resolve("10.1.2.3", &address, cb), NameResolver::Result::Now);
  EXPECT_EQ(address, std::string("\x0a\x01\x02\x03", 4));
  EXPECT_EQ(names.resolve("::1", &address, cb), NameResolver::Result::Now);
  EXPECT_EQ(address.size(), 16u);
  EXPECT_EQ(names.pending(), 0u);
  EXPECT_FALSE(called);
}

TEST(NameResolver, NamesResolveOffTheLoopAndAreCached) {
  wg::core::EventLoop loop;
  NameResolver names(loop);
  std::string address;
  std::optional<std::string> answer;
  std::string answered_name;
  auto r = names.resolve("localhost", &address, [&](const std::string& name, const std::string& a) {
    answered_name = name;
    answer = a;
  });
  ASSERT_EQ(r, NameResolver::Result::Later);
  EXPECT_EQ(names.pending(), 1u);
  drive(loop, nullptr, [&] { return answer.has_value(); });
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answered_name, "localhost");
  ASSERT_TRUE(answer->size() == 4 || answer->size() == 16) << answer->size();
  EXPECT_EQ(names.pending(), 0u);
  // Now cached: answered at once, with the same address.
  std::string again;
  EXPECT_EQ(names.resolve("localhost", &again, nullptr), NameResolver::Result::Now);
  EXPECT_EQ(again, *answer);
}

}  // namespace
