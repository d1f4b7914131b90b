// The session's lifecycle and the walk of one request: reading its head,
// routing, the handlers' request phases, and the one finalize every
// request ends with. The upstream try, the heads and the bodies through
// the handlers are in the other session_*.cc files.
#include "proxy/session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "proxy/worker_context.h"
#include "proxy/wire.h"
#include "router/normalize.h"

namespace wg::proxy {
namespace {
constexpr uint64_t kLingerMs = 2000;
}  // namespace

// ---------------------------------------------------------------- lifecycle

void Session::open(WorkerContext* worker, int fd, const sockaddr_storage& peer, const ListenerInfo& listener) {
  worker_ = worker;
  client_.attach(fd);
  listen_port_ = listener.port;
  https_ = listener.tls != nullptr;
  if (https_) {
    // The handshake picks a certificate of the running configuration: the
    // session holds that snapshot until the handshake is over.
    snap_ = worker->snapshot();
    client_.start_tls(listener.tls->accept(worker->certificates()));
  }
  closed = false;
  peer_closed_ = false;
  hup_seen_ = false;
  req_ready_ = 0;
  client_out_.clear();
  client_out_off_ = 0;
  up_ = nullptr;
  peer_ = -1;
  readable_ = false;
  writable_ = true;
  state_ = https_ ? State::Handshake : State::ReadHead;
  close_after_ = false;
  in_request_ = false;
  if (peer.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&peer);
    inet_ntop(AF_INET, &v4->sin_addr, client_ip_, sizeof client_ip_);
    client_port_ = ntohs(v4->sin_port);
  } else {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&peer);
    inet_ntop(AF_INET6, &v6->sin6_addr, client_ip_, sizeof client_ip_);
    client_port_ = ntohs(v6->sin6_port);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  parser_.reset();
  deadline_ = worker->loop().now_ms() + static_cast<uint64_t>(worker->settings().client_timeout_ms);
  worker->loop().add(fd, this, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
}

void Session::on_io(uint32_t events) {
  if (closed) return;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable_ = true;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) hup_seen_ = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writable_ = true;
  if ((events & EPOLLOUT) && client_.read_wants_write()) readable_ = true;
  drive();
}

void Session::on_upstream_io() {
  if (!closed) drive();
}

void Session::close() {
  if (closed) return;
  finish_peer();
  finalize();  // a request cut short is logged too
  closed = true;
  release_upstream(false);
  const int fd = client_.fd();
  client_.finish();
  ::close(fd);
  client_.attach(-1);
  worker_->buffers().release(in_);
  return_space();
  snap_.reset();
  worker_->session_closed(this);
}

void Session::close_if_idle() {
  if ((state_ == State::ReadHead && in_.empty()) || state_ == State::Handshake) close();
}

// The single place that moves the session forward. Each step returns true
// when it changed something; we stop when nothing can move until an event.
void Session::drive() {
  for (;;) {
    if (closed) return;
    bool progress = false;
    switch (state_) {
      case State::Handshake:
        progress = step_handshake();
        break;
      case State::ReadHead:
        progress = step_read_head();
        break;
      case State::Proxy:
        progress = req_wire_.active ? step_send_filtered_request() : step_send_request();
        if (!closed && state_ == State::Proxy) progress |= step_receive_response();
        break;
      case State::HandlerWait:
        break;  // a handler resumes it (on_handler_wakeup)
      case State::LocalReply:
        progress = flush_client_out();
        if (!closed && client_out_off_ == client_out_.size()) {
          finish_exchange();
          progress = true;
        }
        break;
      case State::Closing: {
        // Lingering close: read and drop until the client closes, so unread
        // bytes do not turn our close into a reset that destroys the reply.
        char sink[4096];
        while (readable_) {
          ssize_t n = ::read(client_.fd(), sink, sizeof sink);  // past TLS: bytes to drop
          if (n > 0) continue;
          if (would_block(n)) {
            readable_ = false;
            break;
          }
          close();
          return;
        }
        break;
      }
    }
    if (!progress) break;
  }
  if (!closed) update_deadline();
}

