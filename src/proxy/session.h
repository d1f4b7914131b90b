// One downstream HTTP/1.1 connection and the request it is proxying.
//
// The session is a state machine driven by readiness on two sockets (client
// and upstream). drive() makes all the progress it can, then returns; there
// is no blocking and no per-request allocation once buffers are warm. Bodies
// stream through fixed buffers in both directions: bytes are written from
// the buffer they were read into (zero-copy), and reading one side stops
// while the other side cannot take more (backpressure).
//
// A request walks: read the head -> route -> the handlers' rewrite and
// access phases (src/pipeline) -> balance -> one upstream try at a time
// (session_upstream.cc) -> the handlers' response phases -> finalize, the
// one exit every request goes through (log handlers, then the access log).
// Bodies go through the handlers only when one of them takes them
// (session_bodies.cc). The session knows handlers only through the
// pipeline's Runner and Exchange.
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

namespace wg::proxy {

class WorkerContext;
struct ExchangeSpace;
struct ListenerInfo;

class Session final : public core::IoHandler, public upstream::ConnOwner, public pipeline::ExchangeOwner {
 public:
  Session() = default;
  void open(WorkerContext* worker, int fd, const sockaddr_storage& peer, const ListenerInfo& listener);
  void on_io(uint32_t events) override;
  void on_upstream_io() override;
  // A handler resumed or answered this request from a callback the session
  // did not drive (an outbound call's answer, a timer, a queue).
  void on_handler_wakeup() override;
  pipeline::Exchange* current_exchange() override { return x_; }
  // Called by the worker's periodic sweep.
  void check_timeout(uint64_t now_ms);
  // Close now if idle between requests (used when draining).
  void close_if_idle();
  // Close now, whatever the state (drain timeout).
  void close();
  // What the connection is doing, as nginx counts them: reading a request
  // head, busy with a request, or idle between requests.
  enum class Activity : uint8_t { Reading, Writing, Waiting };
  Activity activity() const {
    if (in_request_) return Activity::Writing;
    return in_.data != nullptr && !in_.empty() ? Activity::Reading : Activity::Waiting;
  }

  Session* prev = nullptr;  // worker's intrusive list of live sessions
  Session* next = nullptr;
  bool closed = false;

 private:
  // Handshake: TLS, before the first request head.
  // HandlerWait: a handler paused a head phase and has not resumed it yet.
  enum class State : uint8_t { Handshake, ReadHead, Proxy, HandlerWait, LocalReply, Closing };
  // How the client learns where the response body ends.
  enum class Framing : uint8_t { Upstream, Length, Chunked, Close };
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
  // A response head, from the upstream or answered here.
  struct ResponseHead {
    int status = 0;
    std::string_view reason;  // empty: the standard phrase
    const http::Header* headers = nullptr;
    size_t num_headers = 0;
    bool from_upstream = false;  // adds the Via chain and Kong's latency headers
    Framing framing = Framing::Upstream;
    uint64_t length = 0;         // for Framing::Length
    std::string_view extra;      // whole header lines of ours (Location, Set-Cookie)
    bool wire_lines = false;     // headers is a handler's map: it may hold wire lines (Header::wire_line)
  };

  void drive();
  bool step_handshake();
  bool step_read_head();
  void reject_head(int status);
  void begin_request();
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

  // Balancing (session_balance.cc).
  std::string_view hash_source(const std::string& on, const std::string& header, const std::string& query_arg,
                               const std::string& capture, std::string_view path);
  void compute_hash(std::string_view path);
  bool pick_peer();

  // Heads (session_heads.cc).
  void outgoing_request_headers(const http::Header** headers, size_t* n) const;
  void build_upstream_head(std::string_view upstream_path);
  std::string_view host_for_peer() const;
  void build_client_head(Framing framing = Framing::Upstream, uint64_t length = 0);
  // added: lines handlers added to a head they only add to
  // (added_lines), written after h's headers.
  void write_response_head(const ResponseHead& h, const http::HeaderMap* added = nullptr);
  void local_reply(int status, std::string_view message, bool close_after, std::string_view extra_headers = {});
  void https_redirect(const config::Route& route, bool body_pending);

  // One upstream try (session_upstream.cc).
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

  // Bodies through the handlers (session_bodies.cc).
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
  bool read_client();
  void update_deadline();

  WorkerContext* worker_ = nullptr;
  transport::Stream client_;  // the client socket, plain or TLS
  bool readable_ = false;
  bool writable_ = true;
  bool peer_closed_ = false;
  bool hup_seen_ = false;  // the peer's close (or an error) was signalled
  uint16_t listen_port_ = 0;  // of the listener that accepted the connection
  bool https_ = false;        // the connection is TLS: the request's scheme is https
  char client_ip_[46] = {0};
  uint16_t client_port_ = 0;
  State state_ = State::ReadHead;
  uint64_t deadline_ = 0;

  // Client side.
  core::Buffer in_;
  http::HeadParser parser_;
  http::Head req_{http::Head::kBorrowed};
  http::BodyFramer req_body_;
  size_t req_ready_ = 0;  // claimed request body bytes at the front of in_, not yet sent
  std::string client_out_;  // pending bytes for the client (heads, local replies)
  size_t client_out_off_ = 0;
  bool close_after_ = false;  // close once the current exchange ends
  bool expect_continue_ = false;
  bool in_request_ = false;   // a request began and was not finalized yet

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
