// The phase runner: the one place that runs a request's handlers, phase by
// phase, in the chain's order, pausing where a handler waits and carrying
// on from there when it resumes. It knows nothing of sockets or framing:
// the session feeds it heads and decoded body pieces and acts on what it
// answers (go on, wait, or end the exchange and say why).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/chain.h"

namespace wg::pipeline {

enum class Step : uint8_t {
  Go,      // carry on
  Paused,  // a handler holds the exchange until it resumes (ExchangeOwner)
  Ended,   // the exchange must end: see Runner::ending()
};

enum class Ending : uint8_t {
  None,
  Responded,  // a handler answered: Exchange::local_*
  Failed,     // a handler failed (logged): 500
  TooLarge,   // a handler held more body than allowed: 413 for a request, 502 for a response
};

// One direction's body through the handlers that take it. Decoded payload
// goes in (feed), the chain's output comes out in `out`, for the session
// to frame for the wire.
struct BodyFlow {
  bool active = false;            // the body goes through the chain
  std::vector<std::string> held;  // per handler: what it holds so far
  size_t paused_at = SIZE_MAX;    // handler holding the end of the body until it resumes
  bool trailers_paused = false;   // ... paused in its trailers call
  bool eos_in = false;            // the whole body entered the chain
  bool eos_out = false;           // ... and left it
  bool has_trailers = false;      // the handlers got a (non-empty) trailer section
  std::string out;                // left the chain, not taken by the session yet
  void reset() {
    active = trailers_paused = eos_in = eos_out = has_trailers = false;
    paused_at = SIZE_MAX;
    held.clear();
    out.clear();
  }
};

class Runner {
 public:
  // A new request. An empty chain (or none) leaves the runner inactive:
  // then nothing below may be called but active(), which is one compare.
  void begin(const Chain* chain, Exchange* x, size_t max_body_bytes);
  bool active() const { return chain_ != nullptr; }
  const Chain& chain() const { return *chain_; }

  // The request head: Rewrite, then Access.
  Step request_head();
  // The response head: HeaderFilter. When a handler runs in Kong's
  // Response phase and a body is coming, both phases wait for the whole
  // body (the session feeds it as for any body, and releases the head
  // with the output): then Response, HeaderFilter, and the body handlers
  // with the whole body.
  Step response_head();
  // Whether a head phase waits for a handler, and on which side.
  bool head_paused() const { return paused_phase_ != Phase::Count; }
  Direction paused_side() const {
    return paused_phase_ == Phase::Rewrite || paused_phase_ == Phase::Access ? Direction::Request
                                                                             : Direction::Response;
  }
  // The handler that paused a head phase resumed: run the rest of it.
  Step resume_head();

  // Bodies. start_body says whether direction d's body goes through the
  // chain (some handler takes it); then pieces go in with feed().
  bool start_body(Direction d);
  BodyFlow& flow(Direction d) { return flows_[static_cast<int>(d)]; }
  Step feed(Direction d, std::string piece, bool end_of_stream);
  // The body's last piece and its trailer section ("name: value\n" lines):
  // the piece goes through with end_of_stream false (as Envoy does), then
  // each handler gets the trailers and passes on what it held.
  Step feed_with_trailers(Direction d, std::string last, std::string_view trailer_lines);
  bool body_paused(Direction d) const {
    const BodyFlow& c = flows_[static_cast<int>(d)];
    return (c.active && c.paused_at != SIZE_MAX) || (d == Direction::Response && deferred_paused_);
  }
  // The handler holding the end of d's body resumed.
  Step resume_body(Direction d);

  Ending ending() const { return ending_; }
  // A handler answered (Exchange::local_*): as Kong does after
  // kong.response.exit, every plugin's header_filter sees that answer's
  // headers (Exchange::response_headers) and may change them; they go back
  // into local_headers. An answer given in the request's place also goes
  // through the response headers callback of each Wasm filter that saw the
  // request (as Envoy encodes a local reply through the filters that
  // decoded it); one given while an upstream response was being filtered
  // does not (Envoy sends that one directly).
  void filter_local_reply();

  // Each handler's log phase, then its detach. Once per request; the
  // runner is inactive afterwards.
  void finish();

 private:
  Step run_phase(Phase p, size_t from);
  Step after_call(Verdict v, size_t i, bool& resumed, Phase p);
  Step end(Ending why, size_t i);
  bool attach(size_t i);
  bool sees_local_reply(size_t i, bool in_request_place) const;
  Step feed_from(Direction d, size_t from, std::string data, bool eos);
  Step run_trailers(Direction d, size_t from);
  Step pass_held_on(Direction d, size_t i);
  Step whole_response(Phase from_phase, size_t from);
  bool& resumed_flag(Direction d) { return d == Direction::Request ? x_->resume_request : x_->resume_response; }

  const Chain* chain_ = nullptr;
  Exchange* x_ = nullptr;
  size_t max_body_ = 0;
  std::vector<Slot> slots_;  // per handler; kept across requests
  Phase paused_phase_ = Phase::Count;
  size_t next_ = 0;  // the handler to run when the paused phase resumes
  Ending ending_ = Ending::None;
  BodyFlow flows_[2];
  // The response phases wait for the whole body (see response_head).
  bool defer_response_ = false;
  std::string whole_;            // the response body so far
  bool deferred_paused_ = false;  // a handler holds them: paused_phase_/next_ say where
  Phase deferred_phase_ = Phase::Count;
};

}  // namespace wg::pipeline
