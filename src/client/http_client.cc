#include "client/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "proxy/worker_context.h"

namespace wg::proxy {
namespace {

constexpr uint32_t kDefaultTimeoutMs = 60000;
constexpr size_t kMaxResponse = 16u << 20;  // head + body of one call

bool parse_ip_port(const std::string& text, sockaddr_storage* addr, socklen_t* len) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 >= text.size()) return false;
  std::string host = text.substr(0, colon);
  int port = 0;
  for (size_t i = colon + 1; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9' || port > 65535) return false;
    port = port * 10 + (text[i] - '0');
  }
  if (port == 0 || port > 65535) return false;
  if (host == "localhost") host = "127.0.0.1";
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::memset(addr, 0, sizeof *addr);
  auto* v4 = reinterpret_cast<sockaddr_in*>(addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(addr);
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

bool skip_header(const std::string& k) {
  return k.empty() || k[0] == ':' || http::iequals(k, "content-length") || http::iequals(k, "transfer-encoding") ||
         http::iequals(k, "connection") || http::iequals(k, "host");
}

}  // namespace

HttpCalls::~HttpCalls() {
  for (auto& c : calls_) {
    if (c->fd >= 0) {
      worker_.loop().remove(c->fd);
      ::close(c->fd);
    }
  }
}

// A literal address, or a service or upstream of the current config.
bool HttpCalls::resolve(const std::string& target, sockaddr_storage* addr, socklen_t* len, std::string* host) {
  if (parse_ip_port(target, addr, len)) {
    *host = target;
    return true;
  }
  const auto& snap = worker_.snapshot();
  if (!snap) return false;
  int balancer = -1;
  for (size_t i = 0; i < snap->services.size() && balancer < 0; ++i) {
    if (snap->services[i].cfg.name == target) balancer = snap->services[i].balancer;
  }
  for (size_t i = 0; i < snap->decl.upstreams.size() && balancer < 0; ++i) {
    if (snap->decl.upstreams[i].name == target) balancer = static_cast<int>(i);  // upstreams come first
  }
  if (balancer < 0 || balancer >= static_cast<int>(snap->balancers.size())) return false;
  const upstream::Balancer& b = *snap->balancers[static_cast<size_t>(balancer)];
  int peer = b.pick(*worker_.balancer_state(*snap, balancer), 0, false, 0);
  if (peer < 0) return false;
  const upstream::Peer& p = b.peers()[static_cast<size_t>(peer)];
  std::memcpy(addr, &p.addr, sizeof p.addr);
  *len = p.addr_len;
  *host = p.host_header;
  return true;
}

bool HttpCalls::dispatch_http_call(std::shared_ptr<wasm::FilterVm> vm, uint32_t ctx, uint32_t token,
                                   wasm::HttpCallSpec spec) {
  sockaddr_storage addr;
  socklen_t len = 0;
  std::string host;
  if (!resolve(spec.target, &addr, &len, &host)) return false;
  auto c = std::make_unique<Call>();
  c->owner = this;
  c->vm = vm;
  c->ctx = ctx;
  c->token = token;
  uint32_t timeout = spec.timeout_ms ? spec.timeout_ms : kDefaultTimeoutMs;
  c->deadline_ms = worker_.loop().now_ms() + timeout;
  c->timeout_ms = timeout;
  c->target = spec.target;
  std::string method = "GET", path = "/", authority = host;
  for (const auto& [k, v] : spec.headers) {
    if (k == ":method") method = v;
    if (k == ":path") path = v;
    if (k == ":authority" && !v.empty()) authority = v;
  }
  std::string& o = c->out;
  o.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: ").append(authority).append("\r\n");
  for (const auto& [k, v] : spec.headers) {
    if (!skip_header(k)) o.append(k).append(": ").append(v).append("\r\n");
  }
  if (!spec.body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    o.append("Content-Length: ").append(std::to_string(spec.body.size())).append("\r\n");
  }
  o.append("Connection: close\r\n\r\n").append(spec.body);

  c->fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  bool started = c->fd >= 0;
  if (started) {
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = ::connect(c->fd, reinterpret_cast<sockaddr*>(&addr), len);
    started = rc == 0 || errno == EINPROGRESS;
  }
  if (started) started = worker_.loop().add(c->fd, c.get(), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
  if (!started) {
    WG_LOG(Warn, "http_call to %s failed: %s", spec.target.c_str(), strerror(errno));
    finish(*c, false);  // delivered on the next run(), as the ABI expects
  }
  calls_.push_back(std::move(c));
  return true;
}

void HttpCalls::Call::on_io(uint32_t events) { owner->progress(*this, events); }

void HttpCalls::progress(Call& c, uint32_t events) {
  if (c.finished) return;
  if (events & EPOLLERR) {
    finish(c, false);
    return;
  }
  while (c.out_off < c.out.size()) {
    ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN) return;
      finish(c, false);
      return;
    }
    c.out_off += static_cast<size_t>(n);
  }
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(c.fd, buf, sizeof buf);
    if (n > 0) {
      c.in.append(buf, static_cast<size_t>(n));
      if (c.in.size() > kMaxResponse) {
        finish(c, false);
        return;
      }
      if (read_response(c)) return;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    // EOF: the end of a close-delimited body, or a cut-short answer.
    if (c.head_done && c.framer.kind == http::BodyKind::UntilClose && n == 0) {
      finish(c, true);
    } else {
      finish(c, false);
    }
    return;
  }
}

