// One request and its response as every extension sees them (native
// plugins, Lua plugins, Wasm filters), whatever the wire protocol: an
// HTTP/1.1 request and, later, an HTTP/2 stream each carry one. The
// session that owns it fills the facts and the heads; handlers read and
// change them through the phases (src/pipeline/runner.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "http/header_map.h"

namespace wg::config {
struct Route;
struct ServiceRuntime;
}  // namespace wg::config

namespace wg::router {
struct Match;
}

namespace wg::pipeline {

struct Exchange;

enum class Direction : uint8_t { Request, Response };

// Who drives an exchange (the proxy session). Told when a handler resumed,
// answered or closed the exchange from a callback the owner did not drive
// itself (an outbound call's answer, a timer, a queue).
class ExchangeOwner {
 public:
  virtual void on_handler_wakeup() = 0;
  // The exchange in flight, if any (an idle connection has none).
  virtual Exchange* current_exchange() = 0;

 protected:
  ~ExchangeOwner() = default;
};

// Kong's latencies and the access log's fields, in loop milliseconds.
struct Timings {
  uint64_t start_ms = 0;           // first byte of the request head
  uint64_t upstream_start_ms = 0;  // first upstream try began (0: never)
  uint64_t upstream_head_ms = 0;   // the upstream's response head arrived
};

// What the access log says of the exchange, copied out of the request head
// (whose bytes are consumed while the exchange goes on).
struct LogFields {
  std::string uri;
  std::string user_agent;
  std::string referer;
  std::string upstream_uri;
  int status = 0;
  uint64_t bytes_sent = 0;
  uint64_t request_size = 0;
  int tries = 0;
  int upstream_status = 0;  // the last upstream response's status (0: none)
  // "ip:port" of the peer of each of the first tries (Kong's `tries` in the
  // log plugins' JSON); views of the snapshot's peers, alive with the request.
  static constexpr int kLoggedTries = 4;
  std::string_view try_peers[kLoggedTries];
};

struct Exchange {
  // ---- the heads as handlers see and change them. Filled only when the
  // request's chain has handlers (the session otherwise works from the
  // parsed head directly); what they hold is what goes upstream and to the
  // client.
  http::HeaderMap request_headers;   // with :method, :path, :authority, :scheme
  http::HeaderMap response_headers;  // with :status
  // A chunked body's trailer section (empty when it has none); what the
  // handlers leave in it is sent on.
  http::HeaderMap request_trailers;
  http::HeaderMap response_trailers;
  bool response_phase = false;  // the response head arrived (its map is valid)

  // ---- a local response: a handler answers in the request's place.
  bool local_reply = false;
  int local_status = 0;
  std::string local_body;
  http::HeaderList local_headers;

  // ---- handler signals, read by the runner after each call.
  // The body of the body callback in progress (request or response).
  std::string* body = nullptr;
  bool body_is_response = false;
  // A handler resumed the side it paused (Proxy-Wasm's continue_stream).
  bool resume_request = false;
  bool resume_response = false;
  bool close_requested = false;  // reset the client connection
  // A handler asked for the request to be matched again after the request
  // head phase (Proxy-Wasm's clear_route_cache; changing :authority or
  // :path does it too).
  bool clear_route_cache = false;

  // Kong's upstream URI: the path the service gets (the routed path after
  // strip_path, under the service's path), then '?' and the query when the
  // client sent one. Filled before the handlers run; Kong's plugins change
  // it (kong.service.request.set_path / set_query). A Proxy-Wasm filter's
  // `:path` replaces the whole target instead, as in Envoy.
  std::string upstream_uri;

  // Values handlers set for each other (proxy_set_property, kong.ctx).
  std::unordered_map<std::string, std::string> properties;

  // ---- facts about the request, for handlers and properties.
  std::string_view client_ip;
  uint16_t client_port = 0;
  uint16_t server_port = 0;  // the listening port the request came in on
  std::string_view route_name;
  std::string_view service_name;
  std::string_view protocol;  // "HTTP/1.1" (the scheme is request_headers' :scheme)
  const config::Route* route = nullptr;
  const config::ServiceRuntime* service = nullptr;
  const router::Match* match = nullptr;  // with the regex path's captures
  // The consumer an authentication handler identified, and its credential
  // (ids; empty: anonymous): views of the config snapshot's entities, which
  // the request holds (no copy per request).
  std::string_view consumer_id;
  std::string_view credential_id;
  // Ids that are no config entity's: what a Lua plugin authenticated with
  // (kong.client.authenticate), copied here and viewed by the two above.
  std::string authenticated_consumer_id;
  std::string authenticated_credential_id;
  // Facts that decide framing and retries.
  std::string method;
  int minor_version = 1;   // HTTP/1.<minor> of the client
  bool head_request = false;
  bool request_has_body = false;   // more than the head is coming from the client
  bool response_has_body = false;  // ... from the upstream

  Timings timings;
  LogFields log;

  // ---- the owner, told of wake-ups; the serial is new for every request
  // (next_exchange_serial), so a handle taken on an earlier one is stale.
  ExchangeOwner* owner = nullptr;
  uint64_t serial = 0;

  // Tells the owner that a handler changed the exchange from outside a
  // call the owner made (see ExchangeOwner).
  void wake() {
    if (owner != nullptr) owner->on_handler_wakeup();
  }
};

// A handle a handler keeps to resume its request later (a timer, a
// callout's answer). Safe against a finished request: it names the owner
// (a session lives as long as its worker and is reused) and the serial of
// the exchange, which no later exchange of that owner has.
class ResumeHandle {
 public:
  ResumeHandle() = default;
  explicit ResumeHandle(const Exchange& x) : owner_(x.owner), serial_(x.serial) {}
  bool current() const {
    const Exchange* x = owner_ != nullptr ? owner_->current_exchange() : nullptr;
    return x != nullptr && x->serial == serial_;
  }
  // The exchange, while it is the one the handle was taken on (else nullptr).
  Exchange* exchange() const { return current() ? owner_->current_exchange() : nullptr; }
  // Resumes the side paused in direction d; ignored when the request ended.
  void resume(Direction d) const {
    if (!current()) return;
    Exchange* x = owner_->current_exchange();
    (d == Direction::Request ? x->resume_request : x->resume_response) = true;
    x->wake();
  }

 private:
  ExchangeOwner* owner_ = nullptr;
  uint64_t serial_ = 0;
};

// A serial no other exchange of this process has had.
uint64_t next_exchange_serial();

}  // namespace wg::pipeline
