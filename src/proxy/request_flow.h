// One request's walk through the gateway, from its head to its finalize:
// route -> the handlers' rewrite and access phases (src/pipeline) ->
// balance -> one upstream try at a time (flow_upstream.cc) -> the
// handlers' response phases -> finalize, the one exit every request goes
// through (log handlers, then the access log). Bodies go through the
// handlers only when one of them takes them (flow_bodies.cc). The flow
// knows handlers only through the pipeline's Runner and Exchange.
//
// The flow talks to its client through its downstream (Http1Downstream:
// the request head and body as read, the response head and body to
// write) and to the connection that runs it through FlowOwner (drive it,
// close it, the exchange is over). Bodies stream through fixed buffers in
// both directions: bytes are written from the buffer they were read into
// (zero-copy), and reading one side stops while the other side cannot take
// more (backpressure). No per-request allocation once buffers are warm.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/snapshot.h"
#include "core/buffer.h"
#include "core/event_loop.h"
#include "http/message.h"
#include "http/parser.h"
#include "pipeline/exchange.h"
#include "pipeline/runner.h"
#include "http/body_framer.h"
#include "router/router.h"
#include "shared/health.h"
#include "transport/stream.h"
#include "upstream/balancer.h"
#include "upstream/pool.h"
#include "proxy/http1_downstream.h"
#include "proxy/response_head.h"
#include "proxy/worker_context.h"

namespace wg::proxy {

// What a flow hands the connection that runs it when the upstream switched
// protocols (101 to a WebSocket upgrade): the upstream connection, which
// is the connection's from then on, and where the tunnel counts the bytes
// it moves (the exchange's log: the request ends, and is logged, when the
// tunnel does).
struct TunnelHandover {
  upstream::Conn* upstream = nullptr;
  uint64_t* client_bytes = nullptr;    // from the client (the log's request size)
  uint64_t* upstream_bytes = nullptr;  // from the upstream (the log's bytes sent)
  uint64_t read_timeout_ms = 0;        // the service's
  uint64_t write_timeout_ms = 0;
};

// What a flow needs from the connection that runs it.
class FlowOwner {
 public:
  // Makes all the progress the connection and its flow can.
  virtual void drive() = 0;
  // Closes the client connection now (the flow was cut short).
  virtual void close() = 0;
  // The exchange is over (finalized, upstream released): the connection
  // reads the next request or closes.
  virtual void exchange_finished() = 0;
  // The upstream switched protocols and the whole request went: the
  // connection becomes a byte tunnel to h.upstream until it closes.
  virtual void start_tunnel(const TunnelHandover& h) = 0;

 protected:
  ~FlowOwner() = default;
};

class RequestFlow final : public upstream::ConnOwner, public pipeline::ExchangeOwner {
 public:
  RequestFlow() = default;
  // The flow of the connection `owner`, whose client side is `down`.
  void attach(WorkerContext* worker, FlowOwner* owner, Http1Downstream* down) {
    worker_ = worker;
    owner_ = owner;
    down_ = down;
    closed = false;
    up_ = nullptr;
    peer_ = -1;
    in_request_ = false;
    state_ = State::Idle;
  }
  void on_upstream_io() override;
  // A handler resumed or answered this request from a callback the flow
  // did not drive (an outbound call's answer, a timer, a queue).
  void on_handler_wakeup() override;
  pipeline::Exchange* current_exchange() override { return x_; }

  // A request head may be arriving: the exchange's space is borrowed and
  // its start time taken (the head must arrive whole within the client
  // timeout from its first byte).
  void head_arriving() {
    if (!space_) borrow_space();
    if (x_->timings.start_ms == 0) x_->timings.start_ms = worker_->loop().now_ms();
  }
  uint64_t start_ms() const { return x_->timings.start_ms; }
  // The downstream parsed a whole request head: the walk begins.
  void begin_request();
  // A head that cannot be parsed, or did not arrive in time: answered with
  // `status`, logged, and the connection closed after.
  void reject_head(int status);
  // Moves the exchange on; true when something changed. Inline: the
  // connection's drive loop asks it on every turn.
  bool step() {
    switch (state_) {
      case State::Proxy: {
        bool progress = req_wire_.active ? step_send_filtered_request() : step_send_request();
        if (!closed && state_ == State::Proxy) progress |= step_receive_response();
        return progress;
      }
      case State::LocalReply:
        return step_local_reply();
      case State::HandlerWait:  // a handler resumes it (on_handler_wakeup)
      case State::Tunnel:       // the connection moves the bytes
      case State::Idle:
        return false;
    }
    return false;
  }
  // How long the flow may wait in its current state (ms), and what happens
  // when that ran out.
  uint64_t timeout_ms() const {
    const auto& s = worker_->settings();
    if (state_ != State::Proxy) return static_cast<uint64_t>(s.client_timeout_ms);
    const auto& svc = service_->cfg;
    if (up_ != nullptr && !up_->connected) return static_cast<uint64_t>(svc.connect_timeout_ms);
    if (!req_done_) {
      return static_cast<uint64_t>(up_ != nullptr && !up_->writable ? svc.write_timeout_ms : s.client_timeout_ms);
    }
    if (!resp_head_done_) return static_cast<uint64_t>(svc.read_timeout_ms);
    if (down_->out_pending() || resp_body_ready_ > 0) return static_cast<uint64_t>(s.client_timeout_ms);
    return static_cast<uint64_t>(svc.read_timeout_ms);
  }
  void on_timeout();
  // The connection is closing under the flow: the request (if any) is
  // finalized and logged, the upstream connection and the space released.
  void abandon();
  // A request began and was not finalized yet.
  bool in_request() const { return in_request_; }

