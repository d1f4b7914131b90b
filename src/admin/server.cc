#include "admin/server.h"

#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <memory>
#include <system_error>

#include "core/event_loop.h"
#include "core/log.h"
#include "core/net.h"
#include "http/message.h"
#include "http/parser.h"
#include "shared/metrics.h"

namespace wg::admin {
namespace {

constexpr uint64_t kDrainMs = 1000;        // after answering, how long to wait for the client's FIN
constexpr uint64_t kAcceptPauseMs = 100;   // after accept() fails for lack of fds/memory
constexpr const char* kJson = "application/json; charset=utf-8";

std::string errno_text(int e) { return std::system_category().message(e); }

Response json_error(int status, const char* message) {
  Response r;
  r.status = status;
  r.content_type = kJson;
  r.body = std::string("{\"message\":\"") + message + "\"}";
  return r;
}

bool has_crlf(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// Offset just past the blank line ending the head ("\r\n\r\n" or "\n\n",
// mixed forms included), searching from `from`; 0 if not there yet.
size_t find_head_end(const std::string& in, size_t from) {
  for (size_t p = in.find('\n', from); p != std::string::npos; p = in.find('\n', p + 1)) {
    if (p + 1 < in.size() && in[p + 1] == '\n') return p + 2;
    if (p + 2 < in.size() && in[p + 1] == '\r' && in[p + 2] == '\n') return p + 3;
  }
  return 0;
}

// The head with every bare LF made CRLF: this listener has always taken
// bare-LF line ends (curl-like tools and hand-typed requests), the strict
// proxy parser does not.
std::string crlf_lines(std::string_view head) {
  std::string out;
  out.reserve(head.size() + 16);
  for (size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')) out.push_back('\r');
    out.push_back(head[i]);
  }
  return out;
}

// Parses a complete head (request line to blank line) with the proxy's
// parser. 0 when it is a request we serve, else the status to answer.
int parse_head(std::string_view raw, Request* req) {
  std::string head = crlf_lines(raw);
  http::HeadParser parser;
  parser.set_require_host(false);
  http::Head h;
  auto st = parser.parse_request(head.data(), head.size(), head.size() + 1, h);
  if (st != http::ParseStatus::Complete) {
    // Incomplete here means only empty lines: no request line at all.
    return st == http::ParseStatus::Error && parser.error_status() == 431 ? 431 : 400;
  }
  if (h.target.empty() || (h.target.front() != '/' && h.target.find("://") == std::string_view::npos)) {
    return 400;  // origin-form or absolute-form only ("*" is not a path here)
  }
  req->method.assign(h.method);
  req->target.assign(h.target);
  req->path.assign(h.path);
  if (req->path.empty()) req->path = "/";
  req->query.assign(h.query);
  req->version_minor = h.minor_version;
  req->headers.reserve(h.num_headers);
  for (size_t i = 0; i < h.num_headers; ++i) {
    req->headers.emplace_back(std::string(h.headers[i].name), std::string(h.headers[i].value));
  }
  return 0;
}

}  // namespace

const std::string* Request::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (http::iequals(k, name)) return &v;
  }
  return nullptr;
}

// One client connection, level-triggered: its interest follows its state.
struct AdminServer::Client final : core::IoHandler {
  enum class State { Reading, Writing, Draining };
  Loop* loop = nullptr;
  int fd = -1;
  State state = State::Reading;
  std::string in;
  size_t scanned = 0;  // bytes of `in` already searched for the end of the head
  std::string out;
  size_t out_off = 0;
  uint64_t deadline_ms = 0;

  void on_io(uint32_t events) override;
};

// What the admin thread owns: its event loop, the listener, the wake-up
// eventfd and the clients. Lives on the thread's stack for one start()..stop().
struct AdminServer::Loop {
  struct Fd final : core::IoHandler {
    Loop* loop = nullptr;
    bool listener = false;
    void on_io(uint32_t) override {
      if (listener) {
        loop->accept_all();
      } else {
        loop->stopping = true;  // stop() wrote the eventfd
      }
    }
  };

