// One upstream try at a time: connect (or reuse a keep-alive connection),
// send the request, read the response head, run the handlers' response
// head phase, stream the body back; failures retried as the service says.
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "proxy/worker_context.h"
#include "proxy/request_flow.h"
#include "proxy/wire.h"
#include "tls/client.h"

namespace wg::proxy {
namespace {
constexpr std::string_view kMsgBadGateway = "An invalid response was received from the upstream server";
constexpr std::string_view kMsgTimeout = "The upstream server is timed out";
}  // namespace

void RequestFlow::start_upstream() {
  if (down_->expect_continue && !down_->body_bytes_waiting()) {
    down_->write_continue();
  }
  state_ = State::Proxy;
  connect_upstream();
}

void RequestFlow::release_upstream(bool reusable) {
  if (up_ == nullptr) return;
  upstream::Conn* c = up_;
  up_ = nullptr;
  const core::Settings& s = worker_->settings();
  // Kong's upstream keep-alive limits: requests per connection, idle time.
  const bool spent = s.upstream_keepalive_max_requests > 0 &&
                     c->requests + 1 >= static_cast<uint32_t>(s.upstream_keepalive_max_requests);
  if (reusable && !spent && !worker_->draining()) {
    ++c->requests;
    const uint64_t idle_ms = static_cast<uint64_t>(s.upstream_keepalive_idle_timeout_s) * 1000;
    worker_->upstreams().put_idle(c, idle_ms > 0 ? worker_->loop().now_ms() + idle_ms : UINT64_MAX);
  } else {
    worker_->upstreams().close(c);
  }
}

bool RequestFlow::pick_peer() {
  upstream::BalancerState* st = worker_->balancer_state(*snap_, service_->balancer);
  peer_ = balancer_->pick(*st, hash_, has_hash_, tried_mask_);
  return peer_ >= 0;
}

void RequestFlow::connect_upstream() {
  const uint64_t now = worker_->loop().now_ms();
  if (x_->timings.upstream_start_ms == 0) x_->timings.upstream_start_ms = now;
  t_try_start_ = now;
  if (peer_ < 0) {
    if (!pick_peer()) {
      local_reply(503, "failure to get a peer from the ring-balancer", down_->close_after || !down_->body_read());
      return;
    }
    // A different target may need a different Host.
    if (!preserve_host_) up_head_.replace(host_value_pos_, host_value_len_, host_for_peer());
    host_value_len_ = host_for_peer().size();
  }
  ++x_->log.tries;
  const upstream::Peer& peer = balancer_->peers()[peer_];
  if (x_->log.tries <= pipeline::LogFields::kLoggedTries) x_->log.try_peers[x_->log.tries - 1] = peer.endpoint;
  balancer_->on_start(*worker_->balancer_state(*snap_, service_->balancer), peer_);
  const tls::ClientTls* tls = service_->tls.get();
  const std::string& key = tls == nullptr ? peer.endpoint : tls_pool_key(peer.endpoint);
  up_ = worker_->upstreams().take_idle(key);
  if (up_ == nullptr) {
    int err = 0;
    up_ = worker_->upstreams().connect(reinterpret_cast<const sockaddr*>(&peer.addr), peer.addr_len, peer.endpoint,
                                       key, &err);
    if (up_ == nullptr) {
      WG_LOG(Warn, "connect to %s failed: %s", peer.name.c_str(), strerror(err));
      upstream_failed(502, true, shared::Outcome::TcpFailure);
      return;
    }
    if (tls != nullptr) up_->io.start_tls(tls->connect(upstream_server_name()));
  }
  up_->owner = this;
  worker_->buffers().acquire(up_->in);
  up_head_off_ = 0;
  req_done_ = false;  // (re)send the request on this connection
  resp_parser_.reset();
  resp_head_done_ = false;
  resp_body_ready_ = 0;
}

// The host the upstream is asked for (the Host sent, without its port):
// the server name sent as SNI and verified against the certificate.
std::string_view RequestFlow::upstream_server_name() const {
  return http::host_without_port(std::string_view(up_head_).substr(host_value_pos_, host_value_len_));
}

// Keep-alive reuse of a TLS connection needs the same service (its TLS
// settings) and the same server name. Built in a reused buffer.
const std::string& RequestFlow::tls_pool_key(const std::string& endpoint) {
  tls_key_.assign(endpoint);
  tls_key_.push_back(' ');
  tls_key_.append(service_->cfg.id);
  tls_key_.push_back(' ');
  tls_key_.append(upstream_server_name());
  return tls_key_;
}

// Passive health checks: what this try says about its peer.
void RequestFlow::report_passive(shared::Outcome outcome, int status) {
  if (peer_ < 0 || !balancer_->passive_checks()) return;
  const upstream::Peer& peer = balancer_->peers()[peer_];
  peer.health->report_passive(balancer_->config().healthchecks.passive, outcome, status, peer.name);
}

// The try is over: least-connections and latency bookkeeping.
void RequestFlow::finish_peer() {
  if (peer_ < 0) return;
  const uint64_t now = worker_->loop().now_ms();
  balancer_->on_finish(*worker_->balancer_state(*snap_, service_->balancer), peer_, now - t_try_start_, now);
  peer_ = -1;
}

void RequestFlow::upstream_failed(int status, bool retryable, shared::Outcome outcome) {
  bool reused = up_ != nullptr && up_->requests > 0;
  release_upstream(false);
  // A reused keep-alive connection the upstream had closed is not a real
  // try: send again on a fresh connection to the same peer.
  if (reused && retryable && !resp_started_) {
    --x_->log.tries;
    int peer = peer_;
    finish_peer();
    peer_ = peer;  // same peer, fresh connection
    connect_upstream();
    return;
  }
  report_passive(outcome, 0);
  int failed = peer_;
  finish_peer();
  if (retryable && !resp_started_ && x_->log.tries <= service_->cfg.retries) {
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
  local_reply(status, status == 504 ? kMsgTimeout : kMsgBadGateway, down_->close_after || !down_->body_read());
}

// upstream_connected's slow path: the TCP connect's outcome, then the TLS
// handshake (connect_timeout covers both, as nginx's).
int RequestFlow::finish_connect() {
  if (!up_->tcp_connected) {
    if (!up_->writable) return 0;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(up_->io.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      WG_LOG(Warn, "connect to %s failed: %s", up_->endpoint.c_str(), strerror(err));
      upstream_failed(502, true, shared::Outcome::TcpFailure);
      return -1;
    }
    up_->tcp_connected = true;
  }
  const int tls = up_->io.handshake();  // 1 at once on a plain connection
  if (tls > 0) {
    up_->connected = true;
    return 1;
  }
  if (tls == 0) return 0;
  // Not retried: another try would meet the same certificate.
  WG_LOG(Warn, "upstream %s (%s): TLS handshake failed: %s", up_->endpoint.c_str(),
         std::string(upstream_server_name()).c_str(), up_->io.tls_error());
  upstream_failed(502, false, shared::Outcome::TcpFailure);
  return -1;
}

bool RequestFlow::step_send_request() {
  if (up_ == nullptr || req_done_) return false;
  int up = upstream_connected();
  if (up <= 0) return up < 0;
  bool progress = false;
  bool framing_error = false;
  for (;;) {
    // Claim newly read body bytes (each byte is scanned once).
    // Bytes read up to the end of the body are "ready" to send; the framer
    // remembers where it stopped, so only unscanned bytes are looked at.
    const size_t ready = down_->claim_body(&framing_error);
    if (framing_error) {
      WG_LOG(Info, "client %s: invalid request body framing", down_->client_ip);
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
      if (ready > 0) iov[cnt++] = {const_cast<char*>(down_->body_data()), ready};
      ssize_t n = up_->io.writev(iov, cnt);
      if (n < 0) {
        if (would_block(n)) {
          up_->writable = false;
          return progress;
        }
        // The upstream stopped reading. It may have answered early (413,
        // 401...): stop sending and let the response side decide; if no
        // response comes, that side reports the failure.
        WG_LOG(Info, "upstream %s stopped reading the request: %s", up_->endpoint.c_str(), strerror(errno));
        down_->close_after = down_->close_after || !down_->body_read() || ready > 0;
        req_done_ = true;
        up_->readable = true;
        return true;
      }
      size_t sent = static_cast<size_t>(n);
      size_t from_head = sent < head_left ? sent : head_left;
      up_head_off_ += from_head;
      size_t from_body = sent - from_head;
      down_->body_sent(from_body);
      x_->log.request_size += from_body;
      progress = true;
      continue;
    }
    if (down_->body_read()) {
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
// went away mid-body (the connection is closed: nothing sensible can be answered).
int RequestFlow::read_more_body() {
  if (down_->out_pending()) flush_client_out();
  if (closed) return -1;
  if (down_->read(worker_->buffers())) return 1;
  if (!down_->peer_closed) return 0;
  WG_LOG(Info, "client %s closed the connection while sending the body", down_->client_ip);
  x_->log.status = 400;
  close();
  return -1;
}

// Writes what is pending for the client. With body > 0, that many claimed
// response body bytes at the front of the upstream buffer go in the same
// writev: a head and the body in hand leave as one segment, which wakes
// the client once.
bool RequestFlow::flush_client_out(size_t body) {
  bool progress = false;
  while (down_->out_pending()) {
    if (!down_->writable) return progress;
    const size_t head_left = down_->out_left();
    ssize_t n = down_->write_out(body > 0 ? up_->in.data + up_->in.start : nullptr, body);
    if (n < 0) {
      if (would_block(n)) return progress;
      close();
      return true;
    }
    const size_t sent = static_cast<size_t>(n);
    if (sent > head_left) {
      const size_t from_body = sent - head_left;
      up_->in.consume(from_body);
      resp_body_ready_ -= from_body;
      body -= from_body;
    }
    x_->log.bytes_sent += static_cast<uint64_t>(n);
    progress = true;
  }
  down_->clear_out();
  return progress;
}

// Claims the response body bytes read so far (each byte is scanned once);
// false when their framing is invalid (the connection is then closed).
bool RequestFlow::claim_response_body(core::Buffer& b) {
  bool error = false;
  size_t n = resp_body_.claim(b.data + b.start + resp_body_ready_, b.size() - resp_body_ready_, &error);
  if (error) {
    WG_LOG(Warn, "upstream %s sent invalid chunked framing", up_->endpoint.c_str());
    close();
    return false;
  }
  resp_body_ready_ += n;
  return true;
}

bool RequestFlow::parse_response_head() {
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
    // An upgrade request's 101 is its final answer (the tunnel follows).
    const bool switching = resp_.status == 101 && upgrade_;
    if (switching && !http::iequals(resp_.upgrade, "websocket")) {
      WG_LOG(Warn, "upstream %s switched to a protocol other than the websocket asked for", up_->endpoint.c_str());
      upstream_failed(502, false, shared::Outcome::HttpFailure);
      return true;
    }
    if (resp_.status >= 100 && resp_.status < 200 && !switching) {
      // Interim responses: 100 was already answered by us (Expect is not
      // forwarded); others (103) go to 1.1 clients as they are; 101 would
      // mean an upgrade we never asked for.
      if (resp_.status == 101) {
        upstream_failed(502, false, shared::Outcome::HttpFailure);
        return true;
      }
      if (resp_.status != 100 && x_->minor_version >= 1) down_->write_interim({b.data + b.start, resp_.head_len});
      b.consume(resp_.head_len);
      resp_parser_.reset();
      continue;
    }
    // The connection an upgrade was asked on never goes back to the pool,
    // whatever the answer.
    if (upgrade_) resp_.keep_alive = false;
    x_->timings.upstream_head_ms = worker_->loop().now_ms();
    x_->log.status = resp_.status;
    x_->log.upstream_status = resp_.status;
    report_passive(shared::Outcome::Success, resp_.status);
    resp_body_.start(x_->head_request ? http::BodyKind::None : resp_.body, resp_.content_length);
    const bool full_head = handlers_have_head(pipeline::Direction::Response);
    if (full_head || handlers_lazy_head(pipeline::Direction::Response)) {
      pipeline::Exchange& x = *x_;
      x.response_has_body = !resp_body_.done;
      x.response_phase = true;
      http::HeaderMap& m = x.response_headers;
      m.clear();
      if (full_head) {
        // The handlers' copy of the head (the read buffer moves on).
        const char* head = b.data + b.start;
        m.keep({head, resp_.head_len});
        m.push_pseudo(":status", std::string_view(head + 9, 3));  // "HTTP/1.x 200": checked by the parser
        m.push_parsed(resp_.headers, resp_.num_headers, false);
      } else {
        // Deferred: its bytes stay put until the head is written (nothing
        // is read from the upstream while a handler holds the head).
        const char* head = b.data + b.start;
        m.defer_response({head, resp_.head_len}, resp_.headers, resp_.num_headers, std::string_view(head + 9, 3));
      }
      pipeline::Step step = runner_->response_head();
      if (step == pipeline::Step::Ended) {
        release_upstream(false);
        handler_ended(pipeline::Direction::Response);
        return true;  // the upstream connection is gone
      }
      b.consume(resp_.head_len);
      resp_head_done_ = true;
      if (step == pipeline::Step::Paused) state_ = State::HandlerWait;
      if (step == pipeline::Step::Go) after_header_filter();
      return true;
    }
    build_client_head();
    b.consume(resp_.head_len);
    resp_head_done_ = true;
    resp_started_ = true;
    return true;
  }
}

// The response head passed every handler: send it now, or, when the body
// goes through the handlers, with their first output (its framing depends
// on whether they let the whole body out at once).
void RequestFlow::after_header_filter() {
  if (!resp_body_.done) resp_wire_.active = runner_->start_body(pipeline::Direction::Response);
  if (resp_wire_.active) return;
  build_client_head();
  resp_started_ = true;
}

bool RequestFlow::step_receive_response() {
  if (up_ == nullptr || !up_->connected) return false;
  bool progress = false;
  for (;;) {
    core::Buffer& b = up_->in;
    if (down_->out_pending()) {
      // The response head goes out with the body bytes already read.
      const bool plain_body = resp_head_done_ && !resp_wire_.active;
      if (plain_body && resp_body_ready_ == 0 && !resp_body_.done && !b.empty() && !claim_response_body(b)) return true;
      if (!flush_client_out(plain_body ? resp_body_ready_ : 0)) return progress;
      if (closed) return true;
      progress = true;
      continue;
    }
    if (resp_head_done_ && resp_wire_.active) {
      int r = pump_response_chain(b);
      if (r < 0) return true;  // ended, or the flow moved on
      if (r == 2) return progress;  // a handler holds the end of the body
      if (r == 1) {
        progress = true;
        continue;
      }
      // else: read more below
    } else if (resp_head_done_) {
      if (resp_body_ready_ > 0) {
        if (!down_->writable) return progress;
        ssize_t n = down_->write_body(b.data + b.start, resp_body_ready_);
        if (n < 0) {
          if (would_block(n)) return progress;
          x_->log.status = x_->log.status ? x_->log.status : 499;
          close();
          return true;
        }
        b.consume(static_cast<size_t>(n));
        resp_body_ready_ -= static_cast<size_t>(n);
        x_->log.bytes_sent += static_cast<uint64_t>(n);
        progress = true;
        continue;
      }
      if (resp_body_.done) {
        if (resp_.status == 101 && upgrade_) return switch_protocols() || progress;
        resp_done_ = true;
        finish_exchange();
        return true;
      }
      if (!claim_response_body(b)) return true;
      if (resp_body_ready_ > 0 || resp_body_.done) {
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
    ssize_t n = up_->io.read(b.data + b.end, room);
    if (n > 0) {
      b.end += static_cast<size_t>(n);
      if (up_->io.drained(static_cast<size_t>(n), room) && !up_->hup) up_->readable = false;  // drained, as above
      progress = true;
      continue;
    }
    if (would_block(n)) {
      up_->readable = false;
      return progress;
    }
    // EOF or reset from the upstream.
    if (n < 0 && up_->io.tls_error()[0] != '\0') {
      WG_LOG(Warn, "upstream %s: TLS error: %s", up_->endpoint.c_str(), up_->io.tls_error());
    }
    if (!resp_head_done_) {
      bool nothing_received = b.empty();
      if (nothing_received) {
        WG_LOG(Warn, "upstream %s closed the connection before responding", up_->endpoint.c_str());
      } else {
        WG_LOG(Warn, "upstream %s closed the connection in the middle of the response head", up_->endpoint.c_str());
      }
      upstream_failed(502, nothing_received && request_replayable_ && idempotent(x_->method),
                      shared::Outcome::TcpFailure);
      return true;
    }
    if (resp_body_.kind == http::BodyKind::UntilClose && n == 0) {
      resp_body_.done = true;
      progress = true;
      continue;
    }
    WG_LOG(Warn, "upstream %s closed the connection in the middle of the response body", up_->endpoint.c_str());
    close();
    return true;
  }
}

// ---------------------------------------------------------------- upgrades

// The upstream switched protocols and its 101 head is on its way to the
// client (the client's pending bytes were flushed before this is asked):
// once the whole request went upstream, every byte after it is the
// tunnel's, which the connection runs (Session::start_tunnel) with the
// upstream connection handed over. A body sent with the upgrade request is
// sent whole first: false while it is still going. The exchange stays
// open, its log counting the tunnel's bytes, until the connection closes
// (abandon).
bool RequestFlow::switch_protocols() {
  if (!req_done_) return false;
  TunnelHandover h;
  h.upstream = up_;
  up_ = nullptr;  // the connection's from here: release_upstream leaves it alone
  h.client_bytes = &x_->log.request_size;
  h.upstream_bytes = &x_->log.bytes_sent;
  h.read_timeout_ms = static_cast<uint64_t>(service_->cfg.read_timeout_ms);
  h.write_timeout_ms = static_cast<uint64_t>(service_->cfg.write_timeout_ms);
  state_ = State::Tunnel;
  owner_->start_tunnel(h);
  return true;
}

}  // namespace wg::proxy