  bool closed = false;  // the connection was closed (by the flow or under it)

 private:
  // Idle: between exchanges. HandlerWait: a handler paused a head phase
  // and has not resumed it yet. Tunnel: the upstream switched protocols;
  // the connection tunnels bytes (it has the upstream connection) and the
  // exchange ends when it closes.
  enum class State : uint8_t { Idle, Proxy, HandlerWait, LocalReply, Tunnel };
  // The wire side of one direction's body when it goes through the
  // handlers: their output is framed anew (Content-Length when the whole
  // body left the chain before the head did, chunked otherwise).
  struct WireBody {
    bool active = false;         // the body goes through the handlers
    bool head_released = false;  // the head (with its framing) was queued for the wire
    bool chunked = false;
    bool final_framed = false;   // the body's end was written for the wire
    std::string trailer_text;    // a chunked body's trailer section, as received
    void reset() {
      active = head_released = chunked = final_framed = false;
      trailer_text.clear();
    }
  };
  bool step_local_reply();
  void drive() { owner_->drive(); }
  void close() { owner_->close(); }
  bool route_request();
  bool match_route(router::RequestKeys& keys, std::string_view raw_path, std::string_view query, bool has_query);
  bool reroute();
  void prepare_exchange(const config::Route& route, bool request_head);
  // Whether the handlers got direction d's head (the Exchange's map): not
  // when none of them uses it (pipeline::Chain::sees_head).
  bool handlers_have_head(pipeline::Direction d) const {
    return runner_->active() && runner_->chain().sees_head(d);
  }
  // Whether they only add to direction d's head or read it in its phase:
  // the Exchange's map defers it (pipeline::Chain::lazy).
  bool handlers_lazy_head(pipeline::Direction d) const { return runner_->active() && runner_->chain().lazy(d); }
  const http::HeaderMap& head_map(pipeline::Direction d) const {
    return d == pipeline::Direction::Request ? x_->request_headers : x_->response_headers;
  }
  // Whether the Exchange's map holds direction d's whole head: filled for
  // the handlers, or a deferred one a handler copied in.
  bool map_holds_head(pipeline::Direction d) const {
    return handlers_have_head(d) || (handlers_lazy_head(d) && !head_map(d).deferred());
  }
  // The lines handlers added to a deferred head they left as it was
  // (written after the parsed head's own), else null.
  const http::HeaderMap* added_lines(pipeline::Direction d) const {
    return handlers_lazy_head(d) && head_map(d).deferred() ? &head_map(d) : nullptr;
  }
  void after_access();
  void handler_ended(pipeline::Direction d);
  void handler_reply();
  void finalize();

  // Balancing (flow_balance.cc).
  std::string_view hash_source(const std::string& on, const std::string& header, const std::string& query_arg,
                               const std::string& capture, std::string_view path);
  void compute_hash(std::string_view path);
  bool pick_peer();

  // Heads (flow_heads.cc).
  void outgoing_request_headers(const http::Header** headers, size_t* n) const;
  void build_upstream_head(std::string_view upstream_path);
  std::string_view host_for_peer() const;
  void build_client_head(Framing framing = Framing::Upstream, uint64_t length = 0);
  void write_response_head(ResponseHead& h);
  void local_reply(int status, std::string_view message, bool close_after, std::string_view extra_headers = {});
  void https_redirect(const config::Route& route, bool body_pending);

