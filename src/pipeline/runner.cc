#include "pipeline/runner.h"

#include <atomic>

#include "core/log.h"

namespace wg::pipeline {

uint64_t next_exchange_serial() {
  // Per thread: an exchange and its handles stay on one worker.
  thread_local uint64_t serial = 0;
  return ++serial;
}

uint64_t Handler::next_handler_uid() {
  static std::atomic<uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::Rewrite:
      return "rewrite";
    case Phase::Access:
      return "access";
    case Phase::Response:
      return "response";
    case Phase::HeaderFilter:
      return "header_filter";
    case Phase::BodyFilter:
      return "body_filter";
    case Phase::Log:
      return "log";
    case Phase::Count:
      break;
  }
  return "?";
}

void Chain::add(std::shared_ptr<const Handler> h) {
  // A handler that runs in no phase and takes no body would only be
  // attached and detached: a route with only such handlers runs none.
  const bool body = h->body_mode(Direction::Request) != BodyMode::None ||
                    h->body_mode(Direction::Response) != BodyMode::None;
  if (h->phases() == 0 && !body) return;
  phases_ |= h->phases();
  for (Direction d : {Direction::Request, Direction::Response}) {
    if (h->body_mode(d) != BodyMode::None) bodies_[static_cast<int>(d)] = true;
  }
  // The response phases run on the response head's map; a body through
  // the handlers is framed from the maps: both heads.
  // A handler of header_filter that only adds to the response head, or
  // reads it only there, needs it no more than that.
  const uint32_t heads = h->heads();
  heads_ |= heads;
  const uint32_t lazy = adds_bit(Direction::Response) | phase_reads_bit(Direction::Response);
  const bool lazy_only = (heads & lazy) != 0 && (heads & head_bit(Direction::Response)) == 0;
  if (h->runs(Phase::Response) || (h->runs(Phase::HeaderFilter) && !lazy_only)) {
    heads_ |= head_bit(Direction::Response);
  }
  if (bodies_[0] || bodies_[1]) heads_ |= kBothHeads;
  // Stable: equal priorities keep the order they were added in.
  auto at = handlers_.end();
  while (at != handlers_.begin() && (*(at - 1))->priority() < h->priority()) --at;
  handlers_.insert(at, std::move(h));
}

void Runner::begin(const Chain* chain, Exchange* x, size_t max_body_bytes) {
  chain_ = chain != nullptr && !chain->empty() ? chain : nullptr;
  if (chain_ == nullptr) return;
  x_ = x;
  max_body_ = max_body_bytes;
  if (slots_.size() < chain_->size()) slots_.resize(chain_->size());
  paused_phase_ = Phase::Count;
  next_ = 0;
  ending_ = Ending::None;
  // A flow is made ready when a body starts (start_body); until then only
  // its flag is read.
  flows_[0].active = flows_[1].active = false;
  if (defer_response_ || deferred_paused_ || !whole_.empty()) {
    defer_response_ = deferred_paused_ = false;
    whole_.clear();
  }
}

// ---------------------------------------------------------------- heads

Step Runner::request_head() {
  Step s = chain_->runs(Phase::Rewrite) ? run_phase(Phase::Rewrite, 0) : Step::Go;
  if (s != Step::Go) return s;
  return chain_->runs(Phase::Access) ? run_phase(Phase::Access, 0) : Step::Go;
}

Step Runner::response_head() {
  if (chain_->runs(Phase::Response)) {
    if (x_->response_has_body) {
      defer_response_ = true;  // after the whole body (feed)
      return Step::Go;
    }
    Step s = run_phase(Phase::Response, 0);
    if (s != Step::Go) return s;
  }
  return chain_->runs(Phase::HeaderFilter) ? run_phase(Phase::HeaderFilter, 0) : Step::Go;
}

