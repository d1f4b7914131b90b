#include "proxy/session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <random>

#include "core/log.h"
#include "core/version.h"
#include "core/worker.h"
#include "proxy/wire.h"
#include "router/normalize.h"

namespace wg::proxy {
namespace {

constexpr std::string_view kMsgBadGateway = "An invalid response was received from the upstream server";
constexpr std::string_view kMsgTimeout = "The upstream server is timed out";
constexpr uint64_t kLingerMs = 2000;

// RFC 9110 9.2.2: methods that can be retried after a failure mid-exchange.
bool idempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "PUT" || m == "DELETE" || m == "OPTIONS" || m == "TRACE";
}

// URL-decodes a query component ('+' is a space); false on a bad escape.
bool percent_decode(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out->push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= in.size() || !isxdigit(static_cast<unsigned char>(in[i + 1])) ||
          !isxdigit(static_cast<unsigned char>(in[i + 2]))) {
        return false;
      }
      out->push_back(static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out->push_back(c);
    }
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------- lifecycle

void Session::open(core::Worker* worker, int fd, const sockaddr_storage& peer) {
  worker_ = worker;
  fd_ = fd;
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
  state_ = State::ReadHead;
  close_after_ = false;
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
  t_start_ = 0;
  deadline_ = worker->loop().now_ms() + static_cast<uint64_t>(worker->settings().client_timeout_ms);
  worker->loop().add(fd, this, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
}

void Session::on_io(uint32_t events) {
  if (closed) return;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable_ = true;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) hup_seen_ = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writable_ = true;
  drive();
}

void Session::on_upstream_io() {
  if (!closed) drive();
}

void Session::close() {
  if (closed) return;
  closed = true;
  finish_peer();
  end_filters();
  release_upstream(false);
  ::close(fd_);
  fd_ = -1;
  worker_->buffers().release(in_);
  snap_.reset();
  worker_->session_closed(this);
}

void Session::close_if_idle() {
  if (state_ == State::ReadHead && in_.empty()) close();
}

void Session::release_upstream(bool reusable) {
  if (up_ == nullptr) return;
  upstream::Conn* c = up_;
  up_ = nullptr;
  if (reusable && !worker_->draining()) {
    ++c->requests;
    worker_->upstreams().put_idle(c, worker_->loop().now_ms() + 60000);
  } else {
    worker_->upstreams().close(c);
  }
}

// The single place that moves the session forward. Each step returns true
// when it changed something; we stop when nothing can move until an event.
void Session::drive() {
  for (;;) {
    if (closed) return;
    bool progress = false;
    switch (state_) {
      case State::ReadHead:
        progress = step_read_head();
        break;
      case State::Proxy:
        progress = req_chain_.active ? step_send_filtered_request() : step_send_request();
        if (!closed && state_ == State::Proxy) progress |= step_receive_response();
        break;
      case State::FilterWait:
        break;  // a filter resumes it (on_filter_wakeup)
      case State::LocalReply:
        progress = flush_client_out();
        if (!closed && client_out_off_ == client_out_.size()) {
          log_request();
          finish_exchange();
          progress = true;
        }
        break;
      case State::Closing: {
        // Lingering close: read and drop until the client closes, so unread
        // bytes do not turn our close into a reset that destroys the reply.
        char sink[4096];
        while (readable_) {
          ssize_t n = ::read(fd_, sink, sizeof sink);
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
  ssize_t n = ::read(fd_, in_.data + in_.end, room);
  if (n > 0) {
    in_.end += static_cast<size_t>(n);
    // A short read drained the socket: skip the read that would only say
    // EAGAIN (the next arrival raises a new edge), unless the peer's close
    // is pending, which must still be read.
    if (static_cast<size_t>(n) < room && !hup_seen_) readable_ = false;
    return true;
  }
  if (would_block(n)) {
    readable_ = false;
    return false;
  }
  peer_closed_ = true;
  return false;
}

bool Session::step_read_head() {
  if (in_.data != nullptr && !in_.empty()) {
    if (t_start_ == 0) t_start_ = worker_->loop().now_ms();
    size_t max_head = worker_->settings().max_header_size;
    auto st = parser_.parse_request(in_.data + in_.start, in_.size(), max_head, req_);
    if (st == http::ParseStatus::Complete) {
      begin_request();
      return true;
    }
    if (st == http::ParseStatus::Error) {
      int status = parser_.error_status();
      WG_LOG(Info, "client %s: bad request (%s)", client_ip_, parser_.error_reason());
      log_method_.clear();
      log_uri_.clear();
      log_ua_.clear();
      log_referer_.clear();
      std::string_view msg = status == 431   ? "Request header or cookie too large"
                             : status == 501 ? "Not implemented"
                             : status == 505 ? "HTTP version not supported"
                                             : "Bad request";
      in_.start = in_.end = 0;
      local_reply(status, msg, true);
      return true;
    }
    if (in_.start == 0 && in_.end == in_.cap) {
      local_reply(431, "Request header or cookie too large", true);
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

void Session::begin_request() {
  const uint64_t now = worker_->loop().now_ms();
  if (t_start_ == 0) t_start_ = now;
  log_method_.assign(req_.method);
  log_uri_.assign(req_.target);
  log_minor_ = req_.minor_version;
  log_ua_.clear();
  log_referer_.clear();
  for (size_t i = 0; i < req_.num_headers; ++i) {
    if (req_.headers[i].id == http::HeaderId::UserAgent) log_ua_.assign(req_.headers[i].value);
    if (req_.headers[i].id == http::HeaderId::Referer) log_referer_.assign(req_.headers[i].value);
  }
  log_upstream_uri_.clear();
  request_size_ = req_.head_len;
  bytes_sent_ = 0;
  status_ = 0;
  tries_ = 0;
  route_ = -1;
  service_ = nullptr;
  t_upstream_start_ = t_upstream_head_ = 0;
  req_done_ = resp_started_ = resp_head_done_ = resp_done_ = false;
  resp_body_ready_ = 0;
  head_request_ = req_.method == "HEAD";
  close_after_ = !req_.keep_alive || worker_->draining();
  req_body_.start(req_.body, req_.content_length);
  expect_continue_ = req_.expect_continue && req_.minor_version >= 1 && !req_body_.done;

  filter_wait_ = FilterWaitOn::None;
  req_chain_.reset(false);
  resp_chain_.reset(true);
  bool routed = route_request();
  // The head's bytes are no longer needed once the upstream head is built:
  // everything used later was copied. (While a filter holds the request
  // headers nothing is read, so the views stay valid until it resumes.)
  in_.consume(req_.head_len);
  if (!routed) return;
  if (filter_wait_ != FilterWaitOn::None) {
    state_ = State::FilterWait;
    return;
  }
  start_upstream();
}

void Session::start_upstream() {
  if (expect_continue_ && in_.empty()) {
    client_out_.append("HTTP/1.1 100 Continue\r\n\r\n");
  }
  state_ = State::Proxy;
  connect_upstream();
}

void Session::finish_request_head() {
  log_upstream_uri_.assign(scratch_upstream_path_);
  build_upstream_head(scratch_upstream_path_);
}

bool Session::route_request() {
  snap_ = worker_->snapshot();
  std::string_view path;
  if (!router::normalize_path(req_.path, scratch_path_, &path)) {
    local_reply(400, "Bad request", true);
    return false;
  }
  router::RequestKeys keys;
  keys.method = req_.method;
  keys.host = req_.host;
  keys.path = path;
  keys.headers = req_.headers;
  keys.num_headers = req_.num_headers;
  match_ = snap_->router.match(keys);
  // An unread request body would be taken for the next request: close instead.
  bool body_pending = !req_body_.done;
  if (match_.route < 0) {
    local_reply(404, "no Route matched with those values", close_after_ || body_pending);
    return false;
  }
  route_ = match_.route;
  const config::Route& route = snap_->decl.routes[match_.route];
  if (!route.allows("http")) {
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
  compute_hash(path);
  if (!pick_peer()) {
    local_reply(503, service_->via_upstream ? "failure to get a peer from the ring-balancer" : "name resolution failed",
                close_after_ || body_pending);
    return false;
  }
  // Kong's request_postfix: after the stripped prefix when a path matched,
  // otherwise the path without its leading slash.
  bool stripped = route.strip_path && match_.by_path;
  fwd_prefix_ = stripped ? path.substr(0, match_.prefix_len) : std::string_view();
  std::string_view postfix = router::sanitize_postfix(stripped ? path.substr(match_.prefix_len) : path.substr(1));
  router::upstream_path_v0(service_->cfg.path, route.strip_path, path, postfix, scratch_upstream_path_);
  if (!req_.query.empty() || req_.target.find('?') != std::string_view::npos) {
    scratch_upstream_path_.push_back('?');
    scratch_upstream_path_.append(req_.query);
  }
  if (!snap_->filters.by_route[route_].empty()) {
    FilterStep step = run_request_filters(0);
    if (step == FilterStep::Ended) return false;
    if (step == FilterStep::Paused) return true;
  }
  finish_request_head();
  return true;
}

void Session::build_upstream_head(std::string_view upstream_path) {
  const config::Route& route = snap_->decl.routes[route_];
  // The headers to send: as parsed, or as the Wasm filters left them.
  const http::Header* headers = req_.headers;
  size_t num_headers = req_.num_headers;
  std::string_view method = req_.method;
  std::string_view host = route.preserve_host ? req_.host : host_for_peer();
  preserve_host_ = route.preserve_host;
  if (!wctx_.empty()) {
    // The filters' map: its entries carry their HeaderIds; pseudo-headers
    // (names starting with ':') are skipped below.
    const wasm::HeaderMap& m = wstream_.request_headers;
    // The pseudo-headers only matter when a filter changed them.
    for (size_t i = 0; m.pseudo_changed() && i < m.size(); ++i) {
      const http::Header& hd = m.data()[i];
      if (hd.name == ":method") {
        method = hd.value;
      } else if (hd.name == ":path") {
        if (hd.value != req_.target) upstream_path = hd.value;  // a filter rewrote the path: sent as is
      } else if (hd.name == ":authority") {
        if (hd.value != req_.host) {
          host = hd.value;
          preserve_host_ = true;  // the filter chose the Host: keep it on retries
        }
      }
    }
    headers = m.data();
    num_headers = m.size();
  }
  std::string& h = up_head_;
  h.clear();
  h.append(method);
  h.push_back(' ');
  h.append(upstream_path);
  // A 1.0 client gets a 1.0 exchange upstream, so the response is never chunked.
  h.append(req_.minor_version == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  h.append("Host: ");
  host_value_pos_ = h.size();
  h.append(host);
  host_value_len_ = h.size() - host_value_pos_;
  h.append("\r\n");

  std::string_view via;
  std::string_view xff_first;  // common case: one X-Forwarded-For header, no copy
  bool xff_many = false;
  for (size_t i = 0; i < num_headers; ++i) {
    const http::Header& hd = headers[i];
    if (hd.hop_by_hop || hd.name[0] == ':') continue;
    switch (hd.id) {
      case http::HeaderId::Host:
      case http::HeaderId::ContentLength:
      case http::HeaderId::Expect:
      case http::HeaderId::XForwardedProto:
      case http::HeaderId::XForwardedHost:
      case http::HeaderId::XForwardedPort:
      case http::HeaderId::XForwardedPath:
      case http::HeaderId::XForwardedPrefix:
      case http::HeaderId::XRealIp:
        continue;
      case http::HeaderId::Via:
        via = hd.value;
        continue;
      case http::HeaderId::XForwardedFor:
        if (xff_first.data() == nullptr) {
          xff_first = hd.value;
        } else {
          xff_many = true;
        }
        continue;
      default:
        break;
    }
    append_header(h, hd.name, hd.value);
  }
  // A body that goes through the filters gets its framing when the chain
  // first lets bytes out (frame_request_output).
  if (req_chain_.active) {
  } else if (req_.body == http::BodyKind::Length) {
    h.append("Content-Length: ");
    append_uint(h, req_.content_length);
    h.append("\r\n");
  } else if (req_.body == http::BodyKind::Chunked) {
    h.append("Transfer-Encoding: chunked\r\n");
  }
  // X-Forwarded-For: the client's list with the client appended, as nginx's
  // $proxy_add_x_forwarded_for; the other X-Forwarded-* are ours (the client
  // is not a trusted proxy).
  h.append("X-Forwarded-For: ");
  if (xff_first.data() != nullptr) {
    if (!xff_many) {
      h.append(xff_first);
    } else {
      bool first = true;
      for (size_t i = 0; i < num_headers; ++i) {
        if (headers[i].id != http::HeaderId::XForwardedFor) continue;
        if (!first) h.append(", ");
        h.append(headers[i].value);
        first = false;
      }
    }
    h.append(", ");
  }
  h.append(client_ip_);
  h.append("\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: ");
  // nginx's $host: lower-cased, without the port.
  http::append_lower(h, http::host_without_port(req_.host));
  h.append("\r\nX-Forwarded-Port: ");
  append_uint(h, static_cast<uint64_t>(worker_->listen_port()));
  h.append("\r\nX-Forwarded-Path: ");
  h.append(req_.path);
  h.append("\r\n");
  // The prefix stripped by strip_path, so the upstream can rebuild links.
  if (!fwd_prefix_.empty() && fwd_prefix_ != "/") append_header(h, "X-Forwarded-Prefix", fwd_prefix_);
  append_header(h, "X-Real-IP", client_ip_);
  // Via: the client's chain with us appended (RFC 9110 7.6.3), as Kong does.
  h.append("Via: ");
  if (via.data() != nullptr) {
    h.append(via);
    h.append(", ");
  }
  h.append(req_.minor_version == 0 ? "1.0 " kServerToken "\r\n\r\n" : "1.1 " kServerToken "\r\n\r\n");
  request_replayable_ = req_.body == http::BodyKind::None;
}

// ---------------------------------------------------------------- upstream

// Kong's Host when preserve_host is off: the upstream's host_header, else
// the chosen target's name; with the target's port unless 80.
std::string_view Session::host_for_peer() const { return balancer_->peers()[peer_].host_header; }

bool Session::pick_peer() {
  upstream::BalancerState* st = worker_->balancer_state(*snap_, service_->balancer);
  peer_ = balancer_->pick(*st, hash_, has_hash_, tried_mask_);
  return peer_ >= 0;
}

void Session::connect_upstream() {
  const uint64_t now = worker_->loop().now_ms();
  if (t_upstream_start_ == 0) t_upstream_start_ = now;
  t_try_start_ = now;
  if (peer_ < 0) {
    if (!pick_peer()) {
      local_reply(503, "failure to get a peer from the ring-balancer", close_after_ || !req_body_.done);
      return;
    }
    // A different target may need a different Host.
    if (!preserve_host_) up_head_.replace(host_value_pos_, host_value_len_, host_for_peer());
    host_value_len_ = host_for_peer().size();
  }
  ++tries_;
  const upstream::Peer& peer = balancer_->peers()[peer_];
  balancer_->on_start(*worker_->balancer_state(*snap_, service_->balancer), peer_);
  up_ = worker_->upstreams().take_idle(peer.endpoint);
  if (up_ == nullptr) {
    int err = 0;
    up_ = worker_->upstreams().connect(reinterpret_cast<const sockaddr*>(&peer.addr), peer.addr_len, peer.endpoint,
                                       &err);
    if (up_ == nullptr) {
      WG_LOG(Warn, "connect to %s failed: %s", peer.name.c_str(), strerror(err));
      upstream_failed(502, true, shared::Outcome::TcpFailure);
      return;
    }
  }
  up_->owner = this;
  worker_->buffers().acquire(up_->in);
  up_head_off_ = 0;
  req_done_ = false;  // (re)send the request on this connection
  resp_parser_.reset();
  resp_head_done_ = false;
  resp_body_ready_ = 0;
}

// Passive health checks: what this try says about its peer.
void Session::report_passive(shared::Outcome outcome, int status) {
  if (peer_ < 0 || !balancer_->passive_checks()) return;
  const upstream::Peer& peer = balancer_->peers()[peer_];
  peer.health->report_passive(balancer_->config().healthchecks.passive, outcome, status, peer.name);
}

// The try is over: least-connections and latency bookkeeping.
void Session::finish_peer() {
  if (peer_ < 0) return;
  const uint64_t now = worker_->loop().now_ms();
  balancer_->on_finish(*worker_->balancer_state(*snap_, service_->balancer), peer_, now - t_try_start_, now);
  peer_ = -1;
}

void Session::upstream_failed(int status, bool retryable, shared::Outcome outcome) {
  bool reused = up_ != nullptr && up_->requests > 0;
  release_upstream(false);
  // A reused keep-alive connection the upstream had closed is not a real
  // try: send again on a fresh connection to the same peer.
  if (reused && retryable && !resp_started_) {
    --tries_;
    int peer = peer_;
    finish_peer();
    peer_ = peer;  // same peer, fresh connection
    connect_upstream();
    return;
  }
  report_passive(outcome, 0);
  int failed = peer_;
  finish_peer();
  if (retryable && !resp_started_ && tries_ <= service_->cfg.retries) {
    // The next try goes to another peer when there is one.
    if (failed >= 0 && failed < 64) tried_mask_ |= uint64_t{1} << failed;
    connect_upstream();
    return;
  }
  if (resp_started_) {
    close();  // too late for an error reply: the client sees a truncated response
    return;
  }
  // Keep the client connection only when the whole request body is known.
  local_reply(status, status == 504 ? kMsgTimeout : kMsgBadGateway, close_after_ || !req_body_.done);
}

// 1 when the upstream connection is up, 0 while connecting, -1 when the
// connect failed (the try was handed to upstream_failed).
int Session::upstream_connected() {
  if (up_->connected) return 1;
  if (!up_->writable) return 0;
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(up_->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    WG_LOG(Warn, "connect to %s failed: %s", up_->endpoint.c_str(), strerror(err));
    upstream_failed(502, true, shared::Outcome::TcpFailure);
    return -1;
  }
  up_->connected = true;
  return 1;
}

bool Session::step_send_request() {
  if (up_ == nullptr || req_done_) return false;
  int up = upstream_connected();
  if (up <= 0) return up < 0;
  bool progress = false;
  bool framing_error = false;
  for (;;) {
    // Claim newly read body bytes (each byte is scanned once).
    // Bytes in in_ up to the end of the body are "ready" to send; the
    // framer remembers where it stopped, so only unscanned bytes are looked at.
    req_ready_ += req_body_.claim(in_.data + in_.start + req_ready_, in_.size() - req_ready_, &framing_error);
    size_t ready = req_ready_;
    if (framing_error) {
      WG_LOG(Info, "client %s: invalid request body framing", client_ip_);
      release_upstream(false);
      if (!resp_started_) {
        local_reply(400, "Bad request", true);
      } else {
        close();
      }
      return true;
    }
    size_t head_left = up_head_.size() - up_head_off_;
    if (head_left > 0 || ready > 0) {
      if (!up_->writable) return progress;
      iovec iov[2];
      int cnt = 0;
      if (head_left > 0) iov[cnt++] = {up_head_.data() + up_head_off_, head_left};
      if (ready > 0) iov[cnt++] = {in_.data + in_.start, ready};
      ssize_t n = ::writev(up_->fd, iov, cnt);
      if (n < 0) {
        if (would_block(n)) {
          up_->writable = false;
          return progress;
        }
        // The upstream stopped reading. It may have answered early (413,
        // 401...): stop sending and let the response side decide; if no
        // response comes, that side reports the failure.
        WG_LOG(Info, "upstream %s stopped reading the request: %s", up_->endpoint.c_str(), strerror(errno));
        close_after_ = close_after_ || !req_body_.done || req_ready_ > 0;
        req_done_ = true;
        up_->readable = true;
        return true;
      }
      size_t sent = static_cast<size_t>(n);
      size_t from_head = sent < head_left ? sent : head_left;
      up_head_off_ += from_head;
      size_t from_body = sent - from_head;
      in_.consume(from_body);
      req_ready_ -= from_body;
      request_size_ += from_body;
      progress = true;
      continue;
    }
    if (req_body_.done) {
      req_done_ = true;
      return true;
    }
    int more = read_more_body();
    if (more < 0) return true;
    if (more == 0) return progress;
    progress = true;
  }
}

// Reads more of the request body from the client (after flushing a pending
// 100 Continue): 1 when bytes arrived, 0 when none yet, -1 when the client
// went away mid-body (the session is closed: nothing sensible can be answered).
int Session::read_more_body() {
  if (client_out_off_ < client_out_.size()) flush_client_out();
  if (closed) return -1;
  if (read_client()) return 1;
  if (!peer_closed_) return 0;
  WG_LOG(Info, "client %s closed the connection while sending the body", client_ip_);
  status_ = 400;
  log_request();
  close();
  return -1;
}

bool Session::flush_client_out() {
  bool progress = false;
  while (client_out_off_ < client_out_.size()) {
    if (!writable_) return progress;
    ssize_t n = ::write(fd_, client_out_.data() + client_out_off_, client_out_.size() - client_out_off_);
    if (n < 0) {
      if (would_block(n)) {
        writable_ = false;
        return progress;
      }
      close();
      return true;
    }
    client_out_off_ += static_cast<size_t>(n);
    bytes_sent_ += static_cast<uint64_t>(n);
    progress = true;
  }
  client_out_.clear();
  client_out_off_ = 0;
  return progress;
}

bool Session::parse_response_head() {
  for (;;) {
    core::Buffer& b = up_->in;
    auto st = resp_parser_.parse_response(b.data + b.start, b.size(), worker_->settings().max_header_size, resp_);
    if (st == http::ParseStatus::Incomplete) {
      if (b.start == 0 && b.end == b.cap) {
        WG_LOG(Warn, "upstream %s sent a response head that is too large", up_->endpoint.c_str());
        upstream_failed(502, false, shared::Outcome::HttpFailure);
        return true;
      }
      return false;
    }
    if (st == http::ParseStatus::Error) {
      WG_LOG(Warn, "upstream %s sent an invalid response: %s", up_->endpoint.c_str(), resp_parser_.error_reason());
      upstream_failed(502, false, shared::Outcome::HttpFailure);
      return true;
    }
    if (resp_.status >= 100 && resp_.status < 200) {
      // Interim responses: 100 was already answered by us (Expect is not
      // forwarded); others (103) go to 1.1 clients as they are; 101 would
      // mean an upgrade we never asked for.
      if (resp_.status == 101) {
        upstream_failed(502, false, shared::Outcome::HttpFailure);
        return true;
      }
      if (resp_.status != 100 && log_minor_ >= 1) client_out_.append(b.data + b.start, resp_.head_len);
      b.consume(resp_.head_len);
      resp_parser_.reset();
      continue;
    }
    t_upstream_head_ = worker_->loop().now_ms();
    status_ = resp_.status;
    report_passive(shared::Outcome::Success, resp_.status);
    resp_body_.start(head_request_ ? http::BodyKind::None : resp_.body, resp_.content_length);
    if (!wctx_.empty()) {
      FilterStep step = run_response_filters(0);  // copies the head first
      if (step == FilterStep::Ended) return true;  // the upstream connection is gone
      b.consume(resp_.head_len);
      resp_head_done_ = true;
      if (step == FilterStep::Paused) state_ = State::FilterWait;
      if (step == FilterStep::Go) after_response_filters();
      return true;
    }
    build_client_head();
    b.consume(resp_.head_len);
    resp_head_done_ = true;
    resp_started_ = true;
    return true;
  }
}

// The client's response head. With filters, the headers (and the status)
// are the ones they left; framing is the upstream's unless the body went
// through the filter chain.
void Session::build_client_head(Framing framing, uint64_t length) {
  std::string& o = client_out_;
  int status = resp_.status;
  std::string_view reason = resp_.reason;
  const http::Header* headers = resp_.headers;
  size_t num_headers = resp_.num_headers;
  if (!wctx_.empty()) {
    const wasm::HeaderMap& m = wstream_.response_headers;
    if (m.pseudo_changed()) {
      int st = 0;
      std::string_view v = m.get_exact(":status");
      std::from_chars(v.data(), v.data() + v.size(), st);
      if (st >= 100 && st <= 999) status = st;
    }
    headers = m.data();
    num_headers = m.size();
    // The upstream's bytes are gone, but the map kept a copy of the head;
    // a new status gets its standard phrase.
    reason = status == resp_.status ? m.kept(resp_.reason) : std::string_view();
  }
  o.append(log_minor_ == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
  append_uint(o, static_cast<uint64_t>(status));
  o.push_back(' ');
  o.append(reason.empty() ? http::reason_phrase(status) : reason);
  o.append("\r\n");
  std::string_view via;
  bool has_server = false, has_length = false;
  for (size_t i = 0; i < num_headers; ++i) {
    const http::Header& hd = headers[i];
    if (hd.hop_by_hop || hd.name[0] == ':') continue;
    if (hd.id == http::HeaderId::Via) {
      via = hd.value;
      continue;
    }
    if (hd.id == http::HeaderId::ContentLength) {
      if (framing != Framing::Upstream) continue;  // ours replaces it
      has_length = true;
    }
    if (hd.id == http::HeaderId::Server) has_server = true;
    append_header(o, hd.name, hd.value);
  }
  if (!set_cookie_.empty()) o.append(set_cookie_);
  switch (framing) {
    case Framing::Upstream:
      if (resp_body_.kind == http::BodyKind::Chunked) o.append("Transfer-Encoding: chunked\r\n");
      if (resp_body_.kind == http::BodyKind::UntilClose) close_after_ = true;
      // A filter removed Content-Length from a body it let through as is.
      if (resp_body_.kind == http::BodyKind::Length && !has_length && !wctx_.empty()) {
        o.append("Content-Length: ");
        append_uint(o, resp_.content_length);
        o.append("\r\n");
      }
      break;
    case Framing::Length:
      o.append("Content-Length: ");
      append_uint(o, length);
      o.append("\r\n");
      break;
    case Framing::Chunked:
      o.append("Transfer-Encoding: chunked\r\n");
      break;
    case Framing::Close:
      close_after_ = true;
      break;
  }
  if (worker_->draining()) close_after_ = true;
  uint64_t upstream_ms = t_upstream_head_ - t_upstream_start_;
  o.append("X-Kong-Upstream-Latency: ");
  append_uint(o, upstream_ms);
  o.append("\r\nX-Kong-Proxy-Latency: ");
  append_uint(o, t_upstream_start_ - t_start_);
  o.append("\r\nVia: ");
  if (via.data() != nullptr) {
    o.append(via);
    o.append(", ");
  }
  o.append("1.1 " kServerToken "\r\n");
  if (!has_server) o.append("Server: " kServerToken "\r\n");
  if (close_after_) {
    o.append("Connection: close\r\n");
  } else if (log_minor_ == 0) {
    o.append("Connection: keep-alive\r\n");
  }
  o.append("\r\n");
}

bool Session::step_receive_response() {
  if (up_ == nullptr || !up_->connected) return false;
  bool progress = false;
  for (;;) {
    if (client_out_off_ < client_out_.size()) {
      if (!flush_client_out()) return progress;
      if (closed) return true;
      progress = true;
      continue;
    }
    core::Buffer& b = up_->in;
    if (resp_head_done_ && resp_chain_.active) {
      int r = pump_response_chain(b);
      if (r < 0) return true;  // ended, or the session moved on
      if (r == 2) return progress;  // a filter holds the end of the body
      if (r == 1) {
        progress = true;
        continue;
      }
      // else: read more below
    } else if (resp_head_done_) {
      if (resp_body_ready_ > 0) {
        if (!writable_) return progress;
        ssize_t n = ::write(fd_, b.data + b.start, resp_body_ready_);
        if (n < 0) {
          if (would_block(n)) {
            writable_ = false;
            return progress;
          }
          status_ = status_ ? status_ : 499;
          log_request();
          close();
          return true;
        }
        b.consume(static_cast<size_t>(n));
        resp_body_ready_ -= static_cast<size_t>(n);
        bytes_sent_ += static_cast<uint64_t>(n);
        progress = true;
        continue;
      }
      if (resp_body_.done) {
        resp_done_ = true;
        log_request();
        finish_exchange();
        return true;
      }
      bool error = false;
      size_t n = resp_body_.claim(b.data + b.start, b.size(), &error);
      if (error) {
        WG_LOG(Warn, "upstream %s sent invalid chunked framing", up_->endpoint.c_str());
        log_request();
        close();
        return true;
      }
      if (n > 0 || resp_body_.done) {
        resp_body_ready_ += n;
        progress = true;
        continue;
      }
    } else if (!b.empty()) {
      if (parse_response_head()) {
        progress = true;
        if (closed || state_ != State::Proxy || up_ == nullptr) return true;
        continue;
      }
    }
    // Need more bytes from the upstream.
    if (!up_->readable) return progress;
    if (b.end == b.cap) b.compact();
    if (b.end == b.cap) return progress;  // waiting for the client to drain
    size_t room = b.cap - b.end;
    ssize_t n = ::read(up_->fd, b.data + b.end, room);
    if (n > 0) {
      b.end += static_cast<size_t>(n);
      if (static_cast<size_t>(n) < room && !up_->hup) up_->readable = false;  // drained, as above
      progress = true;
      continue;
    }
    if (would_block(n)) {
      up_->readable = false;
      return progress;
    }
    // EOF or reset from the upstream.
    if (!resp_head_done_) {
      bool nothing_received = b.empty();
      if (nothing_received) {
        WG_LOG(Warn, "upstream %s closed the connection before responding", up_->endpoint.c_str());
      } else {
        WG_LOG(Warn, "upstream %s closed the connection in the middle of the response head", up_->endpoint.c_str());
      }
      upstream_failed(502, nothing_received && request_replayable_ && idempotent(log_method_),
                      shared::Outcome::TcpFailure);
      return true;
    }
    if (resp_body_.kind == http::BodyKind::UntilClose && n == 0) {
      resp_body_.done = true;
      progress = true;
      continue;
    }
    WG_LOG(Warn, "upstream %s closed the connection in the middle of the response body", up_->endpoint.c_str());
    log_request();
    close();
    return true;
  }
}

// ---------------------------------------------------------------- endings

void Session::finish_exchange() {
  finish_peer();
  end_filters();
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
  if (close_after_ || worker_->draining()) {
    // Half-close, then linger so the client reads the whole answer.
    ::shutdown(fd_, SHUT_WR);
    state_ = State::Closing;
    deadline_ = worker_->loop().now_ms() + kLingerMs;
    return;
  }
  state_ = State::ReadHead;
  parser_.reset();
  t_start_ = 0;
  req_ready_ = 0;
}

void Session::local_reply(int status, std::string_view message, bool close_after, std::string_view extra_headers) {
  release_upstream(false);
  status_ = status;
  close_after_ = close_after_ || close_after;
  std::string& o = client_out_;
  o.append(log_minor_ == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
  append_uint(o, static_cast<uint64_t>(status));
  o.push_back(' ');
  o.append(http::reason_phrase(status));
  o.append("\r\n");
  // Redirects carry no body, like kong.response.exit(code) without one.
  bool body = !message.empty();
  if (body) {
    o.append("Content-Type: application/json; charset=utf-8\r\nContent-Length: ");
    append_uint(o, message.size() + 15);  // {"message":"..."}\n
    o.append("\r\n");
  } else {
    o.append("Content-Length: 0\r\n");
  }
  o.append("Server: " kServerToken "\r\n");
  o.append(extra_headers);
  if (close_after_) o.append("Connection: close\r\n");
  o.append("\r\n");
  if (body && !head_request_) {
    o.append("{\"message\":\"");
    o.append(message);
    o.append("\"}\n");
  }
  resp_started_ = true;
  state_ = State::LocalReply;
}

// The value consistent-hashing balances on (Kong's hash_on, then
// hash_fallback when the first source is empty).
std::string_view Session::hash_source(const std::string& on, const std::string& header, const std::string& query_arg,
                                      const std::string& capture, std::string_view path) {
  const auto& u = balancer_->config();
  if (on == "ip") return client_ip_;
  if (on == "path") return path;
  if (on == "header") {
    for (size_t i = 0; i < req_.num_headers; ++i) {
      if (http::iequals(req_.headers[i].name, header)) return req_.headers[i].value;
    }
    return {};
  }
  if (on == "query_arg") {
    // As Kong's get_query_arg: values decoded; repeated args sorted and joined.
    std::vector<std::string>& values = hash_values_;
    values.clear();
    std::string_view q = req_.query;
    while (!q.empty()) {
      size_t amp = q.find('&');
      std::string_view kv = q.substr(0, amp);
      size_t eq = kv.find('=');
      std::string key, value;
      if (percent_decode(kv.substr(0, eq), &key) && key == query_arg && eq != std::string_view::npos &&
          percent_decode(kv.substr(eq + 1), &value)) {
        values.push_back(std::move(value));
      }
      if (amp == std::string_view::npos) break;
      q.remove_prefix(amp + 1);
    }
    std::sort(values.begin(), values.end());
    hash_scratch_.clear();
    for (size_t i = 0; i < values.size(); ++i) {
      if (i) hash_scratch_.push_back(',');
      hash_scratch_.append(values[i]);
    }
    return hash_scratch_;
  }
  if (on == "uri_capture") {
    if (!match_.regex || match_.re == nullptr) return {};
    for (int i = 1; i < match_.captures.count; ++i) {
      bool named = match_.re->group_name(i) == capture;
      bool numbered = std::to_string(i) == capture;
      if ((named || numbered) && match_.captures.begin[i] <= match_.captures.end[i] &&
          match_.captures.end[i] <= path.size()) {
        return path.substr(match_.captures.begin[i], match_.captures.end[i] - match_.captures.begin[i]);
      }
    }
    return {};
  }
  if (on == "cookie") {
    for (size_t i = 0; i < req_.num_headers; ++i) {
      if (!http::iequals(req_.headers[i].name, "cookie")) continue;
      std::string_view c = req_.headers[i].value;
      while (!c.empty()) {
        size_t semi = c.find(';');
        std::string_view kv = c.substr(0, semi);
        while (!kv.empty() && kv.front() == ' ') kv.remove_prefix(1);
        size_t eq = kv.find('=');
        if (eq != std::string_view::npos && kv.substr(0, eq) == u.hash_on_cookie) return kv.substr(eq + 1);
        if (semi == std::string_view::npos) break;
        c.remove_prefix(semi + 1);
      }
    }
    // No cookie yet: make one (a random UUID, as Kong), and hand it to the
    // client with the response.
    thread_local std::mt19937_64 rng{std::random_device{}()};
    uint64_t hi = rng(), lo = rng();
    char value[40];
    snprintf(value, sizeof value, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
             static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0x0fff),
             static_cast<unsigned>(0x8000 | ((lo >> 48) & 0x3fff)),
             static_cast<unsigned long long>(lo & 0xffffffffffffULL));
    set_cookie_ = "Set-Cookie: " + u.hash_on_cookie + "=" + value + "; Path=" + u.hash_on_cookie_path +
                  "; Same-Site=Lax; HttpOnly\r\n";
    cookie_value_ = value;
    return cookie_value_;
  }
  return {};  // none, consumer (no consumers yet)
}

void Session::compute_hash(std::string_view path) {
  has_hash_ = false;
  set_cookie_.clear();
  if (!balancer_->uses_hash()) return;
  const auto& u = balancer_->config();
  std::string_view v = hash_source(u.hash_on, u.hash_on_header, u.hash_on_query_arg, u.hash_on_uri_capture, path);
  if (v.empty() && u.hash_fallback != "none") {
    v = hash_source(u.hash_fallback, u.hash_fallback_header, u.hash_fallback_query_arg, u.hash_fallback_uri_capture,
                    path);
  }
  if (v.empty()) return;
  hash_ = upstream::Balancer::hash_key(v);
  has_hash_ = true;
}

// A route that only allows https, hit over plain http (Kong's behaviour).
void Session::https_redirect(const config::Route& route, bool body_pending) {
  int code = route.https_redirect_status_code;
  if (code == 426) {
    local_reply(426, "Please use HTTPS protocol", close_after_ || body_pending,
                "Upgrade: TLS/1.2, HTTP/1.1\r\n");
    return;
  }
  std::string location = "Location: https://";
  http::append_lower(location, http::host_without_port(req_.host));
  location.append(req_.target);
  location.append("\r\n");
  local_reply(code, "", close_after_ || body_pending, location);
}

void Session::log_request() {
  AccessLog& log = worker_->access_log();
  if (!log.enabled()) return;
  const uint64_t now = worker_->loop().now_ms();
  LogRecord r;
  r.client_ip = client_ip_;
  r.method = log_method_;
  r.uri = log_uri_;
  r.minor_version = log_minor_;
  r.status = status_;
  r.bytes_sent = bytes_sent_;
  r.request_size = request_size_;
  r.referer = log_referer_;
  r.user_agent = log_ua_;
  if (snap_ && route_ >= 0) {
    const auto& route = snap_->decl.routes[route_];
    r.route = route.name.empty() ? std::string_view(route.id) : std::string_view(route.name);
    if (service_ != nullptr) {
      r.service = service_->cfg.name.empty() ? std::string_view(service_->cfg.id) : std::string_view(service_->cfg.name);
    }
  }
  r.upstream_uri = log_upstream_uri_;
  uint64_t start = t_start_ ? t_start_ : now;
  r.total_ms = static_cast<int64_t>(now - start);
  r.upstream_ms = t_upstream_start_ ? static_cast<int64_t>(now - t_upstream_start_) : -1;
  r.gateway_ms = r.total_ms - (r.upstream_ms > 0 ? r.upstream_ms : 0);
  r.tries = tries_;
  log.write(r);
}

// ---------------------------------------------------------------- timeouts

void Session::update_deadline() {
  const uint64_t now = worker_->loop().now_ms();
  const auto& s = worker_->settings();
  uint64_t t = static_cast<uint64_t>(s.client_timeout_ms);
  switch (state_) {
    case State::ReadHead:
      t = static_cast<uint64_t>(in_.empty() ? s.keepalive_timeout_ms : s.client_timeout_ms);
      break;
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
    case State::FilterWait:
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
    case State::LocalReply:
    case State::Closing:
      close();
      return;
    case State::FilterWait:
      WG_LOG(Warn, "a filter paused the request and did not resume it in time");
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
        status_ = 408;
        log_request();
        close();
        return;
      } else if (!resp_head_done_) {
        WG_LOG(Warn, "upstream %s timed out", up_ != nullptr ? up_->endpoint.c_str() : "-");
        upstream_failed(504, request_replayable_ && idempotent(log_method_), shared::Outcome::Timeout);
      } else {
        WG_LOG(Warn, "response from upstream timed out or the client stopped reading");
        log_request();
        close();
        return;
      }
      break;
  }
  drive();
}

}  // namespace wg::proxy
