// The walk of one request: its beginning, routing, the handlers' request
// phases, and the one finalize every request ends with. The upstream try,
// the heads and the bodies through the handlers are in the flow_*.cc files.
#include "proxy/request_flow.h"


#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "proxy/worker_context.h"
#include "proxy/wire.h"
#include "router/normalize.h"

namespace wg::proxy {

// ---------------------------------------------------------------- stepping

void RequestFlow::on_upstream_io() {
  if (!closed) drive();
}

// A local reply is out: the exchange is over.
bool RequestFlow::step_local_reply() {
  bool progress = flush_client_out();
  if (!closed && !down_->out_pending()) {
    finish_exchange();
    progress = true;
  }
  return progress;
}

// ---------------------------------------------------------------- request head

// A head that cannot be parsed, or did not arrive in time: answered,
// logged, and the connection closed.
void RequestFlow::reject_head(int status) {
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
  down_->discard_input();
  local_reply(status, msg, true);
}

void RequestFlow::begin_request() {
  const uint64_t now = worker_->loop().now_ms();
  pipeline::Exchange& x = *x_;
  if (x.timings.start_ms == 0) x.timings.start_ms = now;
  x.timings.upstream_start_ms = x.timings.upstream_head_ms = 0;
  x.method.assign(down_->req.method);
  x.minor_version = down_->req.minor_version;
  x.head_request = down_->req.method == "HEAD";
  pipeline::LogFields& log = x.log;
  log.uri.assign(down_->req.target);
  log.user_agent.clear();
  log.referer.clear();
  for (size_t i = 0; i < down_->req.num_headers; ++i) {
    if (down_->req.headers[i].id == http::HeaderId::UserAgent) log.user_agent.assign(down_->req.headers[i].value);
    if (down_->req.headers[i].id == http::HeaderId::Referer) log.referer.assign(down_->req.headers[i].value);
  }
  log.upstream_uri.clear();
  log.request_size = down_->req.head_len;
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
  down_->close_after = !down_->req.keep_alive || worker_->draining();
  upgrade_ = wants_websocket();
  x.request_has_body = down_->start_body();
  req_wire_.reset();
  resp_wire_.reset();
  bool routed = route_request();
  // The head's bytes are no longer needed once the handlers saw it and the
  // upstream head is built: everything used later was copied. (While a
  // handler holds the request head nothing is read, so the views stay
  // valid until it resumes.)
  down_->release_head();
  if (!routed || state_ == State::HandlerWait) return;
  after_access();
}

bool RequestFlow::route_request() {
  snap_ = worker_->snapshot();
  routed_target_ = down_->req.target;
  router::RequestKeys keys;
  keys.method = down_->req.method;
  keys.host = down_->req.host;
  keys.headers = down_->req.headers;
  keys.num_headers = down_->req.num_headers;
  const bool has_query = !down_->req.query.empty() || down_->req.target.find('?') != std::string_view::npos;
  if (!match_route(keys, down_->req.path, down_->req.query, has_query)) return false;
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
bool RequestFlow::match_route(router::RequestKeys& keys, std::string_view raw_path, std::string_view query,
                          bool has_query) {
  std::string_view path;
  if (!router::normalize_path(raw_path, scratch_path_, &path)) {
    local_reply(400, "Bad request", true);
    return false;
  }
  path_ = path;
  keys.path = path;
  if (down_->https) keys.sni = tls::server_name(down_->stream.ssl());
  *match_ = snap_->router.match(keys);
  // An unread request body would be taken for the next request: close instead.
  bool body_pending = !down_->body_read();
  if (match_->route < 0) {
    local_reply(404, "no Route matched with those values", down_->close_after || body_pending);
    return false;
  }
  route_ = match_->route;
  const config::Route& route = snap_->decl.routes[match_->route];
  if (down_->https && !route.allows("https")) {
    // An http-only route is not one for TLS requests (Kong matches the
    // protocol with the other fields).
    route_ = -1;
    local_reply(404, "no Route matched with those values", down_->close_after || body_pending);
    return false;
  }
  if (!down_->https && !route.allows("http")) {
    https_redirect(route, body_pending);
    return false;
  }
  if (route.service < 0) {
    local_reply(503, "no Service found with those values", down_->close_after || body_pending);
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
bool RequestFlow::reroute() {
  const http::HeaderMap& m = x_->request_headers;
  // The common case costs two loads: no pseudo-header touched, no clear.
  if (!m.pseudo_changed() && !x_->clear_route_cache) return true;
  if (!map_holds_head(pipeline::Direction::Request)) return true;
  const std::string_view target = m.get_exact(":path"), host = m.get_exact(":authority");
  const bool moved = m.pseudo_changed() && (target != routed_target_ || host != down_->req.host);
  if (!moved && !x_->clear_route_cache) return true;
  x_->clear_route_cache = false;
  router::RequestKeys keys;
  keys.method = down_->req.method;
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
void RequestFlow::prepare_exchange(const config::Route& route, bool request_head) {
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
    m.keep(down_->head_bytes());
    m.push_pseudo(":method", down_->req.method);
    m.push_pseudo(":path", down_->req.target);
    m.push_pseudo(":authority", down_->req.host);
    m.push_literal(":scheme", down_->https ? "https" : "http");
    m.push_parsed(down_->req.headers, down_->req.num_headers, true);
  } else if (runner_->chain().lazy(pipeline::Direction::Request)) {
    const http::Head& req = down_->req;
    x.request_headers.defer_request(down_->head_bytes(), req.headers, req.num_headers, req.method, req.target,
                                    req.host, down_->https ? "https" : "http");
  }
  x.client_ip = down_->client_ip;
  x.client_port = down_->client_port;
  x.server_port = down_->listen_port;
  x.route = &route;
  x.service = service_;
  x.match = match_;
  x.consumer_id = {};
  x.credential_id = {};
  if (request_head || runner_->chain().defers(pipeline::Direction::Request)) x.upstream_uri.assign(scratch_upstream_path_);
  x.route_name = route.name;
  x.service_name = service_->cfg.name;
  x.protocol = down_->req.minor_version == 0 ? "HTTP/1.0" : "HTTP/1.1";
}

// The request head passed every handler: its body's way, the peer (Kong
// balances after access, so handlers can steer it), the upstream head.
void RequestFlow::after_access() {
  if (runner_->active() && !reroute()) return;
  if (runner_->active() && !down_->body_read()) req_wire_.active = runner_->start_body(pipeline::Direction::Request);
  compute_hash(path_);
  if (!pick_peer()) {
    local_reply(503, service_->via_upstream ? "failure to get a peer from the ring-balancer" : "name resolution failed",
                down_->close_after || !down_->body_read());
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
void RequestFlow::handler_ended(pipeline::Direction d) {
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
      local_reply(500, "An unexpected error occurred", down_->close_after || !down_->body_read());
      return;
  }
}

// The answer a handler gave in the request's place (Exchange::local_*).
void RequestFlow::handler_reply() {
  release_upstream(false);
  runner_->filter_local_reply();
  const pipeline::Exchange& x = *x_;
  down_->close_after = down_->close_after || !down_->body_read();
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
  if (!x.head_request) down_->queue_body(x.local_body);
  resp_started_ = true;
  state_ = State::LocalReply;
}

void RequestFlow::on_handler_wakeup() {
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
void RequestFlow::finalize() {
  if (!in_request_) return;
  in_request_ = false;
  runner_->finish();
  log_request();
}

void RequestFlow::finish_exchange() {
  finish_peer();
  finalize();
  bool reusable = up_ != nullptr && resp_.keep_alive && req_done_ && up_->in.empty() &&
                  resp_body_.kind != http::BodyKind::UntilClose;
  release_upstream(reusable);
  // A body read but not all sent (the exchange ended early) is dropped; an
  // unread one leaves unknown where the next request starts: close.
  if (!req_done_ && !down_->drop_body()) down_->close_after = true;
  snap_.reset();
  return_space();  // an idle connection holds no exchange space
  state_ = State::Idle;
  owner_->exchange_finished();
}

void RequestFlow::abandon() {
  finish_peer();
  finalize();  // a request cut short is logged too
  closed = true;
  release_upstream(false);
  return_space();
  snap_.reset();
  state_ = State::Idle;
}

// An exchange's space (header slots, Exchange, runner, match: ~12 KiB) is
// the worker's while the connection is idle, so an idle keep-alive
// connection costs under 2 KiB.
void RequestFlow::borrow_space() {
  space_ = worker_->take_exchange_space();
  down_->req.lend(space_->slots);
  resp_.lend(space_->slots + http::kMaxHeaders);
  x_ = &space_->x;
  runner_ = &space_->runner;
  match_ = &space_->match;
  x_->owner = this;
  x_->serial = pipeline::next_exchange_serial();
  x_->timings.start_ms = 0;
}

void RequestFlow::return_space() {
  if (!space_) return;
  down_->req.unlend();
  resp_.unlend();
  x_->owner = nullptr;
  x_ = nullptr;
  runner_ = nullptr;
  match_ = nullptr;
  worker_->give_exchange_space(std::move(space_));
}

void RequestFlow::log_request() {
  AccessLog& log = worker_->access_log();
  if (!log.enabled()) return;
  const uint64_t now = worker_->loop().now_ms();
  const pipeline::Exchange& x = *x_;
  LogRecord r;
  r.client_ip = down_->client_ip;
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

void RequestFlow::on_timeout() {
  switch (state_) {
    case State::Idle:
    case State::LocalReply:
    case State::Tunnel:  // the connection keeps the tunnel's timeouts
      close();
      return;
    case State::HandlerWait:
      WG_LOG(Warn, "a handler paused the request and did not resume it in time");
      if (resp_started_) {
        close();
        return;
      }
      local_reply(500, "An unexpected error occurred", true);
      return;
    case State::Proxy:
      if (up_ != nullptr && !up_->connected) {
        WG_LOG(Warn, "connect to %s timed out", up_->endpoint.c_str());
        upstream_failed(504, true, shared::Outcome::Timeout);
      } else if (!req_done_ && (up_ == nullptr || up_->writable)) {
        WG_LOG(Info, "client %s timed out sending the request body", down_->client_ip);
        x_->log.status = 408;
        close();
      } else if (!resp_head_done_) {
        WG_LOG(Warn, "upstream %s timed out", up_ != nullptr ? up_->endpoint.c_str() : "-");
        upstream_failed(504, request_replayable_ && idempotent(x_->method), shared::Outcome::Timeout);
      } else {
        WG_LOG(Warn, "response from upstream timed out or the client stopped reading");
        close();
      }
      return;
  }
}

}  // namespace wg::proxy