  // One upstream try (flow_upstream.cc).
  void start_upstream();
  void connect_upstream();
  void report_passive(shared::Outcome outcome, int status);
  void finish_peer();
  void upstream_failed(int status, bool retryable, shared::Outcome outcome);
  // 1 when the upstream connection is ready for the request, 0 while
  // connecting (TCP, then TLS), -1 when that failed (the try was handed to
  // upstream_failed). Inline: it is asked several times per request.
  int upstream_connected() { return up_->connected ? 1 : finish_connect(); }
  int finish_connect();
  std::string_view upstream_server_name() const;
  const std::string& tls_pool_key(const std::string& endpoint);
  bool step_send_request();
  int read_more_body();
  bool step_receive_response();
  bool parse_response_head();
  void after_header_filter();
  bool flush_client_out(size_t body = 0);
  bool claim_response_body(core::Buffer& b);
  void release_upstream(bool reusable);

  // WebSocket upgrades. Kong proxies an upgrade only for `Upgrade:
  // websocket` (the whole value, any case; runloop/handler.lua); any other
  // Upgrade (h2c, ...) is dropped as hop-by-hop and the request goes as an
  // ordinary one, as nginx does. Inline: asked on every request, and the
  // length test settles almost all of them.
  bool wants_websocket() const {
    return down_->req.upgrade.size() == 9 && down_->req.minor_version >= 1 &&
           http::iequals(down_->req.upgrade, "websocket");
  }
  bool switch_protocols();

  // Bodies through the handlers (flow_bodies.cc).
  pipeline::Step feed_decoded(pipeline::Direction d, std::string piece, bool done);
  void append_trailers(pipeline::Direction d, std::string& wire);
  bool step_send_filtered_request();
  bool frame_request_output();
  int pump_response_chain(core::Buffer& b);
  void frame_response_output();
  void resume_body(pipeline::Direction d);
  void append_body_output(pipeline::Direction d, std::string& wire);

  void finish_exchange();
  void borrow_space();
  void return_space();
  void log_request();

  WorkerContext* worker_ = nullptr;
  FlowOwner* owner_ = nullptr;
  Http1Downstream* down_ = nullptr;  // the client side: request in, response out
  State state_ = State::Idle;
  bool in_request_ = false;   // a request began and was not finalized yet
  bool upgrade_ = false;      // the request asks for a WebSocket upgrade

  // The exchange in flight, in space borrowed from the worker (null while
  // idle): what handlers see, the runner of its chain, the route match.
  std::unique_ptr<ExchangeSpace> space_;
  pipeline::Exchange* x_ = nullptr;
  pipeline::Runner* runner_ = nullptr;
  router::Match* match_ = nullptr;  // with regex captures for later phases
  WireBody req_wire_, resp_wire_;
  std::shared_ptr<const config::Snapshot> snap_;
  const config::ServiceRuntime* service_ = nullptr;
  const upstream::Balancer* balancer_ = nullptr;
  int route_ = -1;
  std::string_view path_;        // the normalised request path (in scratch_path_)
  std::string_view routed_target_;  // the target the route was matched on (a re-routing handler's :path)
  std::string_view fwd_prefix_;  // prefix removed by strip_path (X-Forwarded-Prefix)
  int peer_ = -1;                // peer of the current try, -1 between tries
  uint64_t tried_mask_ = 0;      // peers that already failed this request
  uint64_t hash_ = 0;            // consistent-hashing key
  bool has_hash_ = false;
  std::string set_cookie_;       // Set-Cookie for a generated hash cookie
  std::string cookie_value_;
  std::string hash_scratch_;
  std::vector<std::string> hash_values_;
  size_t host_value_pos_ = 0, host_value_len_ = 0;  // where Host's value sits in up_head_
  bool preserve_host_ = false;
  uint64_t t_try_start_ = 0;

  // The upstream try.
  upstream::Conn* up_ = nullptr;
  std::string up_head_;  // upstream request head, kept for a retry
  size_t up_head_off_ = 0;
  bool request_replayable_ = false;
  bool req_done_ = false;      // whole request (head + body) written upstream
  bool resp_started_ = false;  // any response byte sent to the client
  bool resp_head_done_ = false;
  bool resp_done_ = false;
  http::HeadParser resp_parser_;
  http::Head resp_{http::Head::kBorrowed};
  http::BodyFramer resp_body_;
  size_t resp_body_ready_ = 0;  // claimed response bytes in up_->in not yet sent
  std::string scratch_path_, scratch_upstream_path_;
  std::string tls_key_;  // keep-alive key of an upstream TLS connection
};

}  // namespace wg::proxy
