// One downstream HTTP/1.1 connection and the request it is proxying.
//
// The session is a state machine driven by readiness on two sockets (client
// and upstream). drive() makes all the progress it can, then returns; there
// is no blocking and no per-request allocation once buffers are warm. Bodies
// stream through fixed buffers in both directions: bytes are written from
// the buffer they were read into (zero-copy), and reading one side stops
// while the other side cannot take more (backpressure).
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
#include "proxy/body_framer.h"
#include "router/router.h"
#include "shared/health.h"
#include "upstream/balancer.h"
#include "wasm/filters.h"
#include "upstream/pool.h"

namespace wg::core {
class Worker;
}

namespace wg::proxy {

class Session final : public core::IoHandler, public upstream::ConnOwner, public wasm::StreamOwner {
 public:
  Session() = default;
  void open(core::Worker* worker, int fd, const sockaddr_storage& peer);
  void on_io(uint32_t events) override;
  void on_upstream_io() override;
  // A filter resumed or answered this request from a callback the session
  // did not drive (an http_call response, a tick, a queue).
  void on_filter_wakeup() override;
  // Called by the worker's periodic sweep.
  void check_timeout(uint64_t now_ms);
  // Close now if idle between requests (used when draining).
  void close_if_idle();
  // Close now, whatever the state (drain timeout).
  void close();

  Session* prev = nullptr;  // worker's intrusive list of live sessions
  Session* next = nullptr;
  bool closed = false;

 private:
  // FilterWait: a filter paused the request or response headers and has not
  // resumed them yet.
  enum class State : uint8_t { ReadHead, Proxy, FilterWait, LocalReply, Closing };
  // How the client learns where the response body ends.
  enum class Framing : uint8_t { Upstream, Length, Chunked, Close };
  // Result of running filters over a phase.
  enum class FilterStep : uint8_t { Go, Paused, Ended };

  void drive();
  bool step_read_head();
  void begin_request();
  bool route_request();
  void build_upstream_head(std::string_view upstream_path);
  std::string_view hash_source(const std::string& on, const std::string& header, const std::string& query_arg,
                               const std::string& capture, std::string_view path);
  void compute_hash(std::string_view path);
  bool pick_peer();
  std::string_view host_for_peer() const;
  void connect_upstream();
  void finish_request_head();
  void start_upstream();
  FilterStep run_request_filters(size_t from);
  FilterStep run_response_filters(size_t from);
  void after_response_filters();
  bool filter_outcome(wasm::Action a, const wasm::FilterRef& ref) {
    if (a == wasm::Action::Continue && !wstream_.local_reply) return true;  // the common case
    return filter_outcome_slow(a, ref);
  }
  bool filter_outcome_slow(wasm::Action a, const wasm::FilterRef& ref);
  void filter_reply();
  void end_filters();
  struct BodyChain;
  FilterStep feed_body(BodyChain& c, size_t from, std::string data, bool eos);
  FilterStep body_filter_failed(BodyChain& c, wasm::Action a, size_t i);
  FilterStep feed_decoded(BodyChain& c, std::string piece, bool done);
  FilterStep feed_trailers(BodyChain& c, std::string last);
  wasm::HeaderMap& trailers_of(const BodyChain& c);
  void append_trailers(const BodyChain& c, std::string& wire);
  bool step_send_filtered_request();
  bool frame_request_output();
  int pump_response_chain(core::Buffer& b);
  void frame_response_output();
  void resume_body(BodyChain& c);
  FilterStep run_trailers(BodyChain& c, size_t from);
  FilterStep pass_held_on(BodyChain& c, size_t i);
  void append_body_output(BodyChain& c, std::string& wire);
  int read_more_body();
  void report_passive(shared::Outcome outcome, int status);
  void finish_peer();
  void upstream_failed(int status, bool retryable, shared::Outcome outcome);
  int upstream_connected();
  bool step_send_request();
  bool step_receive_response();
  bool parse_response_head();
  void build_client_head(Framing framing = Framing::Upstream, uint64_t length = 0);
  bool flush_client_out();
  void finish_exchange();
  void local_reply(int status, std::string_view message, bool close_after, std::string_view extra_headers = {});
  void https_redirect(const config::Route& route, bool body_pending);
  void log_request();
  bool read_client();
  void update_deadline();
  void release_upstream(bool reusable);