// ---------------------------------------------------------------- request head

bool Session::read_client() {
  if (!readable_) return false;
  if (in_.data == nullptr) worker_->buffers().acquire(in_);
  if (in_.end == in_.cap) in_.compact();
  if (in_.end == in_.cap) return false;
  size_t room = in_.cap - in_.end;
  ssize_t n = client_.read(in_.data + in_.end, room);
  if (n > 0) {
    in_.end += static_cast<size_t>(n);
    // A short read drained the socket: skip the read that would only say
    // EAGAIN (the next arrival raises a new edge), unless the peer's close
    // is pending, which must still be read.
    if (client_.drained(static_cast<size_t>(n), room) && !hup_seen_) readable_ = false;
    return true;
  }
  if (would_block(n)) {
    readable_ = false;
    return false;
  }
  peer_closed_ = true;
  return false;
}

// The TLS handshake, before the first request: any readiness moves it on.
bool Session::step_handshake() {
  const int done = client_.handshake();
  if (done == 0) return false;
  if (done < 0) {
    WG_LOG(Info, "client %s: TLS handshake failed: %s", client_ip_, client_.tls_error());
    close();
    return true;
  }
  state_ = State::ReadHead;
  snap_.reset();
  return true;
}

bool Session::step_read_head() {
  if (in_.data != nullptr && !in_.empty()) {
    if (!space_) borrow_space();
    if (x_->timings.start_ms == 0) x_->timings.start_ms = worker_->loop().now_ms();
    size_t max_head = worker_->settings().max_header_size;
    auto st = parser_.parse_request(in_.data + in_.start, in_.size(), max_head, req_);
    if (st == http::ParseStatus::Complete) {
      begin_request();
      return true;
    }
    if (st == http::ParseStatus::Error) {
      WG_LOG(Info, "client %s: bad request (%s)", client_ip_, parser_.error_reason());
      reject_head(parser_.error_status());
      return true;
    }
    if (in_.start == 0 && in_.end == in_.cap) {
      reject_head(431);
      return true;
    }
  }
  if (read_client()) return true;
  if (peer_closed_) {
    close();
    return true;
  }
  // Idle keep-alive connections give their buffer back to the pool.
  if (in_.data != nullptr && in_.empty()) worker_->buffers().release(in_);
  return false;
}

// A head that cannot be parsed, or did not arrive in time: answered,
// logged, and the connection closed.
void Session::reject_head(int status) {
  in_request_ = true;
  x_->method.clear();
  x_->head_request = false;
  x_->log = pipeline::LogFields();
  x_->timings.upstream_start_ms = 0;
  route_ = -1;
  std::string_view msg = status == 408   ? "Request timeout"
                         : status == 431 ? "Request header or cookie too large"
                         : status == 501 ? "Not implemented"
                         : status == 505 ? "HTTP version not supported"
                                         : "Bad request";
  in_.start = in_.end = 0;
  local_reply(status, msg, true);
}

