#include "admin/server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <memory>
#include <system_error>

#include "core/log.h"
#include "core/net.h"
#include "shared/metrics.h"

namespace wg::admin {
namespace {

constexpr int64_t kDrainMs = 1000;          // after answering, how long to wait for the client's FIN
constexpr int64_t kAcceptPauseMs = 100;     // after accept() fails for lack of fds/memory
constexpr const char* kJson = "application/json; charset=utf-8";

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string errno_text(int e) { return std::system_category().message(e); }

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar); }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "";
  }
}

Response json_error(int status, const char* message) {
  Response r;
  r.status = status;
  r.content_type = kJson;
  r.body = std::string("{\"message\":\"") + message + "\"}";
  return r;
}

bool has_crlf(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// Parses a request head (request line and header lines, including the blank
// line). False if malformed.
bool parse_head(std::string_view head, Request* req) {
  std::vector<std::string_view> lines;
  while (!head.empty()) {
    size_t nl = head.find('\n');
    std::string_view line = head.substr(0, nl);
    head.remove_prefix(nl == std::string_view::npos ? head.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
  }
  size_t i = 0;
  while (i < lines.size() && lines[i].empty()) ++i;  // RFC 9112 2.2: ignore leading empty lines
  if (i == lines.size()) return false;

  // request-line = method SP request-target SP HTTP-version
  std::string_view line = lines[i++];
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return false;
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) return false;
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) return false;
  if (version == "HTTP/1.1") {
    req->version_minor = 1;
  } else if (version == "HTTP/1.0") {
    req->version_minor = 0;
  } else {
    return false;
  }
  if (target.empty()) return false;
  for (char c : target) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) return false;
  }
  std::string_view origin = target;
  if (origin.front() != '/') {
    // absolute-form (RFC 9112 3.2.2): keep the path and query only.
    size_t scheme_end = origin.find("://");
    if (scheme_end == std::string_view::npos || scheme_end == 0) return false;
    size_t path_start = origin.find_first_of("/?", scheme_end + 3);
    origin = path_start == std::string_view::npos ? std::string_view("/") : origin.substr(path_start);
  }
  size_t q = origin.find('?');
  req->method.assign(method);
  req->target.assign(target);
  req->path.assign(origin.substr(0, q));
  if (req->path.empty()) req->path = "/";
  if (q != std::string_view::npos) req->query.assign(origin.substr(q + 1));

  for (; i < lines.size(); ++i) {
    std::string_view h = lines[i];
    if (h.empty()) break;  // the blank line ending the head
    if (h.front() == ' ' || h.front() == '\t') return false;  // obs-fold
    size_t colon = h.find(':');
    if (colon == std::string_view::npos) return false;
    std::string_view name = h.substr(0, colon);
    std::string_view value = trim(h.substr(colon + 1));
    if (!is_token(name)) return false;  // also rejects whitespace before the colon
    for (char c : value) {
      auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7F) return false;
    }
    req->headers.emplace_back(std::string(name), std::string(value));
  }
  return true;
}

// Offset just past the blank line ending the head ("\r\n\r\n" or "\n\n",
// mixed forms included), searching from `from`; 0 if not there yet.
size_t find_head_end(const std::string& in, size_t from) {
  for (size_t p = in.find('\n', from); p != std::string::npos; p = in.find('\n', p + 1)) {
    if (p + 1 < in.size() && in[p + 1] == '\n') return p + 2;
    if (p + 2 < in.size() && in[p + 1] == '\r' && in[p + 2] == '\n') return p + 3;
  }
  return 0;
}

}  // namespace

const std::string* Request::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return &v;
  }
  return nullptr;
}

struct AdminServer::Client {
  enum class State { Reading, Writing, Draining };
  int fd = -1;
  State state = State::Reading;
  std::string in;
  size_t scanned = 0;  // bytes of `in` already searched for the end of the head
  std::string out;
  size_t out_off = 0;
  int64_t deadline_ms = 0;