Step Runner::resume_head() {
  const Phase p = paused_phase_;
  paused_phase_ = Phase::Count;
  Step s = run_phase(p, next_);
  if (s != Step::Go) return s;
  if (p == Phase::Rewrite && chain_->runs(Phase::Access)) return run_phase(Phase::Access, 0);
  if (p == Phase::Response && chain_->runs(Phase::HeaderFilter)) return run_phase(Phase::HeaderFilter, 0);
  return s;
}

// Runs phase p from handler `from` on. A handler that pauses without
// resuming at once holds the phase; the runner remembers where to go on.
Step Runner::run_phase(Phase p, size_t from) {
  const bool request = p == Phase::Rewrite || p == Phase::Access;
  bool& resumed = resumed_flag(request ? Direction::Request : Direction::Response);
  for (size_t i = from; i < chain_->size(); ++i) {
    const Handler& h = chain_->at(i);
    if (!h.runs(p)) continue;
    if (!slots_[i].attached && !attach(i)) return end(Ending::Failed, i);
    resumed = false;
    Verdict v = h.on_phase(p, *x_, slots_[i]);
    if (v == Verdict::Continue && !x_->local_reply) continue;  // the common case
    Step s = after_call(v, i, resumed, p);
    if (s != Step::Go) return s;
  }
  resumed = false;
  return Step::Go;
}

// What a call's verdict means for the phase (Continue without a local
// response is handled inline by the callers).
Step Runner::after_call(Verdict v, size_t i, bool& resumed, Phase p) {
  if (v == Verdict::Fail) return end(Ending::Failed, i);
  if (v == Verdict::Respond || x_->local_reply) return end(Ending::Responded, i);
  if (v == Verdict::Pause && !resumed) {
    paused_phase_ = p;
    next_ = i + 1;
    return Step::Paused;
  }
  return Step::Go;
}

Step Runner::end(Ending why, size_t i) {
  ending_ = why;
  if (why == Ending::Failed) {
    const Handler& h = chain_->at(i);
    WG_LOG(Error, "%s %s failed this request: %s", h.kind().c_str(), h.name().c_str(),
           h.failure(slots_[i]).c_str());
  }
  return Step::Ended;
}

bool Runner::attach(size_t i) {
  Slot& s = slots_[i];
  const Handler& h = chain_->at(i);
  if (s.state && s.state_of != h.uid()) s.state.reset();  // another handler's, kept from an earlier request
  if (!h.attach(*x_, s)) return false;
  s.attached = true;
  return true;
}

bool Runner::sees_local_reply(size_t i, bool in_request_place) const {
  const Handler& h = chain_->at(i);
  if (!h.runs(Phase::HeaderFilter)) return false;
  if (h.kind() == "plugin") return true;
  return in_request_place && h.kind() == "filter" && slots_[i].attached;
}

void Runner::filter_local_reply() {
  if (chain_ == nullptr) return;
  Exchange& x = *x_;
  const bool in_request_place = !x.response_phase;
  bool any = false;
  for (size_t i = 0; i < chain_->size() && !any; ++i) any = sees_local_reply(i, in_request_place);
  if (!any) return;
  x.response_headers.clear();
  x.response_headers.push_pseudo(":status", std::to_string(x.local_status));
  for (const auto& [name, value] : x.local_headers) x.response_headers.add(name, value);
  x.response_phase = true;
  for (size_t i = 0; i < chain_->size(); ++i) {
    if (!sees_local_reply(i, in_request_place)) continue;
    if (!slots_[i].attached && !attach(i)) continue;
    chain_->at(i).on_phase(Phase::HeaderFilter, x, slots_[i]);  // the answer is chosen: only its headers may change
  }
  x.local_headers.clear();
  for (const auto& e : x.response_headers) {
    if (!e.name.empty() && e.name[0] != ':') x.local_headers.emplace_back(std::string(e.name), std::string(e.value));
  }
}