  AdminServer& server;
  core::EventLoop ev;
  Fd listen_handler, wake_handler;
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::unique_ptr<Client>> closed;  // freed after the event batch
  bool listening = false;  // the listener is in the loop (not full, not paused)
  uint64_t accept_paused_until = 0;
  bool stopping = false;

  explicit Loop(AdminServer& s) : server(s) {
    listen_handler.loop = wake_handler.loop = this;
    listen_handler.listener = true;
    ev.add(server.wake_fd_, &wake_handler, EPOLLIN);
  }

  // The listener is watched only while a client may be taken.
  void update_listening() {
    bool want = !stopping && clients.size() < kMaxClients && ev.now_ms() >= accept_paused_until;
    if (want == listening) return;
    if (want) {
      ev.add(server.listen_fd_, &listen_handler, EPOLLIN);
    } else {
      ev.remove(server.listen_fd_);
    }
    listening = want;
  }

  void accept_all() {
    const uint64_t now = ev.now_ms();
    while (clients.size() < kMaxClients) {
      int fd = ::accept4(server.listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          WG_LOG(Warn, "admin listener: accept: %s", errno_text(errno).c_str());
          accept_paused_until = now + kAcceptPauseMs;
        }
        break;
      }
      auto c = std::make_unique<Client>();
      c->loop = this;
      c->fd = fd;
      c->deadline_ms = now + static_cast<uint64_t>(server.timeout_ms_);
      if (!ev.add(fd, c.get(), EPOLLIN)) {
        ::close(fd);
        continue;
      }
      clients.push_back(std::move(c));
    }
    update_listening();
  }

  void close(Client& c) {
    if (c.fd < 0) return;
    ev.remove(c.fd);
    ::close(c.fd);
    c.fd = -1;
  }

  // Interest for the client's state: readable, or writable while answering.
  void watch(Client& c, uint32_t events) {
    ev.remove(c.fd);
    if (!ev.add(c.fd, &c, events)) close(c);
  }

  void on_readable(Client& c) {
    const uint64_t now = ev.now_ms();
    char buf[4096];
    // Bounded per wakeup so one client cannot monopolise the thread (the
    // loop is level-triggered: the rest is read on the next turn).
    for (int round = 0; round < 16; ++round) {
      ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) close(c);
        return;
      }
      if (n == 0) {  // EOF: an incomplete request is dropped; a drained one is done
        close(c);
        return;
      }
      if (c.state == Client::State::Draining) continue;  // a body or pipelined data we won't serve
      c.in.append(buf, static_cast<size_t>(n));
      size_t end = find_head_end(c.in, c.scanned);
      if (end != 0 && end <= kMaxHeadSize) {
        server.handle_head(c, end);
      } else if (end != 0 || c.in.size() >= kMaxHeadSize) {
        server.respond(c, json_error(431, "Request header fields too large"), false);
      } else {
        // The next search restarts 2 bytes back: the end marker may straddle reads.
        c.scanned = c.in.size() >= 2 ? c.in.size() - 2 : 0;
        continue;
      }
      on_writable(c);
      if (c.fd >= 0 && c.state == Client::State::Writing) watch(c, EPOLLOUT);
      if (c.state == Client::State::Draining) c.deadline_ms = std::min(c.deadline_ms, now + kDrainMs);
      return;
    }
  }

  void on_writable(Client& c) {
    while (c.out_off < c.out.size()) {
      ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) close(c);
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

  void run() {
    update_listening();
    while (!stopping) {
      // Sleep until the nearest deadline, or until something happens (stop()
      // writes the eventfd): an idle admin thread costs nothing.
      const uint64_t now = ev.now_ms();
      int64_t wait = -1;
      auto until = [&](uint64_t t) {
        int64_t left = static_cast<int64_t>(t > now ? t - now : 0);
        if (wait < 0 || left < wait) wait = left;
      };
      for (const auto& c : clients) until(c->deadline_ms);
      if (!listening && clients.size() < kMaxClients && accept_paused_until > now) until(accept_paused_until);
      ev.run_once(static_cast<int>(std::min<int64_t>(wait, INT_MAX)));
      if (stopping) break;
      // Past their deadline, or closed during the batch: gone (freed after
      // the batch, since events for them may still have been queued).
      const uint64_t after = ev.now_ms();
      for (auto it = clients.begin(); it != clients.end();) {
        Client& c = **it;
        if (c.fd >= 0 && c.deadline_ms <= after) close(c);
        if (c.fd < 0) {
          closed.push_back(std::move(*it));
          it = clients.erase(it);
        } else {
          ++it;
        }
      }
      closed.clear();
      update_listening();
      if (listening) accept_all();  // connections that queued while we were full
    }
    for (auto& c : clients) close(*c);
    if (listening) ev.remove(server.listen_fd_);
    ev.remove(server.wake_fd_);
  }
};