  core::Worker* worker_ = nullptr;
  int fd_ = -1;
  bool readable_ = false;
  bool writable_ = true;
  bool peer_closed_ = false;
  bool hup_seen_ = false;  // the peer's close (or an error) was signalled
  char client_ip_[46] = {0};
  uint16_t client_port_ = 0;
  State state_ = State::ReadHead;
  uint64_t deadline_ = 0;

  // Client side.
  core::Buffer in_;
  http::HeadParser parser_;
  http::Head req_;
  BodyFramer req_body_;
  size_t req_ready_ = 0;  // claimed request body bytes at the front of in_, not yet sent
  std::string client_out_;  // pending bytes for the client (heads, local replies)
  size_t client_out_off_ = 0;
  bool close_after_ = false;  // close once the current exchange ends
  bool expect_continue_ = false;

  // The exchange in flight.
  std::shared_ptr<const config::Snapshot> snap_;
  const config::ServiceRuntime* service_ = nullptr;
  const upstream::Balancer* balancer_ = nullptr;
  int peer_ = -1;             // peer of the current try, -1 between tries
  uint64_t tried_mask_ = 0;   // peers that already failed this request
  uint64_t hash_ = 0;         // consistent-hashing key
  bool has_hash_ = false;
  std::string set_cookie_;    // Set-Cookie for a generated hash cookie
  std::string cookie_value_;
  std::string hash_scratch_;
  std::vector<std::string> hash_values_;
  size_t host_value_pos_ = 0, host_value_len_ = 0;  // where Host's value sits in up_head_
  bool preserve_host_ = false;
  uint64_t t_try_start_ = 0;

  // Wasm filters of this exchange.
  struct FilterContext {
    std::shared_ptr<wasm::FilterVm> vm;
    uint32_t ctx;
    const wasm::FilterRef* ref;  // in snap_, alive as long as the exchange
  };
  std::vector<FilterContext> wctx_;
  wasm::HttpStream wstream_;
  enum class FilterWaitOn : uint8_t { None, RequestHeaders, ResponseHeaders };
  FilterWaitOn filter_wait_ = FilterWaitOn::None;
  size_t filter_next_ = 0;  // the filter to run next when the paused phase resumes
  // One direction's body through the filter chain (when a filter has a body
  // callback). Decoded payload goes in, the chain's output comes out and is
  // framed for the wire (Content-Length when the chain let the whole body
  // through before the head left, chunked otherwise).
  struct BodyChain {
    bool active = false;
    bool response = false;
    std::vector<std::string> held;  // per filter: what it buffered so far
    size_t paused_at = SIZE_MAX;    // filter holding the end of the body until it resumes
    bool trailers_paused = false;   // ... paused in its trailers callback
    bool eos_in = false;            // the whole body entered the chain
    bool eos_out = false;           // ... and left it
    bool final_framed = false;      // the body's end was written for the wire
    std::string out;                // left the chain, not framed yet
    bool head_released = false;     // the head (with its framing) was queued for the wire
    bool chunked = false;
    std::string trailer_text;       // a chunked body's trailer section, as received
    bool has_trailers = false;      // ... which was not empty (the filters got it)
    void reset(bool is_response);
  };
  BodyChain req_chain_, resp_chain_;
  int route_ = -1;
  router::Match match_;         // route match, with regex captures for later phases
  std::string_view fwd_prefix_;  // prefix removed by strip_path (X-Forwarded-Prefix)
  upstream::Conn* up_ = nullptr;
  std::string up_head_;  // upstream request head, kept for a retry
  size_t up_head_off_ = 0;
  bool request_replayable_ = false;
  bool req_done_ = false;      // whole request (head + body) written upstream
  bool resp_started_ = false;  // any response byte sent to the client
  bool resp_head_done_ = false;
  bool resp_done_ = false;
  bool head_request_ = false;
  int tries_ = 0;
  http::HeadParser resp_parser_;
  http::Head resp_;
  BodyFramer resp_body_;
  size_t resp_body_ready_ = 0;  // claimed response bytes in up_->in not yet sent

  // Log fields copied out of the request head (the head bytes are consumed).
  std::string log_method_, log_uri_, log_ua_, log_referer_, log_upstream_uri_;
  int log_minor_ = 1;
  int status_ = 0;
  uint64_t bytes_sent_ = 0;
  uint64_t request_size_ = 0;
  uint64_t t_start_ = 0, t_upstream_start_ = 0, t_upstream_head_ = 0;
  std::string scratch_path_, scratch_upstream_path_;
};

}  // namespace wg::proxy