  void close_fd() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

AdminServer::AdminServer() {
  add_route("/metrics", [](const Request&) {
    Response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = shared::Metrics::instance().render_prometheus();
    return r;
  });
  add_route("/status", [](const Request&) {
    Response r;
    r.body = "{\"status\":\"ok\"}";
    return r;
  });
}

AdminServer::~AdminServer() { stop(); }

void AdminServer::add_route(std::string path, Handler handler) {
  std::lock_guard<std::mutex> lock(routes_mu_);
  routes_[std::move(path)] = std::move(handler);
}

bool AdminServer::start(const std::string& listen, std::string* error) {
  if (running()) {
    *error = "admin server already running";
    return false;
  }
  sockaddr_storage addr;
  socklen_t len = 0;
  if (!core::parse_listen_address(listen, &addr, &len)) {
    *error = "invalid admin listen address \"" + listen + "\" (want ADDR:PORT)";
    return false;
  }
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = "admin listener " + listen + ": socket: " + errno_text(errno);
    return false;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    *error = "admin listener " + listen + ": bind: " + errno_text(errno);
    ::close(fd);
    return false;
  }
  if (::listen(fd, 128) != 0) {
    *error = "admin listener " + listen + ": listen: " + errno_text(errno);
    ::close(fd);
    return false;
  }
  sockaddr_storage bound;
  socklen_t bound_len = sizeof bound;
  uint16_t port = 0;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len) == 0) {
    if (bound.ss_family == AF_INET) port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    if (bound.ss_family == AF_INET6) port = ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  }
  int wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake < 0) {
    *error = "admin listener: eventfd: " + errno_text(errno);
    ::close(fd);
    return false;
  }
  listen_fd_ = fd;
  wake_fd_ = wake;
  port_ = port;
  try {
    thread_ = std::thread(&AdminServer::run, this);
  } catch (const std::system_error& e) {
    *error = std::string("admin listener: cannot start thread: ") + e.what();
    ::close(listen_fd_);
    ::close(wake_fd_);
    listen_fd_ = wake_fd_ = -1;
    port_ = 0;
    return false;
  }
  WG_LOG(Info, "admin listener on %s (port %u)", listen.c_str(), static_cast<unsigned>(port_));
  return true;
}

void AdminServer::stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  ssize_t n;
  do {
    n = ::write(wake_fd_, &one, sizeof one);
  } while (n < 0 && errno == EINTR);
  // n < 0 with EAGAIN means the counter is already nonzero: the thread wakes anyway.
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_fd_);
  listen_fd_ = wake_fd_ = -1;
  port_ = 0;
}

void AdminServer::run() {
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<pollfd> fds;
  int64_t accept_paused_until = 0;
  for (;;) {
    int64_t now = now_ms();
    std::erase_if(clients, [&](const std::unique_ptr<Client>& c) {
      if (c->deadline_ms > now) return false;
      c->close_fd();
      return true;
    });

    bool accepting = clients.size() < kMaxClients && now >= accept_paused_until;
    int64_t wait = -1;
    if (clients.size() < kMaxClients && !accepting) wait = accept_paused_until - now;
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({accepting ? listen_fd_ : -1, POLLIN, 0});  // poll ignores negative fds
    for (const auto& c : clients) {
      fds.push_back({c->fd, static_cast<short>(c->state == Client::State::Writing ? POLLOUT : POLLIN), 0});
      int64_t left = c->deadline_ms - now;
      if (wait < 0 || left < wait) wait = left;
    }
    int rc = ::poll(fds.data(), fds.size(), static_cast<int>(std::min<int64_t>(wait, INT_MAX)));
    if (rc < 0) {
      if (errno != EINTR) {
        WG_LOG(Error, "admin listener: poll: %s", errno_text(errno).c_str());
        ::poll(nullptr, 0, 10);  // don't spin on a persistent error (ENOMEM)
      }
      continue;
    }
    if (fds[0].revents != 0) break;  // stop()
    now = now_ms();

    for (size_t i = 0; i < clients.size(); ++i) {
      Client& c = *clients[i];
      short ev = fds[i + 2].revents;
      if (ev == 0) continue;
      if (ev & POLLNVAL) {
        c.close_fd();
      } else if (c.state == Client::State::Writing) {
        if (ev & (POLLOUT | POLLERR | POLLHUP)) on_writable(c);
      } else {
        on_readable(c, now);
      }
    }
    std::erase_if(clients, [](const std::unique_ptr<Client>& c) { return c->fd < 0; });

    if (fds[1].revents & POLLIN) {
      while (clients.size() < kMaxClients) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          if (errno == EINTR || errno == ECONNABORTED) continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK) {
            WG_LOG(Warn, "admin listener: accept: %s", errno_text(errno).c_str());
            accept_paused_until = now + kAcceptPauseMs;
          }
          break;
        }
        auto c = std::make_unique<Client>();
        c->fd = fd;
        c->deadline_ms = now + timeout_ms_;
        clients.push_back(std::move(c));
      }
    }
  }
  for (auto& c : clients) c->close_fd();
}

