// Bodies that go through the handlers (some handler of the chain takes
// them): the payload is decoded (de-chunked), fed to the runner, and what
// the handlers let out is framed anew for the wire. Requests whose
// handlers take no body never come here.
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "proxy/worker_context.h"
#include "proxy/request_flow.h"
#include "proxy/wire.h"

namespace wg::proxy {

using pipeline::Direction;
using pipeline::Step;

// A decoded piece of body: at the end of a body with trailers, the
// trailers go through the handlers too. Ended: the flow acted on it.
Step RequestFlow::feed_decoded(Direction d, std::string piece, bool done) {
  WireBody& w = d == Direction::Request ? req_wire_ : resp_wire_;
  Step s = done && !w.trailer_text.empty() ? runner_->feed_with_trailers(d, std::move(piece), w.trailer_text)
                                           : runner_->feed(d, std::move(piece), done);
  if (s == Step::Ended) handler_ended(d);
  return s;
}

// The trailer section the handlers left, for a chunked body's end. Fields
// that frame or route a message have no place there (RFC 9110 6.5.1).
void RequestFlow::append_trailers(Direction d, std::string& wire) {
  if (!runner_->flow(d).has_trailers) return;
  const http::HeaderMap& trailers = d == Direction::Response ? x_->response_trailers : x_->request_trailers;
  for (const http::Header& t : trailers) {
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

// A handler that held the end of the body resumed: what it holds goes on.
void RequestFlow::resume_body(Direction d) {
  if (runner_->resume_body(d) == Step::Ended) handler_ended(d);
}

// The request side when its body goes through the handlers: decode what
// the client sends, feed it to them, frame their output for the upstream.
// Everything sent stays in up_head_ so a retry can send it again.
bool RequestFlow::step_send_filtered_request() {
  if (up_ == nullptr || req_done_) return false;
  int up = upstream_connected();
  if (up <= 0) return up < 0;
  WireBody& w = req_wire_;
  pipeline::BodyFlow& c = runner_->flow(Direction::Request);
  bool progress = false;
  for (;;) {
    size_t pending = w.head_released ? up_head_.size() - up_head_off_ : 0;
    if (pending > 0) {
      if (!up_->writable) return progress;
      ssize_t n = up_->io.write(up_head_.data() + up_head_off_, pending);
      if (n < 0) {
        if (would_block(n)) {
          up_->writable = false;
          return progress;
        }
        WG_LOG(Info, "upstream %s stopped reading the request: %s", up_->endpoint.c_str(), strerror(errno));
        down_->close_after = true;
        req_done_ = true;
        up_->readable = true;
        return true;
      }
      up_head_off_ += static_cast<size_t>(n);
      progress = true;
      continue;
    }
    if (w.final_framed) {
      req_done_ = true;
      return true;
    }
    if ((!c.out.empty() || c.eos_out) && frame_request_output()) {
      progress = true;
      continue;
    }
    if (c.eos_in) return progress;  // a handler holds the end of the body
    if (down_->body_bytes_waiting()) {
      std::string chunk;
      bool error = false;
      const size_t n = down_->claim_decoded_body(&chunk, &w.trailer_text, &error);
      if (error) {
        WG_LOG(Info, "client %s: invalid request body framing", down_->client_ip);
        local_reply(400, "Bad request", true);
        return true;
      }
      x_->log.request_size += n;
      if (n > 0 || down_->body_read()) {
        if (feed_decoded(Direction::Request, std::move(chunk), down_->body_read()) == Step::Ended) return true;
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

// Queues the handlers' output for the upstream. The head goes out with the
// first output: with Content-Length when that output is the whole body,
// chunked otherwise (an HTTP/1.0 upstream exchange waits for the whole body).
bool RequestFlow::frame_request_output() {
  WireBody& w = req_wire_;
  const pipeline::BodyFlow& c = runner_->flow(Direction::Request);
  if (!w.head_released) {
    std::string line;
    if (c.eos_out && (!c.has_trailers || x_->minor_version == 0)) {
      line = "Content-Length: ";
      append_uint(line, c.out.size());
      line.append("\r\n");
    } else if (x_->minor_version == 0) {
      return false;
    } else {
      line = "Transfer-Encoding: chunked\r\n";
      w.chunked = true;
    }
    up_head_.insert(up_head_.size() - 2, line);  // before the blank line
    w.head_released = true;
  }
  append_body_output(Direction::Request, up_head_);
  return true;
}

// Moves the handlers' output to the wire, as chunks when the head said so.
void RequestFlow::append_body_output(Direction d, std::string& wire) {
  WireBody& w = d == Direction::Request ? req_wire_ : resp_wire_;
  pipeline::BodyFlow& c = runner_->flow(d);
  if (w.chunked) {
    if (!c.out.empty()) {
      append_hex(wire, c.out.size());
      wire.append("\r\n");
      wire.append(c.out);
      wire.append("\r\n");
    }
    if (c.eos_out) {
      wire.append("0\r\n");
      append_trailers(d, wire);
      wire.append("\r\n");
    }
  } else {
    wire.append(c.out);
  }
  c.out.clear();
  if (c.eos_out) w.final_framed = true;
}

// One step of the response body through the handlers. Returns 1 on
// progress, 0 when it needs bytes from the upstream, 2 while a handler
// holds the end of the body, -1 when the exchange ended or the connection closed.
int RequestFlow::pump_response_chain(core::Buffer& b) {
  WireBody& w = resp_wire_;
  const pipeline::BodyFlow& c = runner_->flow(Direction::Response);
  if (w.final_framed) {
    resp_done_ = true;
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
    size_t n = resp_body_.claim_decoded(b.data + b.start, b.size(), &error, &chunk, &w.trailer_text);
    if (error) {
      WG_LOG(Warn, "upstream %s sent invalid chunked framing", up_->endpoint.c_str());
      close();
      return -1;
    }
    b.consume(n);
    if (n > 0 || resp_body_.done) {
      if (feed_decoded(Direction::Response, std::move(chunk), resp_body_.done) == Step::Ended) return -1;
      return 1;
    }
  }
  return 0;
}

// Queues the handlers' output for the client, releasing the held head first.
void RequestFlow::frame_response_output() {
  WireBody& w = resp_wire_;
  const pipeline::BodyFlow& c = runner_->flow(Direction::Response);
  if (!w.head_released) {
    if (c.eos_out && (!c.has_trailers || x_->minor_version == 0)) {
      build_client_head(Framing::Length, c.out.size());
    } else if (x_->minor_version >= 1) {
      build_client_head(Framing::Chunked);
      w.chunked = true;
    } else {
      build_client_head(Framing::Close);
    }
    w.head_released = true;
    resp_started_ = true;
  }
  append_body_output(Direction::Response, down_->out);
}

}  // namespace wg::proxy
