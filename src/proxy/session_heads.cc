// The heads the session writes: the upstream request head (from the
// Exchange's headers when handlers ran, so their edits always go upstream)
// and the client's response head, one writer for upstream responses,
// gateway errors and handler replies.
#include <charconv>

#include "proxy/worker_context.h"
#include "proxy/session.h"
#include "proxy/wire.h"

namespace wg::proxy {

namespace {

// What a response head's header loop saw that the writer adds lines of its
// own for.
struct SeenHeaders {
  std::string_view via;
  bool server = false, length = false;
};

// A response head's headers but hop-by-hop and pseudo ones. kLines: they
// come from a handler's map and may hold wire lines; a parsed head never
// does, and its loop (the plain proxy's) spares the test.
template <bool kLines>
[[gnu::always_inline]] inline SeenHeaders append_response_headers(std::string& o, const http::Header* headers, size_t n, bool from_upstream,
                                    bool upstream_framing) {
  SeenHeaders seen;
  for (size_t i = 0; i < n; ++i) {
    const http::Header& hd = headers[i];
    if (hd.hop_by_hop || hd.name[0] == ':') continue;
    if (hd.id == http::HeaderId::Via && from_upstream) {
      seen.via = hd.value;
      continue;
    }
    if (hd.id == http::HeaderId::ContentLength) {
      if (!upstream_framing) continue;  // ours replaces it
      seen.length = true;
    }
    if (hd.id == http::HeaderId::Server) seen.server = true;
    if constexpr (kLines) {
      append_header(o, hd);
    } else {
      append_header(o, hd.name, hd.value);
    }
  }
  return seen;
}

// What the request head's header loop saw that the writer adds lines of
// its own for.
struct OutgoingLines {
  std::string_view via;
  std::string_view xff_first;  // common case: one X-Forwarded-For header, no copy
  bool xff_many = false;
};

// The request headers that go upstream as they are: not hop-by-hop, not
// pseudo, not the ones the gateway writes itself (Host, framing,
// X-Forwarded-*, X-Real-IP, Via: those are noted in `seen`).
[[gnu::always_inline]] inline void append_request_headers(std::string& h, const http::Header* headers, size_t n,
                                                          OutgoingLines& seen) {
  for (size_t i = 0; i < n; ++i) {
    const http::Header& hd = headers[i];
    if (hd.hop_by_hop || hd.name[0] == ':') continue;
    switch (hd.id) {
      case http::HeaderId::Host:
      case http::HeaderId::ContentLength:
      case http::HeaderId::Expect:
      case http::HeaderId::XForwardedProto:
      case http::HeaderId::XForwardedHost:
      case http::HeaderId::XForwardedPort:
      case http::HeaderId::XForwardedPath:
      case http::HeaderId::XForwardedPrefix:
      case http::HeaderId::XRealIp:
        continue;
      case http::HeaderId::Via:
        seen.via = hd.value;
        continue;
      case http::HeaderId::XForwardedFor:
        if (seen.xff_first.data() == nullptr) {
          seen.xff_first = hd.value;
        } else {
          seen.xff_many = true;
        }
        continue;
      default:
        break;
    }
    append_header(h, hd);
  }
}

// A response head's lines that handlers added to it (a head they only add
// to), after its own; what they hold counts as the head's.
[[gnu::noinline]] void append_added_lines(std::string& o, const http::HeaderMap& added, bool from_upstream,
                                          bool upstream_framing, SeenHeaders& seen) {
  const SeenHeaders more = append_response_headers<true>(o, added.data(), added.size(), from_upstream, upstream_framing);
  if (more.via.data() != nullptr) seen.via = more.via;
  seen.server = seen.server || more.server;
  seen.length = seen.length || more.length;
}

}  // namespace

// The request headers to send upstream: the Exchange's map when the
// handlers had the request (they may have changed it), else the parsed head.
void Session::outgoing_request_headers(const http::Header** headers, size_t* n) const {
  if (map_holds_head(pipeline::Direction::Request)) {
    *headers = x_->request_headers.data();
    *n = x_->request_headers.size();
  } else {
    *headers = req_.headers;
    *n = req_.num_headers;
  }
}

void Session::build_upstream_head(std::string_view upstream_path) {
  const config::Route& route = snap_->decl.routes[route_];
  const http::Header* headers;
  size_t num_headers;
  outgoing_request_headers(&headers, &num_headers);
  std::string_view method = req_.method;
  std::string_view host = route.preserve_host ? req_.host : host_for_peer();
  preserve_host_ = route.preserve_host;
  // Lines handlers added to a head they only add to: after the head's own.
  const http::HeaderMap* added = added_lines(pipeline::Direction::Request);
  if ((map_holds_head(pipeline::Direction::Request) || added != nullptr) &&
      x_->request_headers.pseudo_changed()) {
    // A handler changed a pseudo-header (the map's entries carry their
    // HeaderIds; pseudo-headers are skipped below). Where handlers only
    // add, the head's own pseudo-headers come first and change nothing.
    for (const http::Header& hd : x_->request_headers) {
      if (hd.name == ":method") {
        method = hd.value;
      } else if (hd.name == ":path") {
        if (hd.value != routed_target_) upstream_path = hd.value;  // a handler rewrote the path: sent as is
      } else if (hd.name == ":authority") {
        if (hd.value != req_.host) {
          host = hd.value;
          preserve_host_ = true;  // the handler chose the Host: keep it on retries
        }
      }
    }
  }
  std::string& h = up_head_;
  h.clear();
  h.append(method);
  h.push_back(' ');
  h.append(upstream_path);
  // A 1.0 client gets a 1.0 exchange upstream, so the response is never chunked.
  h.append(req_.minor_version == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  h.append("Host: ");
  host_value_pos_ = h.size();
  h.append(host);
  host_value_len_ = h.size() - host_value_pos_;
  h.append("\r\n");

  OutgoingLines seen;
  append_request_headers(h, headers, num_headers, seen);
  if (added != nullptr) append_request_headers(h, added->data(), added->size(), seen);
  const std::string_view via = seen.via, xff_first = seen.xff_first;
  const bool xff_many = seen.xff_many;
  // A body that goes through the handlers gets its framing when they first
  // let bytes out (frame_request_output).
  if (req_wire_.active) {
  } else if (req_.body == http::BodyKind::Length) {
    h.append("Content-Length: ");
    append_uint(h, req_.content_length);
    h.append("\r\n");
  } else if (req_.body == http::BodyKind::Chunked) {
    h.append("Transfer-Encoding: chunked\r\n");
  }
  // X-Forwarded-For: the client's list with the client appended, as nginx's
  // $proxy_add_x_forwarded_for; the other X-Forwarded-* are ours (the client
  // is not a trusted proxy).
  h.append("X-Forwarded-For: ");
  if (xff_first.data() != nullptr) {
    if (!xff_many) {
      h.append(xff_first);
    } else {
      bool first = true;
      auto join = [&](const http::Header* list, size_t n) {
        for (size_t i = 0; i < n; ++i) {
          if (list[i].id != http::HeaderId::XForwardedFor) continue;
          if (!first) h.append(", ");
          h.append(list[i].value);
          first = false;
        }
      };
      join(headers, num_headers);
      if (added != nullptr) join(added->data(), added->size());
    }
    h.append(", ");
  }
  h.append(client_ip_);
  // Two appends of constant length: a length known at compile time is
  // copied inline (a chosen one cost 20 instructions per request).
  if (https_) {
    h.append("\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: ");
  } else {
    h.append("\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: ");
  }
  // nginx's $host: lower-cased, without the port.
  http::append_lower(h, http::host_without_port(req_.host));
  h.append("\r\nX-Forwarded-Port: ");
  append_uint(h, static_cast<uint64_t>(listen_port_));
  h.append("\r\nX-Forwarded-Path: ");
  h.append(req_.path);
  h.append("\r\n");
  // The prefix stripped by strip_path, so the upstream can rebuild links.
  if (!fwd_prefix_.empty() && fwd_prefix_ != "/") append_header(h, "X-Forwarded-Prefix", fwd_prefix_);
  append_header(h, "X-Real-IP", client_ip_);
  // Via: the client's chain with us appended (RFC 9110 7.6.3), as Kong does.
  h.append("Via: ");
  if (via.data() != nullptr) {
    h.append(via);
    h.append(", ");
  }
  h.append(req_.minor_version == 0 ? "1.0 " kServerToken "\r\n\r\n" : "1.1 " kServerToken "\r\n\r\n");
  request_replayable_ = req_.body == http::BodyKind::None;
}

// Kong's Host when preserve_host is off: the upstream's host_header, else
// the chosen target's name; with the target's port unless 80.
std::string_view Session::host_for_peer() const { return balancer_->peers()[peer_].host_header; }

// The client's response head for the upstream's response. With handlers,
// the headers (and the status) are the ones they left; framing is the
// upstream's unless the body went through them.
void Session::build_client_head(Framing framing, uint64_t length) {
  ResponseHead h;
  h.status = resp_.status;
  h.reason = resp_.reason;
  h.headers = resp_.headers;
  h.num_headers = resp_.num_headers;
  h.from_upstream = true;
  h.framing = framing;
  h.length = length;
  h.extra = set_cookie_;
  if (map_holds_head(pipeline::Direction::Response)) {
    const http::HeaderMap& m = x_->response_headers;
    if (m.pseudo_changed()) {
      int st = 0;
      std::string_view v = m.get_exact(":status");
      std::from_chars(v.data(), v.data() + v.size(), st);
      if (st >= 100 && st <= 999) h.status = st;
    }
    h.headers = m.data();
    h.num_headers = m.size();
    h.wire_lines = true;
    // The upstream's bytes are gone, but the map kept a copy of the head;
    // a new status gets its standard phrase.
    h.reason = h.status == resp_.status ? m.kept(resp_.reason) : std::string_view();
  } else if (const http::HeaderMap* added = added_lines(pipeline::Direction::Response)) {
    // The parsed head (its bytes still in the read buffer) and then what
    // the handlers added; the head's own :status comes first, so an added
    // one changes nothing, as in their map.
    write_response_head(h, added);
    return;
  }
  write_response_head(h);
}

// The one response-head writer: status line, the headers (hop-by-hop and
// pseudo-headers left out), our lines, framing, the gateway's headers.
void Session::write_response_head(const ResponseHead& h, const http::HeaderMap* added) {
  std::string& o = client_out_;
  o.append(x_->minor_version == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
  append_uint(o, static_cast<uint64_t>(h.status));
  o.push_back(' ');
  o.append(h.reason.empty() ? http::reason_phrase(h.status) : h.reason);
  o.append("\r\n");
  const bool upstream_framing = h.framing == Framing::Upstream;
  SeenHeaders seen =
      h.wire_lines ? append_response_headers<true>(o, h.headers, h.num_headers, h.from_upstream, upstream_framing)
                   : append_response_headers<false>(o, h.headers, h.num_headers, h.from_upstream, upstream_framing);
  if (added != nullptr) append_added_lines(o, *added, h.from_upstream, upstream_framing, seen);
  const std::string_view via = seen.via;
  const bool has_server = seen.server, has_length = seen.length;
  o.append(h.extra);
  switch (h.framing) {
    case Framing::Upstream:
      if (resp_body_.kind == http::BodyKind::Chunked) o.append("Transfer-Encoding: chunked\r\n");
      if (resp_body_.kind == http::BodyKind::UntilClose) close_after_ = true;
      // A handler removed Content-Length from a body it let through as is.
      if (resp_body_.kind == http::BodyKind::Length && !has_length &&
          map_holds_head(pipeline::Direction::Response)) {
        o.append("Content-Length: ");
        append_uint(o, resp_.content_length);
        o.append("\r\n");
      }
      break;
    case Framing::Length:
      o.append("Content-Length: ");
      append_uint(o, h.length);
      o.append("\r\n");
      break;
    case Framing::Chunked:
      o.append("Transfer-Encoding: chunked\r\n");
      break;
    case Framing::Close:
      close_after_ = true;
      break;
  }
  if (h.from_upstream) {
    if (worker_->draining()) close_after_ = true;
    const pipeline::Timings& t = x_->timings;
    o.append("X-Kong-Upstream-Latency: ");
    append_uint(o, t.upstream_head_ms - t.upstream_start_ms);
    o.append("\r\nX-Kong-Proxy-Latency: ");
    append_uint(o, t.upstream_start_ms - t.start_ms);
    o.append("\r\nVia: ");
    if (via.data() != nullptr) {
      o.append(via);
      o.append(", ");
    }
    o.append("1.1 " kServerToken "\r\n");
  }
  if (!has_server) o.append("Server: " kServerToken "\r\n");
  if (close_after_) {
    o.append("Connection: close\r\n");
  } else if (x_->minor_version == 0 && h.from_upstream) {
    o.append("Connection: keep-alive\r\n");
  }
  o.append("\r\n");
}

// A gateway answer in Kong's shape: {"message": "..."} (none for redirects).
void Session::local_reply(int status, std::string_view message, bool close_after, std::string_view extra_headers) {
  release_upstream(false);
  x_->log.status = status;
  close_after_ = close_after_ || close_after;
  // Redirects carry no body, like kong.response.exit(code) without one.
  const bool body = !message.empty();
  const http::Header content_type{"Content-Type", "application/json; charset=utf-8", http::HeaderId::Other, false};
  ResponseHead h;
  h.status = status;
  h.headers = body ? &content_type : nullptr;
  h.num_headers = body ? 1 : 0;
  h.framing = Framing::Length;
  h.length = body ? message.size() + 15 : 0;  // {"message":"..."}\n
  h.extra = extra_headers;
  write_response_head(h);
  if (body && !x_->head_request) {
    std::string& o = client_out_;
    o.append("{\"message\":\"");
    o.append(message);
    o.append("\"}\n");
  }
  resp_started_ = true;
  state_ = State::LocalReply;
}

// A route that only allows https, hit over plain http (Kong's behaviour).
void Session::https_redirect(const config::Route& route, bool body_pending) {
  int code = route.https_redirect_status_code;
  if (code == 426) {
    local_reply(426, "Please use HTTPS protocol", close_after_ || body_pending, "Upgrade: TLS/1.2, HTTP/1.1\r\n");
    return;
  }
  std::string location = "Location: https://";
  http::append_lower(location, http::host_without_port(req_.host));
  location.append(req_.target);
  location.append("\r\n");
  local_reply(code, "", close_after_ || body_pending, location);
}

}  // namespace wg::proxy