void Runner::finish() {
  if (chain_ == nullptr) return;
  // One pass: each handler logs, then detaches (a handler's log phase
  // never depends on another's detach).
  const size_t n = chain_->size();
  for (size_t i = 0; i < n; ++i) {
    const Handler& h = chain_->at(i);
    Slot& s = slots_[i];
    if (h.runs(Phase::Log) && (s.attached || (h.logs_unseen_requests() && attach(i)))) h.on_log(*x_, s);
    if (!s.attached) continue;
    h.detach(*x_, s);
    if (h.keeps_state()) {
      s.state_of = h.uid();
    } else {
      s.state.reset();
    }
    s.word = 0;
    s.delegate = nullptr;
    s.attached = false;
  }
  paused_phase_ = Phase::Count;
  chain_ = nullptr;
}

// ---------------------------------------------------------------- bodies

bool Runner::start_body(Direction d) {
  BodyFlow& c = flow(d);
  const bool active = chain_->takes_body(d) || (d == Direction::Response && defer_response_);
  if (!active) return false;
  c.reset();
  c.active = true;
  c.held.resize(chain_->size());
  return true;
}

Step Runner::feed(Direction d, std::string piece, bool end_of_stream) {
  if (d == Direction::Response && defer_response_) {
    whole_.append(piece);
    if (whole_.size() > max_body_) {
      WG_LOG(Warn, "the response phase held more than %zu MiB of response body", max_body_ >> 20);
      ending_ = Ending::TooLarge;
      return Step::Ended;
    }
    if (!end_of_stream) return Step::Paused;
    flow(d).eos_in = true;
    return whole_response(Phase::Response, 0);
  }
  return feed_from(d, 0, std::move(piece), end_of_stream);
}

// The whole response body is in: the Response phase (Exchange::body is the
// whole body), HeaderFilter, then the body handlers with it. A handler
// that pauses holds all of it until it resumes (resume_body).
Step Runner::whole_response(Phase from_phase, size_t from) {
  x_->body = &whole_;
  x_->body_is_response = true;
  for (Phase p : {Phase::Response, Phase::HeaderFilter}) {
    if (p == Phase::Response && from_phase == Phase::HeaderFilter) continue;
    const size_t start = p == from_phase ? from : 0;
    Step s = chain_->runs(p) ? run_phase(p, start) : Step::Go;
    if (s == Step::Paused) {
      deferred_paused_ = true;  // a body pause to the session, held at paused_phase_/next_
      deferred_phase_ = paused_phase_;
      paused_phase_ = Phase::Count;
    }
    if (s != Step::Go) {
      if (s == Step::Ended) x_->body = nullptr;
      return s;
    }
  }
  x_->body = nullptr;
  defer_response_ = false;
  std::string whole;
  whole.swap(whole_);
  return feed_from(Direction::Response, 0, std::move(whole), true);
}

// Passes a piece through the handlers from..end that take d's body. One
// that pauses keeps what it got (and gets it again, with the next piece);
// at the end of the body it keeps it until it resumes. A Buffer handler
// is called once, with the whole body.
Step Runner::feed_from(Direction d, size_t from, std::string data, bool eos) {
  BodyFlow& c = flow(d);
  if (eos) c.eos_in = true;
  bool& resumed = resumed_flag(d);
  for (size_t i = from; i < chain_->size(); ++i) {
    const Handler& h = chain_->at(i);
    const BodyMode mode = h.body_mode(d);
    if (mode == BodyMode::None) continue;  // the piece streams past it
    std::string& held = c.held[i];
    if (held.empty()) {
      held.swap(data);
    } else {
      held.append(data);
    }
    data.clear();
    if (held.size() > max_body_) {
      WG_LOG(Warn, "%s %s held more than %zu MiB of %s body", h.kind().c_str(), h.name().c_str(), max_body_ >> 20,
             d == Direction::Response ? "response" : "request");
      ending_ = Ending::TooLarge;
      return Step::Ended;
    }
    if (mode == BodyMode::Buffer && !eos) return Step::Paused;  // not whole yet
    if (!slots_[i].attached && !attach(i)) return end(Ending::Failed, i);
    resumed = false;
    Verdict v = h.on_body(d, *x_, slots_[i], held, eos);
    if (v == Verdict::Fail) return end(Ending::Failed, i);
    if (v == Verdict::Respond || x_->local_reply) return end(Ending::Responded, i);
    if (v == Verdict::Pause && !resumed) {
      if (eos) c.paused_at = i;
      return Step::Paused;
    }
    data.swap(held);
    held.clear();
  }
  resumed = false;
  if (c.out.empty()) {
    c.out.swap(data);
  } else {
    c.out.append(data);
  }
  if (eos) c.eos_out = true;
  return Step::Go;
}