void Session::begin_request() {
  const uint64_t now = worker_->loop().now_ms();
  pipeline::Exchange& x = *x_;
  if (x.timings.start_ms == 0) x.timings.start_ms = now;
  x.timings.upstream_start_ms = x.timings.upstream_head_ms = 0;
  x.method.assign(req_.method);
  x.minor_version = req_.minor_version;
  x.head_request = req_.method == "HEAD";
  pipeline::LogFields& log = x.log;
  log.uri.assign(req_.target);
  log.user_agent.clear();
  log.referer.clear();
  for (size_t i = 0; i < req_.num_headers; ++i) {
    if (req_.headers[i].id == http::HeaderId::UserAgent) log.user_agent.assign(req_.headers[i].value);
    if (req_.headers[i].id == http::HeaderId::Referer) log.referer.assign(req_.headers[i].value);
  }
  log.upstream_uri.clear();
  log.request_size = req_.head_len;
  log.bytes_sent = 0;
  log.status = 0;
  log.tries = 0;
  log.upstream_status = 0;
  x.serial = pipeline::next_exchange_serial();
  in_request_ = true;
  shared::WorkerStats::add(worker_->stats().requests);
  route_ = -1;
  service_ = nullptr;
  req_done_ = resp_started_ = resp_head_done_ = resp_done_ = false;
  resp_body_ready_ = 0;
  close_after_ = !req_.keep_alive || worker_->draining();
  req_body_.start(req_.body, req_.content_length);
  x.request_has_body = !req_body_.done;
  expect_continue_ = req_.expect_continue && req_.minor_version >= 1 && !req_body_.done;
  req_wire_.reset();
  resp_wire_.reset();
  bool routed = route_request();
  // The head's bytes are no longer needed once the handlers saw it and the
  // upstream head is built: everything used later was copied. (While a
  // handler holds the request head nothing is read, so the views stay
  // valid until it resumes.)
  in_.consume(req_.head_len);
  if (!routed || state_ == State::HandlerWait) return;
  after_access();
}

bool Session::route_request() {
  snap_ = worker_->snapshot();
  routed_target_ = req_.target;
  router::RequestKeys keys;
  keys.method = req_.method;
  keys.host = req_.host;
  keys.headers = req_.headers;
  keys.num_headers = req_.num_headers;
  const bool has_query = !req_.query.empty() || req_.target.find('?') != std::string_view::npos;
  if (!match_route(keys, req_.path, req_.query, has_query)) return false;
  runner_->begin(snap_->chain(route_), x_, worker_->settings().handler_body_limit());
  if (!runner_->active()) return true;  // no handlers: one compare
  prepare_exchange(snap_->decl.routes[route_], runner_->chain().sees_head(pipeline::Direction::Request));
  switch (runner_->request_head()) {
    case pipeline::Step::Go:
      return true;
    case pipeline::Step::Paused:
      state_ = State::HandlerWait;
      return true;
    case pipeline::Step::Ended:
      break;
  }
  handler_ended(pipeline::Direction::Request);
  return false;
}

// The one place a request is matched, first from its head (route_request)
// and again when a handler re-routes it (reroute): keys without the path,
// raw_path the path as sent (normalised here), query what follows '?'. Takes
// the route: its service, balancer and the upstream path. False when the
// request was answered (400, 404, https-only, no service).
bool Session::match_route(router::RequestKeys& keys, std::string_view raw_path, std::string_view query,
                          bool has_query) {
  std::string_view path;
  if (!router::normalize_path(raw_path, scratch_path_, &path)) {
    local_reply(400, "Bad request", true);
    return false;
  }
  path_ = path;
  keys.path = path;
  if (https_) keys.sni = tls::server_name(client_.ssl());
  *match_ = snap_->router.match(keys);
  // An unread request body would be taken for the next request: close instead.
  bool body_pending = !req_body_.done;
  if (match_->route < 0) {
    local_reply(404, "no Route matched with those values", close_after_ || body_pending);
    return false;
  }
  route_ = match_->route;
  const config::Route& route = snap_->decl.routes[match_->route];
  if (https_ && !route.allows("https")) {
    // An http-only route is not one for TLS requests (Kong matches the
    // protocol with the other fields).
    route_ = -1;
    local_reply(404, "no Route matched with those values", close_after_ || body_pending);
    return false;
  }
  if (!https_ && !route.allows("http")) {
    https_redirect(route, body_pending);
    return false;
  }
  if (route.service < 0) {
    local_reply(503, "no Service found with those values", close_after_ || body_pending);
    return false;
  }
  service_ = &snap_->services[route.service];
  balancer_ = snap_->balancers[service_->balancer].get();
  tried_mask_ = 0;
  peer_ = -1;
  // Kong's request_postfix: after the stripped prefix when a path matched,
  // otherwise the path without its leading slash.
  bool stripped = route.strip_path && match_->by_path;
  fwd_prefix_ = stripped ? path.substr(0, match_->prefix_len) : std::string_view();
  std::string_view postfix = router::sanitize_postfix(stripped ? path.substr(match_->prefix_len) : path.substr(1));
  router::upstream_path_v0(service_->cfg.path, route.strip_path, path, postfix, scratch_upstream_path_);
  if (has_query) {
    scratch_upstream_path_.push_back('?');
    scratch_upstream_path_.append(query);
  }
  return true;
}

