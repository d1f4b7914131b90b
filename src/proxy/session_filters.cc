// The session's Proxy-Wasm side: running the route's filter chain over the
// request and response heads and bodies, pausing where a filter asks and
// resuming when it calls proxy_continue_stream, and answering in its place
// when it sends a local response. Requests without filters never come here.
#include <unistd.h>

#include <cstring>

#include "core/log.h"
#include "core/worker.h"
#include "proxy/session.h"
#include "proxy/wire.h"

namespace wg::proxy {

void Session::BodyChain::reset(bool is_response) {
  *this = BodyChain();
  response = is_response;
}

// ---------------------------------------------------------------- heads

// Runs on_request_headers from filter `from` on, in chain order. Paused: a
// filter holds the request until it resumes it; Ended: the exchange was
// answered here (a local response, or 500 when a filter failed).
Session::FilterStep Session::run_request_filters(size_t from) {
  const auto& chain = snap_->filters.by_route[route_];
  wasm::HttpStream& s = wstream_;
  if (from == 0) {
    s.request_headers.clear();
    s.response_headers.clear();
    s.request_trailers.clear();
    s.response_trailers.clear();
    s.response_phase = false;
    s.local_reply = false;
    s.resume_request = s.resume_response = s.close_requested = false;
    s.body = nullptr;
    if (!s.properties.empty()) s.properties.clear();
    s.owner = this;
    // The map keeps its own copy of the head's bytes (the read buffer moves
    // on) and the parser's views rebased onto it: one copy, no allocation.
    wasm::HeaderMap& m = s.request_headers;
    m.keep({in_.data + in_.start, req_.head_len});
    m.push_pseudo(":method", req_.method);
    m.push_pseudo(":path", req_.target);
    m.push_pseudo(":authority", req_.host);
    m.push_literal(":scheme", "http");
    m.push_parsed(req_.headers, req_.num_headers, true);
    s.client_ip = client_ip_;
    s.client_port = client_port_;
    const config::Route& route = snap_->decl.routes[route_];
    s.route_name = route.name;
    s.service_name = service_->cfg.name;
    s.protocol = req_.minor_version == 0 ? "HTTP/1.0" : "HTTP/1.1";
  }
  for (size_t i = from; i < chain.size(); ++i) {
    const wasm::FilterRef& ref = chain[i];
    if (i >= wctx_.size()) {
      auto h = worker_->filters().get(ref);
      if (!h.vm) {
        local_reply(500, "An unexpected error occurred", close_after_ || !req_body_.done);
        return FilterStep::Ended;
      }
      uint32_t ctx = h.vm->create_http_context(h.root, &s);
      wctx_.push_back({std::move(h.vm), ctx, &ref});
    }
    s.resume_request = false;
    wasm::Action a = wctx_[i].vm->on_request_headers(wctx_[i].ctx, s, req_body_.done);
    if (!filter_outcome(a, ref)) return FilterStep::Ended;
    if (a == wasm::Action::Pause && !s.resume_request) {
      filter_next_ = i + 1;
      filter_wait_ = FilterWaitOn::RequestHeaders;
      return FilterStep::Paused;
    }
  }
  s.resume_request = false;
  // The body goes through the chain when one of its filters reads bodies.
  if (!req_body_.done) {
    for (const auto& w : wctx_) req_chain_.active = req_chain_.active || w.vm->wants_request_body();
    if (req_chain_.active) req_chain_.held.resize(wctx_.size());
  }
  return FilterStep::Go;
}

// Runs on_response_headers over the upstream's head, from filter `from` on.
// Ended: a filter answered or failed, and the upstream connection was dropped.
Session::FilterStep Session::run_response_filters(size_t from) {
  wasm::HttpStream& s = wstream_;
  if (from == 0) {
    s.response_phase = true;
    wasm::HeaderMap& m = s.response_headers;
    m.clear();
    const core::Buffer& b = up_->in;
    const char* head = b.data + b.start;
    m.keep({head, resp_.head_len});
    m.push_pseudo(":status", std::string_view(head + 9, 3));  // "HTTP/1.x 200": checked by the parser
    m.push_parsed(resp_.headers, resp_.num_headers, false);
  }
  for (size_t i = from; i < wctx_.size(); ++i) {
    s.resume_response = false;
    wasm::Action a = wctx_[i].vm->on_response_headers(wctx_[i].ctx, s, resp_body_.done);
    if (!filter_outcome(a, *wctx_[i].ref)) {
      release_upstream(false);
      return FilterStep::Ended;
    }
    if (a == wasm::Action::Pause && !s.resume_response) {
      filter_next_ = i + 1;
      filter_wait_ = FilterWaitOn::ResponseHeaders;
      return FilterStep::Paused;
    }
  }
  s.resume_response = false;
  return FilterStep::Go;
}

// The response head passed every filter: send it now, or, when the body
// goes through the chain, with the chain's first output (its framing
// depends on whether the chain lets the whole body out at once).
void Session::after_response_filters() {
  filter_wait_ = FilterWaitOn::None;
  if (!resp_body_.done) {
    for (const auto& w : wctx_) resp_chain_.active = resp_chain_.active || w.vm->wants_response_body();
  }
  if (resp_chain_.active) {
    resp_chain_.held.resize(wctx_.size());
    return;
  }
  build_client_head();
  resp_started_ = true;
}

// What a filter callback's result means for the exchange.
bool Session::filter_outcome_slow(wasm::Action a, const wasm::FilterRef& ref) {
  if (a == wasm::Action::Fail) {
    for (const auto& w : wctx_) {
      if (w.ref == &ref) WG_LOG(Error, "filter %s failed this request: %s", ref.name.c_str(), w.vm->last_error().c_str());
    }
    local_reply(500, "An unexpected error occurred", close_after_ || !req_body_.done);
    return false;
  }
  if (wstream_.local_reply) {
    filter_reply();
    return false;
  }
  return true;
}

// The answer a filter asked for with proxy_send_local_response.
void Session::filter_reply() {
  release_upstream(false);
  const wasm::HttpStream& s = wstream_;
  close_after_ = close_after_ || !req_body_.done;
  status_ = s.local_status;
  std::string& o = client_out_;
  o.append(log_minor_ == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
  append_uint(o, static_cast<uint64_t>(s.local_status));
  o.push_back(' ');
  o.append(http::reason_phrase(s.local_status));
  o.append("\r\n");
  for (const auto& [k, v] : s.local_headers) {
    if (http::iequals(k, "content-length") || http::iequals(k, "transfer-encoding") || http::iequals(k, "connection"))
      continue;
    append_header(o, k, v);
  }
  o.append("Content-Length: ");
  append_uint(o, s.local_body.size());
  o.append("\r\nServer: " kServerToken "\r\n");
  if (close_after_) o.append("Connection: close\r\n");
  o.append("\r\n");
  if (!head_request_) o.append(s.local_body);
  resp_started_ = true;
  state_ = State::LocalReply;
}

// Proxy-Wasm on_log, on_done and on_delete for each filter context.
void Session::end_filters() {
  for (const auto& w : wctx_) {
    w.vm->on_log(w.ctx, wstream_);
    w.vm->on_done_and_delete(w.ctx, wstream_);
  }
  wctx_.clear();
  filter_wait_ = FilterWaitOn::None;
  wstream_.owner = nullptr;
}

void Session::on_filter_wakeup() {
  if (closed || wctx_.empty()) return;
  wasm::HttpStream& s = wstream_;
  if (s.close_requested) {
    close();
    return;
  }
  if (s.local_reply) {
    if (resp_started_) {
      close();  // part of the response is out: too late for another
      return;
    }
    filter_reply();
  } else if (filter_wait_ == FilterWaitOn::RequestHeaders && s.resume_request) {
    filter_wait_ = FilterWaitOn::None;
    if (run_request_filters(filter_next_) == FilterStep::Go) {
      finish_request_head();
      start_upstream();
    }
  } else if (filter_wait_ == FilterWaitOn::ResponseHeaders && s.resume_response) {
    filter_wait_ = FilterWaitOn::None;
    state_ = State::Proxy;
    FilterStep step = run_response_filters(filter_next_);
    if (step == FilterStep::Paused) state_ = State::FilterWait;
    if (step == FilterStep::Go) after_response_filters();
  } else {
    if (req_chain_.paused_at != SIZE_MAX && s.resume_request) resume_body(req_chain_);
    if (!closed && resp_chain_.paused_at != SIZE_MAX && s.resume_response) resume_body(resp_chain_);
  }
  if (!closed) drive();
}

// ---------------------------------------------------------------- bodies

// Passes a piece of body through filters from..end. A filter that returns
// StopIteration* keeps what it got (and gets it again, with the next piece,
// on its next call); at the end of the body it keeps it until it resumes.
Session::FilterStep Session::feed_body(BodyChain& c, size_t from, std::string data, bool eos) {
  const size_t limit = static_cast<size_t>(worker_->settings().wasm_max_body_mb) << 20;
  if (eos) c.eos_in = true;
  bool& resumed = c.response ? wstream_.resume_response : wstream_.resume_request;
  for (size_t i = from; i < wctx_.size(); ++i) {
    std::string& held = c.held[i];
    if (held.empty()) {
      held.swap(data);
    } else {
      held.append(data);
    }
    data.clear();
    const wasm::FilterRef& ref = *wctx_[i].ref;
    if (held.size() > limit) {
      WG_LOG(Warn, "filter %s held more than %d MiB of %s body", ref.name.c_str(),
             worker_->settings().wasm_max_body_mb, c.response ? "response" : "request");
      if (!c.response) {
        local_reply(413, "Request size limit exceeded", true);
      } else if (!c.head_released) {
        local_reply(502, "An invalid response was received from the upstream server", true);
      } else {
        close();
      }
      return FilterStep::Ended;
    }
    resumed = false;
    wasm::Action a = wctx_[i].vm->on_body(wctx_[i].ctx, wstream_, held, c.response, eos);
    if (a == wasm::Action::Fail || wstream_.local_reply) return body_filter_failed(c, a, i);
    if (a == wasm::Action::Pause && !resumed) {
      if (eos) c.paused_at = i;
      return FilterStep::Paused;
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
  return FilterStep::Go;
}

// A body or trailers callback failed or answered in the request's place.
Session::FilterStep Session::body_filter_failed(BodyChain& c, wasm::Action a, size_t i) {
  const wasm::FilterRef& ref = *wctx_[i].ref;
  if (c.response && c.head_released) {
    // Part of the response is out: cutting the connection is all that is left.
    if (a == wasm::Action::Fail) {
      WG_LOG(Error, "filter %s failed this request: %s", ref.name.c_str(), wctx_[i].vm->last_error().c_str());
    }
    log_request();
    close();
  } else {
    filter_outcome(a, ref);
  }
  return FilterStep::Ended;
}

// A decoded piece of body: at the end of a body with trailers, the trailers
// go through the chain too.
Session::FilterStep Session::feed_decoded(BodyChain& c, std::string piece, bool done) {
  if (done && !c.trailer_text.empty()) return feed_trailers(c, std::move(piece));
  return feed_body(c, 0, std::move(piece), done);
}

wasm::HeaderMap& Session::trailers_of(const BodyChain& c) {
  return c.response ? wstream_.response_trailers : wstream_.request_trailers;
}

// A body that ends with trailers: its last piece goes through with
// end_of_stream false (as Envoy does), then each filter in turn gets the
// trailers and passes on what it held to the next filter.
Session::FilterStep Session::feed_trailers(BodyChain& c, std::string last) {
  wasm::HeaderMap& trailers = trailers_of(c);
  trailers.clear();
  if (size_t dropped = trailers.add_field_lines(c.trailer_text)) {
    WG_LOG(Debug, "dropped %zu malformed trailer line(s)", dropped);
  }
  c.has_trailers = true;
  if (feed_body(c, 0, std::move(last), false) == FilterStep::Ended) return FilterStep::Ended;
  return run_trailers(c, 0);
}

// The trailers callbacks from filter `from` on. Paused: filter i holds the
// trailers (and the end of the body) until it resumes (resume_body).
Session::FilterStep Session::run_trailers(BodyChain& c, size_t from) {
  bool& resumed = c.response ? wstream_.resume_response : wstream_.resume_request;
  for (size_t i = from; i < wctx_.size(); ++i) {
    resumed = false;
    wasm::Action a = wctx_[i].vm->on_trailers(wctx_[i].ctx, wstream_, c.response);
    if (a == wasm::Action::Fail || wstream_.local_reply) return body_filter_failed(c, a, i);
    if (a == wasm::Action::Pause && !resumed) {
      c.eos_in = true;  // all came in: the pumps wait for the resume
      c.paused_at = i;
      c.trailers_paused = true;
      return FilterStep::Paused;
    }
    if (pass_held_on(c, i) == FilterStep::Ended) return FilterStep::Ended;
  }
  resumed = false;
  c.eos_in = c.eos_out = true;
  return FilterStep::Go;
}

// At the trailers, filter i passes on the body it held to the next one.
Session::FilterStep Session::pass_held_on(BodyChain& c, size_t i) {
  std::string held;
  held.swap(c.held[i]);
  if (held.empty()) return FilterStep::Go;
  if (i + 1 == wctx_.size()) {
    c.out.append(held);
    return FilterStep::Go;
  }
  return feed_body(c, i + 1, std::move(held), false) == FilterStep::Ended ? FilterStep::Ended : FilterStep::Go;
}

// The trailer section the filters left, for a chunked body's end. Fields
// that frame or route a message have no place there (RFC 9110 6.5.1).
void Session::append_trailers(const BodyChain& c, std::string& wire) {
  if (!c.has_trailers) return;
  for (const http::Header& t : trailers_of(c)) {
    switch (t.id) {
      case http::HeaderId::Other:
      case http::HeaderId::XForwardedFor:
      case http::HeaderId::UserAgent:
      case http::HeaderId::Referer:
      case http::HeaderId::Via:
      case http::HeaderId::Server:
        if (t.name[0] != ':') append_header(wire, t.name, t.value);
        break;
      default:
        break;
    }
  }
}

// A filter that held the end of the body resumed: what it holds goes on.
void Session::resume_body(BodyChain& c) {
  size_t i = c.paused_at;
  c.paused_at = SIZE_MAX;
  (c.response ? wstream_.resume_response : wstream_.resume_request) = false;
  if (c.trailers_paused) {
    c.trailers_paused = false;
    if (pass_held_on(c, i) == FilterStep::Go) run_trailers(c, i + 1);
    return;
  }
  std::string data;
  data.swap(c.held[i]);
  feed_body(c, i + 1, std::move(data), true);
}

// The request side when its body goes through the chain: decode what the
// client sends, feed it to the filters, frame their output for the
// upstream. Everything sent stays in up_head_ so a retry can send it again.
bool Session::step_send_filtered_request() {
  if (up_ == nullptr || req_done_) return false;
  int up = upstream_connected();
  if (up <= 0) return up < 0;
  BodyChain& c = req_chain_;
  bool progress = false;
  for (;;) {
    size_t pending = c.head_released ? up_head_.size() - up_head_off_ : 0;
    if (pending > 0) {
      if (!up_->writable) return progress;
      ssize_t n = ::write(up_->fd, up_head_.data() + up_head_off_, pending);
      if (n < 0) {
        if (would_block(n)) {
          up_->writable = false;
          return progress;
        }
        WG_LOG(Info, "upstream %s stopped reading the request: %s", up_->endpoint.c_str(), strerror(errno));
        close_after_ = true;
        req_done_ = true;
        up_->readable = true;
        return true;
      }
      up_head_off_ += static_cast<size_t>(n);
      progress = true;
      continue;
    }
    if (c.final_framed) {
      req_done_ = true;
      return true;
    }
    if ((!c.out.empty() || c.eos_out) && frame_request_output()) {
      progress = true;
      continue;
    }
    if (c.eos_in) return progress;  // a filter holds the end of the body
    if (!in_.empty()) {
      std::string chunk;
      bool error = false;
      size_t n = req_body_.claim_decoded(in_.data + in_.start, in_.size(), &error, &chunk, &c.trailer_text);
      if (error) {
        WG_LOG(Info, "client %s: invalid request body framing", client_ip_);
        local_reply(400, "Bad request", true);
        return true;
      }
      in_.consume(n);
      request_size_ += n;
      if (n > 0 || req_body_.done) {
        if (feed_decoded(c, std::move(chunk), req_body_.done) == FilterStep::Ended) return true;
        progress = true;
        continue;
      }
    }
    int more = read_more_body();
    if (more < 0) return true;
    if (more == 0) return progress;
    progress = true;
  }
}

// Queues the chain's output for the upstream. The head goes out with the
// first output: with Content-Length when that output is the whole body,
// chunked otherwise (an HTTP/1.0 upstream exchange waits for the whole body).
bool Session::frame_request_output() {
  BodyChain& c = req_chain_;
  if (!c.head_released) {
    std::string line;
    if (c.eos_out && (!c.has_trailers || log_minor_ == 0)) {
      line = "Content-Length: ";
      append_uint(line, c.out.size());
      line.append("\r\n");
    } else if (log_minor_ == 0) {
      return false;
    } else {
      line = "Transfer-Encoding: chunked\r\n";
      c.chunked = true;
    }
    up_head_.insert(up_head_.size() - 2, line);  // before the blank line
    c.head_released = true;
  }
  append_body_output(c, up_head_);
  return true;
}

// Moves the chain's output to the wire, as chunks when the head said so.
void Session::append_body_output(BodyChain& c, std::string& wire) {
  if (c.chunked) {
    if (!c.out.empty()) {
      append_hex(wire, c.out.size());
      wire.append("\r\n");
      wire.append(c.out);
      wire.append("\r\n");
    }
    if (c.eos_out) {
      wire.append("0\r\n");
      append_trailers(c, wire);
      wire.append("\r\n");
    }
  } else {
    wire.append(c.out);
  }
  c.out.clear();
  if (c.eos_out) c.final_framed = true;
}

// One step of the response body through the chain. Returns 1 on progress,
// 0 when it needs bytes from the upstream, 2 while a filter holds the end
// of the body, -1 when the exchange ended or the session closed.
int Session::pump_response_chain(core::Buffer& b) {
  BodyChain& c = resp_chain_;
  if (c.final_framed) {
    resp_done_ = true;
    log_request();
    finish_exchange();
    return -1;
  }
  if (!c.out.empty() || c.eos_out) {
    frame_response_output();
    return 1;
  }
  if (c.eos_in) return 2;
  if (!b.empty() || resp_body_.done) {
    std::string chunk;
    bool error = false;
    size_t n = resp_body_.claim_decoded(b.data + b.start, b.size(), &error, &chunk, &c.trailer_text);
    if (error) {
      WG_LOG(Warn, "upstream %s sent invalid chunked framing", up_->endpoint.c_str());
      log_request();
      close();
      return -1;
    }
    b.consume(n);
    if (n > 0 || resp_body_.done) {
      if (feed_decoded(c, std::move(chunk), resp_body_.done) == FilterStep::Ended) return -1;
      return 1;
    }
  }
  return 0;
}

// Queues the chain's output for the client, releasing the held head first.
void Session::frame_response_output() {
  BodyChain& c = resp_chain_;
  if (!c.head_released) {
    if (c.eos_out && (!c.has_trailers || log_minor_ == 0)) {
      build_client_head(Framing::Length, c.out.size());
    } else if (log_minor_ >= 1) {
      build_client_head(Framing::Chunked);
      c.chunked = true;
    } else {
      build_client_head(Framing::Close);
    }
    c.head_released = true;
    resp_started_ = true;
  }
  append_body_output(c, client_out_);
}

}  // namespace wg::proxy
