#include "client/http_client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"

namespace wg::client {
namespace {

bool skip_header(const std::string& k) {
  return k.empty() || k[0] == ':' || http::iequals(k, "content-length") || http::iequals(k, "transfer-encoding") ||
         http::iequals(k, "connection") || http::iequals(k, "host");
}

}  // namespace

HttpClient::~HttpClient() {
  for (auto& c : calls_) {
    if (c->fd >= 0) {
      loop_.remove(c->fd);
      ::close(c->fd);
    }
  }
}

bool HttpClient::send(Request req, Completion done) {
  Endpoint ep;
  if (!targets_.resolve(req.target, &ep)) return false;
  auto c = std::make_unique<Call>();
  c->owner = this;
  c->done = std::move(done);
  uint32_t timeout = req.timeout_ms ? req.timeout_ms : kDefaultTimeoutMs;
  c->deadline_ms = loop_.now_ms() + timeout;
  c->timeout_ms = timeout;
  c->target = req.target;
  c->purpose = req.purpose;
  const std::string& authority = req.authority.empty() ? ep.host : req.authority;
  std::string& o = c->out;
  o.append(req.method).append(" ").append(req.path).append(" HTTP/1.1\r\nHost: ").append(authority).append("\r\n");
  for (const auto& [k, v] : req.headers) {
    if (!skip_header(k)) o.append(k).append(": ").append(v).append("\r\n");
  }
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
    o.append("Content-Length: ").append(std::to_string(req.body.size())).append("\r\n");
  }
  o.append("Connection: close\r\n\r\n").append(req.body);

  c->fd = ::socket(ep.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  bool started = c->fd >= 0;
  if (started) {
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = ::connect(c->fd, reinterpret_cast<sockaddr*>(&ep.addr), ep.len);
    started = rc == 0 || errno == EINPROGRESS;
  }
  if (started) started = loop_.add(c->fd, c.get(), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
  if (!started) {
    WG_LOG(Warn, "%s to %s failed: %s", c->purpose, c->target.c_str(), strerror(errno));
    finish(*c, false);  // delivered on the next run(), never from inside send()
  }
  calls_.push_back(std::move(c));
  return true;
}

void HttpClient::Call::on_io(uint32_t events) { owner->progress(*this, events); }

void HttpClient::progress(Call& c, uint32_t events) {
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
bool HttpClient::read_response(Call& c) {
  if (!c.head_done) {
    auto st = c.parser.parse_response(c.in.data(), c.in.size(), 65536, c.head);
    if (st == http::ParseStatus::Incomplete) return false;
    if (st == http::ParseStatus::Error || c.head.status < 200) {
      finish(c, false);  // interim responses are not expected: we send no Expect
      return true;
    }
    c.head_done = true;
    c.result.status = c.head.status;
    c.result.headers.reserve(c.head.num_headers);
    for (size_t i = 0; i < c.head.num_headers; ++i) {
      const http::Header& h = c.head.headers[i];
      std::string name;
      http::append_lower(name, h.name);
      c.result.headers.emplace_back(std::move(name), std::string(h.value));
    }
    c.framer.start(c.head.body, c.head.content_length);
    c.body_from = c.head.head_len;
  }
  bool error = false;
  size_t n = c.framer.claim_decoded(c.in.data() + c.body_from, c.in.size() - c.body_from, &error, &c.result.body,
                                    &c.result.trailer_text);
  c.body_from += n;
  if (error) {
    finish(c, false);
    return true;
  }
  if (c.framer.done) {
    finish(c, true);
    return true;
  }
  return false;
}

void HttpClient::finish(Call& c, bool ok) {
  if (c.finished) return;
  c.finished = true;
  c.result.ok = ok;
  if (!ok) {
    c.result.status = 0;
    c.result.headers.clear();
    c.result.body.clear();
    c.result.trailer_text.clear();
  }
  if (c.fd >= 0) {
    loop_.remove(c.fd);
    ::close(c.fd);
    c.fd = -1;
  }
}

void HttpClient::run(uint64_t now_ms) {
  if (calls_.empty()) return;
  // Completions may send new requests: deliver from a list taken first.
  std::vector<std::unique_ptr<Call>> done;
  for (auto it = calls_.begin(); it != calls_.end();) {
    Call& c = **it;
    if (!c.finished && now_ms >= c.deadline_ms) {
      WG_LOG(Warn, "%s to %s timed out after %u ms", c.purpose, c.target.c_str(), static_cast<unsigned>(c.timeout_ms));
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
    if (c->done) c->done(c->result);
  }
}

}  // namespace wg::client