// Envoy's route cache: a handler that changed :authority or :path during
// the request head phase, or cleared the cache (Proxy-Wasm's
// clear_route_cache), has the request matched again, and it goes to the new
// route's service. The chain that ran stays the request's: its handlers do
// not run again and the new route's do not run (docs/filter-authors.md).
// False when the new match answered the request (404, ...).
bool Session::reroute() {
  const http::HeaderMap& m = x_->request_headers;
  // The common case costs two loads: no pseudo-header touched, no clear.
  if (!m.pseudo_changed() && !x_->clear_route_cache) return true;
  if (!map_holds_head(pipeline::Direction::Request)) return true;
  const std::string_view target = m.get_exact(":path"), host = m.get_exact(":authority");
  const bool moved = m.pseudo_changed() && (target != routed_target_ || host != req_.host);
  if (!moved && !x_->clear_route_cache) return true;
  x_->clear_route_cache = false;
  router::RequestKeys keys;
  keys.method = req_.method;
  keys.host = host;
  keys.headers = m.begin();
  keys.num_headers = m.size();
  const size_t q = target.find('?');
  const int before = route_;
  if (!match_route(keys, target.substr(0, q), q == std::string_view::npos ? std::string_view() : target.substr(q + 1),
                   q != std::string_view::npos)) {
    return false;
  }
  if (route_ == before) return true;  // same route: a rewritten :path still goes as the handler wrote it
  // A new route: the path it sends is the new route's upstream path.
  const config::Route& route = snap_->decl.routes[route_];
  routed_target_ = target;
  x_->route = &route;
  x_->service = service_;
  x_->route_name = route.name;
  x_->service_name = service_->cfg.name;
  x_->upstream_uri.assign(scratch_upstream_path_);
  return true;
}

// What the handlers see of the request: its head in the Exchange's map
// (one copy of the head's bytes, the parser's views rebased onto it: no
// allocation; only when one of them uses the request head; when they only
// add to it or read it in access, the head deferred: HeaderMap::defer) and
// the facts about it.
void Session::prepare_exchange(const config::Route& route, bool request_head) {
  pipeline::Exchange& x = *x_;
  x.request_headers.clear();
  x.response_headers.clear();
  x.request_trailers.clear();
  x.response_trailers.clear();
  x.response_phase = false;
  x.local_reply = false;
  x.resume_request = x.resume_response = x.close_requested = false;
  x.clear_route_cache = false;
  x.body = nullptr;
  if (!x.properties.empty()) x.properties.clear();
  if (request_head) {
    http::HeaderMap& m = x.request_headers;
    m.keep({in_.data + in_.start, req_.head_len});
    m.push_pseudo(":method", req_.method);
    m.push_pseudo(":path", req_.target);
    m.push_pseudo(":authority", req_.host);
    m.push_literal(":scheme", https_ ? "https" : "http");
    m.push_parsed(req_.headers, req_.num_headers, true);
  } else if (runner_->chain().lazy(pipeline::Direction::Request)) {
    x.request_headers.defer_request({in_.data + in_.start, req_.head_len}, req_.headers, req_.num_headers,
                                    req_.method, req_.target, req_.host, https_ ? "https" : "http");
  }
  x.client_ip = client_ip_;
  x.client_port = client_port_;
  x.server_port = listen_port_;
  x.route = &route;
  x.service = service_;
  x.match = match_;
  x.consumer_id = {};
  x.credential_id = {};
  if (request_head || runner_->chain().defers(pipeline::Direction::Request)) x.upstream_uri.assign(scratch_upstream_path_);
  x.route_name = route.name;
  x.service_name = service_->cfg.name;
  x.protocol = req_.minor_version == 0 ? "HTTP/1.0" : "HTTP/1.1";
}