void AdminServer::on_readable(Client& c, int64_t now_ms) {
  char buf[4096];
  // Bounded per wakeup so one client cannot monopolise the thread.
  for (int round = 0; round < 16; ++round) {
    ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) c.close_fd();
      return;
    }
    if (n == 0) {  // EOF: an incomplete request is dropped; a drained one is done
      c.close_fd();
      return;
    }
    if (c.state == Client::State::Draining) continue;  // a body or pipelined data we won't serve
    c.in.append(buf, static_cast<size_t>(n));
    size_t end = find_head_end(c.in, c.scanned);
    if (end != 0 && end <= kMaxHeadSize) {
      handle_head(c, end);
      if (c.state == Client::State::Writing) on_writable(c);
      if (c.state == Client::State::Draining) c.deadline_ms = std::min(c.deadline_ms, now_ms + kDrainMs);
      return;
    }
    if (end != 0 || c.in.size() >= kMaxHeadSize) {
      respond(c, json_error(431, "Request header fields too large"), false);
      on_writable(c);
      if (c.state == Client::State::Draining) c.deadline_ms = std::min(c.deadline_ms, now_ms + kDrainMs);
      return;
    }
    // The next search restarts 2 bytes back: the end marker may straddle reads.
    c.scanned = c.in.size() >= 2 ? c.in.size() - 2 : 0;
  }
}

void AdminServer::on_writable(Client& c) {
  while (c.out_off < c.out.size()) {
    ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) c.close_fd();
      return;
    }
    c.out_off += static_cast<size_t>(n);
  }
  // All sent. Half-close and wait (briefly) for the client's FIN rather than
  // closing at once: closing with unread request bytes would send a RST that
  // can destroy the answer before the client reads it.
  ::shutdown(c.fd, SHUT_WR);
  c.state = Client::State::Draining;
  c.out.clear();
  c.out.shrink_to_fit();
  c.in.clear();
  c.in.shrink_to_fit();
}

void AdminServer::handle_head(Client& c, size_t head_end) {
  Request req;
  if (!parse_head(std::string_view(c.in).substr(0, head_end), &req)) {
    respond(c, json_error(400, "Bad request"), false);
    return;
  }
  Handler handler;
  {
    std::lock_guard<std::mutex> lock(routes_mu_);
    if (auto it = routes_.find(req.path); it != routes_.end()) handler = it->second;
  }
  bool head_only = req.method == "HEAD";
  if (!handler) {
    respond(c, json_error(404, "Not found"), head_only);
    return;
  }
  if (req.method != "GET" && !head_only) {
    Response r = json_error(405, "Method not allowed");
    r.headers.emplace_back("Allow", "GET, HEAD");
    respond(c, r, false);
    return;
  }
  Response r;
  try {
    r = handler(req);
  } catch (const std::exception& e) {
    WG_LOG(Error, "admin listener: handler for %s failed: %s", req.path.c_str(), e.what());
    r = json_error(500, "An unexpected error occurred");
  } catch (...) {
    WG_LOG(Error, "admin listener: handler for %s failed", req.path.c_str());
    r = json_error(500, "An unexpected error occurred");
  }
  respond(c, r, head_only);
}

void AdminServer::respond(Client& c, const Response& r, bool head_only) {
  int status = (r.status >= 100 && r.status <= 999) ? r.status : 500;
  bool no_body = status == 204 || status == 304 || status < 200;
  std::string& out = c.out;
  out.clear();
  out.append("HTTP/1.1 ").append(std::to_string(status)).append(" ").append(reason(status)).append("\r\n");
  if (!has_crlf(r.content_type) && !r.content_type.empty()) {
    out.append("Content-Type: ").append(r.content_type).append("\r\n");
  }
  if (!no_body) out.append("Content-Length: ").append(std::to_string(r.body.size())).append("\r\n");
  for (const auto& [name, value] : r.headers) {
    if (!is_token(name) || has_crlf(value) || iequals(name, "Content-Length") || iequals(name, "Connection") ||
        iequals(name, "Content-Type") || iequals(name, "Transfer-Encoding")) {
      continue;
    }
    out.append(name).append(": ").append(value).append("\r\n");
  }
  out.append("Connection: close\r\n\r\n");
  if (!no_body && !head_only) out.append(r.body);
  c.out_off = 0;
  c.state = Client::State::Writing;
}

}  // namespace wg::admin