// True once the call is finished (whole response, or a bad one).
bool HttpCalls::read_response(Call& c) {
  if (!c.head_done) {
    auto st = c.parser.parse_response(c.in.data(), c.in.size(), 65536, c.head);
    if (st == http::ParseStatus::Incomplete) return false;
    if (st == http::ParseStatus::Error || c.head.status < 200) {
      finish(c, false);  // interim responses are not expected: we send no Expect
      return true;
    }
    c.head_done = true;
    c.result.headers.add(":status", std::to_string(c.head.status));
    std::string name;
    for (size_t i = 0; i < c.head.num_headers; ++i) {
      const http::Header& h = c.head.headers[i];
      name.clear();
      http::append_lower(name, h.name);
      c.result.headers.add(name, h.value);
    }
    c.framer.start(c.head.body, c.head.content_length);
    c.body_from = c.head.head_len;
  }
  bool error = false;
  size_t n = c.framer.claim_decoded(c.in.data() + c.body_from, c.in.size() - c.body_from, &error, &c.result.body,
                                    &c.trailer_text);
  c.body_from += n;
  if (error) {
    finish(c, false);
    return true;
  }
  if (c.framer.done) {
    c.result.trailers.add_field_lines(c.trailer_text);
    finish(c, true);
    return true;
  }
  return false;
}

void HttpCalls::finish(Call& c, bool ok) {
  if (c.finished) return;
  c.finished = true;
  c.result.ok = ok;
  if (!ok) {
    c.result.headers.clear();
    c.result.body.clear();
    c.result.trailers.clear();
  }
  if (c.fd >= 0) {
    worker_.loop().remove(c.fd);
    ::close(c.fd);
    c.fd = -1;
  }
}

void HttpCalls::run(uint64_t now_ms) {
  if (calls_.empty()) return;
  // Callbacks may dispatch new calls: deliver from a list taken first.
  std::vector<std::unique_ptr<Call>> done;
  for (auto it = calls_.begin(); it != calls_.end();) {
    Call& c = **it;
    if (!c.finished && now_ms >= c.deadline_ms) {
      WG_LOG(Warn, "http_call to %s timed out after %u ms", c.target.c_str(), static_cast<unsigned>(c.timeout_ms));
      finish(c, false);
    }
    if (c.finished) {
      done.push_back(std::move(*it));
      it = calls_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& c : done) {
    if (auto vm = c->vm.lock()) vm->on_http_call_response(c->ctx, c->token, c->result);
  }
}

}  // namespace wg::proxy