// The request head passed every handler: its body's way, the peer (Kong
// balances after access, so handlers can steer it), the upstream head.
void Session::after_access() {
  if (runner_->active() && !reroute()) return;
  if (runner_->active() && !req_body_.done) req_wire_.active = runner_->start_body(pipeline::Direction::Request);
  compute_hash(path_);
  if (!pick_peer()) {
    local_reply(503, service_->via_upstream ? "failure to get a peer from the ring-balancer" : "name resolution failed",
                close_after_ || !req_body_.done);
    return;
  }
  const bool theirs = handlers_have_head(pipeline::Direction::Request) ||
                     (runner_->active() && runner_->chain().defers(pipeline::Direction::Request));
  const std::string& uri = theirs ? x_->upstream_uri : scratch_upstream_path_;
  x_->log.upstream_uri.assign(uri);
  build_upstream_head(uri);
  start_upstream();
}

// ---------------------------------------------------------------- handlers

// The runner ended the exchange in direction d's phase or body.
void Session::handler_ended(pipeline::Direction d) {
  if (d == pipeline::Direction::Response && resp_wire_.head_released) {
    close();  // part of the response is out: cutting the connection is all that is left
    return;
  }
  switch (runner_->ending()) {
    case pipeline::Ending::TooLarge:
      if (d == pipeline::Direction::Request) {
        local_reply(413, "Request size limit exceeded", true);
      } else {
        local_reply(502, "An invalid response was received from the upstream server", true);
      }
      return;
    case pipeline::Ending::Responded:
      handler_reply();
      return;
    case pipeline::Ending::Failed:
    case pipeline::Ending::None:
      local_reply(500, "An unexpected error occurred", close_after_ || !req_body_.done);
      return;
  }
}

// The answer a handler gave in the request's place (Exchange::local_*).
void Session::handler_reply() {
  release_upstream(false);
  runner_->filter_local_reply();
  const pipeline::Exchange& x = *x_;
  close_after_ = close_after_ || !req_body_.done;
  x_->log.status = x.local_status;
  // The handler's headers, as views for the head writer (a rare path).
  std::vector<http::Header> headers;
  headers.reserve(x.local_headers.size());
  for (const auto& [k, v] : x.local_headers) {
    http::HeaderId id = http::classify_header(k);
    // Framing and connection management are ours.
    if (id == http::HeaderId::ContentLength || id == http::HeaderId::TransferEncoding ||
        id == http::HeaderId::Connection) {
      continue;
    }
    headers.push_back({k, v, id, false});
  }
  ResponseHead h;
  h.status = x.local_status;
  h.headers = headers.data();
  h.num_headers = headers.size();
  h.framing = Framing::Length;
  h.length = x.local_body.size();
  write_response_head(h);
  if (!x.head_request) client_out_.append(x.local_body);
  resp_started_ = true;
  state_ = State::LocalReply;
}