void AdminServer::Client::on_io(uint32_t events) {
  if (fd < 0) return;
  if (state == State::Writing) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
      loop->on_writable(*this);
      if (fd >= 0 && state == State::Draining) loop->watch(*this, EPOLLIN);
    }
    return;
  }
  loop->on_readable(*this);
}

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

void AdminServer::add_route(std::string path, Handler handler, std::vector<std::string> methods) {
  std::lock_guard<std::mutex> lock(routes_mu_);
  routes_[std::move(path)] = Route{std::move(handler), std::move(methods)};
}

void AdminServer::add_prefix_route(std::string prefix, Handler handler, std::vector<std::string> methods) {
  std::lock_guard<std::mutex> lock(routes_mu_);
  prefix_routes_[std::move(prefix)] = Route{std::move(handler), std::move(methods)};
}

bool AdminServer::Route::allows(const std::string& method) const {
  for (const auto& m : methods) {
    if (m == method || (method == "HEAD" && m == "GET")) return true;
  }
  return false;
}

std::string AdminServer::Route::allow_header() const {
  std::string out;
  for (const auto& m : methods) {
    out += (out.empty() ? "" : ", ") + m;
    if (m == "GET") out += ", HEAD";
  }
  return out;
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
  Loop loop(*this);
  loop.run();
}

void AdminServer::handle_head(Client& c, size_t head_end) {
  Request req;
  if (int status = parse_head(std::string_view(c.in).substr(0, head_end), &req); status != 0) {
    if (status == 431) {
      respond(c, json_error(431, "Request header fields too large"), false);
    } else {
      respond(c, json_error(400, "Bad request"), false);
    }
    return;
  }
  Route route;
  {
    std::lock_guard<std::mutex> lock(routes_mu_);
    if (auto it = routes_.find(req.path); it != routes_.end()) {
      route = it->second;
    } else {
      // The longest prefix that matches: the last one not past the path.
      for (auto p = prefix_routes_.upper_bound(req.path); p != prefix_routes_.begin();) {
        --p;
        if (req.path.compare(0, p->first.size(), p->first) == 0) {
          route = p->second;
          break;
        }
      }
    }
  }
  bool head_only = req.method == "HEAD";
  if (!route.handler) {
    respond(c, json_error(404, "Not found"), head_only);
    return;
  }
  if (!route.allows(req.method)) {
    Response r = json_error(405, "Method not allowed");
    r.headers.emplace_back("Allow", route.allow_header());
    respond(c, r, false);
    return;
  }
  const Handler& handler = route.handler;
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
  out.append("HTTP/1.1 ").append(std::to_string(status)).append(" ").append(http::reason_phrase(status)).append("\r\n");
  if (!has_crlf(r.content_type) && !r.content_type.empty()) {
    out.append("Content-Type: ").append(r.content_type).append("\r\n");
  }
  if (!no_body) out.append("Content-Length: ").append(std::to_string(r.body.size())).append("\r\n");
  for (const auto& [name, value] : r.headers) {
    if (!http::is_token(name) || has_crlf(value) || http::iequals(name, "Content-Length") ||
        http::iequals(name, "Connection") || http::iequals(name, "Content-Type") ||
        http::iequals(name, "Transfer-Encoding")) {
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