Step Runner::feed_with_trailers(Direction d, std::string last, std::string_view trailer_lines) {
  http::HeaderMap& trailers = d == Direction::Response ? x_->response_trailers : x_->request_trailers;
  trailers.clear();
  if (size_t dropped = trailers.add_field_lines(trailer_lines)) {
    WG_LOG(Debug, "dropped %zu malformed trailer line(s)", dropped);
  }
  flow(d).has_trailers = true;
  if (feed_from(d, 0, std::move(last), false) == Step::Ended) return Step::Ended;
  return run_trailers(d, 0);
}

// The trailers calls from handler `from` on. Paused: handler i holds the
// trailers (and the end of the body) until it resumes (resume_body).
Step Runner::run_trailers(Direction d, size_t from) {
  BodyFlow& c = flow(d);
  bool& resumed = resumed_flag(d);
  for (size_t i = from; i < chain_->size(); ++i) {
    const Handler& h = chain_->at(i);
    const BodyMode mode = h.body_mode(d);
    if (mode == BodyMode::None) continue;
    if (!slots_[i].attached && !attach(i)) return end(Ending::Failed, i);
    if (mode == BodyMode::Buffer) {
      // The body is whole now: a buffering handler gets it before the trailers.
      resumed = false;
      Verdict v = h.on_body(d, *x_, slots_[i], c.held[i], true);
      if (v == Verdict::Fail) return end(Ending::Failed, i);
      if (v == Verdict::Respond || x_->local_reply) return end(Ending::Responded, i);
    }
    resumed = false;
    Verdict v = h.on_trailers(d, *x_, slots_[i]);
    if (v == Verdict::Fail) return end(Ending::Failed, i);
    if (v == Verdict::Respond || x_->local_reply) return end(Ending::Responded, i);
    if (v == Verdict::Pause && !resumed) {
      c.eos_in = true;  // all came in: the session waits for the resume
      c.paused_at = i;
      c.trailers_paused = true;
      return Step::Paused;
    }
    if (pass_held_on(d, i) == Step::Ended) return Step::Ended;
  }
  resumed = false;
  c.eos_in = c.eos_out = true;
  return Step::Go;
}

// At the trailers, handler i passes on the body it held to the next one.
Step Runner::pass_held_on(Direction d, size_t i) {
  BodyFlow& c = flow(d);
  std::string held;
  held.swap(c.held[i]);
  if (held.empty()) return Step::Go;
  if (i + 1 == chain_->size()) {
    c.out.append(held);
    return Step::Go;
  }
  return feed_from(d, i + 1, std::move(held), false) == Step::Ended ? Step::Ended : Step::Go;
}

Step Runner::resume_body(Direction d) {
  if (d == Direction::Response && deferred_paused_) {
    deferred_paused_ = false;
    return whole_response(deferred_phase_, next_);
  }
  BodyFlow& c = flow(d);
  size_t i = c.paused_at;
  c.paused_at = SIZE_MAX;
  resumed_flag(d) = false;
  if (c.trailers_paused) {
    c.trailers_paused = false;
    Step s = pass_held_on(d, i);
    return s == Step::Go ? run_trailers(d, i + 1) : s;
  }
  std::string data;
  data.swap(c.held[i]);
  return feed_from(d, i + 1, std::move(data), true);
}

}  // namespace wg::pipeline