void Session::on_handler_wakeup() {
  if (closed || runner_ == nullptr || !runner_->active()) return;
  pipeline::Exchange& x = *x_;
  if (x.close_requested) {
    close();
    return;
  }
  if (x.local_reply) {
    if (resp_started_) {
      close();  // part of the response is out: too late for another
      return;
    }
    handler_reply();
  } else if (state_ == State::HandlerWait && runner_->head_paused()) {
    const pipeline::Direction side = runner_->paused_side();
    const bool resumed = side == pipeline::Direction::Request ? x.resume_request : x.resume_response;
    if (resumed) {
      pipeline::Step step = runner_->resume_head();
      if (step == pipeline::Step::Ended) {
        handler_ended(side);
      } else if (side == pipeline::Direction::Request) {
        if (step == pipeline::Step::Go) after_access();
      } else {
        state_ = State::Proxy;
        if (step == pipeline::Step::Paused) state_ = State::HandlerWait;
        if (step == pipeline::Step::Go) after_header_filter();
      }
    }
  } else {
    if (runner_->body_paused(pipeline::Direction::Request) && x.resume_request) resume_body(pipeline::Direction::Request);
    if (!closed && runner_->body_paused(pipeline::Direction::Response) && x.resume_response) {
      resume_body(pipeline::Direction::Response);
    }
  }
  if (!closed) drive();
}

// ---------------------------------------------------------------- endings

// The one way out of every request: the handlers' log phase, then the
// access-log line. Runs once per request.
void Session::finalize() {
  if (!in_request_) return;
  in_request_ = false;
  runner_->finish();
  log_request();
}

void Session::finish_exchange() {
  finish_peer();
  finalize();
  bool reusable = up_ != nullptr && resp_.keep_alive && req_done_ && up_->in.empty() &&
                  resp_body_.kind != http::BodyKind::UntilClose;
  release_upstream(reusable);
  if (!req_done_) {
    if (req_body_.done) {
      // The body was read but not all sent (the exchange ended early): drop it.
      in_.consume(req_ready_);
      req_ready_ = 0;
    } else {
      close_after_ = true;  // unread body: where the next request starts is unknown
    }
  }
  snap_.reset();
  return_space();  // an idle connection holds no exchange space
  if (close_after_ || worker_->draining()) {
    // Half-close, then linger so the client reads the whole answer.
    client_.finish();  // TLS: close_notify first
    ::shutdown(client_.fd(), SHUT_WR);
    state_ = State::Closing;
    deadline_ = worker_->loop().now_ms() + kLingerMs;
    return;
  }
  state_ = State::ReadHead;
  parser_.reset();
  req_ready_ = 0;
}

// An exchange's space (header slots, Exchange, runner, match: ~12 KiB) is
// the worker's while the connection is idle, so an idle keep-alive
// connection costs under 2 KiB.
void Session::borrow_space() {
  space_ = worker_->take_exchange_space();
  req_.lend(space_->slots);
  resp_.lend(space_->slots + http::kMaxHeaders);
  x_ = &space_->x;
  runner_ = &space_->runner;
  match_ = &space_->match;
  x_->owner = this;
  x_->serial = pipeline::next_exchange_serial();
  x_->timings.start_ms = 0;
}

void Session::return_space() {
  if (!space_) return;
  req_.unlend();
  resp_.unlend();
  x_->owner = nullptr;
  x_ = nullptr;
  runner_ = nullptr;
  match_ = nullptr;
  worker_->give_exchange_space(std::move(space_));
}

void Session::log_request() {
  AccessLog& log = worker_->access_log();
  if (!log.enabled()) return;
  const uint64_t now = worker_->loop().now_ms();
  const pipeline::Exchange& x = *x_;
  LogRecord r;
  r.client_ip = client_ip_;
  r.method = x.method;
  r.uri = x.log.uri;
  r.minor_version = x.minor_version;
  r.status = x.log.status;
  r.bytes_sent = x.log.bytes_sent;
  r.request_size = x.log.request_size;
  r.referer = x.log.referer;
  r.user_agent = x.log.user_agent;
  if (snap_ && route_ >= 0) {
    const auto& route = snap_->decl.routes[route_];
    r.route = route.name.empty() ? std::string_view(route.id) : std::string_view(route.name);
    if (service_ != nullptr) {
      r.service = service_->cfg.name.empty() ? std::string_view(service_->cfg.id) : std::string_view(service_->cfg.name);
    }
  }
  r.upstream_uri = x.log.upstream_uri;
  uint64_t start = x.timings.start_ms ? x.timings.start_ms : now;
  r.total_ms = static_cast<int64_t>(now - start);
  r.upstream_ms = x.timings.upstream_start_ms ? static_cast<int64_t>(now - x.timings.upstream_start_ms) : -1;
  r.gateway_ms = r.total_ms - (r.upstream_ms > 0 ? r.upstream_ms : 0);
  r.tries = x.log.tries;
  log.write(r);
}

// ---------------------------------------------------------------- timeouts

void Session::update_deadline() {
  const uint64_t now = worker_->loop().now_ms();
  const auto& s = worker_->settings();
  uint64_t t = static_cast<uint64_t>(s.client_timeout_ms);
  switch (state_) {
    case State::ReadHead:
      if (in_.empty()) {
        t = static_cast<uint64_t>(s.keepalive_timeout_ms);
        break;
      }
      // A head must arrive whole within the timeout from its first byte
      // (nginx's client_header_timeout): trickling bytes does not extend it.
      deadline_ = x_->timings.start_ms + static_cast<uint64_t>(s.client_timeout_ms);
      return;
    case State::Proxy: {
      const auto& svc = service_->cfg;
      if (up_ != nullptr && !up_->connected) {
        t = static_cast<uint64_t>(svc.connect_timeout_ms);
      } else if (!req_done_) {
        t = static_cast<uint64_t>(up_ != nullptr && !up_->writable ? svc.write_timeout_ms : s.client_timeout_ms);
      } else if (!resp_head_done_) {
        t = static_cast<uint64_t>(svc.read_timeout_ms);
      } else if (client_out_off_ < client_out_.size() || resp_body_ready_ > 0) {
        t = static_cast<uint64_t>(s.client_timeout_ms);
      } else {
        t = static_cast<uint64_t>(svc.read_timeout_ms);
      }
      break;
    }
    case State::Handshake:
    case State::HandlerWait:
    case State::LocalReply:
      break;
    case State::Closing:
      return;  // fixed linger deadline
  }
  deadline_ = now + t;
}

void Session::check_timeout(uint64_t now_ms) {
  if (closed || now_ms < deadline_) return;
  switch (state_) {
    case State::ReadHead:
      if (in_.data == nullptr || in_.empty()) {
        close();  // idle between requests
        return;
      }
      WG_LOG(Info, "client %s: request head not complete within %d ms", client_ip_,
             worker_->settings().client_timeout_ms);
      reject_head(408);
      break;
    case State::Handshake:
    case State::LocalReply:
    case State::Closing:
      close();
      return;
    case State::HandlerWait:
      WG_LOG(Warn, "a handler paused the request and did not resume it in time");
      if (resp_started_) {
        close();
        return;
      }
      local_reply(500, "An unexpected error occurred", true);
      break;
    case State::Proxy:
      if (up_ != nullptr && !up_->connected) {
        WG_LOG(Warn, "connect to %s timed out", up_->endpoint.c_str());
        upstream_failed(504, true, shared::Outcome::Timeout);
      } else if (!req_done_ && (up_ == nullptr || up_->writable)) {
        WG_LOG(Info, "client %s timed out sending the request body", client_ip_);
        x_->log.status = 408;
        close();
        return;
      } else if (!resp_head_done_) {
        WG_LOG(Warn, "upstream %s timed out", up_ != nullptr ? up_->endpoint.c_str() : "-");
        upstream_failed(504, request_replayable_ && idempotent(x_->method), shared::Outcome::Timeout);
      } else {
        WG_LOG(Warn, "response from upstream timed out or the client stopped reading");
        close();
        return;
      }
      break;
  }
  drive();
}

}  // namespace wg::proxy
